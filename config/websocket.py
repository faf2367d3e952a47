"""Origin check for the browser WebSocket routes: same origin as the page, even where ALLOWED_HOSTS is ``*``.

Channels' ``AllowedHostsOriginValidator`` lets any Origin through when ALLOWED_HOSTS holds ``*``
(the development default), so a page on https://evil.example could open a logged-in user's live
feed with their cookies. Here an Origin passes when it is the served host itself (the Host header,
which Django must also allow), a host ALLOWED_HOSTS names explicitly, or one of
CSRF_TRUSTED_ORIGINS. A connection without Origin (no browser sends one) is refused.
"""

from __future__ import annotations

from urllib.parse import urlparse

from channels.security.websocket import OriginValidator, WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host


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
