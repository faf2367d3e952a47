"""Browser WebSocket routes take only the page's own Origin, even with ALLOWED_HOSTS = * (development)."""

from __future__ import annotations

import pytest
from autobahn.exception import Disconnected
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.test import Client
from uvicorn.protocols.utils import ClientDisconnected

from config.management.commands.run_dev import Command
from config.routing import websocket_urlpatterns
from config.websocket import BrowserOriginValidator, DropSendsToGonePeer

pytestmark = pytest.mark.django_db(transaction=True)


class Accepting(AsyncWebsocketConsumer):
    async def connect(self):
        await self.accept()


async def _connects(app, path: str, headers: list[tuple[bytes, bytes]]) -> bool:
    comm = WebsocketCommunicator(app, path, headers=headers)
    connected, _ = await comm.connect()
    await comm.disconnect()
    return connected


@pytest.mark.parametrize(("origin", "host", "allowed"), [
    (b"http://localhost:8000", b"localhost:8000", True),
    (b"http://127.0.0.1:8000", b"127.0.0.1:8000", True),
    (b"https://evil.example", b"localhost:8000", False),
    (b"http://localhost:8001", b"localhost:8000", False),  # another port is another origin
    (b"http://localhost:8000.evil.example", b"localhost:8000", False),
    (b"null", b"localhost:8000", False),
    (None, b"localhost:8000", False),
    (b"http://localhost:8000", None, False),
])
async def test_any_host_development_settings_still_check_origin_against_the_served_host(settings, origin, host,
                                                                                         allowed):
    settings.DEBUG = True
    settings.ALLOWED_HOSTS = ["*"]
    headers = [(name, value) for name, value in ((b"origin", origin), (b"host", host)) if value is not None]
    assert await _connects(BrowserOriginValidator(Accepting.as_asgi()), "/ws/x/", headers) is allowed


async def test_explicit_hosts_and_trusted_origins_pass(settings):
    settings.ALLOWED_HOSTS = ["sales.example.com"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://console.example.com"]
    app = BrowserOriginValidator(Accepting.as_asgi())
    assert await _connects(app, "/ws/x/", [(b"origin", b"https://sales.example.com"), (b"host", b"10.0.0.5:8000")])
    assert await _connects(app, "/ws/x/", [(b"origin", b"https://console.example.com"),
                                           (b"host", b"sales.example.com")])
    # the served host itself must be one Django serves
    assert not await _connects(app, "/ws/x/", [(b"origin", b"http://attacker.test"), (b"host", b"attacker.test")])


async def test_the_live_feed_refuses_a_logged_in_operator_from_a_foreign_origin(settings, make_user):
    settings.DEBUG = True
    settings.ALLOWED_HOSTS = ["*"]
    operator = await database_sync_to_async(make_user)("origin_operator", "Operator")

    @database_sync_to_async
    def cookie() -> bytes:
        c = Client()
        c.force_login(operator)
        return f"sessionid={c.cookies['sessionid'].value}".encode()

    app = URLRouter(websocket_urlpatterns)
    session = await cookie()
    for origin, allowed in ((b"https://evil.example", False), (b"http://localhost:8000", True)):
        comm = WebsocketCommunicator(app, "/ws/calls/live/", headers=[
            (b"origin", origin), (b"host", b"localhost:8000"), (b"cookie", session)])
        connected, _ = await comm.connect()
        assert connected is allowed, origin
        await comm.disconnect()


def test_run_dev_listens_on_this_machine_only_unless_asked(monkeypatch):
    monkeypatch.delenv("RUN_ADDR", raising=False)
    assert Command().create_parser("manage.py", "run_dev").parse_args([]).addr == "127.0.0.1:8000"
    monkeypatch.setenv("RUN_ADDR", "0.0.0.0:8000")
    assert Command().create_parser("manage.py", "run_dev").parse_args([]).addr == "0.0.0.0:8000"


@pytest.mark.parametrize("gone", [Disconnected("Attempt to send on a closed protocol"), ClientDisconnected()])
async def test_a_push_to_a_page_that_just_left_is_dropped_and_the_consumer_lives_to_clean_up(gone):
    class Feed(DropSendsToGonePeer, AsyncWebsocketConsumer):
        pass

    sent: list[dict] = []

    async def server_send(message: dict) -> None:
        if sent:  # the page closed after the first push: the server refuses the next one
            raise gone
        sent.append(message)

    feed = Feed()
    feed.base_send = server_send
    await feed.send(text_data="first")
    await feed.send(text_data="after the page left")  # dropped, not raised
    assert sent == [{"type": "websocket.send", "text": "first"}]

    class Plain(AsyncWebsocketConsumer):
        pass

    plain = Plain()
    plain.base_send = server_send
    with pytest.raises(type(gone)):  # what ended the consumer before
        await plain.send(text_data="after the page left")
