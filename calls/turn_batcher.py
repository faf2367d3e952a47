"""``TurnBatcher``: the turns of every live call of a media process, written together.

Each call's event sink stores a line once its turn is answered (``calls.consumers.CallEventSink``). One database
hop per line was one trip through Django's single database thread per line of every call: the thread's set-up
and clean-up around a write cost more than the write, all of it holding the interpreter while the event loop
carried the calls' audio. Calls that start together also end their turns together (a campaign's greetings), so
those writes came in bursts of a hundred.

The batcher keeps one hop in flight per event loop. The first turn that waits holds it for ``LINGER_S`` (nobody
waits on a stored line live: the sink stores in the background), and the turns that arrive meanwhile go with it
in one transaction (``calls.services.call_turns_add``). Each ``add`` returns once its own turn is stored (the
call's sink waits for all of them before the call's end is stored), or raises that turn's own error: a batch that
fails is written again one turn at a time, so one bad line never costs another call its transcript.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from channels.db import database_sync_to_async

from calls import services
from config.voice import for_loop

log = logging.getLogger(__name__)

MAX_BATCH = 500
LINGER_S = 0.2  # how long the first waiting turn holds the hop for others (nobody waits on a turn's write live)


class TurnBatcher:
    def __init__(self, *, linger_s: float | None = None) -> None:
        self.linger_s = LINGER_S if linger_s is None else linger_s
        self._waiting: list[tuple[dict[str, Any], asyncio.Future]] = []
        self._task: asyncio.Task | None = None
        self.hops = 0  # database hops made (a figure for tests and benchmarks)

    async def add(self, **turn: Any) -> None:
        """Store one turn (``call_id``, ``index``, ``speaker``, ``text`` and its figures); returns once it is stored."""
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((turn, done))
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._drain())
        await done  # a caller that gives up leaves the write to go on for the others

    async def _drain(self) -> None:
        if self.linger_s:
            await asyncio.sleep(self.linger_s)  # the turns of the other calls that end about now come along
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            try:
                await self._write([turn for turn, _ in batch])
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch[0][1], error=exc)
                    continue
                log.warning("%s turns failed together: written one by one", len(batch), exc_info=True)
                for turn, done in batch:
                    try:
                        await self._write([turn])
                    except Exception as exc:
                        _settle(done, error=exc)
                    else:
                        _settle(done)
            else:
                for _, done in batch:
                    _settle(done)

    async def _write(self, turns: list[dict[str, Any]]) -> None:
        self.hops += 1
        await database_sync_to_async(services.call_turns_add)(turns=turns)


def _settle(done: asyncio.Future, *, error: BaseException | None = None) -> None:
    if done.done():
        return
    if error is not None:
        done.set_exception(error)
        done.exception()  # its caller may have left: no "never retrieved" warning (an awaiting caller still gets it)
    else:
        done.set_result(None)


_batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, TurnBatcher] = weakref.WeakKeyDictionary()


def turn_batcher() -> TurnBatcher:
    """The running event loop's batcher (one per media process in production)."""
    return for_loop(_batchers, TurnBatcher)
