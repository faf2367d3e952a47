"""A local server speaking OpenAI's chat-completions protocol (SSE streaming and plain JSON), for tests.

Queue behaviours with ``server.push(...)``; each request takes the next one (the last one repeats):

- ``stream(text_chunks, tool_calls=None, first_delay=0.0, delay=0.0)``: SSE ``data: {...}`` chunks with
  ``choices[0].delta.content`` / ``tool_calls`` deltas (arguments split across chunks), then ``data: [DONE]``;
- ``json_reply(content)``: a non-stream completion whose message content is ``content`` (structured output);
- ``error(status)``: an HTTP error with OpenAI's error body;
- ``hang(seconds)``: sleep before answering anything (a timeout).

Requests are recorded in ``server.requests`` (parsed JSON bodies). Use as a context manager; ``base_url``
is ``http://127.0.0.1:<port>/v1``.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def stream(text_chunks: list[str], tool_calls: list[dict[str, Any]] | None = None, first_delay: float = 0.0,
           delay: float = 0.0) -> dict[str, Any]:
    return {"kind": "stream", "chunks": text_chunks, "tool_calls": tool_calls or [], "first_delay": first_delay,
            "delay": delay}


def json_reply(content: str) -> dict[str, Any]:
    return {"kind": "json", "content": content}


def error(status: int = 500, message: str = "boom") -> dict[str, Any]:
    return {"kind": "error", "status": status, "message": message}


def hang(seconds: float) -> dict[str, Any]:
    return {"kind": "hang", "seconds": seconds}


class OpenAIServer:
    def __init__(self) -> None:
        self.behaviours: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                behaviour = server._next(body)
                try:
                    server._answer(self, body, behaviour)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def push(self, *behaviours: dict[str, Any]) -> OpenAIServer:
        with self._lock:
            self.behaviours.extend(behaviours)
        return self

    def _next(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.requests.append(body)
            if not self.behaviours:
                return error(500, "no behaviour queued")
            return self.behaviours.pop(0) if len(self.behaviours) > 1 else self.behaviours[0]

    def _answer(self, h: BaseHTTPRequestHandler, body: dict[str, Any], b: dict[str, Any]) -> None:
        model = body.get("model", "gpt-test")
        if b["kind"] == "hang":
            time.sleep(b["seconds"])
            b = error(504, "too late")
        if b["kind"] == "error":
            payload = json.dumps({"error": {"message": b["message"], "type": "server_error", "code": None}}).encode()
            h.send_response(b["status"])
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
            return
        if b["kind"] == "json":
            payload = json.dumps({
                "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": b["content"]}}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }).encode()
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
            return
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Cache-Control", "no-cache")
        h.send_header("Connection", "close")
        h.end_headers()
        h.close_connection = True

        def send(delta: dict[str, Any], finish: str | None = None) -> None:
            chunk = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": int(time.time()),
                     "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            h.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
            h.wfile.flush()

        time.sleep(b["first_delay"])
        send({"role": "assistant", "content": ""})
        for piece in b["chunks"]:
            send({"content": piece})
            time.sleep(b["delay"])
        for i, call in enumerate(b["tool_calls"]):
            args = json.dumps(call.get("arguments", {}), ensure_ascii=False)
            half = len(args) // 2
            send({"tool_calls": [{"index": i, "id": f"call_{i}", "type": "function",
                                  "function": {"name": call["name"], "arguments": args[:half]}}]})
            send({"tool_calls": [{"index": i, "function": {"arguments": args[half:]}}]})
        send({}, "tool_calls" if b["tool_calls"] else "stop")
        h.wfile.write(b"data: [DONE]\n\n")
        h.wfile.flush()

    def __enter__(self) -> OpenAIServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
