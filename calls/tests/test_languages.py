"""Campaign languages: uz and tg scripts, «auto» picking the script from what the recogniser heard, TTS per language."""

from __future__ import annotations

import asyncio

import pytest

from calls.models import Call, CallEvent
from calls.selectors import call_media_context
from calls.services.lifecycle import call_language_heard
from config.voice import tts_for_language, tts_language_problem
from dialogs.languages import pick_language
from dialogs.models import Script
from dialogs.scriptmap import demo_map
from dialogs.services import script_save

pytestmark = pytest.mark.django_db


@pytest.fixture
def scripts(db):
    return {lang: script_save(script=Script(name=f"Freight {lang}", language=lang, dialogue_map=demo_map(lang)))
            for lang in ("ru", "uz", "tg")}


def test_pick_language_prefers_a_script_language_then_a_relative_else_keeps_the_current():
    candidates = {"ru", "uz", "tg"}
    assert pick_language("uz", candidates=candidates, current="ru") == "uz"
    assert pick_language("fa", candidates=candidates, current="ru") == "tg"  # Whisper's name for much Tajik
    assert pick_language("tr", candidates=candidates, current="ru") == "uz"
    assert pick_language("de", candidates=candidates, current="ru") == "ru"  # an odd guess changes nothing
    assert pick_language("fa", candidates={"ru", "uz"}, current="uz") == "uz"
    assert pick_language("", candidates=candidates, current="tg") == "tg"


def test_auto_campaign_opens_in_the_main_script_and_switches_on_what_was_heard(scripts, make_campaign,
                                                                               make_contact):
    campaign = make_campaign(script=scripts["ru"], language="auto")
    campaign.language_scripts.set([scripts["uz"], scripts["tg"]])
    call = Call.objects.create(campaign=campaign, contact=make_contact())
    ctx = call_media_context(call_id=call.pk)
    assert ctx.language == "ru" and ctx.script_map["language"] == "ru"
    assert set(ctx.scripts) == {"ru", "uz", "tg"}
    assert ctx.scripts["tg"]["stages"]["greeting"]["phrases"] == scripts["tg"].dialogue_map["stages"]["greeting"][
        "phrases"]

    assert call_language_heard(ctx=ctx, current="ru", detected="ru", text="Алло") == "ru"
    assert not CallEvent.objects.filter(call=call, kind="language").exists()
    assert call_language_heard(ctx=ctx, current="ru", detected="fa", text="Ассалому алейкум") == "tg"
    event = CallEvent.objects.get(call=call, kind="language")
    assert event.data == {"from": "ru", "to": "tg", "detected": "fa", "text": "Ассалому алейкум"}


def test_a_fixed_language_campaign_never_switches(scripts, make_campaign, make_contact):
    campaign = make_campaign(script=scripts["uz"], language="uz")
    ctx = call_media_context(call_id=Call.objects.create(campaign=campaign, contact=make_contact()).pk)
    assert ctx.language == "uz" and ctx.scripts == {}
    assert call_language_heard(ctx=ctx, current="uz", detected="ru") == "uz"


def test_tts_per_language_espeak_speaks_uzbek_and_tajik_needs_a_vendor(settings):
    settings.VOICE = {**settings.VOICE, "TTS": {"PROVIDER": "local", "OPTIONS": {}}, "TTS_BY_LANGUAGE": {}}
    assert tts_language_problem("uz") is None and tts_language_problem("ru") is None
    problem = tts_language_problem("tg")
    assert problem and "TTS_BY_LANGUAGE" in problem
    espeak = tts_for_language("uz")

    async def speak(tts, text, language):
        return b"".join([c async for c in tts.synthesize(text, language=language, sample_rate=16000)])

    audio = asyncio.run(speak(espeak, "Assalomu alaykum, bir daqiqa gaplashishga qulaymi?", "uz"))
    assert len(audio) > 16000  # over half a second of Uzbek speech from the offline voice

    settings.VOICE = {**settings.VOICE, "TTS_BY_LANGUAGE": {"tg": {"PROVIDER": "fake", "OPTIONS": {}}}}
    assert tts_language_problem("tg") is None
    vendor = tts_for_language("tg")
    assert vendor is not espeak and vendor.name == "fake-tts"
    assert tts_for_language("tg") is vendor  # shared, like the default provider
    asyncio.run(speak(vendor, "Ассалому алейкум", "tg"))
    assert vendor.requests[-1][0] == "Ассалому алейкум"
