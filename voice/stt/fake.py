"""A deterministic STT for tests and benchmarks: scripted answers, a set delay, optional failure."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping, Sequence

from integrations.errors import ProviderError, ProviderUnavailable
from voice.stt.base import STTProvider, Transcript


class FakeSTT(STTProvider):
    """Answers without looking at the audio.

    ``script`` is either a sequence of texts returned in order (then ``default``), or a mapping from
    utterance duration in milliseconds to text, where the nearest duration wins (so VAD padding of a
    few frames does not matter). ``fail`` raises ``ProviderUnavailable`` when True, or the given
    ``ProviderError`` itself. Every call is recorded in ``calls`` as (duration_ms, language).

    ``heard``: what a detecting recogniser reports when no language hint is given, (language,
    probability) per answer in order, like faster-whisper's ``info.language`` and
    ``info.language_probability``; with a hint the answer is in the hinted language.
    """

    name = "fake-stt"

    def __init__(
        self,
        script: Sequence[str] | Mapping[int, str] | None = None,
        default: str = "",
        delay_ms: float = 0,
        fail: bool | ProviderError = False,
        language: str = "",
        timeout_s: float = 15.0,
        heard: Sequence[tuple[str, float]] = (),
    ):
        self.by_duration: dict[int, str] = {}
        self.queue: deque[str] = deque()
        if isinstance(script, Mapping):
            self.by_duration = {int(ms): text for ms, text in script.items()}
        elif isinstance(script, str):  # a lone string would otherwise be queued letter by letter
            self.queue.append(script)
        elif script is not None:
            self.queue.extend(script)
        self.default = default
        self.delay_ms = delay_ms
        self.fail = fail
        self.language = language
        self.timeout_s = timeout_s
        self.heard: deque[tuple[str, float]] = deque(tuple(h) for h in heard)
        self.calls: list[tuple[float, str | None]] = []
        self.prompts: list[str | None] = []  # the hints each transcription was given

    def push(self, *texts: str) -> None:
        """Queue more answers, e.g. between turns of a scripted conversation."""
        self.queue.extend(texts)

    async def _transcribe(self, pcm16: bytes, *, sample_rate: int, language: str | None,
                          prompt: str | None = None) -> Transcript:
        duration_ms = len(pcm16) / 2 / sample_rate * 1000 if sample_rate else 0.0
        self.calls.append((duration_ms, language))
        self.prompts.append(prompt)
        if self.delay_ms:
            await asyncio.sleep(self.delay_ms / 1000)
        if self.fail:
            raise (
                self.fail
                if isinstance(self.fail, ProviderError)
                else ProviderUnavailable("scripted failure", provider=self.name)
            )
        if self.by_duration:
            nearest = min(self.by_duration, key=lambda ms: abs(ms - duration_ms))
            text = self.by_duration[nearest]
        else:
            text = self.queue.popleft() if self.queue else self.default
        detected = self.heard.popleft() if self.heard else None
        if language or detected is None:
            return Transcript(text=text, language=language or self.language, confidence=1.0)
        return Transcript(text=text, language=detected[0], confidence=1.0, language_probability=detected[1])
