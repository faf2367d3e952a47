"""The turns of a process's live calls are written together (``calls.turn_batcher``), each caller still waiting for
its own turn, and one bad line never costs another call its transcript."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async

from calls import services
from calls.models import Call, Turn
from calls.turn_batcher import TurnBatcher, turn_batcher


@pytest.fixture
def calls(make_campaign, make_contact):
    campaign = make_campaign()
    return [Call.objects.create(campaign=campaign, contact=make_contact()) for _ in range(3)]


@pytest.mark.django_db
def test_a_batch_of_turns_with_different_figures_is_stored_and_a_rewrite_keeps_what_it_does_not_give(calls):
    a, b, _ = calls
    services.call_turns_add(turns=[
        {"call_id": a.pk, "index": 0, "speaker": "bot", "text": "Здравствуйте", "stage": "greeting",
         "voice_to_voice_ms": 850.0},
        {"call_id": a.pk, "index": 1, "speaker": "user", "text": "Да", "intent": "yes"},
        {"call_id": b.pk, "index": 0, "speaker": "bot", "text": "Добрый день", "eou_ms": None},
        {"call_id": b.pk, "index": 0, "speaker": "bot", "text": "Добрый день!"},  # written twice: the later wins
    ])
    services.call_turns_add(turns=[{"call_id": a.pk, "index": 0, "speaker": "bot", "text": "Здравствуйте!",
                                    "interrupted": True}])
    rows = {(t.call_id, t.index): t for t in Turn.objects.all()}
    assert len(rows) == 3
    greeting = rows[(a.pk, 0)]
    assert (greeting.text, greeting.stage, greeting.voice_to_voice_ms, greeting.interrupted) == (
        "Здравствуйте!", "greeting", 850.0, True)
    assert rows[(a.pk, 1)].intent == "yes"
    assert rows[(b.pk, 0)].text == "Добрый день!"


@database_sync_to_async
def _stored() -> dict[tuple[int, int], str]:
    return {(t.call_id, t.index): t.text for t in Turn.objects.all()}


@pytest.mark.django_db(transaction=True)
async def test_turns_that_wait_together_go_in_one_hop_and_each_caller_waits_for_its_own(calls):
    batcher = TurnBatcher()
    seen: dict[tuple[int, int], bool] = {}

    async def say(call: Call, index: int) -> None:
        await batcher.add(call_id=call.pk, index=index, speaker="user", text=f"фраза {index}")
        seen[(call.pk, index)] = (call.pk, index) in await _stored()  # stored by the time add returns

    await asyncio.gather(*(say(call, index) for call in calls for index in range(10)))
    assert len(await _stored()) == 30
    assert all(seen.values()) and len(seen) == 30
    assert batcher.hops <= 3  # the first turn alone, then the ones that waited meanwhile (30 hops one by one)


@pytest.mark.django_db(transaction=True)
async def test_a_bad_turn_fails_alone_and_the_others_of_its_batch_are_stored(calls):
    batcher = TurnBatcher()
    a, b, c = calls
    results = await asyncio.gather(
        batcher.add(call_id=a.pk, index=0, speaker="bot", text="Здравствуйте"),
        batcher.add(call_id=b.pk, index=0, speaker="bot", text=None),  # NOT NULL: the database refuses it
        batcher.add(call_id=c.pk, index=0, speaker="bot", text="Добрый день"),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], Exception)
    assert await _stored() == {(a.pk, 0): "Здравствуйте", (c.pk, 0): "Добрый день"}


async def test_each_event_loop_has_its_own_batcher():
    here = turn_batcher()
    assert turn_batcher() is here
    other = await asyncio.to_thread(lambda: asyncio.run(_batcher_of_a_new_loop()))
    assert other is not here


async def _batcher_of_a_new_loop() -> TurnBatcher:
    return turn_batcher()
