"""The offline answering-machine detector on synthesised audio: eSpeak speech, noise and tones."""

from __future__ import annotations

import asyncio
import functools

import numpy as np
import pytest

from voice.amd import AMDConfig, AnsweringMachineDetector, GoertzelBank
from voice.audio import resample, silence
from voice.tts.local import EspeakTTS

RATE = 8000
GREETING = ("Здравствуйте, вы позвонили Ивану Петрову. Я не могу сейчас ответить, "
            "оставьте, пожалуйста, сообщение после сигнала.")


@functools.lru_cache(maxsize=8)
def spoken(text: str) -> bytes:
    """eSpeak NG (the local TTS provider) at the telephone rate."""
    async def run() -> bytes:
        pcm = bytearray()
        async for chunk in EspeakTTS(voice="ru").synthesize(text, language="ru", sample_rate=RATE):
            pcm += chunk
        return bytes(pcm)

    return asyncio.run(run())


def tone(freq: float, seconds: float, amplitude: float = 12000) -> bytes:
    t = np.arange(int(seconds * RATE)) / RATE
    return (np.sin(2 * np.pi * freq * t) * amplitude).astype("<i2").tobytes()


def speech_noise(seconds: float, *, seed: int = 1) -> bytes:
    """Broadband noise with a syllable-rate (4 Hz) loudness wobble that never falls quiet: talk without pauses."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 4 * np.arange(n) / RATE)
    return np.clip(rng.normal(0, 4000, n) * envelope, -32768, 32767).astype("<i2").tobytes()


def feed_in_chunks(detector: AnsweringMachineDetector, pcm: bytes, chunk: int = 320) -> list[str]:
    """As a carrier sends it: 20 ms at a time (odd chunk sizes work too)."""
    results = []
    for i in range(0, len(pcm), chunk):
        results += [r.answered_by for r in detector.feed(pcm[i:i + chunk])]
    return results


def test_goertzel_bank_finds_a_1khz_tone_and_not_noise() -> None:
    bank = GoertzelBank((440.0, 1000.0, 1400.0), RATE, 160)
    frame = np.frombuffer(tone(1000, 0.02), dtype="<i2").astype(np.float64)
    assert bank.tone(frame, ratio=0.6) == 1000.0
    noise = np.frombuffer(speech_noise(0.02), dtype="<i2").astype(np.float64)
    assert bank.tone(noise, ratio=0.6) is None


def test_a_person_saying_allo_then_waiting_is_human() -> None:
    detector = AnsweringMachineDetector(sample_rate=RATE)
    results = feed_in_chunks(detector, silence(300, RATE) + spoken("Алло?") + silence(3000, RATE))
    assert results == ["human"]
    assert detector.done and not detector.result.machine


def test_a_longer_human_hello_is_still_human() -> None:
    detector = AnsweringMachineDetector(sample_rate=RATE)
    assert feed_in_chunks(detector, spoken("Алло, да, слушаю вас.") + silence(2000, RATE)) == ["human"]


def test_a_spoken_voicemail_greeting_then_a_beep_is_a_machine_that_ended_with_the_beep() -> None:
    detector = AnsweringMachineDetector(sample_rate=RATE)
    audio = spoken(GREETING) + silence(400, RATE) + tone(1000, 0.4) + silence(1000, RATE)
    results = feed_in_chunks(detector, audio)
    assert results == ["machine_start", "machine_end_beep"]
    assert detector.result.at_s < detector.end.at_s
    greeting_s = len(spoken(GREETING)) / 2 / RATE
    assert detector.result.at_s < greeting_s  # known before the greeting is over
    assert detector.end.at_s >= greeting_s + 0.4 + 0.4  # the message may start only after the beep


def test_a_long_monologue_without_pauses_is_a_machine_even_without_a_beep() -> None:
    detector = AnsweringMachineDetector(sample_rate=RATE)
    results = feed_in_chunks(detector, speech_noise(4.0) + silence(2500, RATE), chunk=333)
    assert results == ["machine_start", "machine_end_silence"]
    assert detector.result.at_s == pytest.approx(AMDConfig().machine_speech_s, abs=0.05)


def test_a_beep_alone_is_a_machine() -> None:
    detector = AnsweringMachineDetector(sample_rate=RATE)
    results = feed_in_chunks(detector, silence(500, RATE) + tone(850, 0.5) + silence(500, RATE))
    assert results == ["machine_start", "machine_end_beep"]


def test_a_short_click_of_tone_is_not_a_beep() -> None:
    detector = AnsweringMachineDetector(sample_rate=RATE)
    results = feed_in_chunks(detector, spoken("Алло?") + tone(1000, 0.06) + silence(2000, RATE))
    assert results == ["human"]


def test_nobody_speaking_is_unknown() -> None:
    detector = AnsweringMachineDetector(sample_rate=RATE)
    assert feed_in_chunks(detector, silence(6000, RATE)) == ["unknown"]
    assert detector.result.at_s == pytest.approx(5.0)


def test_a_greeting_that_never_ends_stops_the_wait() -> None:
    detector = AnsweringMachineDetector(sample_rate=RATE, config=AMDConfig(message_max_s=6.0))
    assert feed_in_chunks(detector, speech_noise(8.0)) == ["machine_start", "machine_end_other"]


def test_the_detector_works_at_16khz_too() -> None:
    detector = AnsweringMachineDetector(sample_rate=16000)
    audio = resample(spoken(GREETING) + silence(300, RATE) + tone(1000, 0.3) + silence(500, RATE), RATE, 16000)
    assert feed_in_chunks(detector, audio, chunk=640) == ["machine_start", "machine_end_beep"]


def test_nothing_is_reported_after_the_verdict() -> None:
    detector = AnsweringMachineDetector(sample_rate=RATE)
    feed_in_chunks(detector, spoken("Алло?") + silence(1500, RATE))
    assert detector.feed(tone(1000, 1.0)) == []


def test_someone_who_listens_first_and_then_talks_at_length_is_human():
    """Speech that starts only after the bot's opening (here 3.5 s of quiet) is a person answering, however long."""
    detector = AnsweringMachineDetector(sample_rate=RATE)
    assert feed_in_chunks(detector, silence(3500, RATE) + speech_noise(4.0)) == ["human"]
    assert detector.result.at_s == pytest.approx(3.52, abs=0.03)


def test_a_greeting_that_starts_a_moment_after_pick_up_is_still_a_machine():
    detector = AnsweringMachineDetector(sample_rate=RATE)
    results = feed_in_chunks(detector, silence(1500, RATE) + spoken(GREETING) + tone(1000, 0.3) + silence(500, RATE))
    assert results == ["machine_start", "machine_end_beep"]
