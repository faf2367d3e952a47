"""Single-flight sentences: conversations that say the same sentence at the same moment share one synthesis.

A campaign that starts a hundred calls at once greets a hundred people with the same phrase. Without this,
each call asked the audio cache, missed (nothing was cached yet), asked the TTS vendor and encoded the audio
for the wire: a hundred vendor requests (a vendor's concurrency limit is a handful) and a hundred resamplings
on the media process's event loop, all while the calls' inbound audio waited. A ``SentenceFlight`` is one
sentence being turned into wire frames: the first conversation that needs it starts it, later ones follow it
from its first frame while it runs, and all of them get the same frames at the same time.

Flights are keyed by the sentence's audio-cache key and the wire format (rate, encoding, resampling), so a
frame is only shared between conversations that would have produced the very same bytes. They are scoped to
an audio cache (``shared_flights``): the cache's keys already say which audio a sentence is. A flight runs in
a task of its own, so a follower interrupted by the caller (barge-in) does not stop it for the others; once
every follower has left an unfinished flight, it is cancelled (nobody would hear it).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import Any


class FlightAbandoned(Exception):
    """The flight was cancelled (every follower left) before it finished."""


class SentenceFlight:
    """One sentence's frames as they are produced, for every conversation following it."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.frames: list[Any] = []
        self.cached: bool | None = None  # None until the audio cache has answered: then whether it had the audio
        self.error: BaseException | None = None
        self.done = False
        self.first_frame_at: float | None = None
        self.followers = 0
        self.task: asyncio.Task | None = None
        self._clock = clock
        self._waiters: list[asyncio.Future] = []

    # --- the producer (the flight's own task) ---

    def answer_cache(self, cached: bool) -> None:
        self.cached = cached
        self._wake()

    def add(self, frames: list[Any]) -> None:
        if not frames:
            return
        if self.first_frame_at is None:
            self.first_frame_at = self._clock()
        self.frames.extend(frames)
        self._wake()

    def finish(self, error: BaseException | None = None) -> None:
        if self.done:
            return
        self.done, self.error = True, error
        if self.cached is None:
            self.cached = False
        self._wake()

    # --- followers ---

    async def cache_answered(self) -> bool:
        """Whether the audio came from the cache (waits until the cache has answered or the flight ended)."""
        while self.cached is None and not self.done:
            await self._changed()
        return bool(self.cached)

    async def follow(self) -> AsyncIterator[list[Any]]:
        """Every frame from the first, in batches as they come; raises the flight's error at its end."""
        index = 0
        while True:
            if index < len(self.frames):
                batch = self.frames[index:]
                index += len(batch)
                yield batch
            elif self.done:
                if self.error is not None:
                    raise self.error
                return
            else:
                await self._changed()

    def _changed(self) -> Awaitable[None]:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        return waiter

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


Produce = Callable[[SentenceFlight], Awaitable[None]]


class SentenceFlights:
    """The flights running now, by key; ``follow`` joins one or starts it."""

    def __init__(self) -> None:
        self._live: dict[Hashable, SentenceFlight] = {}
        self.started = 0
        self.joined = 0

    def __len__(self) -> int:
        return len(self._live)

    async def follow(self, key: Hashable, produce: Produce, *, clock: Callable[[], float]
                     ) -> AsyncIterator[tuple[SentenceFlight, list[Any]]]:
        """Join the flight for ``key`` (``produce`` starts it when none runs); yields ``(flight, frames)``.

        The first yield carries no frames: the caller can read ``flight`` (e.g. ``cache_answered``) before the
        audio arrives.
        """
        flight = self._live.get(key)
        if flight is None or flight.done:
            flight = self._live[key] = SentenceFlight(clock)
            flight.task = asyncio.get_running_loop().create_task(self._run(key, flight, produce),
                                                                 name="voice-sentence-flight")
            self.started += 1
        else:
            self.joined += 1
        flight.followers += 1
        try:
            yield flight, []
            async for frames in flight.follow():
                yield flight, frames
        finally:
            flight.followers -= 1
            if flight.followers == 0 and not flight.done and flight.task is not None:
                if self._live.get(key) is flight:
                    del self._live[key]  # a conversation that needs it now starts afresh
                flight.task.cancel()

    async def _run(self, key: Hashable, flight: SentenceFlight, produce: Produce) -> None:
        try:
            await produce(flight)
        except asyncio.CancelledError:
            flight.finish(FlightAbandoned())
            raise
        except Exception as exc:
            flight.finish(exc)
        else:
            flight.finish()
        finally:
            if self._live.get(key) is flight:
                del self._live[key]


_SHARED: weakref.WeakKeyDictionary[Any, SentenceFlights] = weakref.WeakKeyDictionary()


def shared_flights(cache: Any) -> SentenceFlights:
    """The flights of every conversation using ``cache`` (one audio cache per event loop in the server)."""
    flights = _SHARED.get(cache)
    if flights is None:
        flights = _SHARED[cache] = SentenceFlights()
    return flights
