"""The turn pipeline with fake providers: turn order, barge-in, played text, events, errors, end."""

from __future__ import annotations

import asyncio

import pytest

from voice.audio import FRAME_BYTES, silence
from voice.bench.fakes import RecordingOutput, ScriptedResponder, end_directive
from voice.cache import MemoryAudioCache
from voice.events import (
    BotTurnFinished,
    ConversationEnded,
    DirectiveEvent,
    ErrorEvent,
    Interruption,
    ListSink,
    MindState,
    StateChanged,
    TurnMetrics,
    UserTranscript,
)
from voice.pipeline import PipelineConfig, VoicePipeline
from voice.responder import Directive
from voice.stt.fake import FakeSTT
from voice.tests.signals import frames, voiced
from voice.tts.fake import FakeTTS
from voice.vad import VADConfig

pytestmark = pytest.mark.asyncio

SPEED = 10.0  # pacing at 10x real time keeps the suite fast while the clock logic stays real


def build(*, stt=None, tts=None, responder=None, marks=True, cache=None, **config):
    config.setdefault("pace_speed", SPEED)
    config.setdefault("mark_grace_ms", 300)
    out = RecordingOutput(supports_marks=marks)
    sink = ListSink()
    pipeline = VoicePipeline(
        stt=stt or FakeSTT(default="привет"),
        tts=tts or FakeTTS(ms_per_char=20),
        responder=responder or ScriptedResponder(default="Здравствуйте, слушаю вас."),
        output=out,
        sink=sink,
        cache=cache,
        config=PipelineConfig(**config),
    )
    out.pipeline = pipeline
    return pipeline, out, sink


async def speak(pipeline: VoicePipeline, ms: float = 600, *, silence_ms: float = 700, speed: float = SPEED) -> None:
    """Feed an utterance then silence, frame by frame at ``speed`` x real time."""
    for frame in frames(voiced(ms) + silence(silence_ms)):
        await pipeline.feed(frame)
        await asyncio.sleep(0.02 / speed)


async def wait_for(predicate, timeout: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


def states(sink: ListSink) -> list[MindState]:
    return [e.state for e in sink.of(StateChanged)]


async def test_turn_order_events_and_history():
    responder = ScriptedResponder(["Добрый день! Чем могу помочь?"])
    pipeline, out, sink = build(stt=FakeSTT(["Здравствуйте, это магазин?"]), responder=responder)
    await pipeline.start()
    await speak(pipeline)
    await wait_for(lambda: sink.of(BotTurnFinished))
    await pipeline.close()

    final = sink.of(UserTranscript)
    assert [t.text for t in final] == ["Здравствуйте, это магазин?"] and final[0].final
    assert responder.calls[0][0] == "Здравствуйте, это магазин?"
    assert responder.calls[0][1] == [("user", "Здравствуйте, это магазин?")]
    assert states(sink)[:6] == [
        MindState.LISTENING, MindState.ANALYZING_SPEECH, MindState.ROUTING_TO_LLM,
        MindState.GENERATING_SPEECH, MindState.SPEAKING, MindState.LISTENING,
    ]
    finished = sink.of(BotTurnFinished)[0]
    assert finished.text == "Добрый день! Чем могу помочь?" and not finished.interrupted
    assert pipeline.state.history == [("user", "Здравствуйте, это магазин?"), ("bot", "Добрый день! Чем могу помочь?")]
    # every frame is exactly 20 ms and the audio covers the synthesised text
    assert all(len(f) == FRAME_BYTES for f in out.frames)
    expected_frames = sum(len(s) * 20 for s in ("Добрый день!", "Чем могу помочь?")) / 20
    assert abs(len(out.frames) - expected_frames) <= 2
    assert out.marks == ["t0s0", "t0s1"]
    # the order on the wire: audio of sentence 1, its mark, audio of sentence 2, its mark
    kinds = [k for k, _ in out.log]
    assert kinds.index("mark:t0s0") < len(kinds) - 1 - kinds[::-1].index("audio")


async def test_metrics_are_reported_per_turn():
    pipeline, _out, sink = build(stt=FakeSTT(["да"], delay_ms=30), responder=ScriptedResponder(["Отлично, записываю."]))
    await pipeline.start()
    await speak(pipeline)
    await wait_for(lambda: sink.of(TurnMetrics))
    await pipeline.close()
    metrics = sink.of(TurnMetrics)[0]
    assert metrics.eou_ms is not None and metrics.eou_ms >= 0
    assert metrics.stt_ms is not None and metrics.stt_ms >= 0
    assert metrics.ttft_ms is not None and metrics.tts_ttfb_ms is not None
    # voice-to-voice spans end of speech -> first frame out, so it covers EOU and STT at least
    assert metrics.voice_to_voice_ms >= metrics.eou_ms
    assert metrics.to_dict()["type"] == "metrics"


async def test_bot_speaks_first_and_cache_hit_on_repeat():
    cache = MemoryAudioCache()
    tts = FakeTTS(ms_per_char=10)
    responder = ScriptedResponder(["Добрый день! Меня зовут Анна."], opening="Добрый день! Меня зовут Анна.")
    pipeline, _out, sink = build(tts=tts, responder=responder, cache=cache, bot_speaks_first=True)
    await pipeline.start()
    await wait_for(lambda: sink.of(BotTurnFinished))
    assert responder.calls[0][0] == ""  # the opening is asked for with empty text
    assert len(tts.requests) == 2
    await speak(pipeline)
    await wait_for(lambda: len(sink.of(BotTurnFinished)) == 2)
    await pipeline.close()
    assert len(tts.requests) == 2  # the repeat came from the cache
    metrics = sink.of(TurnMetrics)
    assert [m.cache_hit for m in metrics] == [False, True]
    assert MindState.CHECKING_CACHE in states(sink)


async def test_barge_in_cancels_tts_clears_and_records_played_text():
    long_reply = "Наш тариф включает безлимитный интернет и звонки. " * 3 + "Подключить вам его сегодня?"
    tts = FakeTTS(ms_per_char=40, chunk_delay_ms=5)
    responder = ScriptedResponder(opening=long_reply)
    pipeline, out, sink = build(tts=tts, responder=responder, bot_speaks_first=True, marks=False)
    await pipeline.start()
    await wait_for(lambda: len(out.frames) > 110)  # ~2.2 s of audio out: the first sentence (~2 s) is heard
    await speak(pipeline, 400, silence_ms=0)
    await wait_for(lambda: sink.of(Interruption))
    frames_at_clear = len(out.frames)
    await asyncio.sleep(0.1)
    await pipeline.close()

    assert len(out.clears) == 1
    assert len(out.frames) == frames_at_clear  # nothing more was sent once cleared
    interruption = sink.of(Interruption)[0]
    assert interruption.full_text.startswith("Наш тариф")
    played = interruption.played_text
    assert played and long_reply.startswith(played.split(" звонки.")[0])
    assert len(played) < len(long_reply)
    assert played.startswith("Наш тариф включает безлимитный интернет и звонки.")
    finished = sink.of(BotTurnFinished)[0]
    assert finished.interrupted and finished.text == played
    assert pipeline.state.history[-1] == ("bot", played)
    assert len(tts.requests) < 4  # synthesis runs only tts_lookahead_ms ahead: the last sentence never was


async def test_a_cached_sentence_is_one_queue_item_and_a_barge_in_leaves_no_frame_counted():
    """A sentence's frames reach the pacer as one batch (a campaign's calls greet together: a frame per queue
    put stalled them all); the TTS look-ahead still counts frames, and a barge-in uncounts those never sent."""
    reply = "Наш тариф включает безлимитный интернет и звонки по всей стране."  # ~2.6 s of audio
    cache = MemoryAudioCache()
    first, first_out, first_sink = build(tts=FakeTTS(ms_per_char=40), responder=ScriptedResponder(opening=reply),
                                         cache=cache, bot_speaks_first=True)
    await first.start()
    await wait_for(lambda: first_sink.of(BotTurnFinished))
    await first.close()
    total = len(first_out.frames)

    # paced at 2x real time: the sentence lasts ~1.3 s, far longer than a slow machine's pauses below
    pipeline, out, sink = build(tts=FakeTTS(ms_per_char=40), responder=ScriptedResponder(opening=reply), cache=cache,
                                bot_speaks_first=True, marks=False, pace_speed=2.0)
    await pipeline.start()
    await wait_for(lambda: len(out.frames) > 5)
    assert pipeline._out_q.qsize() <= 2  # the rest of the sentence, its mark and the turn's end at most
    # every frame is either sent or still counted (one may be between the two, waiting for its time)
    assert total - 1 <= pipeline._queued_frames + len(out.frames) <= total
    await speak(pipeline, 400, silence_ms=0)
    await wait_for(lambda: sink.of(Interruption))
    await wait_for(lambda: pipeline._queued_frames == 0)
    sent = len(out.frames)
    await asyncio.sleep(0.05)
    await pipeline.close()
    assert len(out.frames) == sent < total  # the rest of the sentence was never sent


async def test_played_text_follows_mark_acknowledgements():
    reply = "Первое предложение здесь. Второе предложение тоже длинное. Третье так и не прозвучит."
    pipeline, out, sink = build(tts=FakeTTS(ms_per_char=40), responder=ScriptedResponder(opening=reply),
                                bot_speaks_first=True, marks=True)
    await pipeline.start()
    await wait_for(lambda: "t0s0" in out.marks)
    # hold back the echo of mark 2: the far end has not played it yet
    out.auto_ack_marks = False
    await wait_for(lambda: pipeline._marks.get("t0s0") is None)  # mark 1 acknowledged
    await wait_for(lambda: "t0s1" in out.marks)
    await speak(pipeline, 300, silence_ms=0)
    await wait_for(lambda: sink.of(Interruption))
    await pipeline.close()
    played = sink.of(Interruption)[0].played_text
    assert played.startswith("Первое предложение здесь.")
    assert "Третье" not in played
    assert out.clears


async def test_speech_before_the_bot_speaks_joins_the_next_utterance():
    stt = FakeSTT(["я хотел", "узнать цену"])
    responder = ScriptedResponder(["Цена сто рублей."], first_delay_s=0.5)
    pipeline, out, sink = build(stt=stt, responder=responder)
    await pipeline.start()
    await speak(pipeline, 400, silence_ms=800)
    await wait_for(lambda: responder.calls)  # responder thinking, nothing played yet
    await speak(pipeline, 400, silence_ms=700)
    await wait_for(lambda: sink.of(BotTurnFinished))
    await pipeline.close()
    assert responder.cancelled == 1
    assert responder.calls[-1][0] == "я хотел узнать цену"
    assert not out.clears  # nothing was playing, so nothing to clear
    assert not sink.of(Interruption)


@pytest.mark.parametrize("stage", ["stt", "responder", "tts"])
async def test_provider_error_becomes_event_and_fallback(stage):
    stt = FakeSTT(fail=True) if stage == "stt" else FakeSTT(default="вопрос")
    responder = ScriptedResponder(fail=RuntimeError("llm down")) if stage == "responder" else ScriptedResponder(
        default="Ответ на вопрос."
    )

    class FailOnce(FakeTTS):
        async def _synthesize(self, text, **kwargs):
            if stage == "tts" and not self.requests:
                self.requests.append((text, "", ""))
                raise RuntimeError("tts down")
            async for chunk in super()._synthesize(text, **kwargs):
                yield chunk

    tts = FailOnce(ms_per_char=10)
    pipeline, out, sink = build(stt=stt, responder=responder, tts=tts, language="ru")
    await pipeline.start()
    await speak(pipeline)
    await wait_for(lambda: sink.of(BotTurnFinished))
    await pipeline.close()
    errors = sink.of(ErrorEvent)
    assert [e.stage for e in errors] == [stage]
    assert errors[0].provider and errors[0].message
    finished = sink.of(BotTurnFinished)[0]
    assert finished.text.endswith("Извините, повторите, пожалуйста.")
    assert out.frames  # the apology was actually played
    # only the TTS's failure leaves the answer unvoiced: the far end heard the apology, not «Ответ на вопрос.»
    assert finished.voiced is (stage != "tts")
    if stage == "tts":
        assert finished.full_text == "Ответ на вопрос."
    assert pipeline.mind is MindState.IDLE


async def test_a_voice_that_fails_on_every_sentence_ends_the_turn_unvoiced_with_its_words():
    responder = ScriptedResponder(["Дороговато. Мы уже работаем с другими."], opening="Алло? Слушаю.")
    pipeline, out, sink = build(tts=FakeTTS(fail=True), responder=responder, bot_speaks_first=True)
    await pipeline.start()
    await wait_for(lambda: sink.of(BotTurnFinished))
    await speak(pipeline)
    await wait_for(lambda: len(sink.of(BotTurnFinished)) == 2)
    await pipeline.close()
    assert not out.frames  # nothing could be voiced, not even the apology
    opening, answer = sink.of(BotTurnFinished)
    assert (opening.text, opening.full_text, opening.voiced, opening.interrupted) == ("", "Алло? Слушаю.", False, False)
    assert (answer.text, answer.full_text, answer.voiced) == ("", "Дороговато. Мы уже работаем с другими.", False)
    assert {e.stage for e in sink.of(ErrorEvent)} == {"tts"}
    # on a call nobody heard it: the responder is not told it said it
    assert ("bot", "Алло? Слушаю.") not in pipeline.state.history


async def test_where_the_far_end_reads_an_unvoiced_line_the_responder_remembers_saying_it():
    responder = ScriptedResponder(["Дороговато."], opening="Алло? Слушаю.")
    pipeline, _out, sink = build(tts=FakeTTS(fail=True), responder=responder, bot_speaks_first=True,
                                 history_keeps_unvoiced=True)
    await pipeline.start()
    await wait_for(lambda: sink.of(BotTurnFinished))
    await speak(pipeline)
    await wait_for(lambda: len(sink.of(BotTurnFinished)) == 2)
    await pipeline.close()
    bot_lines = [text for who, text in pipeline.state.history if who == "bot"]
    assert bot_lines == ["Алло? Слушаю.", "Дороговато."]


async def test_an_answer_voiced_in_part_before_the_voice_failed_is_voiced():
    class FailOnSecond(FakeTTS):
        async def _synthesize(self, text, **kwargs):
            if text.startswith("Мы уже"):
                self.requests.append((text, "", ""))
                raise RuntimeError("tts down")
            async for chunk in super()._synthesize(text, **kwargs):
                yield chunk

    responder = ScriptedResponder(opening="Дороговато, знаете ли. Мы уже работаем с другими.")
    pipeline, _out, sink = build(tts=FailOnSecond(ms_per_char=10), responder=responder, bot_speaks_first=True)
    await pipeline.start()
    await wait_for(lambda: sink.of(BotTurnFinished))
    await pipeline.close()
    [finished] = sink.of(BotTurnFinished)
    assert [e.stage for e in sink.of(ErrorEvent)] == ["tts"]
    assert finished.voiced and finished.text.startswith("Дороговато, знаете ли.")  # what was heard, as before
    assert "Мы уже" not in finished.text


async def test_responder_timeout_is_bounded():
    responder = ScriptedResponder(default="поздно", first_delay_s=5)
    pipeline, _out, sink = build(responder=responder, responder_first_chunk_timeout_s=0.1, language="en")
    await pipeline.start()
    await speak(pipeline)
    await wait_for(lambda: sink.of(BotTurnFinished), timeout=2)
    await pipeline.close()
    error = sink.of(ErrorEvent)[0]
    assert error.stage == "responder" and error.retryable
    assert sink.of(BotTurnFinished)[0].text == "Sorry, could you say that again, please?"


async def test_end_directive_ends_after_speech():
    reply = ["До свидания, ", "хорошего дня!", Directive(kind="slot", data={"name": "x", "value": 1}), end_directive()]
    pipeline, out, sink = build(responder=ScriptedResponder([reply]))
    await pipeline.start()
    await speak(pipeline)
    await wait_for(lambda: sink.of(ConversationEnded))
    assert out.ended
    # the goodbye was completely sent before the hang-up
    end_at = next(t for kind, t in out.log if kind == "end")
    assert all(t <= end_at for t in out.frame_times) and out.frames
    assert [d.kind for d in sink.of(DirectiveEvent)] == ["slot", "end"]
    assert sink.types().index("bot_turn") < sink.types().index("end")
    assert pipeline.state.ended
    frames_before = len(out.frames)
    await speak(pipeline, 300)  # audio after the end is ignored
    assert len(out.frames) == frames_before


async def test_transfer_directive_ends_after_the_handoff_line_and_says_where_to():
    reply = ["Соединяю вас с менеджером.", Directive(kind="transfer", data={"queue": "sales", "reason": "ask_human"}),
             end_directive()]
    pipeline, out, sink = build(responder=ScriptedResponder([reply]))
    await pipeline.start()
    await speak(pipeline)
    await wait_for(lambda: sink.of(ConversationEnded))
    end_at = next(t for kind, t in out.log if kind == "end")
    assert all(t <= end_at for t in out.frame_times) and out.frames  # the handoff line was sent first
    assert pipeline.end_reason == "transfer"
    assert pipeline.transfer == {"queue": "sales", "reason": "ask_human"}
    assert [d.kind for d in sink.of(DirectiveEvent)] == ["transfer", "end"]


async def test_an_end_without_a_transfer_is_no_transfer():
    pipeline, _out, sink = build(responder=ScriptedResponder([["До свидания.", end_directive()]]))
    await pipeline.start()
    await speak(pipeline)
    await wait_for(lambda: sink.of(ConversationEnded))
    assert pipeline.transfer is None and pipeline.end_reason != "transfer"


async def test_pacing_never_runs_ahead_of_real_time_beyond_the_lead():
    """At real speed no frame leaves earlier than its place in real time minus the lead (and one frame,
    as the pacer sends frames in pairs). Only lower bounds: a slow machine delays frames, it never
    sends them early, so this holds on any machine; how late frames are is measured by media_load."""
    reply = "Раз два три четыре пять."  # 24 chars * 25 ms = 600 ms = 30 frames
    lead_ms = 60
    pipeline, out, sink = build(tts=FakeTTS(ms_per_char=25), responder=ScriptedResponder(opening=reply),
                                bot_speaks_first=True, pace_speed=1.0, lead_ms=lead_ms)
    await pipeline.start()
    await wait_for(lambda: sink.of(BotTurnFinished), timeout=10)
    await pipeline.close()
    times = out.frame_times
    assert len(times) == 30
    allowance = (lead_ms + 20) / 1000 + 0.002  # the lead, one paired frame, and timer granularity
    for k, t in enumerate(times):
        assert t - times[0] >= k * 0.020 - allowance, f"frame {k} left {k * 20 - (t - times[0]) * 1000:.0f} ms early"
    # the whole reply took at least its real duration minus the lead to send
    assert times[-1] - times[0] >= 0.58 - allowance


async def test_vad_tunables_reach_the_endpointer():
    pipeline, _, _ = build(vad=VADConfig(end_silence_ms=700, min_speech_ms=200, aggressiveness=3))
    assert pipeline.endpointer.end_silence_ms == 700
    assert pipeline.endpointer.config.aggressiveness == 3


async def test_speech_after_the_bot_finished_playing_is_not_an_interruption():
    """The audio is over but the last mark's echo is late: the user's speech ends the turn normally."""
    pipeline, out, sink = build(responder=ScriptedResponder(opening="Короткая фраза."), bot_speaks_first=True,
                                marks=True, mark_grace_ms=5000)
    out.auto_ack_marks = False  # the echo is late
    await pipeline.start()
    await wait_for(lambda: out.marks)
    await asyncio.sleep(0.3)  # 300 ms of audio at 10x has long played, plus the margin
    assert not sink.of(BotTurnFinished)  # still waiting for the echo
    await speak(pipeline, 300, silence_ms=0)
    await wait_for(lambda: sink.of(BotTurnFinished))
    await pipeline.close()
    assert not out.clears and not sink.of(Interruption)
    finished = sink.of(BotTurnFinished)[0]
    assert finished.text == "Короткая фраза." and not finished.interrupted


class TickingResponder:
    """Yields a word per event-loop pass, so a test can cancel a turn at every point of its streaming."""

    name = "ticking"

    async def respond(self, text, state):
        for word in ("Добрый день, это компания «Грузовоз». " * 4).split():
            await asyncio.sleep(0)
            yield word + " "


@pytest.mark.parametrize("mark_echo", [False, True])
async def test_close_at_any_moment_leaves_no_task_running(mark_echo):
    # Python 3.11's asyncio.wait_for returns the result when the inner future completed in the same
    # pass as a cancellation, swallowing it; a turn then ran on after close() and waited forever on a
    # pacer that was gone ("Task was destroyed but it is pending" under media_load).
    leaked = []
    for passes in range(60):
        pipeline, out, _ = build(responder=TickingResponder(), tts=FakeTTS(ms_per_char=5), bot_speaks_first=True,
                                 pace_speed=0, marks=mark_echo)
        before = asyncio.all_tasks()
        await pipeline.start()
        for _ in range(passes):
            await asyncio.sleep(0)
        await pipeline.close()
        # the fake far end's pending mark echoes are the carrier's, not the conversation's
        left = [t for t in asyncio.all_tasks() - before - out._ack_tasks if not t.done()]
        if left:
            leaked.append((passes, sorted(t.get_name() for t in left)))
        for task in left:
            task.cancel()
    assert leaked == []


class _GoneOutput(RecordingOutput):
    """The far end went away: every send fails until the hang-up arrives."""

    async def send_audio(self, pcm16: bytes) -> None:
        self.frames.append(pcm16)
        raise ConnectionResetError("peer gone")


async def test_a_gone_transport_is_logged_once_and_the_pacer_goes_on(caplog):
    out = _GoneOutput(supports_marks=False)
    pipeline = VoicePipeline(stt=FakeSTT(default="привет"), tts=FakeTTS(ms_per_char=20),
                             responder=ScriptedResponder(default="Здравствуйте, слушаю вас внимательно."),
                             output=out, sink=ListSink(),
                             config=PipelineConfig(pace_speed=SPEED, bot_speaks_first=True))
    with caplog.at_level("DEBUG", logger="voice.pipeline"):
        await pipeline.start()
        await wait_for(lambda: len(out.frames) > 20)
        await pipeline.close()
    failures = [r for r in caplog.records if r.getMessage().startswith("output transport failed")]
    assert len(out.frames) > 20 and len(failures) == len(out.frames)  # every frame was tried
    assert [r.levelname for r in failures].count("ERROR") == 1 and failures[0].levelname == "ERROR"
