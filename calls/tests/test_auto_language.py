"""Auto-language in the live call: a campaign in «auto» hears Uzbek and goes on with the Uzbek script and voice.

The pipeline runs with the real ``calls.language.LanguageWatch``, the real flow responder over the demo
scripts and the database; the recogniser is a stand-in that reports a detected language and its
probability the way faster-whisper does (``info.language``, ``info.language_probability``).
"""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from calls.consumers import build_responder
from calls.language import language_watch_for
from calls.media_auth import call_media_token
from calls.models import Call, CallEvent
from calls.routing import websocket_urlpatterns
from calls.selectors import call_media_context
from calls.services.lifecycle import call_transition
from config.voice import tts_for_language
from dialogs.models import Script
from dialogs.scriptmap import demo_map
from dialogs.services import script_save
from voice.audio import pcm16_to_ulaw, silence
from voice.bench.fakes import RecordingOutput
from voice.events import BotTurnFinished, DirectiveEvent, ListSink
from voice.pipeline import PipelineConfig, VoicePipeline
from voice.stt.fake import FakeSTT
from voice.tests.signals import frames, voiced
from voice.tests.test_pipeline import wait_for
from voice.tts.fake import FakeTTS

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]
SPEED = 10.0


@pytest.fixture
def auto_call(make_campaign, make_contact):
    scripts = {lang: script_save(script=Script(name=f"Freight {lang}", language=lang, dialogue_map=demo_map(lang)))
               for lang in ("ru", "uz", "tg")}
    campaign = make_campaign(script=scripts["ru"], language="auto")
    campaign.language_scripts.set([scripts["uz"], scripts["tg"]])
    return Call.objects.create(campaign=campaign, contact=make_contact(name="Алишер Каримов"))


async def _run_call(call: Call, stt: FakeSTT, utterances: int = 1):
    """The consumer's wiring (``language_watch_for`` with its ``build_responder``), then the caller speaks."""
    ctx = await database_sync_to_async(call_media_context)(call_id=call.pk)
    ru_tts, uz_tts = FakeTTS(ms_per_char=5), FakeTTS(ms_per_char=5)
    watch = language_watch_for(ctx, build_responder=build_responder)
    watch.tts_for_language = {"uz": uz_tts, "tg": FakeTTS(ms_per_char=5), "ru": ru_tts}.__getitem__
    out, sink = RecordingOutput(supports_marks=True), ListSink()
    pipeline = VoicePipeline(stt=stt, tts=ru_tts, responder=build_responder(ctx), output=out, sink=sink,
                             config=PipelineConfig(language=ctx.language, voice=ctx.voice, bot_speaks_first=True,
                                                   pace_speed=SPEED,
                                                   mark_grace_ms=300, speculative_stt=False),
                             language_watch=watch)
    out.pipeline = pipeline
    await pipeline.start()
    await wait_for(lambda: sink.of(BotTurnFinished), timeout=10)
    for n in range(utterances):
        for frame in frames(voiced(700) + silence(800)):
            await pipeline.feed(frame)
            await asyncio.sleep(0.02 / SPEED)
        await wait_for(lambda n=n: len(sink.of(BotTurnFinished)) >= n + 2, timeout=10)
    await pipeline.close()
    return pipeline, sink, ru_tts, uz_tts


def _phrases(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    items = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    return [p for item in items for p in _phrases(item)]


async def test_uzbek_heard_with_confidence_switches_script_voice_and_hint(auto_call):
    await database_sync_to_async(lambda: type(auto_call.campaign).objects.filter(pk=auto_call.campaign_id)
                                 .update(voice="anna-ru"))()
    stt = FakeSTT(["Ha, gapiring, eshitaman"], default="Qanday yuk?", heard=[("uz", 0.93)] * 3)
    pipeline, sink, ru_tts, uz_tts = await _run_call(auto_call, stt, utterances=2)

    lines = [e.text for e in sink.of(BotTurnFinished)]
    assert lines[0].startswith("Здравствуйте")  # the call opens in the main script's language
    # the next line comes from the Uzbek script (the same stage's line of the Russian one is not it)
    assert any(lines[1][:30] in phrase for phrase in _phrases(demo_map("uz"))), lines[1]
    assert not any(lines[1][:30] in phrase for phrase in _phrases(demo_map("ru")))
    assert [r[0] for r in ru_tts.requests] and all("Здравствуйте" in r[0] or r[2] == "ru" for r in ru_tts.requests)
    assert uz_tts.requests and {r[2] for r in uz_tts.requests} == {"uz"}  # Uzbek is spoken by the Uzbek voice
    assert {r[1] for r in ru_tts.requests} == {"anna-ru"} and {r[1] for r in uz_tts.requests} == {""}
    assert stt.calls[0][1] is None  # the first caller turn is transcribed without a hint
    assert pipeline.state.language == "uz" and pipeline.config.stt_prompt and "Toshkent" in pipeline.config.stt_prompt
    switch = [e for e in sink.of(DirectiveEvent) if e.kind == "language"]
    assert [(e.data["from"], e.data["to"]) for e in switch] == [("ru", "uz")]

    call = await database_sync_to_async(Call.objects.get)(pk=auto_call.pk)
    assert call.language == "uz"
    event = await database_sync_to_async(CallEvent.objects.get)(call=auto_call, kind="language")
    assert event.data["to"] == "uz" and event.data["probability"] == 0.93


async def test_a_low_confidence_guess_does_not_switch(auto_call):
    stt = FakeSTT(["Алло, да"], default="Да, слушаю", heard=[("uz", 0.31)] * 3)
    pipeline, sink, _ru_tts, uz_tts = await _run_call(auto_call, stt, utterances=1)

    assert pipeline.state.language == "ru" and not uz_tts.requests
    assert not [e for e in sink.of(DirectiveEvent) if e.kind == "language"]
    assert not await database_sync_to_async(CallEvent.objects.filter(call=auto_call, kind="language").exists)()
    assert (await database_sync_to_async(Call.objects.get)(pk=auto_call.pk)).language == ""


async def test_a_language_named_without_a_probability_switches_once_heard_twice_in_a_row(auto_call):
    """OpenAI's verbose_json names the language but not how sure it is: one turn is not enough."""
    stt = FakeSTT(default="Ha, gapiring", heard=[("uz", None), ("uz", None), ("uz", None)])
    pipeline, sink, *_ = await _run_call(auto_call, stt, utterances=2)

    switch = [e for e in sink.of(DirectiveEvent) if e.kind == "language"]
    assert [e.turn_index for e in switch] == [2] and pipeline.state.language == "uz"  # the second caller turn
    assert "probability" not in (await database_sync_to_async(CallEvent.objects.get)(call=auto_call,
                                                                                     kind="language")).data


async def test_no_flapping_at_most_two_switches_then_the_hint_stays(auto_call, settings):
    settings.VOICE = {**settings.VOICE, "AUTO_LANGUAGE": {"MIN_PROBABILITY": 0.6, "DETECT_TURNS": 5,
                                                          "MAX_SWITCHES": 2}}
    stt = FakeSTT(default="Ha", heard=[("uz", 0.9), ("ru", 0.95), ("uz", 0.9), ("uz", 0.9)])
    pipeline, sink, *_ = await _run_call(auto_call, stt, utterances=4)

    switch = [(e.data["from"], e.data["to"]) for e in sink.of(DirectiveEvent) if e.kind == "language"]
    assert switch == [("ru", "uz"), ("uz", "ru")]
    assert pipeline.state.language == "ru"
    assert [lang for _, lang in stt.calls] == [None, None, "ru", "ru"]  # listening stops after two switches


async def test_a_fixed_language_campaign_has_no_watch_and_keeps_its_hint(make_campaign, make_contact):
    call = await database_sync_to_async(lambda: Call.objects.create(campaign=make_campaign(),
                                                                    contact=make_contact()))()
    ctx = await database_sync_to_async(call_media_context)(call_id=call.pk)
    assert language_watch_for(ctx, build_responder=build_responder) is None


async def test_the_media_socket_of_an_auto_campaign_goes_on_in_uzbek(auto_call, settings):
    """The real route: the carrier's media socket, the consumer's wiring, the configured providers."""


    settings.VOICE = {**settings.VOICE,
                      "STT": {"PROVIDER": "fake", "OPTIONS": {"default": "Ha, gapiring, eshitaman",
                                                              "heard": [["uz", 0.91]] * 20}},
                      "TTS": {"PROVIDER": "fake", "OPTIONS": {"ms_per_char": 2}},
                      "TTS_BY_LANGUAGE": {"uz": {"PROVIDER": "fake", "OPTIONS": {"ms_per_char": 3}}}}
    await database_sync_to_async(call_transition)(call_id=auto_call.pk, to=Call.Status.DIALING)
    token = await database_sync_to_async(call_media_token)(call_id=auto_call.pk)
    comm = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/calls/{auto_call.pk}/media/?token={token}")
    assert (await comm.connect())[0]
    await comm.send_to(text_data=json.dumps({"event": "start", "streamSid": "MZ1", "start": {
        "streamSid": "MZ1", "callSid": "CA1", "customParameters": {},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))

    async def pump(seconds: float) -> None:
        """Echo the bot's marks (Twilio does once they are played) for a while."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while loop.time() < end:
            if await comm.receive_nothing(timeout=0.05):
                continue
            data = json.loads((await comm.receive_output(timeout=1))["text"])
            if data["event"] == "mark":
                await comm.send_to(text_data=json.dumps({"event": "mark", "streamSid": "MZ1", "mark": data["mark"]}))

    def bot_lines() -> list[str]:
        return list(auto_call.turns.filter(speaker="bot").order_by("index").values_list("text", flat=True))

    for _ in range(40):  # the greeting, played and stored
        await pump(0.1)
        if await database_sync_to_async(bot_lines)():
            break
    speech = pcm16_to_ulaw(voiced(700, rate=8000) + silence(900, 8000))
    for n, start in enumerate(range(0, len(speech), 160)):
        await comm.send_to(text_data=json.dumps({"event": "media", "streamSid": "MZ1", "media": {
            "track": "inbound", "chunk": str(n), "timestamp": str(20 * n),
            "payload": base64.b64encode(speech[start:start + 160]).decode()}}))
    for _ in range(40):
        await pump(0.25)
        if len(await database_sync_to_async(bot_lines)()) >= 2:
            break
    await comm.send_to(text_data=json.dumps({"event": "stop", "streamSid": "MZ1", "stop": {}}))
    await comm.disconnect()

    lines = await database_sync_to_async(bot_lines)()
    assert lines[0].startswith("Здравствуйте") and len(lines) >= 2

    assert any(lines[1][:30] in phrase for phrase in _phrases(demo_map("uz"))), lines
    uz_voice = await asyncio.to_thread(tts_for_language, "uz")
    assert any(text == lines[1] or lines[1].startswith(text) for text, _, _ in uz_voice.requests)
    call = await database_sync_to_async(Call.objects.get)(pk=auto_call.pk)
    assert call.language == "uz"
