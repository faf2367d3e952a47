"""The database work of a media process's live calls, done together: turns, answered calls, call contexts.

A media process carries a hundred calls on one event loop, and Django runs all of their database work on one
thread. Each hop to that thread costs its set-up and clean-up, and a query's compilation, often more than the
write itself, all of it holding the interpreter while the event loop carries the calls' audio. And calls come
in bursts: a campaign's calls are answered together, so their contexts are read and their ``answered`` written
together, and their turns (the greetings) end together.

A ``DbBatcher`` (a ``voice.batching.Batcher`` on the database thread) keeps one hop in flight per event loop.
What waits meanwhile goes with the next hop, as one call of its many-at-once service:

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
import weakref
from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async

from calls import services
from config.voice import for_loop
from voice.batching import Batcher

TURN_LINGER_S = 0.2  # how long the first waiting turn holds the hop for others (nobody waits on a turn's write live)
ANSWERED_LINGER_S = 0.1  # the same for ``answered``: the calls of a campaign that pick up about now come along


class DbBatcher(Batcher):
    """Items done by ``work(items) -> results`` (one result per item, in order) on the database thread, together."""

    def __init__(self, work: Callable[[list[Any]], list[Any] | None], *, linger_s: float = 0.0, name: str = "") -> None:
        super().__init__(database_sync_to_async(work), linger_s=linger_s,
                         name=name or getattr(work, "__name__", "batch"))

    @property
    def hops(self) -> int:
        """Database hops made (a figure for tests and benchmarks)."""
        return self.rounds


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
