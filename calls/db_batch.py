"""The database work of a media process's live calls, done together: turns, answered calls, call contexts.

A media process carries a hundred calls on one event loop, and Django runs all of their database work on one
thread. Each hop to that thread costs its set-up and clean-up, and a query's compilation, often more than the
write itself, all of it holding the interpreter while the event loop carries the calls' audio. And calls come
in bursts: a campaign's calls are answered together, so their contexts are read and their ``answered`` written
together, and their turns (the greetings) end together.

A ``DbBatcher`` keeps one hop in flight per event loop. What waits meanwhile goes with the next hop, as one call
of its many-at-once service:

- ``turn_batcher``: each call's lines (``calls.services.call_turns_add``). The first turn that waits holds the hop
  for ``TURN_LINGER_S``: nobody waits on a stored line live (the sink stores in the background).
- ``answered_batcher``: the ``answered`` move (``calls.services.calls_progress``); nothing waits on it live
  either (a call's turns and its end wait for it), so it lingers too.
- ``context_batcher``: what a media socket needs before its first word (``calls.services.call_media_contexts``).
  The call waits on it, so it never lingers: a lone call goes at once, and only the calls that arrive while a
  read is in flight share the next one.

Each ``add`` returns its own item's result once it is stored or read, or raises its own error: a batch that fails
is done again one item at a time, so one bad item never costs another call its transcript or its start.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async

from calls import services
from config.voice import for_loop

log = logging.getLogger(__name__)

MAX_BATCH = 500
TURN_LINGER_S = 0.2  # how long the first waiting turn holds the hop for others (nobody waits on a turn's write live)
ANSWERED_LINGER_S = 0.1  # the same for ``answered``: the calls of a campaign that pick up about now come along


class DbBatcher:
    """Items done by ``work(items) -> results`` (one result per item, in order) on the database thread, together."""

    def __init__(self, work: Callable[[list[Any]], list[Any] | None], *, linger_s: float = 0.0, name: str = "") -> None:
        self.work = work
        self.linger_s = linger_s
        self.name = name or getattr(work, "__name__", "batch")
        self._waiting: list[tuple[Any, asyncio.Future]] = []
        self._task: asyncio.Task | None = None
        self.hops = 0  # database hops made (a figure for tests and benchmarks)

    async def add(self, item: Any) -> Any:
        """Do ``item`` with the others waiting now; returns its result (its own error is raised here)."""
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((item, done))
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._drain())
        return await asyncio.shield(done)  # a caller that gives up leaves the work to go on for the others

    async def _drain(self) -> None:
        if self.linger_s:
            await asyncio.sleep(self.linger_s)  # the items of the other calls that come about now come along
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            try:
                results = await self._do([item for item, _ in batch])
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch[0][1], error=exc)
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
        self.hops += 1
        results = await database_sync_to_async(self.work)(items)
        return [None] * len(items) if results is None else list(results)


def _settle(done: asyncio.Future, result: Any = None, *, error: BaseException | None = None) -> None:
    if done.done():
        return
    if error is not None:
        done.set_exception(error)
        done.exception()  # its caller may have left: no "never retrieved" warning (an awaiting caller still gets it)
    else:
        done.set_result(result)


def _turns(turns: list[dict[str, Any]]) -> None:
    services.call_turns_add(turns=turns)


def _answered(call_ids: list[int]) -> None:
    services.calls_progress(call_ids=call_ids, event="answered")


def _contexts(call_ids: list[int]) -> list[services.CallMediaContext | None]:
    return services.call_media_contexts(call_ids=call_ids)


_turn_batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, DbBatcher] = weakref.WeakKeyDictionary()
_answered_batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, DbBatcher] = weakref.WeakKeyDictionary()
_context_batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, DbBatcher] = weakref.WeakKeyDictionary()


def turn_batcher() -> DbBatcher:
    """The running event loop's batcher of turns (``add`` a ``call_turns_add`` turn dict; one per media process)."""
    return for_loop(_turn_batchers, lambda: DbBatcher(_turns, linger_s=TURN_LINGER_S, name="turns"))


def answered_batcher() -> DbBatcher:
    """The running event loop's batcher of ``answered`` reports (``add`` a call id)."""
    return for_loop(_answered_batchers, lambda: DbBatcher(_answered, linger_s=ANSWERED_LINGER_S, name="answered"))


def context_batcher() -> DbBatcher:
    """The running event loop's batcher of media contexts (``add`` a call id; returns its context or None)."""
    return for_loop(_context_batchers, lambda: DbBatcher(_contexts, name="media contexts"))
