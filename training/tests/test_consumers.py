"""The live session socket with fake STT/TTS and the real AI customer: turns, end phrase, drops, permissions."""

from __future__ import annotations

import asyncio
import importlib
import json

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.test import Client

from training import consumers, routing, services
from training.live import TurnWriter, build_pipeline
from training.models import SessionEvent, TrainingSession
from training.routing import websocket_urlpatterns
from training.services import TurnRecord
from voice.events import UserTranscript
from voice.pipeline import PipelineConfig
from voice.stt.fake import FakeSTT
from voice.tests.signals import quiet, voiced
from voice.tts.fake import FakeTTS

pytestmark = [pytest.mark.django_db(transaction=True)]
Status = TrainingSession.Status

GREETING = "Здравствуйте, меня зовут Анна, компания КаргоЛайн. Как вы сейчас возите грузы?"


@pytest.fixture(autouse=True)
def in_memory_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture(autouse=True)
def fake_voice(monkeypatch):
    """Fake STT answers by utterance length (1 s of speech: the greeting; 2.5 s: the end phrase)."""

    def build(*, setup):
        config = PipelineConfig(language=setup.language, bot_speaks_first=True, speculative_stt=False)
        stt = FakeSTT({1100: GREETING, 2600: "Завершить."})
        return build_pipeline(setup=setup, stt=stt, tts=FakeTTS(ms_per_char=8), config=config)

    monkeypatch.setattr(consumers, "build_pipeline", build)


def _app():
    return URLRouter(websocket_urlpatterns)


@database_sync_to_async
def _cookie(user) -> str:
    c = Client()
    c.force_login(user)
    return c.cookies["sessionid"].value


async def _communicator(user, session_id: int) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
    if user is not None:
        headers.append((b"cookie", f"sessionid={await _cookie(user)}".encode()))
    return WebsocketCommunicator(_app(), f"/ws/training/{session_id}/", headers=headers)


async def _pump(comm: WebsocketCommunicator, until, timeout: float = 10.0) -> list[dict]:
    """Receive (echoing marks like the page does) until ``until(message)`` or the socket closes."""
    seen = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        left = deadline - loop.time()
        assert left > 0, f"timed out; saw {[m.get('type') for m in seen][-20:]}"
        out = await comm.receive_output(timeout=left)
        if out["type"] == "websocket.close":
            seen.append({"type": "closed", "code": out.get("code")})
            return seen
        if out.get("bytes") is not None:
            msg = {"type": "audio", "bytes": len(out["bytes"])}
        else:
            msg = json.loads(out["text"])
            if msg["type"] == "mark":
                await comm.send_to(text_data=json.dumps({"type": "mark", "name": msg["name"]}))
        seen.append(msg)
        if until(msg):
            return seen


def _is_event(kind, **fields):
    return lambda m: m.get("type") == "event" and m["event"]["type"] == kind and all(
        m["event"].get(k) == v for k, v in fields.items()
    )


async def _say(comm: WebsocketCommunicator, ms: int) -> None:
    pcm = quiet(200) + voiced(ms) + quiet(900)
    for i in range(0, len(pcm), 640):
        await comm.send_to(bytes_data=pcm[i:i + 640])


@database_sync_to_async
def _session(user, scenario):
    return services.session_create(trainee=user.trainee, scenario=scenario)


@database_sync_to_async
def _reload(session):
    session.refresh_from_db()
    return session, list(session.turns.values_list("speaker", "text", "voice_to_voice_ms", "started_ms"))


async def test_conversation_turns_end_phrase_and_recording(trainee, scenario_ru):
    session = await _session(trainee, scenario_ru)
    comm = await _communicator(trainee, session.pk)
    connected, _ = await comm.connect()
    assert connected
    ready = json.loads(await comm.receive_from())
    assert ready == {"type": "ready", "session_id": session.pk, "language": "ru", "end_phrase": "Завершить"}
    # the customer picks up: audio frames and the bot's words, then listening
    seen = await _pump(comm, _is_event("bot_turn", turn_index=0))
    assert any(m["type"] == "audio" for m in seen)
    await _say(comm, 1000)
    seen = await _pump(comm, _is_event("bot_turn", turn_index=1))
    finals = [m["event"]["text"] for m in seen if _is_event("user_transcript", final=True)(m)]
    assert finals == [GREETING]
    assert any(_is_event("metrics", turn_index=1)(m) and m["event"]["voice_to_voice_ms"] for m in seen)
    assert any(_is_event("state", state="SPEAKING")(m) for m in seen)
    # the end phrase ends the session: "ended" with the review address, then a normal close
    await _say(comm, 2500)
    seen = await _pump(comm, lambda m: m["type"] == "closed")
    ended = next(m for m in seen if m["type"] == "ended")
    assert ended["reason"] == "end_phrase" and ended["review_url"] == f"/training/sessions/{session.pk}/"
    assert seen[-1] == {"type": "closed", "code": 1000}
    session, turns = await _reload(session)
    assert session.status in (Status.ENDED, Status.SCORING, Status.SCORED) and session.end_reason == "end_phrase"
    speakers = [t[0] for t in turns]
    assert speakers[:3] == ["bot", "user", "bot"]
    assert turns[1][1] == GREETING and all("Завершить" not in t[1] for t in turns)
    assert turns[2][2] is not None and turns[2][2] >= 0  # the answer's voice-to-voice latency is stored
    assert turns[1][3] is not None  # and the utterance's timing
    assert session.audio and session.audio.size > 44 + 16000  # over half a second of mixed audio
    await comm.disconnect()


async def test_another_trainee_and_anonymous_are_refused(trainee, other_trainee, scenario_ru):
    session = await _session(trainee, scenario_ru)
    for user in (other_trainee, None):
        comm = await _communicator(user, session.pk)
        connected, code = await comm.connect()
        assert not connected and code == consumers.CLOSE_FORBIDDEN
        await comm.disconnect()  # the consumer leaves the channel layer inside the test (see calls' test)
    session, _ = await _reload(session)
    assert session.status == Status.CREATED


async def test_foreign_origin_is_refused(trainee, scenario_ru, settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    # the validator reads ALLOWED_HOSTS when the route is built: build the routes again
    app = URLRouter(importlib.reload(routing).websocket_urlpatterns)
    session = await _session(trainee, scenario_ru)
    comm = WebsocketCommunicator(app, f"/ws/training/{session.pk}/",
                                 headers=[(b"origin", b"http://evil.example"),
                                          (b"cookie", f"sessionid={await _cookie(trainee)}".encode())])
    connected, _ = await comm.connect()
    assert not connected
    await comm.disconnect()


async def test_dropped_connection_keeps_the_session_and_allows_reconnect(trainee, scenario_ru):
    session = await _session(trainee, scenario_ru)
    comm = await _communicator(trainee, session.pk)
    assert (await comm.connect())[0]
    await _pump(comm, _is_event("bot_turn", turn_index=0))
    await _say(comm, 1000)
    await _pump(comm, _is_event("bot_turn", turn_index=1))
    await comm.disconnect(code=1006)  # the network went away
    session, turns = await _reload(session)
    assert session.status == Status.ACTIVE
    assert [t[0] for t in turns] == ["bot", "user", "bot"]
    assert session.audio  # what was said so far is recorded
    kinds = await database_sync_to_async(
        lambda: list(SessionEvent.objects.filter(session=session).values_list("kind", flat=True)))()
    assert "disconnected" in kinds
    # the trainee comes back and finishes with the button
    comm = await _communicator(trainee, session.pk)
    assert (await comm.connect())[0]
    await _pump(comm, _is_event("bot_turn", turn_index=0))
    await comm.send_to(text_data=json.dumps({"type": "end"}))
    seen = await _pump(comm, lambda m: m["type"] == "closed")
    await comm.disconnect()
    assert any(m["type"] == "ended" and m["reason"] == "button" for m in seen)
    session, turns = await _reload(session)
    assert session.status != Status.ACTIVE and session.end_reason == "button"
    assert len(turns) >= 4  # the earlier turns stay, the new pick-up line is added


async def test_malformed_frame_closes_with_a_clear_code_and_keeps_the_session(trainee, scenario_ru):
    session = await _session(trainee, scenario_ru)
    comm = await _communicator(trainee, session.pk)
    assert (await comm.connect())[0]
    await comm.send_to(bytes_data=b"\x01\x02\x03")  # odd byte count: not PCM16
    seen = await _pump(comm, lambda m: m["type"] == "closed")
    assert seen[-1]["code"] == 4007
    assert any(m["type"] == "error" and m["code"] == 4007 for m in seen)
    await comm.disconnect(code=4007)
    comm2 = await _communicator(trainee, session.pk)
    assert (await comm2.connect())[0]
    await comm2.send_to(text_data="{not json")
    seen = await _pump(comm2, lambda m: m["type"] == "closed")
    assert seen[-1]["code"] in (4007, 4400)
    await comm2.disconnect(code=seen[-1]["code"])
    session, _ = await _reload(session)
    assert session.status == Status.ACTIVE
    reasons = await database_sync_to_async(lambda: list(
        session.events.filter(kind="disconnected").values_list("data__reason", flat=True)))()
    assert any("odd byte count" in (r or "") for r in reasons), reasons


async def test_review_socket_pushes_the_score(trainee, other_trainee, scenario_ru):
    session = await _session(trainee, scenario_ru)
    headers = [(b"origin", b"http://testserver"), (b"cookie", f"sessionid={await _cookie(other_trainee)}".encode()),
               (b"host", b"testserver")]
    comm = WebsocketCommunicator(_app(), f"/ws/training/{session.pk}/review/", headers=headers)
    assert (await comm.connect()) == (False, consumers.CLOSE_FORBIDDEN)
    await comm.disconnect()
    headers[1] = (b"cookie", f"sessionid={await _cookie(trainee)}".encode())
    comm = WebsocketCommunicator(_app(), f"/ws/training/{session.pk}/review/", headers=headers)
    assert (await comm.connect())[0]
    assert json.loads(await comm.receive_from())["status"] == "created"

    def finish_and_score():
        services.session_transcript_import(session_id=session.pk, turns=[TurnRecord(speaker="user", text="Hello")])
        services.session_score(session_id=session.pk)

    await database_sync_to_async(finish_and_score)()
    statuses = []
    while "scored" not in statuses:
        statuses.append(json.loads(await comm.receive_from(timeout=5))["status"])
    assert statuses == ["ended", "scoring", "scored"]
    await comm.disconnect()


async def test_words_said_before_the_end_phrase_are_kept(trainee, scenario_ru):
    """«Хорошо, спасибо. Завершить.»: the end phrase is a command; the thanks before it is part of the talk."""
    session = await _session(trainee, scenario_ru)
    writer = TurnWriter(session_id=session.pk, clock_ms=lambda: 1000, end_phrase="Завершить")
    await writer.emit(UserTranscript(text="Хорошо, спасибо. Завершить.", final=True, turn_index=1))
    await writer.emit(UserTranscript(text="Завершить.", final=True, turn_index=2))  # the phrase alone: no turn
    await writer.aclose()
    _, turns = await _reload(session)
    assert [(speaker, text) for speaker, text, *_ in turns] == [("user", "Хорошо, спасибо.")]
