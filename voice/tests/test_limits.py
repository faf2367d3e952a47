"""Call limits (seed 004): a silent line is asked «are you there?» and then ended politely; so is an overlong call."""

from __future__ import annotations

import asyncio

from dialogs.scriptmap import call_limits, demo_map, validate_map
from voice.bench.fakes import ScriptedResponder
from voice.events import BotTurnFinished, ConversationEnded
from voice.pipeline import CallLimits
from voice.stt.fake import FakeSTT
from voice.tests.test_pipeline import build, speak, wait_for

LIMITS = {"silence_prompt": "Вы меня слышите?", "silence_end": "Перезвоню позже, до свидания.",
          "duration_end": "Не буду больше отнимать время, до свидания."}


def said(sink) -> list[str]:
    return [e.text for e in sink.of(BotTurnFinished)]


async def test_silences_are_prompted_then_the_call_ends_with_the_silence_goodbye():
    pipeline, out, sink = build(responder=ScriptedResponder(opening="Добрый день!"), bot_speaks_first=True,
                                limits=CallLimits(silence_s=1.0, max_silences=3, **LIMITS))
    await pipeline.start()
    await wait_for(lambda: sink.of(ConversationEnded), timeout=20)
    assert said(sink) == ["Добрый день!", "Вы меня слышите?", "Вы меня слышите?", "Перезвоню позже, до свидания."]
    assert sink.of(ConversationEnded)[-1].reason == "max_silences" and pipeline.end_reason == "max_silences"
    assert out.ended  # the transport was asked to hang up
    await pipeline.close()


async def test_speech_resets_the_silence_count():
    pipeline, _, sink = build(responder=ScriptedResponder(opening="Добрый день!", default="Понял."),
                              bot_speaks_first=True, limits=CallLimits(silence_s=1.0, max_silences=2, **LIMITS))
    await pipeline.start()
    await wait_for(lambda: "Вы меня слышите?" in said(sink), timeout=20)
    await speak(pipeline, 600)  # the caller answers: the count starts again
    await wait_for(lambda: "Понял." in said(sink), timeout=20)
    await wait_for(lambda: sink.of(ConversationEnded), timeout=20)
    texts = said(sink)
    # after the answer: one more prompt (silence 1 of 2 anew), then the goodbye at the second silence
    assert texts[texts.index("Понял.") + 1:] == ["Вы меня слышите?", "Перезвоню позже, до свидания."]
    await pipeline.close()


async def test_an_overlong_call_ends_politely_at_the_next_pause():
    pipeline, out, sink = build(responder=ScriptedResponder(opening="Добрый день!", default="Понял."),
                                bot_speaks_first=True, limits=CallLimits(max_duration_s=2.0, **LIMITS))
    await pipeline.start()
    await wait_for(lambda: sink.of(BotTurnFinished), timeout=20)
    await asyncio.sleep(2.5 / 10)  # build() runs the pipeline 10x faster: past the 2 s limit
    await wait_for(lambda: sink.of(ConversationEnded), timeout=20)
    assert said(sink)[-1] == "Не буду больше отнимать время, до свидания."
    assert sink.of(ConversationEnded)[-1].reason == "max_duration"
    assert out.ended
    await pipeline.close()


def test_the_script_map_sets_limits_and_phrases_with_defaults():
    data = demo_map("ru")
    limits = call_limits(data)
    assert {k: limits[k] for k in ("max_call_s", "max_silences", "silence_s")} == {
        "max_call_s": 300, "max_silences": 3, "silence_s": 8}
    assert limits["silence_prompt"] == "Алло, вы меня слышите?"
    assert limits["silence_end"].startswith("Похоже, связь прервалась") and limits["limit_end"]
    data["limits"] = {"max_call_s": 120, "silence_s": 5}
    data["phrases"]["silence_prompt"] = ["{{contact.name}}, вы здесь?"]
    limits = call_limits(data, {"contact": {"name": "Ольга"}})
    assert limits["max_call_s"] == 120 and limits["silence_s"] == 5 and limits["max_silences"] == 3
    assert limits["silence_prompt"] == "Ольга, вы здесь?"
    assert not validate_map(data)
    data["limits"] = {"max_call_s": -1, "forever": 1}
    codes = {(p.path, p.code) for p in validate_map(data)}
    assert ("/limits/max_call_s", "type") in codes and ("/limits/forever", "unknown_key") in codes


async def test_the_recognition_hints_reach_the_stt_on_every_turn():
    stt = FakeSTT(default="да")
    pipeline, _, sink = build(stt=stt, stt_prompt="ТРАНСТИРЕКС, Фошань, Гуанчжоу.")
    await pipeline.start()
    await speak(pipeline)
    await wait_for(lambda: sink.of(BotTurnFinished), timeout=10)
    await pipeline.close()
    assert stt.prompts and set(stt.prompts) == {"ТРАНСТИРЕКС, Фошань, Гуанчжоу."}



# --- an answering machine (issue 14): hold the bot, then leave the message or hang up -------------------------


async def test_a_held_bot_stops_talking_and_answers_nothing_then_leaves_the_message_and_ends():
    responder = ScriptedResponder(opening="Добрый день! Меня зовут Мария, я звоню по поводу доставки грузов.",
                                  default="Понял.")
    pipeline, out, sink = build(responder=responder, bot_speaks_first=True,
                                limits=CallLimits(silence_s=1.0, max_silences=3, **LIMITS))
    await pipeline.start()
    await wait_for(lambda: out.frames, timeout=5)  # the opening line is playing
    pipeline.hold()  # a machine's greeting was heard
    await wait_for(lambda: sink.of(BotTurnFinished), timeout=5)
    assert sink.of(BotTurnFinished)[0].interrupted  # cut off where it was
    await speak(pipeline, 900)  # the rest of the greeting: not a line to answer
    await asyncio.sleep(1.5 / 10)  # past a silence prompt's time too
    assert "Понял." not in said(sink) and "Вы меня слышите?" not in said(sink)
    await pipeline.leave_message("Перезвоним позже, всего доброго!")
    await wait_for(lambda: sink.of(ConversationEnded), timeout=10)
    assert said(sink)[-1] == "Перезвоним позже, всего доброго!"
    assert not sink.of(BotTurnFinished)[-1].interrupted
    assert sink.of(ConversationEnded)[-1].reason == "voicemail" and out.ended
    await pipeline.close()


async def test_leaving_no_message_hangs_up_at_once():
    pipeline, out, sink = build(responder=ScriptedResponder(opening="Добрый день!"), bot_speaks_first=True)
    await pipeline.start()
    await pipeline.leave_message("")
    await wait_for(lambda: sink.of(ConversationEnded), timeout=5)
    assert sink.of(ConversationEnded)[-1].reason == "voicemail" and out.ended
    await pipeline.close()
