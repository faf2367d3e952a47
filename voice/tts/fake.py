"""A deterministic TTS for tests and benchmarks: audio whose length follows the text, set delays."""

from __future__ import annotations

import asyncio
import functools
import zlib
from collections.abc import AsyncIterator
from typing import Literal

import numpy as np

from integrations.errors import ProviderConfigError, ProviderError, ProviderUnavailable
from voice.tts.base import TTSProvider


class FakeTTS(TTSProvider):
    """``len(text) * ms_per_char`` of a 220 Hz tone (or seeded noise) in ``chunk_ms`` pieces.

    ``delay_ms`` is waited before the first chunk (a vendor's time to first byte) and
    ``chunk_delay_ms`` before each later one. ``fail`` raises ``ProviderUnavailable`` when True, or the
    given ``ProviderError``, after the first-byte delay; ``fail_after_chunks`` fails mid-stream
    instead. Requests are recorded in ``requests`` as (text, voice, language).
    """

    name = "fake-tts"

    def __init__(
        self,
        sample_rate_native: int = 16000,
        ms_per_char: float = 60.0,
        delay_ms: float = 0,
        chunk_delay_ms: float = 0,
        chunk_ms: int = 100,
        fail: bool | ProviderError = False,
        fail_after_chunks: int | None = None,
        waveform: Literal["tone", "noise"] = "tone",
        amplitude: float = 0.3,
    ):
        if waveform not in ("tone", "noise"):
            raise ProviderConfigError(f"unknown waveform {waveform!r}", provider=self.name)
        if sample_rate_native <= 0 or chunk_ms <= 0 or ms_per_char <= 0:
            raise ProviderConfigError("rates and durations must be positive", provider=self.name)
        self.sample_rate_native = sample_rate_native
        self.ms_per_char = ms_per_char
        self.delay_ms = delay_ms
        self.chunk_delay_ms = chunk_delay_ms
        self.chunk_ms = chunk_ms
        self.fail = fail
        self.fail_after_chunks = fail_after_chunks
        self.waveform = waveform
        self.amplitude = amplitude
        self.requests: list[tuple[str, str, str]] = []

    def native_rate(self, sample_rate: int) -> int:
        return self.sample_rate_native

    def duration_ms(self, text: str) -> float:
        return len(text.strip()) * self.ms_per_char

    def render(self, text: str, sample_rate: int) -> bytes:
        """The whole utterance at once: the same text always gives the same bytes."""
        n = round(self.duration_ms(text) * sample_rate / 1000)
        return _render(text if self.waveform == "noise" else "", n, sample_rate, self.waveform, self.amplitude)

    def _raise(self) -> None:
        raise (
            self.fail
            if isinstance(self.fail, ProviderError)
            else ProviderUnavailable("scripted failure", provider=self.name)
        )

    async def _synthesize(self, text: str, *, voice: str, language: str, sample_rate: int) -> AsyncIterator[bytes]:
        self.requests.append((text, voice, language))
        if self.delay_ms:
            await asyncio.sleep(self.delay_ms / 1000)
        if self.fail and self.fail_after_chunks is None:
            self._raise()
        audio = self.render(text, sample_rate)
        step = max(2, int(sample_rate * self.chunk_ms / 1000) * 2)
        for index, start in enumerate(range(0, len(audio), step)):
            if self.fail and self.fail_after_chunks is not None and index >= self.fail_after_chunks:
                self._raise()
            if index and self.chunk_delay_ms:
                await asyncio.sleep(self.chunk_delay_ms / 1000)
            yield audio[start : start + step]


@functools.lru_cache(maxsize=512)
def _render(seed_text: str, n: int, sample_rate: int, waveform: str, amplitude: float) -> bytes:
    # Cached: load tests speak the same phrases thousands of times, and the fake must not be the bottleneck.
    if waveform == "tone":
        signal = np.sin(2 * np.pi * 220.0 * np.arange(n) / sample_rate)
    else:
        signal = np.random.default_rng(zlib.crc32(seed_text.encode())).uniform(-1.0, 1.0, n)
    return (signal * amplitude * 32767).astype("<i2").tobytes()
