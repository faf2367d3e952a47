"""Origin check for the browser WebSocket routes: same origin as the page, even where ALLOWED_HOSTS is ``*``.

Channels' ``AllowedHostsOriginValidator`` lets any Origin through when ALLOWED_HOSTS holds ``*``
(the development default), so a page on https://evil.example could open a logged-in user's live
feed with their cookies. Here an Origin passes when it is the served host itself (the Host header,
which Django must also allow), a host ALLOWED_HOSTS names explicitly, or one of
CSRF_TRUSTED_ORIGINS. A connection without Origin (no browser sends one) is refused.

``PushOnlyFeed`` is what the browser's read-only feeds do with a frame the page never sends, and
``DropSendsToGonePeer`` keeps a consumer alive for its clean-up when it pushes to a page that just left.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import urlparse

from autobahn.exception import Disconnected
from channels.security.websocket import OriginValidator, WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from uvicorn.protocols.utils import ClientDisconnected

from voice.protocols.base import CLOSE_BAD_MESSAGE, CLOSE_TOO_BIG, CLOSE_UNSUPPORTED_DATA

# what the servers raise when an application sends on a socket whose peer has closed: daphne (autobahn), uvicorn
PEER_GONE = (Disconnected, ClientDisconnected)

log = logging.getLogger(__name__)


def _header(scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return ""


class BrowserOriginValidator(OriginValidator):
    def __init__(self, application):
        super().__init__(application, allowed_origins=[])

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            raise ValueError("BrowserOriginValidator guards WebSocket connections only")
        if self.origin_allowed(origin=_header(scope, b"origin"), host=_header(scope, b"host")):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)

    def origin_allowed(self, *, origin: str, host: str) -> bool:
        if not origin:
            return False
        parsed = urlparse(origin)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            return False
        allowed_hosts = settings.ALLOWED_HOSTS or (["localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
        served_host, _port = split_domain_port(host.lower())
        if host and parsed.netloc.lower() == host.lower() and served_host and validate_host(served_host, allowed_hosts):
            return True
        explicit = [pattern for pattern in allowed_hosts if pattern != "*"]
        trusted = list(getattr(settings, "CSRF_TRUSTED_ORIGINS", []))
        return any(self.match_allowed_origin(parsed, pattern) for pattern in [*explicit, *trusted])


# A push-only feed (the call board, a call's live view, a session's review) takes nothing from the page.
FEED_MAX_FRAME_CHARS = 16 * 1024


class PushOnlyFeed:
    """Mixin for a Channels consumer the server only pushes to: a frame from the client is a fault.

    It is answered with a JSON ``{"type": "error", "code", "reason"}`` and a 4xxx close (4003 a binary
    frame, 4009 a frame over 16 KB, 4400 anything else), never parsed and never stored. Without this a
    JSON consumer raised on a non-JSON or binary frame: the server logged an error and closed with 1011.
    """

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs) -> None:
        if bytes_data is not None:
            code, reason = CLOSE_UNSUPPORTED_DATA, "this feed accepts no binary frames"
        elif len(text_data or "") > FEED_MAX_FRAME_CHARS:
            code, reason = CLOSE_TOO_BIG, f"frame of {len(text_data or '')} characters over {FEED_MAX_FRAME_CHARS}"
        else:
            code, reason = CLOSE_BAD_MESSAGE, "this feed accepts no messages"
        log.info("%s: closing with %s: %s", type(self).__name__, code, reason)
        await self.send(text_data=json.dumps({"type": "error", "code": code, "reason": reason}))
        await self.close(code=code, reason=reason)


class DropSendsToGonePeer:
    """Mixin for a Channels consumer that pushes to the browser from the channel layer (audio, events).

    The page may close between two pushes; until its disconnect reaches the consumer, a push raises in the
    server (daphne: ``Disconnected``), the exception ends the consumer, and its ``disconnect`` (leaving
    groups, logging the end, handing back a held call) never runs. Such a push is dropped instead.
    """

    async def send(self, *args, **kwargs) -> None:
        try:
            await super().send(*args, **kwargs)
        except PEER_GONE:
            log.debug("%s: the page is gone; a push was dropped", type(self).__name__)
