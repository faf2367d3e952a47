"""An unknown WebSocket path is refused cleanly at the handshake, not with a server error."""

from __future__ import annotations

import logging

from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from config.routing import CLOSE_NOT_FOUND, websocket_urlpatterns


async def test_an_unknown_websocket_path_is_refused_with_4404_and_no_error_log(caplog):
    comm = WebsocketCommunicator(URLRouter(websocket_urlpatterns), "/ws/nope/")
    with caplog.at_level(logging.INFO):
        connected, code = await comm.connect()
    assert not connected and code == CLOSE_NOT_FOUND
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    await comm.disconnect()
