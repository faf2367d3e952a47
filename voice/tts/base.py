"""The TTS contract: text in, a stream of PCM16 mono chunks at the requested rate out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator

from integrations.errors import ProviderError
from voice.audio import StreamResampler


class TTSProvider(ABC):
    """Subclasses implement ``_synthesize`` yielding PCM16 at ``native_rate(sample_rate)``.

    The base resamples to the requested rate when the vendor could not give it natively and maps
    any vendor exception to ``ProviderError``.
    """

    name = "base"

    def native_rate(self, sample_rate: int) -> int:
        """The rate the vendor will produce when asked for ``sample_rate``. Override if it differs."""
        return sample_rate

    async def synthesize(
        self, text: str, *, voice: str = "", language: str = "ru", sample_rate: int = 16000
    ) -> AsyncIterator[bytes]:
        native = self.native_rate(sample_rate)
        resampler = None
        if native != sample_rate:
            resampler = StreamResampler(native, sample_rate)
        try:
            async for chunk in self._synthesize(text, voice=voice, language=language, sample_rate=native):
                if not chunk:
                    continue
                yield resampler.process(chunk) if resampler else chunk
            if resampler:
                tail = resampler.flush()
                if tail:
                    yield tail
        except ProviderError:
            raise
        except Exception as exc:
            raise ProviderError(f"{type(exc).__name__}: {exc}", provider=self.name) from exc

    @abstractmethod
    def _synthesize(self, text: str, *, voice: str, language: str, sample_rate: int) -> AsyncIterator[bytes]: ...

    def has_voice(self, voice: str) -> bool | None:
        """Whether ``voice`` exists here: True/False where the provider can tell offline, else None."""
        return None

    def cache_key(self, text: str, *, voice: str, language: str, sample_rate: int) -> str:
        """What the audio cache keys on; the provider name keeps vendors' audio apart."""
        return f"{self.name}|{voice}|{language}|{sample_rate}|{text.strip()}"

    async def aclose(self) -> None:
        """Release connections. Optional."""
