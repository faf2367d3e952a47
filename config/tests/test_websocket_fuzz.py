"""Malformed frames on every browser WebSocket route: a clear error and a 4xxx close, never a crash, nothing lost.

The routes: the trainer's live socket (``ws/training/<id>/``), its review feed
(``ws/training/<id>/review/``) and the operators' live feeds (``ws/calls/live/``,
``ws/calls/<id>/live/``). The carrier's media socket has its own fuzz test
(``calls/tests/test_media_edge.py``). Each bad frame goes to a fresh connection through the project's
real routing (``config.routing``, Origin check and session auth included): non-JSON text, JSON that
is not an object, unknown or mistyped messages, missing fields, text and binary frames over the
limits, odd-length audio, binary on a feed that takes nothing, and floods. Each must be answered
with ``{"type": "error", "code", "reason"}`` and closed with that 4xxx code. Afterwards the training
session is still active with every line said before, and another connection works.
"""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from calls import services as call_services
from config.routing import websocket_urlpatterns
from training import services
from training.models import Scenario, TrainingSession
from training.tests.test_consumers import _cookie, _is_event, _pump, _say, fake_voice, in_memory_layer  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)
app = URLRouter(websocket_urlpatterns)

PCM_20MS = bytes(640)  # 20 ms of silence, PCM16 16 kHz
# (what, frames, close code): every frame a trainer's page could get wrong
TRAINER_BAD_FRAMES = [
    ("not JSON", ["{not json"], 4007),
    ("a JSON array", ["[1, 2]"], 4007),
    ("JSON null", ["null"], 4007),
    ("a JSON string", ['"end"'], 4007),
    ("empty text", [""], 4007),
    ("an unknown type", ['{"type": "nope"}'], 4400),
    ("no type", ['{"name": "m1"}'], 4400),
    ("a type that is a number", ['{"type": 5}'], 4400),
    ("a mark without its name", ['{"type": "mark"}'], 4400),
    ("a mark whose name is a list", ['{"type": "mark", "name": [1]}'], 4400),
    ("text over 16 KB", ['{"type": "ping", "pad": "' + "x" * 17_000 + '"}'], 4009),
    ("a 1 MiB text frame", ["x" * (1 << 20)], 4009),
    ("odd-length audio", [b"\x01\x02\x03"], 4007),
    ("an audio frame over 64 KB", [bytes(70_000)], 4009),
    ("a 1 MiB binary frame", [bytes(1 << 20)], 4009),
    ("an audio flood (20 s at once, 5 s slack)", [bytes(64_000)] * 10, 4408),
    ("a flood of bad text", ["{not json"] * 200, 4007),
]
FEED_BAD_FRAMES = [
    ("not JSON", ["{not json"], 4400),
    ("JSON", ['{"type": "subscribe", "call_id": 1}'], 4400),
    ("binary", [b"\x00\x01"], 4003),
    ("a 1 MiB text frame", ["x" * (1 << 20)], 4009),
    ("a flood", ["{}"] * 200, 4400),
]


def _headers(cookie: str | None) -> list[tuple[bytes, bytes]]:
    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
    if cookie:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    return headers


async def _send(comm: WebsocketCommunicator, frames: list) -> None:
    for frame in frames:  # straight to the input queue: the communicator's send_to refuses an empty frame
        await comm.send_input({"type": "websocket.receive", **({"bytes": frame} if isinstance(frame, bytes)
                                                                 else {"text": frame})})


async def _refused_with(comm: WebsocketCommunicator, code: int, what: str) -> None:
    """The socket says what was wrong (an ``error`` message with the code), then closes with that code."""
    seen = await _pump(comm, lambda m: m["type"] == "closed", timeout=30)
    assert seen[-1] == {"type": "closed", "code": code}, (what, seen[-3:])
    errors = [m for m in seen if m["type"] == "error"]
    assert errors and errors[-1]["code"] == code and errors[-1]["reason"], (what, errors)
    assert 4000 <= code <= 4999
    await comm.disconnect(code=code)


@database_sync_to_async
def _practice(trainee):
    scenario = Scenario.objects.create(title="Грузы из Китая", language="ru", persona="sergey_medium",
                                       product_description="Доставка сборных грузов из Китая за 25 дней.")
    return services.session_create(trainee=trainee.trainee, scenario=scenario)


@database_sync_to_async
def _state(session_id: int):
    session = TrainingSession.objects.get(pk=session_id)
    return session.status, list(session.turns.order_by("index").values_list("speaker", "text"))


async def test_bad_frames_on_the_trainer_socket_close_4xxx_and_lose_nothing(trainee, settings):
    # real time, as in production (the test settings let audio in 1000x faster); the 5 s slack stays
    settings.VOICE = {**settings.VOICE, "MEDIA_MAX_SPEED": 1.0}
    session = await _practice(trainee)
    cookie = await _cookie(trainee)
    comm = WebsocketCommunicator(app, f"/ws/training/{session.pk}/", headers=_headers(cookie))
    assert (await comm.connect())[0]
    await _pump(comm, _is_event("bot_turn", turn_index=0))
    await _say(comm, 1000)  # the trainee says something and the customer answers
    await _pump(comm, _is_event("bot_turn", turn_index=1))
    await comm.disconnect()
    _, said = await _state(session.pk)
    assert [s for s, _ in said] == ["bot", "user", "bot"]

    for what, frames, code in TRAINER_BAD_FRAMES:
        comm = WebsocketCommunicator(app, f"/ws/training/{session.pk}/", headers=_headers(cookie))
        assert (await comm.connect())[0], what
        assert json.loads(await comm.receive_from(timeout=10))["type"] == "ready", what
        await _send(comm, frames)
        await _refused_with(comm, code, what)
        status, now = await _state(session.pk)
        assert status == "active", what  # the trainee may reconnect and go on
        assert now[:len(said)] == said, what  # every line said before is kept, in order

    # and the session is still usable: a new socket talks and ends it with the button
    comm = WebsocketCommunicator(app, f"/ws/training/{session.pk}/", headers=_headers(cookie))
    assert (await comm.connect())[0]
    await _pump(comm, _is_event("bot_turn", turn_index=0))
    await comm.send_to(text_data=json.dumps({"type": "end"}))
    seen = await _pump(comm, lambda m: m["type"] == "closed")
    await comm.disconnect()
    assert any(m["type"] == "ended" and m["reason"] == "button" for m in seen)
    status, now = await _state(session.pk)
    assert status != "active" and now[:len(said)] == said


async def test_bad_frames_on_the_review_feed_close_4xxx_and_the_feed_keeps_working(trainee):
    session = await _practice(trainee)
    cookie = await _cookie(trainee)
    path = f"/ws/training/{session.pk}/review/"
    for what, frames, code in FEED_BAD_FRAMES:
        comm = WebsocketCommunicator(app, path, headers=_headers(cookie))
        assert (await comm.connect())[0], what
        assert json.loads(await comm.receive_from(timeout=10))["status"] == "created"
        await _send(comm, frames)
        await _refused_with(comm, code, what)
    comm = WebsocketCommunicator(app, path, headers=_headers(cookie))
    assert (await comm.connect())[0]
    assert json.loads(await comm.receive_from(timeout=10))["status"] == "created"
    await database_sync_to_async(services.session_start)(session_id=session.pk)
    assert json.loads(await comm.receive_from(timeout=10))["status"] == "active"
    await comm.disconnect()
    status, _ = await _state(session.pk)
    assert status == "active"


@pytest.mark.parametrize("path", ["/ws/calls/live/", "/ws/calls/{call_id}/live/"])
async def test_bad_frames_on_the_live_call_feeds_close_4xxx_and_the_feed_keeps_working(path, operator):
    cookie = await _cookie(operator)
    path = path.format(call_id=7)
    for what, frames, code in FEED_BAD_FRAMES:
        comm = WebsocketCommunicator(app, path, headers=_headers(cookie))
        assert (await comm.connect())[0], what
        await _send(comm, frames)
        await _refused_with(comm, code, what)
    comm = WebsocketCommunicator(app, path, headers=_headers(cookie))
    assert (await comm.connect())[0]
    await call_services.call_publish_async(call_id=7, campaign_id=3, payload={"kind": "status", "status": "ringing"})
    assert json.loads(await comm.receive_from(timeout=10)) == {"call_id": 7, "campaign_id": 3, "kind": "status",
                                                                "status": "ringing"}
    await comm.disconnect()
