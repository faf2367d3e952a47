"""ASR phrase hints: words from the script map reach the recogniser (OpenAI ``prompt``, Whisper ``initial_prompt``)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import pytest_asyncio

from calls.models import Call
from calls.selectors import call_media_context
from dialogs.models import Script
from dialogs.scriptmap import demo_map
from dialogs.services import script_save
from voice.audio import silence
from voice.stt.fake import FakeSTT
from voice.stt.local import LocalWhisperSTT
from voice.stt.openai import OpenAISTT
from voice.tests.vendor_servers import OPENAI_KEY, VendorServer


@pytest_asyncio.fixture
async def vendor():
    server = VendorServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def uz_call(db, make_campaign, make_contact):
    script = script_save(script=Script(name="Freight uz", language="uz", dialogue_map=demo_map("uz")))
    return Call.objects.create(campaign=make_campaign(script=script, language="uz"), contact=make_contact())


@pytest.mark.django_db
def test_the_call_context_carries_the_scripts_words(uz_call):
    prompt = call_media_context(call_id=uz_call.pk).stt_prompt
    words = prompt.split(", ")
    assert words[:4] == ["TRANSTIREKS", "Guanchjou", "Iu", "Shanxay"]  # the map's own hints first
    assert "Toshkent" in words and "Malika" in words  # a city and the agent's name
    assert len(prompt) <= 400


@pytest.mark.asyncio
async def test_openai_sends_the_calls_prompt_and_falls_back_to_the_configured_one(vendor):
    vendor.behaviour.transcript = "Toshkentga konteyner"
    stt = OpenAISTT(api_key=OPENAI_KEY, base_url=f"{vendor.url}/v1", prompt="configured words")
    try:
        result = await stt.transcribe(silence(300, 16000), language="uz", prompt="TRANSTIREKS, Toshkent, Guanchjou")
        await stt.transcribe(silence(300, 16000), language="uz")
    finally:
        await stt.aclose()
    assert result.text == "Toshkentga konteyner"
    assert vendor.requests[0].form["prompt"] == "TRANSTIREKS, Toshkent, Guanchjou"
    assert vendor.requests[1].form["prompt"] == "configured words"


def test_local_whisper_passes_the_prompt_as_initial_prompt():
    seen = []

    class RecordingModel:  # stands in for faster-whisper's WhisperModel: records what it was asked
        def transcribe(self, audio, **kwargs):
            seen.append(kwargs)
            return iter([SimpleNamespace(text=" Toshkent", avg_logprob=-0.1)]), SimpleNamespace(language="uz")

    stt = LocalWhisperSTT(initial_prompt="configured words")
    audio = np.zeros(16000, dtype=np.float32)
    assert stt._run(RecordingModel(), audio, "uz", "TRANSTIREKS, Toshkent").text == "Toshkent"
    stt._run(RecordingModel(), audio, "uz")
    assert [k["initial_prompt"] for k in seen] == ["TRANSTIREKS, Toshkent", "configured words"]


@pytest.mark.asyncio
async def test_providers_without_a_prompt_get_none_and_the_fake_records_it():
    stt = FakeSTT(script=["a", "b"])
    await stt.transcribe(silence(300, 16000), prompt="TRANSTIREKS")
    await stt.transcribe(silence(300, 16000))
    assert stt.prompts == ["TRANSTIREKS", None]
