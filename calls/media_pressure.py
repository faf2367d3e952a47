"""Backpressure from the media processes to the dispatcher: no new call while live calls' audio runs late.

Each media process watches its own event loop (``voice.loadwatch``) while it carries calls. When the loop's
lateness (p95 over the last 3 s) passes ``MEDIA_LAG_LIMIT_MS``, the process says so in the cache for the
next ``BUSY_TTL_S`` seconds, once a second while it lasts; ``call_place`` holds new calls (``at_cap``) while
any process says so. The calls already live keep their audio on time, and the campaign goes on as fast as
the machine allows: this follows what the machines carry now (a slower one, a busy neighbour, a burst of
calls starting together), where ``MEDIA_STREAMS_PER_PROCESS`` is a figure measured once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import weakref
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache

from config.voice import for_loop
from voice.loadwatch import LoopLagProbe

log = logging.getLogger(__name__)

BUSY_KEY = "calls:media-busy"
BUSY_TTL_S = 3


def lag_limit_ms() -> float:
    """The event-loop lateness past which a media process takes no new call (0: never)."""
    return float(settings.TELEPHONY.get("MEDIA_LAG_LIMIT_MS") or 0)


class MediaPressure:
    """One event loop's probe of its lateness, which runs while the loop carries calls (``watch``)."""

    def __init__(self, *, limit_ms: float, probe: LoopLagProbe | None = None) -> None:
        self.limit_ms = limit_ms
        self.probe = probe or LoopLagProbe()
        self.carrying: Callable[[], int] = lambda: 0  # the loop's live calls, counted where they are held
        self.busy = False
        self.reports = 0  # busy reports written: about the seconds this process held new calls
        self.worst_ms = 0.0  # the worst lateness it reported while busy
        self.process = f"{socket.gethostname()}:{os.getpid()}"
        self._task: asyncio.Task | None = None

    def watch(self, carrying: Callable[[], int]) -> None:
        """A call started on this loop; ``carrying`` counts the loop's calls (the probe stops at none)."""
        self.carrying = carrying
        if self.limit_ms > 0 and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(
                self.probe.run(running=lambda: self.carrying() > 0, on_report=self._report), name="media-pressure")

    async def _report(self, lag_ms: float) -> None:
        busy = lag_ms > self.limit_ms
        streams = self.carrying()
        if busy != self.busy:
            log.warning("media process %s: event loop %.0f ms late (p95) with %s calls; %s", self.process, lag_ms,
                        streams, "holding new calls" if busy else "taking new calls again")
            self.busy = busy
        if not busy:
            return
        try:
            await cache.aset(BUSY_KEY, {"process": self.process, "lag_ms": round(lag_ms, 1), "streams": streams},
                             timeout=BUSY_TTL_S)
            self.reports += 1
            self.worst_ms = max(self.worst_ms, lag_ms)
        except Exception as exc:  # the cache is away: the calls' audio goes on, only the signal is lost
            log.warning("media process %s: could not report being busy: %s", self.process, exc)


_pressure: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, MediaPressure] = weakref.WeakKeyDictionary()


def media_pressure() -> MediaPressure:
    """The running event loop's pressure watch (one per media process in production)."""
    return for_loop(_pressure, lambda: MediaPressure(limit_ms=lag_limit_ms()))


def started_pressure() -> MediaPressure | None:
    """The running event loop's pressure watch if a call has made one (None off a loop, or before any call)."""
    try:
        return _pressure.get(asyncio.get_running_loop())
    except RuntimeError:
        return None


def media_busy() -> dict | None:
    """What a media process whose audio runs late said in the last few seconds (process, lag, calls); None when
    none did, or the cache cannot tell (new calls are not held for want of the signal)."""
    try:
        return cache.get(BUSY_KEY)
    except Exception as exc:
        log.warning("could not read the media processes' pressure: %s", exc)
        return None
