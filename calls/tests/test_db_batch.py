"""A media process's database work is done together (``calls.db_batch``): each caller still waits for its own
item and gets its own result, and one bad item never costs another call its transcript or its start.

The many-at-once services behind it store and read exactly what their one-call twins do."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async

from calls import services
from calls.db_batch import DbBatcher, answered_batcher, context_batcher, turn_batcher
from calls.models import Call, CallEvent, Turn
from dialogs.models import Script
from dialogs.scriptmap import demo_map
from dialogs.services import script_save


@pytest.fixture
def calls(make_campaign, make_contact):
    campaign = make_campaign()
    return [Call.objects.create(campaign=campaign, contact=make_contact()) for _ in range(3)]


def _turns_batcher(**kw) -> DbBatcher:
    return DbBatcher(lambda turns: services.call_turns_add(turns=turns), **kw)


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
    batcher = _turns_batcher()
    seen: dict[tuple[int, int], bool] = {}

    async def say(call: Call, index: int) -> None:
        await batcher.add({"call_id": call.pk, "index": index, "speaker": "user", "text": f"фраза {index}"})
        seen[(call.pk, index)] = (call.pk, index) in await _stored()  # stored by the time add returns

    await asyncio.gather(*(say(call, index) for call in calls for index in range(10)))
    assert len(await _stored()) == 30
    assert all(seen.values()) and len(seen) == 30
    assert batcher.hops <= 3  # the first turn alone, then the ones that waited meanwhile (30 hops one by one)


@pytest.mark.django_db(transaction=True)
async def test_a_bad_turn_fails_alone_and_the_others_of_its_batch_are_stored(calls):
    batcher = _turns_batcher()
    a, b, c = calls
    results = await asyncio.gather(
        batcher.add({"call_id": a.pk, "index": 0, "speaker": "bot", "text": "Здравствуйте"}),
        batcher.add({"call_id": b.pk, "index": 0, "speaker": "bot", "text": None}),  # NOT NULL: the database refuses
        batcher.add({"call_id": c.pk, "index": 0, "speaker": "bot", "text": "Добрый день"}),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], Exception)
    assert await _stored() == {(a.pk, 0): "Здравствуйте", (c.pk, 0): "Добрый день"}


async def test_each_event_loop_has_its_own_batchers():
    here = (turn_batcher(), answered_batcher(), context_batcher())
    assert (turn_batcher(), answered_batcher(), context_batcher()) == here
    assert len({id(b) for b in here}) == 3
    other = await asyncio.to_thread(lambda: asyncio.run(_batchers_of_a_new_loop()))
    assert all(o is not h for o, h in zip(other, here, strict=True))


async def _batchers_of_a_new_loop() -> tuple[DbBatcher, ...]:
    return turn_batcher(), answered_batcher(), context_batcher()


# --- contexts: read together, each as if read alone ---------------------------------------------------------


@pytest.fixture
def scripts(db):
    return {lang: script_save(script=Script(name=f"Freight {lang}", language=lang, dialogue_map=demo_map(lang)))
            for lang in ("ru", "uz", "tg")}


@pytest.mark.django_db
def test_contexts_read_together_equal_the_ones_read_alone_for_every_kind_of_campaign(
        scripts, make_campaign, make_contact):
    plain = make_campaign(script=scripts["uz"], language="uz")
    greeted = make_campaign(script=scripts["ru"], greeting="Здравствуйте, {{contact.first_name}}!")
    auto = make_campaign(script=scripts["ru"], language="auto")
    auto.language_scripts.set([scripts["uz"], scripts["tg"]])
    ids = [Call.objects.create(campaign=campaign, contact=make_contact(name=f"Иван {i}")).pk
           for i, campaign in enumerate([plain, greeted, auto, auto, greeted])]
    together = services.call_media_contexts(call_ids=[*ids, 999_999, ids[0]])
    assert together[:5] == [services.call_media_context(call_id=pk) for pk in ids]
    assert together[5] is None  # no such call
    assert together[6] == together[0]  # a call asked for twice gets its context twice
    assert together[1].script_map["stages"]["greeting"]["phrases"] == ["Здравствуйте, {{contact.first_name}}!"]
    assert together[1].variables["contact"]["first_name"] == "Иван"
    assert set(together[2].scripts) == {"ru", "uz", "tg"}
    # the calls of one campaign do not share what a call may change of its own
    assert together[2].scripts is not together[3].scripts
    assert together[2].scripts["uz"] is not together[3].scripts["uz"]


@pytest.mark.django_db
def test_a_context_read_together_takes_one_query_for_all_the_calls(calls, django_assert_max_num_queries):
    with django_assert_max_num_queries(1):
        contexts = services.call_media_contexts(call_ids=[c.pk for c in calls])
    assert [ctx.call_id for ctx in contexts] == [c.pk for c in calls]


@pytest.mark.django_db(transaction=True)
async def test_sockets_that_ask_for_contexts_at_once_share_a_read_and_a_lone_one_does_not_wait(calls):
    batcher = DbBatcher(lambda ids: services.call_media_contexts(call_ids=ids))
    contexts = await asyncio.gather(*(batcher.add(c.pk) for c in calls), batcher.add(123_456))
    assert [ctx.call_id for ctx in contexts[:3]] == [c.pk for c in calls]
    assert contexts[3] is None
    assert batcher.hops == 1  # the four that asked in the same moment: one read
    assert (await batcher.add(calls[0].pk)).call_id == calls[0].pk
    assert batcher.hops == 2
    # a call waits on its context before its first word: that batcher never holds a read back for others
    assert context_batcher().linger_s == 0


# --- answered: moved together, as one by one ---------------------------------------------------------------------


@pytest.mark.django_db
def test_calls_answered_together_are_moved_logged_and_stamped_as_one_by_one(
        make_campaign, make_contact, django_capture_on_commit_callbacks):
    campaign = make_campaign()

    def make(status: str) -> Call:
        return Call.objects.create(campaign=campaign, contact=make_contact(), status=status)

    together = [make("dialing"), make("ringing"), make("in_progress"), make("ended"), make("dialing")]
    alone = [make("dialing"), make("ringing"), make("in_progress"), make("ended"), make("dialing")]
    with django_capture_on_commit_callbacks() as published:
        services.calls_progress(call_ids=[c.pk for c in together] + [together[0].pk, 987_654], event="answered")
    for call in alone:
        services.call_progress(call_id=call.pk, event="answered")

    def shape(call: Call) -> tuple:
        call.refresh_from_db()
        events = [(e.kind, e.from_status, e.to_status, e.data.get("event")) for e in call.events.all()]
        return call.status, call.answered_at is not None, events

    assert [shape(c) for c in together] == [shape(c) for c in alone]
    assert [shape(c)[0] for c in together] == ["in_progress", "in_progress", "in_progress", "ended", "in_progress"]
    # the one that could not move (it had ended) is kept as a late report, as one by one
    assert CallEvent.objects.get(call=together[3], kind="late_report").data["event"] == "answered"
    # each moved call's live pages hear of it once, after the commit
    assert len(published) == 3


@pytest.mark.django_db
def test_ending_is_not_batched(calls):
    with pytest.raises(ValueError):
        services.calls_transition(call_ids=[calls[0].pk], to="ended")
    with pytest.raises(ValueError):
        services.calls_progress(call_ids=[calls[0].pk], event="completed")


@pytest.mark.django_db(transaction=True)
async def test_answered_reports_that_come_about_together_go_in_one_hop(make_campaign, make_contact):
    @database_sync_to_async
    def made() -> list[Call]:
        campaign = make_campaign()
        return [Call.objects.create(campaign=campaign, contact=make_contact(), status="dialing") for _ in range(5)]

    calls = await made()
    batcher = DbBatcher(lambda ids: services.calls_progress(call_ids=ids, event="answered"), linger_s=0.05)
    await asyncio.gather(*(batcher.add(c.pk) for c in calls))
    assert batcher.hops == 1
    statuses = await database_sync_to_async(lambda: set(Call.objects.values_list("status", flat=True)))()
    assert statuses == {"in_progress"}
