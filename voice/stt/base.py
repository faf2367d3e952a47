"""The STT contract: PCM16 mono in, a ``Transcript`` out, every failure a ``ProviderError``."""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

from integrations.errors import ProviderError, ProviderTimeout
from voice.text import collapse_repeats


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str = ""  # ISO 639-1: what the provider heard, else the hint it was given
    confidence: float | None = None
    # how sure the recogniser is of ``language`` when it detected it (faster-whisper's
    # ``info.language_probability``); None when it was told the language or does not say
    language_probability: float | None = None
    elapsed_ms: float = 0.0
    queue_wait_ms: float = 0.0  # time spent waiting for a worker (``voice.stt.admission``), not in elapsed_ms


class STTProvider(ABC):
    """Subclasses implement ``_transcribe``; the base adds timing, a timeout, error mapping and loop cutting."""

    name = "base"
    timeout_s: float = 15.0

    async def transcribe(self, pcm16: bytes, *, sample_rate: int = 16000, language: str | None = None,
                         prompt: str | None = None) -> Transcript:
        """``prompt``: words to expect on this call (names, products, cities), for providers that take hints."""
        started = time.perf_counter()
        hints = {"prompt": prompt} if prompt else {}  # providers without hints keep their old signature
        try:
            async with asyncio.timeout(self.timeout_s):
                result = await self._transcribe(pcm16, sample_rate=sample_rate, language=language, **hints)
        except TimeoutError as exc:
            raise ProviderTimeout(f"transcription took longer than {self.timeout_s}s", provider=self.name) from exc
        except ProviderError:
            raise
        except Exception as exc:  # a vendor's own exception types never leak past the provider
            raise ProviderError(f"{type(exc).__name__}: {exc}", provider=self.name) from exc
        elapsed = (time.perf_counter() - started) * 1000
        # a recogniser's runaway loop on unclear audio is cut before anyone reads the line
        return Transcript(text=collapse_repeats(result.text.strip()), language=result.language or (language or ""),
                          confidence=result.confidence, language_probability=result.language_probability,
                          elapsed_ms=elapsed)

    @abstractmethod
    async def _transcribe(self, pcm16: bytes, *, sample_rate: int, language: str | None) -> Transcript: ...

    async def warm_up(self) -> None:
        """Load models or open connections ahead of the first turn. Optional."""

    async def aclose(self) -> None:
        """Release connections. Optional."""
