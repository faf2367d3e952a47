"""STT admission: one shared backend per process behind a bounded line with a fixed number of workers.

``AdmittedSTT(inner, admission)`` wraps any ``STTProvider`` (the local faster-whisper model, or the
``openai`` provider pointed at a faster-whisper server): at most ``workers`` transcriptions run at
once, at most ``max_queue`` wait, and a request beyond that fails at once with ``STTOverloaded``
(retryable) instead of joining a line nobody can serve in time. Every transcript carries its queue
wait (``Transcript.queue_wait_ms``), and the admission measures the backend's seconds of work per
second of audio, so ``capacity()`` tells the planner how many conversations it serves in time.

The line is thread-safe and loop-agnostic: calls on daphne's loop and the simulated carrier's loop
in the same process share one admission. The queue wait is not counted against the inner
provider's own timeout; the pipeline bounds the whole wait (``PipelineConfig.stt_give_up_s``).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import math
import threading
import time
from dataclasses import dataclass

from integrations.errors import ProviderConfigError, ProviderUnavailable
from voice.stt.base import STTProvider, Transcript

# Share of a sales conversation's wall time the customer speaks (the bot speaks, both pause): a planning
# figure, measured with call_load's persona callees (0.25-0.35); the capacity below is conservative.
SPEECH_SHARE = 0.35
# Keep the workers at most this busy, so an utterance rarely waits for a free worker.
TARGET_UTILISATION = 0.6


class STTOverloaded(ProviderUnavailable):
    """The admission line is full: more speech arrives than the STT workers can transcribe in time."""


@dataclass(frozen=True)
class STTCapacity:
    workers: int
    max_queue: int
    seconds_per_audio_s: float | None  # the backend's work per second of audio (configured, else measured)
    measured: bool  # seconds_per_audio_s comes from this process's transcriptions, not the configuration
    conversations: int | None  # live conversations the workers serve in time (None until known)
    running: int = 0
    waiting: int = 0
    measured_seconds_per_audio_s: float | None = None  # this process's own figure, beside a configured one

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def conversations_served(workers: int, seconds_per_audio_s: float | None, *, speech_share: float = SPEECH_SHARE,
                         utilisation: float = TARGET_UTILISATION) -> int | None:
    """How many conversations ``workers`` transcribe in time: each needs ``speech_share × s/s`` of a worker."""
    if not seconds_per_audio_s or seconds_per_audio_s <= 0:
        return None
    return max(1, math.floor(workers * utilisation / (speech_share * seconds_per_audio_s)))


class STTAdmission:
    """``workers`` slots and a waiting line of ``max_queue``; a slot is handed to the longest waiter first."""

    def __init__(self, *, workers: int = 1, max_queue: int = 16, seconds_per_audio_s: float | None = None):
        if workers < 1:
            raise ProviderConfigError("STT workers must be at least 1", provider="stt-admission")
        if max_queue < 0:
            raise ProviderConfigError("the STT queue bound must be 0 or more", provider="stt-admission")
        self.workers = workers
        self.max_queue = max_queue
        self.configured_rate = seconds_per_audio_s
        self._lock = threading.Lock()
        self._running = 0
        self._waiters: collections.deque[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = collections.deque()
        self._work_s = 0.0  # transcription seconds and audio seconds seen, for the measured rate
        self._audio_s = 0.0
        self.admitted = 0
        self.rejected = 0

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> float:
        """Wait for a worker slot; returns the seconds waited. Raises ``STTOverloaded`` when the line is full."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        with self._lock:
            if self._running < self.workers and not self._waiters:
                self._running += 1
                self.admitted += 1
                return 0.0
            if len(self._waiters) >= self.max_queue:
                self.rejected += 1
                raise STTOverloaded(
                    f"{self._running} transcriptions running and {len(self._waiters)} waiting", provider="stt-admission"
                )
            waiter: asyncio.Future = loop.create_future()
            entry = (loop, waiter)
            self._waiters.append(entry)
        try:
            await waiter
        except asyncio.CancelledError:
            with self._lock:
                try:
                    self._waiters.remove(entry)
                    granted = False
                except ValueError:
                    granted = True  # the slot was handed over just as we were cancelled: pass it on
            if granted:
                self.release()
            raise
        with self._lock:
            self.admitted += 1
        return time.perf_counter() - started

    def release(self) -> None:
        with self._lock:
            if self._waiters:
                loop, waiter = self._waiters.popleft()  # the slot goes straight to it: running stays the same
                loop.call_soon_threadsafe(_grant, waiter)
                return
            self._running = max(0, self._running - 1)

    def observe(self, *, audio_s: float, work_s: float) -> None:
        """One finished transcription: ``work_s`` seconds for ``audio_s`` seconds of audio."""
        if audio_s <= 0 or work_s < 0:
            return
        with self._lock:
            self._audio_s += audio_s
            self._work_s += work_s

    @property
    def measured_rate(self) -> float | None:
        return round(self._work_s / self._audio_s, 3) if self._audio_s >= 1.0 else None

    def capacity(self) -> STTCapacity:
        rate = self.configured_rate or self.measured_rate
        return STTCapacity(
            workers=self.workers, max_queue=self.max_queue, seconds_per_audio_s=rate,
            measured=self.configured_rate is None and rate is not None,
            conversations=conversations_served(self.workers, rate), running=self._running, waiting=len(self._waiters),
            measured_seconds_per_audio_s=self.measured_rate,
        )


def _grant(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_result(None)
    # a waiter cancelled meanwhile finds itself gone from the line in acquire() and releases the slot


class AdmittedSTT(STTProvider):
    """Any STT provider behind an ``STTAdmission``: the queue wait is measured and never eats the work's timeout."""

    def __init__(self, inner: STTProvider, admission: STTAdmission):
        self.inner = inner
        self.admission = admission
        self.name = inner.name
        self.timeout_s = inner.timeout_s

    async def transcribe(self, pcm16: bytes, *, sample_rate: int = 16000, language: str | None = None,
                         prompt: str | None = None) -> Transcript:
        waited = await self.admission.acquire()
        started = time.perf_counter()
        try:
            result = await self.inner.transcribe(pcm16, sample_rate=sample_rate, language=language, prompt=prompt)
        finally:
            self.admission.release()
        audio_s = len(pcm16) / 2 / sample_rate if sample_rate else 0.0
        self.admission.observe(audio_s=audio_s, work_s=time.perf_counter() - started)
        return dataclasses.replace(result, queue_wait_ms=round(waited * 1000, 2))

    async def _transcribe(self, pcm16: bytes, *, sample_rate: int, language: str | None) -> Transcript:
        raise NotImplementedError  # transcribe() is overridden: the inner provider does the work

    def capacity(self) -> STTCapacity:
        return self.admission.capacity()

    async def warm_up(self) -> None:
        await self.inner.warm_up()

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __getattr__(self, name: str):  # load(), load_seconds(), model_name ... of the inner provider
        if name in ("inner", "admission"):
            raise AttributeError(name)
        return getattr(self.inner, name)
