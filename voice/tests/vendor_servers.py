"""Local HTTP servers that speak the OpenAI audio and ElevenLabs TTS wire protocols, for SDK-level tests."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

OPENAI_KEY = "sk-test-local"
ELEVENLABS_KEY = "xi-test-local"


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any = None
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)  # name -> (filename, type, bytes)


@dataclass
class Behaviour:
    """What the next requests get: a forced error status, a stall before the answer, the payload."""

    status: int | None = None
    delay_s: float = 0.0
    transcript: str = "hello from the local server"
    language: str = "english"  # whisper-1's verbose_json names the language it heard in English
    audio: bytes = b""
    chunk_size: int = 1001  # odd on purpose: clients must re-align PCM16 samples across chunks
    chunk_pause_s: float = 0.0


class VendorServer:
    """One aiohttp app with both vendors' routes on 127.0.0.1 and a random port."""

    def __init__(self) -> None:
        self.behaviour = Behaviour()
        self.requests: list[RecordedRequest] = []
        self.app = web.Application()
        self.app.router.add_post("/v1/audio/transcriptions", self.openai_transcriptions)
        self.app.router.add_post("/v1/audio/speech", self.openai_speech)
        self.app.router.add_post("/v1/text-to-speech/{voice_id}/stream", self.elevenlabs_stream)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        # Stalled handlers (timeout tests) are cut short at shutdown instead of held for a minute.
        self._runner = web.AppRunner(self.app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _record(self, request: web.Request) -> RecordedRequest:
        recorded = RecordedRequest(
            method=request.method, path=request.path, query=dict(request.query), headers=dict(request.headers)
        )
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            async for part in reader:
                if part.filename:  # type: ignore[union-attr]
                    data = await part.read()  # type: ignore[union-attr]
                    recorded.files[part.name or ""] = (
                        part.filename,
                        part.headers.get("Content-Type", ""),
                        bytes(data),  # type: ignore[union-attr]
                    )
                else:
                    recorded.form[part.name or ""] = await part.text()  # type: ignore[union-attr]
        elif request.content_type == "application/json":
            recorded.json = await request.json()
        self.requests.append(recorded)
        return recorded

    async def _stall(self) -> None:
        if self.behaviour.delay_s:
            await asyncio.sleep(self.behaviour.delay_s)

    async def _stream(self, request: web.Request, content_type: str) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"Content-Type": content_type})
        response.enable_chunked_encoding()
        await response.prepare(request)
        audio, size = self.behaviour.audio, self.behaviour.chunk_size
        for start in range(0, len(audio), size):
            await response.write(audio[start : start + size])
            if self.behaviour.chunk_pause_s:
                await asyncio.sleep(self.behaviour.chunk_pause_s)
        await response.write_eof()
        return response

    # OpenAI: Bearer auth; errors are {"error": {"message", "type", "param", "code"}}.

    def _openai_error(self, status: int) -> web.Response:
        kinds = {401: ("invalid_request_error", "invalid_api_key"), 429: ("requests", "rate_limit_exceeded")}
        kind, code = kinds.get(status, ("server_error", None))
        body = {"error": {"message": f"local server says {status}", "type": kind, "param": None, "code": code}}
        return web.json_response(body, status=status)

    def _openai_refusal(self, recorded: RecordedRequest) -> web.Response | None:
        if recorded.headers.get("Authorization") != f"Bearer {OPENAI_KEY}":
            return self._openai_error(401)
        if self.behaviour.status:
            return self._openai_error(self.behaviour.status)
        return None

    async def openai_transcriptions(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record(request)
        await self._stall()
        refusal = self._openai_refusal(recorded)
        if refusal is not None:
            return refusal
        upload = recorded.files.get("file")
        if upload is None or "model" not in recorded.form or not upload[2].startswith(b"RIFF"):
            return web.json_response(
                {
                    "error": {
                        "message": "file and model are required",
                        "type": "invalid_request_error",
                        "param": "file",
                        "code": None,
                    }
                },
                status=400,
            )
        response_format = recorded.form.get("response_format", "json")
        if response_format == "verbose_json":
            if recorded.form["model"].startswith("gpt-4o"):  # those models answer json only
                return web.json_response({"error": {
                    "message": f"response_format 'verbose_json' is not compatible with model "
                               f"'{recorded.form['model']}'. Use 'json' or 'text' instead.",
                    "type": "invalid_request_error", "param": "response_format", "code": "unsupported_value"}},
                    status=400)
            duration = (len(upload[2]) - 44) / 32000
            return web.json_response({
                "task": "transcribe", "language": self.behaviour.language, "duration": duration,
                "text": self.behaviour.transcript,
                "segments": [{"id": 0, "seek": 0, "start": 0.0, "end": duration,
                              "text": " " + self.behaviour.transcript,
                              "tokens": [50364, 2425, 50464], "temperature": 0.0, "avg_logprob": -0.31,
                              "compression_ratio": 0.9, "no_speech_prob": 0.02}],
                "usage": {"type": "duration", "seconds": max(1, round(duration))}})
        usage = {"type": "tokens", "input_tokens": 20, "output_tokens": 5, "total_tokens": 25}
        return web.json_response({"text": self.behaviour.transcript, "usage": usage})

    async def openai_speech(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record(request)
        await self._stall()
        refusal = self._openai_refusal(recorded)
        if refusal is not None:
            return refusal
        body = recorded.json or {}
        if not all(body.get(key) for key in ("model", "input", "voice")):
            return self._openai_error(400)
        return await self._stream(request, "audio/pcm" if body.get("response_format") == "pcm" else "audio/mpeg")

    # ElevenLabs: xi-api-key header; errors are {"detail": {"status", "message"}}.

    async def elevenlabs_stream(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record(request)
        await self._stall()
        if recorded.headers.get("xi-api-key") != ELEVENLABS_KEY:
            return web.json_response(
                {"detail": {"status": "invalid_api_key", "message": "Invalid API key"}}, status=401
            )
        if self.behaviour.status:
            detail = {
                "status": "too_many_concurrent_requests" if self.behaviour.status == 429 else "error",
                "message": f"local server says {self.behaviour.status}",
            }
            return web.json_response({"detail": detail}, status=self.behaviour.status)
        if not (recorded.json or {}).get("text"):
            return web.Response(
                status=422, text=json.dumps({"detail": [{"msg": "text is required"}]}), content_type="application/json"
            )
        fmt = recorded.query.get("output_format", "mp3_44100_128")
        return await self._stream(request, "audio/basic" if fmt.startswith("ulaw") else "audio/pcm")
