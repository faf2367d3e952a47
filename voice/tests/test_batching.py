"""``voice.batching.Batcher``: one round of work in flight; what is asked for meanwhile goes with the next round,
each caller gets its own result or its own error, and a caller that gives up never stops the others' work."""

from __future__ import annotations

import asyncio

import pytest

from voice.batching import Batcher


class _Work:
    """Doubles numbers; a negative one is refused. Holds each round open until ``release`` (none held by default)."""

    def __init__(self, *, hold: bool = False) -> None:
        self.rounds: list[list[int]] = []
        self.release = asyncio.Event()
        if not hold:
            self.release.set()

    async def __call__(self, items: list[int]) -> list[int]:
        self.rounds.append(list(items))
        await self.release.wait()
        if any(i < 0 for i in items):
            raise ValueError(f"negative in {items}")
        return [2 * i for i in items]


async def _under_way(work: _Work) -> None:
    for _ in range(100):  # a few steps of the loop: no clock involved
        if work.rounds:
            return
        await asyncio.sleep(0)
    raise AssertionError("the round never started")


async def test_what_is_asked_for_while_a_round_is_in_flight_goes_together_in_the_next():
    work = _Work(hold=True)
    batcher = Batcher(work)
    first = asyncio.ensure_future(batcher.add(1))
    await _under_way(work)  # the first round, held
    later = [asyncio.ensure_future(batcher.add(i)) for i in (2, 3, 4)]
    await asyncio.sleep(0)
    assert work.rounds == [[1]]  # a lone item goes at once
    work.release.set()
    assert await first == 2
    assert await asyncio.gather(*later) == [4, 6, 8]
    assert work.rounds == [[1], [2, 3, 4]] and batcher.rounds == 2


async def test_a_bad_item_fails_alone_and_its_batch_is_done_one_by_one():
    work = _Work()
    batcher = Batcher(work)
    results = await asyncio.gather(batcher.add(1), batcher.add(-1), batcher.add(3), return_exceptions=True)
    assert results[0] == 2 and results[2] == 6
    assert isinstance(results[1], ValueError)
    assert work.rounds == [[1, -1, 3], [1], [-1], [3]]


async def test_work_that_fails_for_all_alike_is_not_retried_one_by_one():
    work = _Work()
    batcher = Batcher(work, split_on_failure=False)
    results = await asyncio.gather(batcher.add(1), batcher.add(-1), return_exceptions=True)
    assert all(isinstance(r, ValueError) for r in results)
    assert work.rounds == [[1, -1]]


async def test_a_caller_that_gives_up_leaves_the_work_going_for_the_others():
    work = _Work(hold=True)
    batcher = Batcher(work)
    impatient = asyncio.ensure_future(batcher.add(5))
    patient = asyncio.ensure_future(batcher.add(6))
    await _under_way(work)
    impatient.cancel()
    work.release.set()
    assert await patient == 12
    with pytest.raises(asyncio.CancelledError):
        await impatient
    assert work.rounds == [[5, 6]]  # the round it was in was not cut short


async def test_a_lingering_batcher_waits_for_others_before_its_first_round():
    work = _Work()
    batcher = Batcher(work, linger_s=0.05)
    first = asyncio.ensure_future(batcher.add(1))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(batcher.add(2))  # after the first was taken, before its round
    assert (await first, await second) == (2, 4)
    assert work.rounds == [[1, 2]]


async def test_a_batch_is_never_larger_than_its_bound():
    work = _Work()
    batcher = Batcher(work, max_batch=2)
    assert await asyncio.gather(*(batcher.add(i) for i in range(5))) == [0, 2, 4, 6, 8]
    assert work.rounds == [[0, 1], [2, 3], [4]]
