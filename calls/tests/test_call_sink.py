"""The media consumer's parts on their own: ``CallEventSink`` (the call's lines, what the operators see) and
``CallRecorder`` (the call's recording), without a socket or a rehearsal."""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np
import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from calls import services
from calls.consumers import CallEventSink, CallRecorder
from calls.models import Call
from voice import audio
from voice.events import (
    BotTurnFinished,
    DirectiveEvent,
    MindState,
    StateChanged,
    TurnMetrics,
    UserSpeechStarted,
    UserTranscript,
)


@pytest.fixture
def live_call(make_campaign, make_contact):
    call = Call.objects.create(campaign=make_campaign(), contact=make_contact())
    services.call_transition(call_id=call.pk, to=Call.Status.DIALING)
    return call


async def _sink(call: Call, **kw) -> CallEventSink:
    ctx = await database_sync_to_async(services.call_media_context)(call_id=call.pk)
    sink = CallEventSink(ctx, **kw)
    sink.t0 = 1000.0  # the call's clock starts at a round second: the events below are dated on it
    return sink


@database_sync_to_async
def _turns(call: Call) -> list[dict]:
    return list(call.turns.order_by("index").values(
        "index", "speaker", "text", "intent", "stage", "started_ms", "ended_ms", "interrupted", "eou_ms", "stt_ms",
        "voice_to_voice_ms"))


def _turn(sink: CallEventSink, index: int, *, said: str, answer: str, intent: str, interrupted: bool = False) -> list:
    t = sink.t0 + index * 10  # each turn 10 s after the previous one
    return [
        UserSpeechStarted(at=t + 1),
        UserTranscript(text=said, final=True, turn_index=index, at=t + 2.5),
        DirectiveEvent(kind="meta", data={"stage": "offer", "intent": intent, "objection": None}, turn_index=index,
                       at=t + 2.6),
        TurnMetrics(turn_index=index, eou_ms=300.0, stt_ms=200.0, voice_to_voice_ms=900.0, at=t + 3),
        BotTurnFinished(text=answer, full_text=answer, turn_index=index, interrupted=interrupted, audio_ms=1000,
                        at=t + 4),
    ]


@pytest.mark.django_db(transaction=True)
async def test_the_call_stores_each_line_with_its_timing_verdict_and_latency(live_call):
    sink = await _sink(live_call)
    for event in _turn(sink, 1, said="Сколько стоит доставка?", answer="От тысячи рублей.", intent="ask_price"):
        await sink.emit(event)
    for event in _turn(sink, 2, said="Дорого.", answer="Понимаю,", intent="objection_too_expensive",
                       interrupted=True):
        await sink.emit(event)
    await sink.aclose()
    user1, bot1, user2, bot2 = await _turns(live_call)
    assert [t["index"] for t in (user1, bot1, user2, bot2)] == [0, 1, 2, 3]
    # the caller's line: from the start of speech to its end (the transcript came 0.5 s later), with its verdict
    assert user1 == {**user1, "speaker": "user", "text": "Сколько стоит доставка?", "intent": "ask_price",
                     "started_ms": 11000, "ended_ms": 12000, "voice_to_voice_ms": None}
    assert bot1 == {**bot1, "speaker": "bot", "text": "От тысячи рублей.", "intent": "ask_price", "stage": "offer",
                    "started_ms": 13000, "ended_ms": 14000, "eou_ms": 300.0, "stt_ms": 200.0,
                    "voice_to_voice_ms": 900.0, "interrupted": False}
    assert (user2["intent"], bot2["text"], bot2["interrupted"]) == ("objection_too_expensive", "Понимаю,", True)


@pytest.mark.django_db(transaction=True)
async def test_no_line_is_stored_before_the_call_is_answered(live_call):
    answered = asyncio.get_running_loop().create_future()
    sink = await _sink(live_call, after=answered)
    emitting = asyncio.create_task(sink.emit(
        BotTurnFinished(text="Здравствуйте!", full_text="Здравствуйте!", turn_index=0, audio_ms=800, at=1001.0)))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not emitting.done()  # the greeting waits for the call's «answered»
    answered.set_result(None)
    await emitting
    await sink.aclose()
    turns = await _turns(live_call)
    assert [(t["text"], t["started_ms"], t["ended_ms"]) for t in turns] == [("Здравствуйте!", 200, 1000)]


@pytest.mark.django_db(transaction=True)
async def test_the_operators_see_states_transcripts_verdicts_lines_and_latency_only(live_call):
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(services.call_group(live_call.pk), channel)
    sink = await _sink(live_call)
    events = [
        StateChanged(state=MindState.LISTENING, previous=MindState.IDLE),
        UserSpeechStarted(),  # not shown
        UserTranscript(text="Сколько", final=False, turn_index=1),
        UserTranscript(text="Сколько стоит?", final=True, turn_index=1),
        DirectiveEvent(kind="meta", data={"intent": "ask_price"}, turn_index=1),
        DirectiveEvent(kind="slot", data={"name": "city", "value": "Казань"}, turn_index=1),  # not shown
        TurnMetrics(turn_index=1, voice_to_voice_ms=800.0),
        BotTurnFinished(text="", full_text="Тысяча", turn_index=1, interrupted=True),  # nothing heard: not shown
        BotTurnFinished(text="Тысяча рублей.", full_text="Тысяча рублей.", turn_index=2),
    ]
    for second, event in enumerate(events):
        await sink.emit(dataclasses.replace(event, at=1000.0 + second))  # dated on the call's clock
    seen = []
    for _ in range(6):
        message = await asyncio.wait_for(layer.receive(channel), timeout=5)
        payload = message["payload"]
        assert message["type"] == "call.event" and payload["kind"] == "pipeline" and payload["call_id"] == live_call.pk
        seen.append(payload["event"]["type"])
    assert seen == ["state", "user_transcript", "user_transcript", "directive", "metrics", "bot_turn"]
    await layer.group_discard(services.call_group(live_call.pk), channel)


# --- the recording ---------------------------------------------------------------------------------------------


def _tone(ms: int, value: int, rate: int = 8000) -> bytes:
    return np.full(rate * ms // 1000, value, dtype="<i2").tobytes()


def test_the_bot_is_laid_out_on_the_callees_clock():
    recorder = CallRecorder()
    recorder.begin(8000)
    recorder.inbound(_tone(100, 1000))  # the callee's line for 100 ms before the bot speaks
    recorder.outbound(_tone(20, 2000))
    recorder.inbound(_tone(20, 1000))
    pcm, rate = audio.read_wav(recorder.wav())
    samples = np.frombuffer(pcm, dtype="<i2")
    assert rate == 8000 and len(samples) == 8000 * 120 // 1000
    assert set(samples[:800]) == {1000} and set(samples[800:]) == {3000}  # the bot starts at 100 ms, mixed in
    assert not recorder.truncated


def test_a_clear_drops_the_bot_audio_the_callee_never_heard():
    recorder = CallRecorder()
    recorder.begin(8000)
    recorder.inbound(_tone(20, 0))
    recorder.outbound(_tone(200, 2000))  # sent ahead of playback
    recorder.inbound(_tone(20, 0))  # 40 ms of the call have passed when the callee barges in
    recorder.cleared()
    samples = np.frombuffer(audio.read_wav(recorder.wav())[0], dtype="<i2")
    assert len(samples) == 8000 * 40 // 1000


def test_nothing_heard_is_no_recording_and_the_cap_comes_from_the_settings(settings):
    settings.TELEPHONY = {**settings.TELEPHONY, "RECORDING_MAX_S": 0.5}
    recorder = CallRecorder()
    assert recorder.wav() == b"" and recorder.max_s == 0.5
    recorder.begin(16000)
    recorder.inbound(_tone(600, 1, rate=16000))  # over the cap in one piece: not kept
    assert recorder.truncated and recorder.wav() == b""
