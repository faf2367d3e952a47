"""A local stand-in for ElevenLabs Conversational AI: the signed-URL endpoint and the conversation WebSocket.

It speaks the protocol the live page's script talks (server -> client: ``conversation_initiation_metadata``,
``ping``, ``agent_response``, ``audio``, ``user_transcript``, ``interruption``; client -> server:
``user_audio_chunk`` and ``pong``) and plays a short scripted conversation: a greeting, then, once
it has heard about half a second of the microphone, the trainee's words, the agent's answer, and
an interruption. It records what the page sent, for the test to check.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np
from websockets.asyncio.server import serve

API_KEY = "convai-test-key"
RATE = 16000
HEARD_CHUNKS_BEFORE_REPLY = 25
TRAINEE_WORDS = "Hi, this is Anna from Cargo Line. How do you ship from China today?"
AGENT_GREETING = "Hello, who is calling?"
AGENT_ANSWER = "We already have a forwarder, thank you."


def _tone(seconds: float) -> str:
    t = np.arange(int(RATE * seconds)) / RATE
    pcm = (0.2 * 32767 * np.sin(2 * np.pi * 220 * t)).astype("<i2").tobytes()
    return base64.b64encode(pcm).decode()


class ConvaiStandIn:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.pongs: list[int] = []
        self.bad_messages: list[str] = []
        self.agents: list[str] = []
        self.seen: list[tuple[str, dict, str | None]] = []  # (path, query, xi-api-key) of each HTTP request
        self.closed_with: int | None = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._ws_port = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        stand_in = self

        class SignedUrl(BaseHTTPRequestHandler):
            def do_GET(self):
                url = urlparse(self.path)
                query = parse_qs(url.query)
                stand_in.seen.append((url.path, query, self.headers.get("xi-api-key")))
                agent = query.get("agent_id", [""])[0]
                if url.path != "/v1/convai/conversation/get-signed-url":
                    return self._json(404, {"detail": "Not Found"})
                if self.headers.get("xi-api-key") != API_KEY:
                    return self._json(401, {"detail": {"status": "invalid_api_key"}})
                if agent == "agent-down":
                    return self._json(503, {"detail": "overloaded"})
                stand_in.agents.append(agent)
                self._json(200, {"signed_url": f"ws://127.0.0.1:{stand_in._ws_port}/v1/convai/conversation"
                                               f"?agent_id={agent}&token=signed"})

            def _json(self, status, body) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), SignedUrl)
        self.base_url = f"http://127.0.0.1:{self.http.server_address[1]}"

    # --- the conversation socket ---

    async def _conversation(self, ws) -> None:
        send = lambda kind, **body: ws.send(json.dumps({"type": kind, **body}))  # noqa: E731
        await send("conversation_initiation_metadata", conversation_initiation_metadata_event={
            "conversation_id": "conv_test", "agent_output_audio_format": "pcm_16000",
            "user_input_audio_format": "pcm_16000"})
        await send("ping", ping_event={"event_id": 1, "ping_ms": None})
        await send("agent_response", agent_response_event={"agent_response": AGENT_GREETING})
        await send("audio", audio_event={"audio_base_64": _tone(0.6), "event_id": 2})
        replied = False
        try:
            async for raw in ws:
                try:
                    message = json.loads(raw)
                except ValueError:
                    self.bad_messages.append(str(raw)[:80])
                    continue
                if "user_audio_chunk" in message:
                    self.chunks.append(base64.b64decode(message["user_audio_chunk"]))
                    if len(self.chunks) >= HEARD_CHUNKS_BEFORE_REPLY and not replied:
                        replied = True
                        await send("user_transcript", user_transcription_event={"user_transcript": TRAINEE_WORDS})
                        await send("agent_response", agent_response_event={"agent_response": AGENT_ANSWER})
                        await send("audio", audio_event={"audio_base_64": _tone(2.0), "event_id": 3})
                        await send("interruption", interruption_event={"event_id": 3})
                elif message.get("type") == "pong":
                    self.pongs.append(message.get("event_id"))
                else:
                    self.bad_messages.append(str(raw)[:80])
        finally:
            self.closed_with = ws.close_code

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            async with serve(self._conversation, "127.0.0.1", 0) as server:
                self._ws_port = server.sockets[0].getsockname()[1]
                self._ready.set()
                await asyncio.Event().wait()

        self._task = self._loop.create_task(main())
        try:
            self._loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass

    def __enter__(self) -> ConvaiStandIn:
        self._thread.start()
        self._ready.wait(10)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.http.shutdown()
        self.http.server_close()
        self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(5)
