"""``Batcher``: work that many tasks of one event loop ask for at about the same moment, done together.

Live calls and practice sessions arrive in bursts (a campaign's calls are answered together), and each asks
for the same kind of small work: a database read or write, an audio cache read. Done one by one, the per-call
overhead of each round trip (a thread hop, a query's compilation, a Redis command's encoding and parsing)
costs more than the work, on the event loop that carries every call's audio.

A ``Batcher`` keeps one ``work(items) -> results`` in flight. What is added meanwhile goes with the next one.
With ``linger_s`` the first item waits that long for others (for work nobody waits on live); without it a lone
item goes at once. Each ``add`` returns its own item's result, or raises its own error: a batch that fails is
done again one item at a time, so one bad item never costs the others (unless ``split_on_failure`` is off, for
work that fails for all its items alike, such as a read from a server that is away).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

MAX_BATCH = 500


class Batcher:
    def __init__(self, work: Callable[[list[Any]], Awaitable[list[Any] | None]], *, linger_s: float = 0.0,
                 name: str = "batch", max_batch: int = MAX_BATCH, split_on_failure: bool = True) -> None:
        self.work = work
        self.split_on_failure = split_on_failure
        self.linger_s = linger_s
        self.name = name
        self.max_batch = max_batch
        self._waiting: list[tuple[Any, asyncio.Future]] = []
        self._task: asyncio.Task | None = None
        self.rounds = 0  # times ``work`` ran (a figure for tests and benchmarks)

    async def add(self, item: Any) -> Any:
        """Do ``item`` with the others waiting now; returns its result (its own error is raised here).

        A caller that gives up (a timeout, a cancellation) leaves the work to go on for the others.
        """
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((item, done))
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._drain())
        return await asyncio.shield(done)

    async def _drain(self) -> None:
        if self.linger_s:
            await asyncio.sleep(self.linger_s)
        while self._waiting:
            batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
            try:
                results = await self._do([item for item, _ in batch])
            except Exception as exc:
                if len(batch) == 1 or not self.split_on_failure:
                    for _, done in batch:
                        _settle(done, error=exc)
                    continue
                log.warning("%s: %s items failed together: done one by one", self.name, len(batch), exc_info=True)
                for item, done in batch:
                    try:
                        (result,) = await self._do([item])
                    except Exception as exc:
                        _settle(done, error=exc)
                    else:
                        _settle(done, result)
            else:
                for (_, done), result in zip(batch, results, strict=True):
                    _settle(done, result)

    async def _do(self, items: list[Any]) -> list[Any]:
        self.rounds += 1
        results = await self.work(items)
        return [None] * len(items) if results is None else list(results)


def _settle(done: asyncio.Future, result: Any = None, *, error: BaseException | None = None) -> None:
    if done.done():
        return
    if error is not None:
        done.set_exception(error)
        done.exception()  # its caller may have left: no "never retrieved" warning (an awaiting caller still gets it)
    else:
        done.set_result(result)
