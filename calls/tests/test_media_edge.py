"""The carrier media socket under bad input and abuse: one socket per call, floods, malformed frames, the cache.

Each test drives the real route (``calls.routing``) with Channels' communicator, a fake STT/TTS and the
flow engine, and checks both what the socket sees (a 4xxx close with a reason) and what the call
records (it ends, with the reason, and nothing said before is lost).
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from calls import consumers
from calls.consumers import CLOSE_ALREADY_STREAMING, CallEventSink, CallRecorder, _media_lock_key, media_holds
from calls.media_auth import call_media_token
from calls.models import Call, CallEvent
from calls.routing import websocket_urlpatterns
from calls.selectors import call_media_context
from calls.services.lifecycle import call_transition
from config.voice import redis_for_loop, shared_provider
from voice import audio
from voice.endpoint import CLOSE_INTERNAL, WebSocketEndpoint
from voice.events import BotTurnFinished, DirectiveEvent, UserTranscript
from voice.protocols.base import CLOSE_INVALID_PAYLOAD, CLOSE_TOO_BIG, CLOSE_TOO_FAST, CLOSE_UNSUPPORTED_DATA

pytestmark = pytest.mark.django_db(transaction=True)
app = URLRouter(websocket_urlpatterns)
ULAW_SILENCE_20MS = base64.b64encode(audio.pcm16_to_ulaw(audio.silence(20, 8000))).decode()


@pytest.fixture
def fake_voice(settings):
    settings.VOICE = {**settings.VOICE, "STT": {"PROVIDER": "fake", "OPTIONS": {"default": "да"}},
                      "TTS": {"PROVIDER": "fake", "OPTIONS": {"ms_per_char": 10}}}


@pytest.fixture
def live_call(make_campaign, make_contact):
    call = Call.objects.create(campaign=make_campaign(), contact=make_contact())
    call_transition(call_id=call.pk, to=Call.Status.DIALING)
    return call


def start_frame(sid: str = "MZ1") -> str:
    return json.dumps({"event": "start", "streamSid": sid, "start": {
        "streamSid": sid, "callSid": "CA1", "customParameters": {},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}})


def media_frame(n: int, payload: str = ULAW_SILENCE_20MS) -> str:
    return json.dumps({"event": "media", "streamSid": "MZ1", "media": {
        "track": "inbound", "chunk": str(n), "timestamp": str(20 * n), "payload": payload}})


async def started(call: Call) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(app, f"/ws/calls/{call.pk}/media/?token={call_media_token(call_id=call.pk)}")
    connected, _ = await comm.connect()
    assert connected
    await comm.send_to(text_data=start_frame())
    return comm


async def until_closed(comm: WebsocketCommunicator, timeout: float = 20) -> dict:
    while True:
        message = await comm.receive_output(timeout=timeout)
        if message["type"] == "websocket.close":
            return message


async def bot_audio(comm: WebsocketCommunicator, timeout: float = 20) -> dict:
    while True:
        message = await comm.receive_output(timeout=timeout)
        assert message["type"] != "websocket.close", message
        data = json.loads(message["text"])
        if data["event"] == "media":
            return data


def call_end(call_id: int) -> tuple[str, dict]:
    call = Call.objects.get(pk=call_id)
    event = CallEvent.objects.filter(call_id=call_id, to_status="ended").first()
    return call.status, (event.data if event else {})


async def test_a_second_socket_for_a_live_call_is_refused_and_the_first_keeps_talking(live_call, fake_voice):
    first = await started(live_call)
    assert (await bot_audio(first))["streamSid"] == "MZ1"  # the greeting is on its way
    token = call_media_token(call_id=live_call.pk)
    second = WebsocketCommunicator(app, f"/ws/calls/{live_call.pk}/media/?token={token}")
    connected, _ = await second.connect()
    assert connected
    refusal = await until_closed(second)
    assert refusal["code"] == CLOSE_ALREADY_STREAMING and "another socket" in refusal["reason"]
    await bot_audio(first)  # still served
    await first.send_to(text_data=json.dumps({"event": "stop", "streamSid": "MZ1", "stop": {}}))
    await until_closed(first)
    await first.disconnect()
    await second.disconnect()
    # one recording, from the one socket that carried the call
    status, _ = await database_sync_to_async(call_end)(live_call.pk)
    assert status in ("ended", "analysing", "follow_up", "crm", "done")


async def test_the_holds_of_a_process_calls_are_renewed_together_and_an_ended_call_is_let_go(
        live_call, fake_voice, monkeypatch):
    monkeypatch.setattr(consumers, "MEDIA_HOLD_RENEW_S", 0.05)
    client = redis_for_loop()
    holds = media_holds()
    keys = [f"{_media_lock_key(0)}:test-{uuid.uuid4().hex}-{i}" for i in range(3)]
    for key in keys:
        await client.set(key, "x", ex=5)
        holds.hold(key)
    holds.release(keys[2])  # its call ended: its hold is left to expire (the socket deletes it)
    comm = await started(live_call)  # a live call's socket holds its call the same way
    await bot_audio(comm)
    assert _media_lock_key(live_call.pk) in holds.keys
    async with asyncio.timeout(20):
        while holds.renewals < 2:
            await asyncio.sleep(0.02)
    assert [await client.ttl(key) > 5 for key in keys] == [True, True, False]
    await comm.send_to(text_data=json.dumps({"event": "stop", "streamSid": "MZ1", "stop": {}}))
    await until_closed(comm)
    await comm.disconnect()
    assert _media_lock_key(live_call.pk) not in holds.keys and not await client.exists(_media_lock_key(live_call.pk))
    for key in keys:
        holds.release(key)
        await client.delete(key)


async def test_media_faster_than_real_time_closes_4408_and_ends_the_call(live_call, fake_voice, settings):
    settings.VOICE = {**settings.VOICE, "MEDIA_MAX_SPEED": 1.0, "MEDIA_REALTIME_SLACK_S": 1.0}
    comm = await started(live_call)
    for n in range(500):  # 10 s of audio at once: far beyond the 1 s slack, even on a slow machine
        await comm.send_to(text_data=media_frame(n))
    closed = await until_closed(comm)
    assert closed["code"] == CLOSE_TOO_FAST and "ahead of real time" in closed["reason"]
    await comm.disconnect()
    status, data = await database_sync_to_async(call_end)(live_call.pk)
    assert status != "in_progress"
    assert "ahead of real time" in data.get("end_reason", "")


@pytest.mark.parametrize("frame,code", [
    ("not json", CLOSE_INVALID_PAYLOAD),
    ("[1, 2]", CLOSE_INVALID_PAYLOAD),
    (b"\x00\x01\x02", CLOSE_UNSUPPORTED_DATA),
    (media_frame(1, payload="@@not base64@@"), CLOSE_INVALID_PAYLOAD),
    ("x" * (1 << 20), CLOSE_TOO_BIG),
])
async def test_a_bad_frame_closes_with_a_4xxx_code_and_the_call_ends_with_the_reason(live_call, fake_voice, frame,
                                                                                     code):
    comm = await started(live_call)
    await comm.send_to(text_data=media_frame(0))
    if isinstance(frame, bytes):
        await comm.send_to(bytes_data=frame)
    else:
        await comm.send_to(text_data=frame)
    closed = await until_closed(comm)
    assert closed["code"] == code and 3000 <= closed["code"] <= 4999 and closed["reason"]
    await comm.disconnect()
    status, data = await database_sync_to_async(call_end)(live_call.pk)
    assert status != "in_progress" and data.get("end_reason") == closed["reason"]


async def test_live_calls_read_the_audio_cache(make_campaign, make_contact, fake_voice, settings):
    """The second call's greeting comes from the audio cache the first one filled: no second synthesis."""
    settings.VOICE = {**settings.VOICE, "LIVE_AUDIO_CACHE": True}
    tts = shared_provider("tts")
    # a voice of this run's own: the test Redis outlives runs, and an earlier run's audio must not count
    campaign = await database_sync_to_async(make_campaign)(voice=f"cache-test-{uuid.uuid4().hex}")
    greetings = []
    for _ in range(2):
        contact = await database_sync_to_async(make_contact)()
        call = await database_sync_to_async(Call.objects.create)(campaign=campaign, contact=contact)
        await database_sync_to_async(call_transition)(call_id=call.pk, to=Call.Status.DIALING)
        before = len(tts.requests)
        comm = await started(call)
        await bot_audio(comm)
        greetings.append(tts.requests[before:])
        await comm.send_to(text_data=json.dumps({"event": "stop", "streamSid": "MZ1", "stop": {}}))
        await until_closed(comm)
        await comm.disconnect()
    assert greetings[0], "the first call synthesised its greeting"
    first_sentence = greetings[0][0][0]
    assert first_sentence not in [text for text, _, _ in greetings[1]], "the second call synthesised it again"


def test_the_recording_keeps_at_most_its_cap():
    recorder = CallRecorder(max_s=1.0)
    recorder.begin(8000)
    for _ in range(100):  # 2 s of each side
        recorder.inbound(audio.silence(20, 8000))
        recorder.outbound(audio.silence(20, 8000))
    pcm, rate = audio.read_wav(recorder.wav())
    assert rate == 8000 and recorder.truncated
    assert len(pcm) == 8000 * 2  # exactly 1 s kept


class _Boom(WebSocketEndpoint):
    async def on_text(self, text: str) -> None:
        if text == "boom":
            raise RuntimeError("handler bug")
        await self.send_text(text)


async def test_a_failing_handler_closes_only_its_own_socket():
    endpoint = _Boom.as_asgi()
    bad, good = WebsocketCommunicator(endpoint, "/x/"), WebsocketCommunicator(endpoint, "/x/")
    assert (await bad.connect())[0] and (await good.connect())[0]
    await bad.send_to(text_data="boom")
    assert (await bad.receive_output(timeout=5))["code"] == CLOSE_INTERNAL
    await good.send_to(text_data="hello")
    assert await good.receive_from(timeout=5) == "hello"
    await bad.disconnect()
    await good.disconnect()


GARBAGE = {
    "media before start": [media_frame(0)],
    "a second start": [start_frame(), start_frame()],
    "no event name": [start_frame(), json.dumps({"event": 5})],
    "start without a section": [json.dumps({"event": "start", "start": 3})],
    "odd format": [json.dumps({"event": "start", "start": {"streamSid": "MZ1", "mediaFormat": {
        "encoding": "audio/x-mulaw", "sampleRate": 44100}}})],
    "huge payload": [start_frame(), media_frame(0, payload="A" * 20000)],
    "binary": [start_frame(), b"\x00" * 7],
    "empty text": [start_frame(), ""],
    "deep json": [start_frame(), "[" * 5000 + "]" * 5000],
}


@pytest.mark.parametrize("name", sorted(GARBAGE))
async def test_fuzzed_media_socket_closes_4xxx_with_a_reason_and_another_call_keeps_working(
        name, make_campaign, make_contact, fake_voice):
    campaign = await database_sync_to_async(make_campaign)()
    calls = []
    for _ in range(2):
        call = await database_sync_to_async(Call.objects.create)(
            campaign=campaign, contact=await database_sync_to_async(make_contact)())
        await database_sync_to_async(call_transition)(call_id=call.pk, to=Call.Status.DIALING)
        calls.append(call)
    good = await started(calls[0])
    bad = WebsocketCommunicator(app, f"/ws/calls/{calls[1].pk}/media/?token={call_media_token(call_id=calls[1].pk)}")
    assert (await bad.connect())[0]
    for frame in GARBAGE[name]:
        key = "bytes" if isinstance(frame, bytes) else "text"
        await bad.send_input({"type": "websocket.receive", key: frame})
    closed = await until_closed(bad)
    assert 4000 <= closed["code"] <= 4999 and closed["reason"], closed
    await bot_audio(good)  # the other call on the same server still talks
    await good.send_to(text_data=json.dumps({"event": "stop", "streamSid": "MZ1", "stop": {}}))
    await until_closed(good)
    await bad.disconnect()
    await good.disconnect()


async def test_a_silent_callee_is_asked_then_hung_up_on_with_the_limit_in_the_call_log(live_call, fake_voice):
    def short_limits():
        script = live_call.campaign.script
        script.dialogue_map = {**script.dialogue_map, "limits": {"silence_s": 0.3, "max_silences": 2}}
        script.save()

    await database_sync_to_async(short_limits)()
    comm = await started(live_call)
    message: dict = {}
    for n in range(600):  # the callee's line stays silent, in about real time
        await comm.send_to(text_data=media_frame(n))
        while not await comm.receive_nothing(timeout=0.02):
            message = await comm.receive_output(timeout=5)
            if message["type"] == "websocket.close":
                break
        if message.get("type") == "websocket.close":
            break
    else:
        raise AssertionError("the call was never ended for silence")
    assert message["code"] == 1000
    await comm.disconnect()
    status, data = await database_sync_to_async(call_end)(live_call.pk)
    assert status != "in_progress" and data.get("end_reason") == "limit: max_silences"
    bot_lines = await database_sync_to_async(
        lambda: list(live_call.turns.filter(speaker="bot").order_by("index").values_list("text", flat=True)))()
    assert bot_lines[-2:] == ["Алло, вы меня слышите?",
                              "Похоже, связь прервалась. Я перезвоню в другой раз. Всего доброго!"]


async def test_a_callers_line_is_stored_with_its_own_intent_not_the_previous_turns(live_call):
    """The responder's verdict on a line (the ``meta`` directive) comes after its transcript."""
    ctx = await database_sync_to_async(call_media_context)(call_id=live_call.pk)
    sink = CallEventSink(ctx)
    await sink.emit(DirectiveEvent(kind="meta", data={"stage": "greeting", "intent": "greeting"}, turn_index=0))
    await sink.emit(BotTurnFinished(text="Здравствуйте!", full_text="Здравствуйте!", turn_index=0, audio_ms=800))
    await sink.emit(UserTranscript(text="Нет, не интересно.", final=True, turn_index=1))
    await sink.emit(DirectiveEvent(kind="meta", data={"stage": "closing", "intent": "refuse"}, turn_index=1))
    await sink.emit(BotTurnFinished(text="Понимаю, всего доброго.", full_text="Понимаю, всего доброго.", turn_index=1,
                                   audio_ms=900))
    await sink.emit(UserTranscript(text="До свидания.", final=True, turn_index=2))  # the call ends unanswered
    await sink.aclose()
    turns = await database_sync_to_async(
        lambda: list(live_call.turns.order_by("index").values_list("speaker", "text", "intent")))()
    assert turns == [("bot", "Здравствуйте!", "greeting"), ("user", "Нет, не интересно.", "refuse"),
                     ("bot", "Понимаю, всего доброго.", "refuse"), ("user", "До свидания.", "")]
