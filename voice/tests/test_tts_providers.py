"""TTS providers: eSpeak NG offline, the fake, and OpenAI/ElevenLabs through their real SDKs against local servers."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import numpy as np
import pytest
import pytest_asyncio

from integrations.errors import (
    ProviderAuthError,
    ProviderBadResponse,
    ProviderConfigError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
)
from integrations.registry import load_provider
from voice.audio import duration_ms, is_silent, pcm16_to_ulaw, rms, ulaw_to_pcm16
from voice.tests.vendor_servers import ELEVENLABS_KEY, OPENAI_KEY, VendorServer
from voice.tts.elevenlabs import ElevenLabsTTS
from voice.tts.fake import FakeTTS
from voice.tts.local import EspeakTTS
from voice.tts.openai import OpenAITTS

pytestmark = pytest.mark.asyncio

RUSSIAN = "Здравствуйте! Меня зовут Анна, я звоню вам из компании «Окна плюс»."
ENGLISH = "Hello, my name is Anna, and I am calling from the window company."


async def collect(stream: AsyncIterator[bytes]) -> list[bytes]:
    return [chunk async for chunk in stream]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def speech_like(seconds: float, rate: int) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * 180 * t) * 8000).astype("<i2").tobytes()


@pytest_asyncio.fixture
async def vendor() -> AsyncIterator[VendorServer]:
    server = VendorServer()
    await server.start()
    yield server
    await server.stop()


# --- eSpeak NG ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "language"), [(RUSSIAN, "ru"), (ENGLISH, "en")])
async def test_espeak_speaks_plausible_audio(text: str, language: str) -> None:
    tts = EspeakTTS(voice="ru")
    chunks = await collect(tts.synthesize(text, language=language, sample_rate=16000))
    audio = b"".join(chunks)
    assert len(chunks) > 1, "audio should stream in pieces, not arrive as one blob"
    assert all(len(chunk) % 2 == 0 for chunk in chunks)
    assert not is_silent(audio) and rms(audio) > 500
    seconds = duration_ms(audio, 16000) / 1000
    words = len(text.split())
    # 175 words a minute is ~0.34 s a word; allow for pauses at punctuation and long Russian words.
    assert 0.2 * words < seconds < 0.8 * words


async def test_espeak_native_rate_needs_no_resampling() -> None:
    tts = EspeakTTS()
    assert tts.native_rate(16000) == 22050
    at_native = b"".join(await collect(tts.synthesize(RUSSIAN, sample_rate=22050)))
    at_16k = b"".join(await collect(tts.synthesize(RUSSIAN, sample_rate=16000)))
    assert abs(duration_ms(at_native, 22050) - duration_ms(at_16k, 16000)) < 50


async def test_espeak_voice_choice_follows_language() -> None:
    tts = EspeakTTS(voice="ru")
    assert tts.voice_for(language="ru") == "ru"
    assert tts.voice_for(language="en") == "en-us"
    assert tts.voice_for(voice="en", language="ru") == "en"
    with pytest.raises(ProviderConfigError):
        tts.voice_for(language="xx")
    assert EspeakTTS(voice="en-us").voice_for(language="en-GB") == "en-us"


async def test_espeak_rate_changes_length() -> None:
    slow = b"".join(await collect(EspeakTTS(rate=120).synthesize(RUSSIAN, sample_rate=16000)))
    fast = b"".join(await collect(EspeakTTS(rate=300).synthesize(RUSSIAN, sample_rate=16000)))
    assert len(slow) > 1.5 * len(fast)


async def test_espeak_rejects_bad_configuration() -> None:
    with pytest.raises(ProviderConfigError):
        EspeakTTS(voice="no-such-voice")
    with pytest.raises(ProviderConfigError):
        EspeakTTS(rate=10)
    with pytest.raises(ProviderConfigError):
        EspeakTTS(pitch=101)


async def test_espeak_concurrent_requests_do_not_mix() -> None:
    # eSpeak adds random flutter, so compare lengths: interleaved callbacks would swap whole chunks.
    tts = EspeakTTS()
    texts = ["Добрый день!", "Вам удобно говорить прямо сейчас?", ENGLISH]
    alone = [b"".join(await collect(tts.synthesize(t, sample_rate=22050))) for t in texts]
    together = await asyncio.gather(*(collect(tts.synthesize(t, sample_rate=22050)) for t in texts))
    for chunks, reference in zip(together, alone, strict=True):
        assert len(b"".join(chunks)) == pytest.approx(len(reference), rel=0.03)


async def test_espeak_abandoned_stream_does_not_block_the_next() -> None:
    tts = EspeakTTS()
    stream = tts.synthesize("Очень длинный текст для прерывания. " * 40, sample_rate=22050)
    first = await stream.__anext__()
    assert first
    await stream.aclose()  # barge-in
    after = await asyncio.wait_for(collect(tts.synthesize("Да.", sample_rate=22050)), 5)
    assert b"".join(after)


async def test_espeak_empty_text_gives_no_audio() -> None:
    assert await collect(EspeakTTS().synthesize("   ", sample_rate=16000)) == []


# --- fake -----------------------------------------------------------------------------------------


async def test_fake_tts_length_follows_text_and_is_deterministic() -> None:
    tts = FakeTTS(sample_rate_native=16000, ms_per_char=50, chunk_ms=100)
    audio = b"".join(await collect(tts.synthesize("abcdefghij", sample_rate=16000)))
    assert duration_ms(audio, 16000) == pytest.approx(500, abs=1)
    assert audio == b"".join(await collect(tts.synthesize("abcdefghij", sample_rate=16000)))
    assert not is_silent(audio)
    assert tts.requests[0] == ("abcdefghij", "", "ru")


async def test_fake_tts_resamples_through_the_base() -> None:
    tts = FakeTTS(sample_rate_native=24000, ms_per_char=100, waveform="noise")
    audio = b"".join(await collect(tts.synthesize("abcd", sample_rate=8000)))
    assert duration_ms(audio, 8000) == pytest.approx(400, abs=5)


async def test_fake_tts_first_byte_delay() -> None:
    tts = FakeTTS(delay_ms=80)
    loop = asyncio.get_running_loop()
    started = loop.time()
    stream = tts.synthesize("hi", sample_rate=16000)
    await stream.__anext__()
    assert loop.time() - started >= 0.075
    await stream.aclose()


async def test_fake_tts_failures() -> None:
    with pytest.raises(ProviderUnavailable):
        await collect(FakeTTS(fail=True).synthesize("hi", sample_rate=16000))
    with pytest.raises(ProviderTimeout):
        await collect(FakeTTS(fail=ProviderTimeout("slow", provider="x")).synthesize("hi", sample_rate=16000))
    got: list[bytes] = []
    flaky = FakeTTS(fail=True, fail_after_chunks=2, chunk_ms=20)
    with pytest.raises(ProviderUnavailable):
        async for chunk in flaky.synthesize("hello world", sample_rate=16000):
            got.append(chunk)
    assert len(got) == 2


# --- OpenAI speech --------------------------------------------------------------------------------


async def test_openai_tts_streams_pcm_from_the_wire(vendor: VendorServer) -> None:
    vendor.behaviour.audio = speech_like(0.5, 24000)
    tts = OpenAITTS(api_key=OPENAI_KEY, base_url=f"{vendor.url}/v1", voice="nova", instructions="Warm and calm.")
    try:
        chunks = await collect(tts.synthesize("Добрый день!", sample_rate=24000))
        at_16k = b"".join(await collect(tts.synthesize("Добрый день!", sample_rate=16000)))
    finally:
        await tts.aclose()
    assert b"".join(chunks) == vendor.behaviour.audio  # odd-sized wire chunks re-aligned, nothing lost
    assert all(len(chunk) % 2 == 0 for chunk in chunks) and len(chunks) > 1
    assert duration_ms(at_16k, 16000) == pytest.approx(500, abs=5)
    request = vendor.requests[0]
    assert request.path == "/v1/audio/speech"
    assert request.headers["Authorization"] == f"Bearer {OPENAI_KEY}"
    assert request.json == {
        "model": "gpt-4o-mini-tts",
        "input": "Добрый день!",
        "voice": "nova",
        "response_format": "pcm",
        "instructions": "Warm and calm.",
    }


@pytest.mark.parametrize(
    ("status", "key", "error"),
    [
        (None, "sk-wrong", ProviderAuthError),
        (429, OPENAI_KEY, ProviderUnavailable),
        (500, OPENAI_KEY, ProviderUnavailable),
        (400, OPENAI_KEY, ProviderBadResponse),
    ],
)
async def test_openai_tts_errors(vendor: VendorServer, status: int | None, key: str, error: type) -> None:
    vendor.behaviour.status = status
    tts = OpenAITTS(api_key=key, base_url=f"{vendor.url}/v1")
    with pytest.raises(error) as caught:
        await collect(tts.synthesize("Привет", sample_rate=16000))
    await tts.aclose()
    assert caught.value.status == (status or 401)
    assert caught.value.provider == "openai-tts"
    assert len(vendor.requests) == 1, "no hidden retries in a live call"


async def test_openai_tts_timeout_and_connection_refused(vendor: VendorServer) -> None:
    vendor.behaviour.delay_s = 2
    tts = OpenAITTS(api_key=OPENAI_KEY, base_url=f"{vendor.url}/v1", timeout_s=0.3)
    with pytest.raises(ProviderTimeout):
        await collect(tts.synthesize("Привет", sample_rate=16000))
    await tts.aclose()
    down = OpenAITTS(api_key=OPENAI_KEY, base_url=f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(ProviderUnavailable):
        await collect(down.synthesize("Привет", sample_rate=16000))
    await down.aclose()


# --- ElevenLabs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "expected_format"), [(16000, "pcm_16000"), (8000, "pcm_8000"), (22050, "pcm_22050"), (24000, "pcm_24000")]
)
async def test_elevenlabs_asks_for_the_rate_it_is_given(vendor: VendorServer, rate: int, expected_format: str) -> None:
    vendor.behaviour.audio = speech_like(0.4, rate)
    tts = ElevenLabsTTS(api_key=ELEVENLABS_KEY, voice_id="voice123", base_url=vendor.url)
    try:
        chunks = await collect(tts.synthesize("Добрый день!", language="ru", sample_rate=rate))
    finally:
        await tts.aclose()
    assert b"".join(chunks) == vendor.behaviour.audio  # no transcoding, no resampling
    assert all(len(chunk) % 2 == 0 for chunk in chunks)
    request = vendor.requests[0]
    assert request.path == "/v1/text-to-speech/voice123/stream"
    assert request.query["output_format"] == expected_format
    assert request.headers["xi-api-key"] == ELEVENLABS_KEY
    assert request.json["text"] == "Добрый день!"
    assert request.json["model_id"] == "eleven_flash_v2_5"
    assert request.json["language_code"] == "ru"


async def test_elevenlabs_unusual_rate_is_resampled(vendor: VendorServer) -> None:
    vendor.behaviour.audio = speech_like(0.4, 16000)
    tts = ElevenLabsTTS(api_key=ELEVENLABS_KEY, base_url=vendor.url, voice_settings={"stability": 0.5})
    audio = b"".join(await collect(tts.synthesize("Hi", language="en", sample_rate=48000)))
    await tts.aclose()
    assert vendor.requests[0].query["output_format"] == "pcm_16000"
    assert vendor.requests[0].json["voice_settings"]["stability"] == 0.5
    assert duration_ms(audio, 48000) == pytest.approx(400, abs=5)


async def test_elevenlabs_ulaw_for_telephony(vendor: VendorServer) -> None:
    ulaw = pcm16_to_ulaw(speech_like(0.3, 8000))
    vendor.behaviour.audio = ulaw
    tts = ElevenLabsTTS(api_key=ELEVENLABS_KEY, base_url=vendor.url, output_format="ulaw_8000")
    assert tts.native_rate(16000) == 8000
    audio = b"".join(await collect(tts.synthesize("Алло", sample_rate=8000)))
    await tts.aclose()
    assert vendor.requests[0].query["output_format"] == "ulaw_8000"
    assert audio == ulaw_to_pcm16(ulaw)
    assert pcm16_to_ulaw(audio) == ulaw  # the Twilio encoder gets the vendor's bytes back exactly


@pytest.mark.parametrize(
    ("status", "key", "error"),
    [
        (None, "xi-wrong", ProviderAuthError),
        (429, ELEVENLABS_KEY, ProviderUnavailable),
        (500, ELEVENLABS_KEY, ProviderUnavailable),
        (400, ELEVENLABS_KEY, ProviderBadResponse),
    ],
)
async def test_elevenlabs_errors(vendor: VendorServer, status: int | None, key: str, error: type) -> None:
    vendor.behaviour.status = status
    tts = ElevenLabsTTS(api_key=key, base_url=vendor.url)
    with pytest.raises(error) as caught:
        await collect(tts.synthesize("Привет", sample_rate=16000))
    await tts.aclose()
    assert caught.value.status == (status or 401)
    assert len(vendor.requests) == 1


async def test_elevenlabs_timeout_and_connection_refused(vendor: VendorServer) -> None:
    vendor.behaviour.delay_s = 2
    tts = ElevenLabsTTS(api_key=ELEVENLABS_KEY, base_url=vendor.url, timeout_s=0.3)
    with pytest.raises(ProviderTimeout):
        await collect(tts.synthesize("Привет", sample_rate=16000))
    await tts.aclose()
    down = ElevenLabsTTS(api_key=ELEVENLABS_KEY, base_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ProviderUnavailable):
        await collect(down.synthesize("Привет", sample_rate=16000))
    await down.aclose()


async def test_elevenlabs_stall_mid_stream_times_out(vendor: VendorServer) -> None:
    vendor.behaviour.audio = speech_like(0.2, 16000)
    vendor.behaviour.chunk_pause_s = 1.0
    tts = ElevenLabsTTS(api_key=ELEVENLABS_KEY, base_url=vendor.url, timeout_s=0.3)
    with pytest.raises(ProviderTimeout):
        await collect(tts.synthesize("Привет", sample_rate=16000))
    await tts.aclose()


async def test_elevenlabs_rejects_compressed_formats() -> None:
    with pytest.raises(ProviderConfigError):
        ElevenLabsTTS(api_key=ELEVENLABS_KEY, output_format="mp3_44100_128")


# --- registry -------------------------------------------------------------------------------------


async def test_registry_builds_tts_providers_and_fails_loudly() -> None:
    assert isinstance(load_provider("tts", "fake", ms_per_char=10), FakeTTS)
    assert isinstance(load_provider("tts", "local", voice="en-us"), EspeakTTS)
    with pytest.raises(ProviderConfigError):
        load_provider("tts", "nope")
    with pytest.raises(ProviderConfigError):
        load_provider("tts", "local", speed=2)
    with pytest.raises(ProviderConfigError):
        load_provider("tts", "elevenlabs")  # no key
    with pytest.raises(ProviderConfigError):
        load_provider("tts", "openai", api_key="")
    assert issubclass(ProviderConfigError, ProviderError)


async def test_cache_keys_follow_what_shapes_the_audio() -> None:
    base = EspeakTTS(rate=175).cache_key("Да", voice="", language="ru", sample_rate=16000)
    assert EspeakTTS(rate=175).cache_key("Да", voice="", language="ru", sample_rate=16000) == base
    assert EspeakTTS(rate=200).cache_key("Да", voice="", language="ru", sample_rate=16000) != base
    assert EspeakTTS().cache_key("Да", voice="", language="en", sample_rate=16000) != base
    one = ElevenLabsTTS(api_key=ELEVENLABS_KEY, voice_id="a")
    two = ElevenLabsTTS(api_key=ELEVENLABS_KEY, voice_id="b")
    assert one.cache_key("x", voice="", language="ru", sample_rate=16000) != two.cache_key(
        "x", voice="", language="ru", sample_rate=16000
    )
    await one.aclose()
    await two.aclose()
