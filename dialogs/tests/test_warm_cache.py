"""``manage.py warm_audio_cache``: a script's fixed sentences land in the Redis audio cache; per-call ones skipped."""

from __future__ import annotations

import asyncio
import io
import json

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from config.voice import audio_cache_from_settings, tts_from_settings
from dialogs.management.commands.warm_audio_cache import fixed_sentences
from dialogs.models import Script
from voice.audio import SAMPLE_RATE

FAKE_VOICE = {
    "STT": {"PROVIDER": "fake", "OPTIONS": {}},
    "TTS": {"PROVIDER": "fake", "OPTIONS": {"ms_per_char": 10}},
    "AUDIO_CACHE_TTL_S": 600,
}
MAP = {
    "language": "ru",
    "variables": {"company": "ТРАНСТИРЕКС", "agent": {"name": "Анна"}},
    "stages": {
        "greeting": {"phrases": ["Здравствуйте, {{contact.name}}! Меня зовут {{agent.name}}."],
                     "prompt": ["Удобно минутку поговорить?"]},
        "closing": {"phrases": ["Спасибо! Компания {{company}} свяжется с вами. Хорошего дня!"]},
    },
    "phrases": {"fallback": ["Извините, повторите, пожалуйста."], "callback_confirm": ["Перезвоню {{callback_time}}."]},
}


def test_fixed_sentences_render_constants_and_skip_per_call_variables():
    sentences, used, skipped = fixed_sentences(MAP)
    assert (used, skipped) == (3, 2)
    assert "Компания ТРАНСТИРЕКС свяжется с вами." in " ".join(sentences)
    assert not any("{{" in s or "Анна" in s for s in sentences)  # the greeting needs the contact's name


@pytest.mark.django_db
@override_settings(VOICE=FAKE_VOICE)
def test_warm_audio_cache_fills_redis_with_fake_tts():
    script = Script.objects.create(name="warm-test", language="ru", dialogue_map=MAP)
    out = io.StringIO()
    call_command("warm_audio_cache", "--script", str(script.pk), "--json", "--force", stdout=out)
    report = json.loads(out.getvalue())
    assert report["skipped_phrases"] == 2 and report["phrases"] == 3
    assert report["synthesized"] == report["sentences"] > 0 and report["failed"] == 0
    assert report["ttl_s"] == 600

    async def cached() -> list[bytes | None]:
        tts, cache = tts_from_settings(), audio_cache_from_settings(timeout_s=5.0)
        try:
            keys = [tts.cache_key(s, voice="", language="ru", sample_rate=SAMPLE_RATE)
                    for s in fixed_sentences(MAP)[0]]
            return [await cache.get(k) for k in keys]
        finally:
            await cache.aclose()

    audio = asyncio.run(cached())
    assert all(a for a in audio)
    assert settings.REDIS_URL

    again = io.StringIO()
    call_command("warm_audio_cache", "--script", str(script.pk), "--json", stdout=again)
    assert json.loads(again.getvalue())["already_cached"] == report["sentences"]


@pytest.mark.django_db
def test_warm_audio_cache_needs_a_script():
    with pytest.raises(CommandError):
        call_command("warm_audio_cache")
    with pytest.raises(CommandError):
        call_command("warm_audio_cache", "--script", "999999")
