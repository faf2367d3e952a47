"""Late and failed speech recognition: nothing said is lost, «повторите» is never looped, every line is shown."""

from __future__ import annotations

import asyncio

import pytest

from voice.audio import silence
from voice.bench.fakes import ScriptedResponder
from voice.events import BotTextChunk, BotTurnFinished, ErrorEvent, TurnMetrics, UserTranscript
from voice.pipeline import DEFAULT_FALLBACKS, DEFAULT_HOLDING, DEFAULT_NOT_HEARD
from voice.stt.admission import AdmittedSTT, STTAdmission
from voice.stt.fake import FakeSTT
from voice.tests.signals import frames, voiced
from voice.tests.test_pipeline import build, speak, wait_for

pytestmark = pytest.mark.asyncio

SLOW_MS = 3000  # the slow stand-in: every transcription takes 3 s, far past the 0.5 s «late» mark below
LATE = {"stt_timeout_s": 0.5, "speculative_stt": False}


def bot_lines(sink) -> list[str]:
    return [e.text for e in sink.of(BotTextChunk)]


async def test_slow_stt_keeps_every_phrase_and_never_asks_to_repeat():
    said = ["Мы возим двадцать тонн.", "Из Шанхая в Москву.", "Пришлите цену на почту."]
    responder = ScriptedResponder(["Понял, спасибо.", "Хорошо, записал.", "Отправлю сегодня."])
    pipeline, _out, sink = build(stt=FakeSTT(said, delay_ms=SLOW_MS), responder=responder, **LATE)
    await pipeline.start()
    for turn in range(3):
        await speak(pipeline)
        await wait_for(lambda n=turn: len(sink.of(BotTurnFinished)) > n, timeout=15)
    await pipeline.close()

    finals = [t.text for t in sink.of(UserTranscript) if t.final]
    assert finals == said  # every phrase, in order, none merged or dropped
    assert [c[0] for c in responder.calls] == said
    lines = bot_lines(sink)
    assert DEFAULT_FALLBACKS["ru"] not in lines and DEFAULT_NOT_HEARD["ru"] not in lines
    # the holding phrase is said while the late transcription goes on, and shown like any line;
    # never twice in a row
    assert lines.count(DEFAULT_HOLDING["ru"]) == 2
    assert all(m.stt_late for m in sink.of(TurnMetrics))
    assert not any(m.stt_missed for m in sink.of(TurnMetrics))
    assert not [e for e in sink.of(ErrorEvent) if e.stage == "stt"]
    # the answer follows the holding phrase in the same bot turn
    first = sink.of(BotTurnFinished)[0]
    assert first.text.startswith(DEFAULT_HOLDING["ru"]) and first.text.endswith("Понял, спасибо.")


async def test_speech_during_a_late_transcript_is_carried_and_transcribed_on_its_own():
    stt = FakeSTT(["первая фраза", "вторая фраза"], delay_ms=SLOW_MS)
    responder = ScriptedResponder(["Понятно."])
    pipeline, _out, sink = build(stt=stt, responder=responder, **LATE)
    await pipeline.start()
    await speak(pipeline, 600)
    await wait_for(lambda: DEFAULT_HOLDING["ru"] in bot_lines(sink), timeout=5)
    await speak(pipeline, 1200)  # talks over the holding phrase
    await wait_for(lambda: any(t.final and t.text for t in sink.of(UserTranscript)), timeout=15)
    await wait_for(lambda: sink.of(BotTurnFinished) and not sink.of(BotTurnFinished)[-1].interrupted, timeout=15)
    await pipeline.close()

    finals = [t.text for t in sink.of(UserTranscript) if t.final]
    assert finals == ["первая фраза вторая фраза"]
    assert responder.calls[0][0] == "первая фраза вторая фраза"
    # two transcriptions of one utterance each: the first phrase was never re-sent inside a longer chunk
    durations = [ms for ms, _ in stt.calls]
    assert len(durations) == 2 and durations[1] > durations[0]
    assert durations[1] < 1200 + 1000


async def test_misses_ask_once_then_change_course():
    pipeline, _out, sink = build(stt=FakeSTT(fail=True), responder=ScriptedResponder(["не должен звучать"]))
    await pipeline.start()
    for turn in range(3):
        await speak(pipeline)
        await wait_for(lambda n=turn: len(sink.of(BotTurnFinished)) > n, timeout=10)
    await pipeline.close()

    assert bot_lines(sink) == [DEFAULT_FALLBACKS["ru"], DEFAULT_NOT_HEARD["ru"], DEFAULT_NOT_HEARD["ru"]]
    assert [t.recognised for t in sink.of(UserTranscript)] == [False, False, False]
    assert all(m.stt_missed for m in sink.of(TurnMetrics))
    assert [e.stage for e in sink.of(ErrorEvent)] == ["stt", "stt", "stt"]


async def test_a_recognised_turn_resets_the_misses():
    stt = FakeSTT(["да, слушаю"])
    responder = ScriptedResponder(["Отлично."])
    pipeline, _out, sink = build(stt=stt, responder=responder, speculative_stt=False)
    original = stt._transcribe
    answers = iter([RuntimeError("boom"), None, RuntimeError("boom")])

    async def flaky(pcm16, *, sample_rate, language):
        error = next(answers)
        if error is not None:
            raise error
        return await original(pcm16, sample_rate=sample_rate, language=language)

    stt._transcribe = flaky
    await pipeline.start()
    for turn in range(3):
        await speak(pipeline)
        await wait_for(lambda n=turn: len(sink.of(BotTurnFinished)) > n, timeout=10)
    await pipeline.close()
    # miss, understood, miss: each miss is the first of its run, so it is the one polite «повторите»
    assert bot_lines(sink) == [DEFAULT_FALLBACKS["ru"], "Отлично.", DEFAULT_FALLBACKS["ru"]]


async def test_transcription_past_the_give_up_bound_is_a_miss_not_a_hang():
    stt = FakeSTT(["поздно"], delay_ms=SLOW_MS)
    pipeline, _out, sink = build(stt=stt, stt_timeout_s=0.2, stt_give_up_s=0.6, speculative_stt=False)
    await pipeline.start()
    await speak(pipeline)
    await wait_for(lambda: sink.of(BotTurnFinished), timeout=10)
    await pipeline.close()
    lines = bot_lines(sink)
    assert lines == [DEFAULT_HOLDING["ru"], DEFAULT_FALLBACKS["ru"]]
    assert sink.of(TurnMetrics)[0].stt_missed


async def test_script_phrases_replace_the_defaults():
    pipeline, _out, sink = build(stt=FakeSTT(["ну"], delay_ms=SLOW_MS), **LATE)
    pipeline.config.use_script_phrases({"phrases": {"holding": ["Минутку, уточняю…"], "not_heard": "Перезвоню."}})
    assert pipeline.config.phrase("not_heard", "ru") == "Перезвоню."
    await pipeline.start()
    await speak(pipeline)
    await wait_for(lambda: sink.of(BotTurnFinished), timeout=10)
    await pipeline.close()
    assert bot_lines(sink)[0] == "Минутку, уточняю…"


async def test_barge_in_off_keeps_words_said_during_the_bot_turn():
    """Without barge-in the bot finishes its turn; what the user said meanwhile is answered next, not dropped."""
    stt = FakeSTT(["раз", "два", "три"])
    responder = ScriptedResponder(default="Это довольно длинный ответ бота, он звучит несколько секунд подряд.")
    pipeline, _out, sink = build(stt=stt, responder=responder, barge_in=False, speculative_stt=False, pace_speed=2.0)
    await pipeline.start()
    await speak(pipeline)
    await wait_for(lambda: pipeline._turn is not None and pipeline._turn.first_audio_at is not None)
    for frame in frames(voiced(500) + silence(700)):  # said while the bot speaks
        await pipeline.feed(frame)
        await asyncio.sleep(0.002)
    await wait_for(lambda: sink.of(BotTurnFinished), timeout=10)
    await speak(pipeline)
    await wait_for(lambda: "три" in " ".join(t.text for t in sink.of(UserTranscript) if t.final), timeout=10)
    await pipeline.close()
    # whether «два» ended before or after the bot's turn, it is answered, never dropped
    assert " ".join(t.text for t in sink.of(UserTranscript) if t.final) == "раз два три"


async def test_no_speculative_guess_on_a_slow_stt():
    """A dropped guess holds the worker for its whole run: on an STT slower than real time, none is made."""
    fast = AdmittedSTT(FakeSTT(default="да"), STTAdmission(workers=1))
    slow = AdmittedSTT(FakeSTT(default="да"), STTAdmission(workers=1))
    slow.admission.observe(audio_s=2.0, work_s=5.0)  # 2.5 s of work per second of speech, as measured
    used = []
    for stt in (fast, slow):
        pipeline, _out, sink = build(stt=stt)
        await pipeline.start()
        await speak(pipeline)
        await wait_for(lambda s=sink: s.of(BotTurnFinished))
        await pipeline.close()
        metrics = sink.of(TurnMetrics)[0]
        used.append(metrics.speculative_stt)
        assert metrics.stt_start_ms is not None and metrics.stt_queue_wait_ms == 0.0
    assert used == [True, False]
