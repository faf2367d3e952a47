"""How late an event loop runs: a probe that sleeps a fixed interval and records how late it woke.

A media process carries every call's audio on one event loop. When the loop is late, every call's frames
are late with it (``media_load``'s ``server_inbound_lag``): the process carries more than its share of the
machine allows, whether from too many calls, a burst of calls starting, a slower machine or a busy
neighbour. The probe costs ten wake-ups a second; the lateness it reads is what a frame due at that moment
would have waited.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable


class LagWindow:
    """The lateness samples of the last ``window_s`` seconds."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._samples: collections.deque[tuple[float, float]] = collections.deque()

    def add(self, at: float, lag_ms: float) -> None:
        self._samples.append((at, lag_ms))
        self._drop_before(at - self.window_s)

    def _drop_before(self, at: float) -> None:
        while self._samples and self._samples[0][0] < at:
            self._samples.popleft()

    def p95(self, now: float) -> float | None:
        """The 95th percentile (nearest rank) of the samples in the window ending at ``now``; None when empty."""
        self._drop_before(now - self.window_s)
        if not self._samples:
            return None
        values = sorted(lag for _, lag in self._samples)
        return values[min(len(values) - 1, int(0.95 * len(values)))]

    def clear(self) -> None:
        self._samples.clear()


class LoopLagProbe:
    """Sleeps ``interval_s`` at a time while ``running()`` says so, adding each wake-up's lateness to ``window``
    and handing ``on_report`` the window's p95 every ``report_every_s``."""

    def __init__(self, *, interval_s: float = 0.1, window_s: float = 3.0, report_every_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self.report_every_s = report_every_s
        self.clock = clock
        self.window = LagWindow(window_s)

    async def run(self, *, running: Callable[[], bool], on_report: Callable[[float], Awaitable[None]]) -> None:
        next_report = self.clock() + self.report_every_s
        while running():
            slept_from = self.clock()
            await asyncio.sleep(self.interval_s)
            now = self.clock()
            self.window.add(now, max(0.0, (now - slept_from - self.interval_s) * 1000))
            if now >= next_report:
                next_report = now + self.report_every_s
                lag = self.window.p95(now)
                if lag is not None:
                    await on_report(lag)
        self.window.clear()
