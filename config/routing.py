"""All WebSocket routes. Browser routes check Origin and session; telephony routes check a signed token.

Each app keeps its own ``routing.py`` with the right middleware stack around its consumers. A path
that matches no route is refused at the handshake (close code 4404, logged at INFO), not with the
router's ValueError (an HTTP 500 and an error in the log).
"""

import logging

from django.urls import re_path

from calls.routing import websocket_urlpatterns as calls_routes
from training.routing import websocket_urlpatterns as training_routes

log = logging.getLogger(__name__)
CLOSE_NOT_FOUND = 4404


async def unknown_websocket_path(scope, receive, send) -> None:
    """Refuse the handshake of a WebSocket path no route knows; nothing is accepted or read."""
    message = await receive()
    if message["type"] == "websocket.connect":
        log.info("websocket path not found: %s", scope.get("path", ""))
        await send({"type": "websocket.close", "code": CLOSE_NOT_FOUND})


websocket_urlpatterns = [*training_routes, *calls_routes, re_path(r"", unknown_websocket_path)]
