"""The live session's parts on their own: ``TurnWriter`` (its lines) and ``SessionRecorder`` (its audio tap)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import time_machine
from channels.db import database_sync_to_async

from training import services
from training.live import SessionRecorder, TurnWriter
from voice.audio import SAMPLE_RATE
from voice.events import BotTurnFinished, DirectiveEvent, TurnMetrics, UserSpeechStarted, UserTranscript

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def _session(trainee, scenario):
    return services.session_create(trainee=trainee.trainee, scenario=scenario)


@database_sync_to_async
def _turns(session) -> list[dict]:
    return list(session.turns.order_by("index").values(
        "speaker", "text", "intent", "objection", "started_ms", "ended_ms", "voice_to_voice_ms"))


async def test_the_customers_label_goes_on_its_own_line_and_the_trainees_line_waits_for_the_answer(
        trainee, scenario_ru):
    session = await _session(trainee, scenario_ru)
    # the writer places events on the session clock by the wall clock's distance to them: frozen, a slow
    # machine's pauses between the events below cannot move them
    with time_machine.travel(1_796_000_000.0, tick=False):
        writer = TurnWriter(session_id=session.pk, clock_ms=lambda: 60_000, end_phrase="Завершить")
        t = time.time() - 10  # the events happened over the last ten seconds of the session's first minute
        await writer.emit(UserSpeechStarted(at=t + 1))
        await writer.emit(UserTranscript(text="У нас выгодная цена.", final=True, turn_index=1, at=t + 3))
        await writer.emit(TurnMetrics(turn_index=1, eou_ms=700.0, stt_ms=300.0, voice_to_voice_ms=1200.0, at=t + 4))
        await writer.emit(DirectiveEvent(kind="meta", data={"intent": "objection_price", "objections": ["price"]},
                                         turn_index=1, at=t + 4))
        assert await _turns(session) == [] and writer.written == 0
        await writer.emit(BotTurnFinished(text="Дороговато.", full_text="Дороговато.", turn_index=1, audio_ms=900,
                                          at=t + 5))
        user, bot = await _turns(session)
        assert (user["speaker"], user["text"], user["intent"]) == ("user", "У нас выгодная цена.", "")
        assert (bot["speaker"], bot["intent"], bot["objection"], bot["voice_to_voice_ms"]) == (
            "bot", "objection_price", "objection_price", 1200.0)
        # on the session's clock: the speech, its end (a second of silence and STT before the transcript), the answer
        assert 50_000 < user["started_ms"] < user["ended_ms"] < bot["started_ms"] < bot["ended_ms"] <= 60_000
        times = (user["started_ms"], user["ended_ms"], bot["started_ms"], bot["ended_ms"])
        assert times == (51_000, 52_000, 54_000, 55_000)
        assert writer.written == 2


async def test_the_end_phrase_is_cut_from_the_trainees_line_and_the_customers_verdict_on_it_is_no_label(
        trainee, scenario_ru):
    session = await _session(trainee, scenario_ru)
    writer = TurnWriter(session_id=session.pk, clock_ms=lambda: 1000, end_phrase="Завершить")
    await writer.emit(UserTranscript(text="Спасибо, до свидания. Завершить.", final=True, turn_index=3))
    await writer.emit(DirectiveEvent(kind="meta", data={"intent": "end_session", "speaker": "trainee"}, turn_index=3))
    await writer.emit(BotTurnFinished(text="Всего доброго.", full_text="Всего доброго.", turn_index=3))
    await writer.aclose()
    assert [(t["speaker"], t["text"], t["intent"]) for t in await _turns(session)] == [
        ("user", "Спасибо, до свидания.", ""), ("bot", "Всего доброго.", "")]


async def test_a_customers_line_its_voice_failed_on_is_stored_not_voiced_and_an_interrupted_one_as_played(
        trainee, scenario_ru):
    session = await _session(trainee, scenario_ru)
    writer = TurnWriter(session_id=session.pk, clock_ms=lambda: 1000)
    # the TTS failed on the whole pick-up line: nothing was played, the trainee read it on the page
    await writer.emit(BotTurnFinished(text="", full_text="Алло? Слушаю.", turn_index=0, voiced=False))
    await writer.emit(UserTranscript(text="Добрый день, это Анна.", final=True, turn_index=1))
    # the apology was voiced in place of the answer, then the trainee spoke over it: only what was played stays
    await writer.emit(BotTurnFinished(text="Извините,", full_text="Кто-кто?", turn_index=1, voiced=False,
                                      interrupted=True))
    await writer.aclose()
    rows = await database_sync_to_async(lambda: list(
        session.turns.order_by("index").values_list("speaker", "text", "voiced", "interrupted")))()
    assert rows == [("bot", "Алло? Слушаю.", False, False), ("user", "Добрый день, это Анна.", True, False),
                    ("bot", "Извините,", True, True)]


# --- the recording ---------------------------------------------------------------------------------------------


class _Clock:
    """Seconds in binary fractions, so the recorder's sample positions come out exact."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _tone(ms: int, value: int) -> bytes:
    return np.full(SAMPLE_RATE * ms // 1000, value, dtype="<i2").tobytes()


def test_the_recorder_hears_both_sides_on_the_wall_clock_and_a_clear_drops_what_was_never_played():
    clock = _Clock()
    recorder = SessionRecorder(clock=clock)
    recorder.begin(SAMPLE_RATE)
    assert recorder.empty
    clock.now += 0.125
    recorder.inbound(_tone(125, 1000))  # the trainee's first 125 ms, just arrived
    recorder.outbound(_tone(250, 2000))  # the customer's answer, sent ahead of its playback
    clock.now += 0.125
    recorder.cleared()  # the trainee speaks over it 125 ms in: the rest was never heard
    samples = np.frombuffer(recorder.mixed_pcm16(), dtype="<i2")
    assert len(samples) == SAMPLE_RATE * 250 // 1000
    assert set(samples[:2000]) == {1000} and set(samples[2000:]) == {2000}
    assert recorder.elapsed_ms() == 250


def test_the_recorder_continues_an_earlier_part_and_takes_only_the_browsers_rate():
    clock = _Clock()
    recorder = SessionRecorder(prefix=_tone(500, 7), clock=clock)
    assert recorder.elapsed_ms() == 500  # a reconnect goes on from where the recording stopped
    with pytest.raises(ValueError):
        recorder.begin(8000)
