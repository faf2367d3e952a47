"""``WebSocketEndpoint``: a bare ASGI WebSocket handler for media streams, one receive loop per socket.

A carrier's media stream is 50 small messages a second per call. Channels' generic consumers run
every message through ``await_many_dispatch`` (a task and an ``asyncio.wait`` per message) and a
type-name dispatch; at a hundred calls that bookkeeping costs as much CPU as the audio work itself.
A media socket needs none of it: it has no channel-layer inbox (it only publishes) and no
middleware. This base reads ``receive()`` in one loop and calls ``on_text`` / ``on_bytes``
directly. It is plain ASGI, so Channels' ``URLRouter`` routes to it (``scope["url_route"]`` is set
as usual), any ASGI server runs it and ``channels.testing.WebsocketCommunicator`` tests it.

Subclasses implement ``on_connect`` (``await self.accept()`` or ``await self.close(code)``),
``on_text``, ``on_bytes`` and ``on_disconnect``. A handler that raises closes the socket with
``CLOSE_INTERNAL`` (a 4xxx code: ASGI servers refuse 1011 from applications) and the exception is
logged; the other sockets of the process never notice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

CLOSE_INTERNAL = 4500


class WebSocketEndpoint:
    def __init__(self, scope: Scope, send: Send, **kwargs: Any):
        self.scope = scope
        self._asgi_send = send
        self.accepted = False
        self.closed = False

    @classmethod
    def as_asgi(cls, **kwargs: Any) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await cls(scope, send, **kwargs).run(receive)

        return app

    # --- what subclasses implement ---

    async def on_connect(self) -> None:
        await self.accept()

    async def on_text(self, text: str) -> None:
        pass

    async def on_bytes(self, data: bytes) -> None:
        pass

    async def on_disconnect(self, code: int) -> None:
        pass

    # --- sending ---

    async def accept(self) -> None:
        if not self.accepted and not self.closed:
            self.accepted = True
            await self._asgi_send({"type": "websocket.accept"})

    async def send_text(self, text: str) -> None:
        if not self.closed:
            await self._asgi_send({"type": "websocket.send", "text": text})

    async def send_bytes(self, data: bytes) -> None:
        if not self.closed:
            await self._asgi_send({"type": "websocket.send", "bytes": data})

    async def send_frame(self, frame: str | bytes) -> None:
        if isinstance(frame, str):
            await self.send_text(frame)
        else:
            await self.send_bytes(frame)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        message: dict[str, Any] = {"type": "websocket.close", "code": code}
        if reason:
            message["reason"] = reason.encode()[:123].decode(errors="ignore")
        try:
            await self._asgi_send(message)
        except Exception as exc:  # the peer is already gone: nothing left to tell it
            log.debug("close(%s) on a gone socket: %s", code, exc)

    # --- the loop ---

    async def run(self, receive: Receive) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        try:
            await self.on_connect()
        except Exception:
            log.exception("%s: connect failed", type(self).__name__)
            await self.close(CLOSE_INTERNAL, "internal error")
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.receive":
                if self.closed:
                    continue  # frames in flight after our close: the server drops them with the socket
                try:
                    text = message.get("text")
                    if text is not None:
                        await self.on_text(text)
                    else:
                        await self.on_bytes(message.get("bytes") or b"")
                except Exception:
                    log.exception("%s: a frame handler failed", type(self).__name__)
                    await self.close(CLOSE_INTERNAL, "internal error")
            elif kind == "websocket.disconnect":
                self.closed = True
                try:
                    await self.on_disconnect(int(message.get("code") or 1000))
                except Exception:
                    log.exception("%s: disconnect failed", type(self).__name__)
                return
