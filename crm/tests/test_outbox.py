"""The outbox: written with the state change, delivered after the commit, retried with back-off, final
failures visible with their reason, "deliver again" in the admin, and a CRM outage never loses the lead."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from calls.models import Call, CallOutcome, Turn
from calls.services import call_after_work, call_transition
from crm.models import Lead, OutboxMessage, Task
from crm.outbox import _claim, backoff_s, outbox_deliver, outbox_drain_now, outbox_due, outbox_enqueue

pytestmark = pytest.mark.django_db
S = Call.Status

TURNS = [
    ("bot", "Здравствуйте! Меня зовут Мария, компания «ТРАНСТИРЕКС», мы возим грузы из Китая в Россию. "
            "Удобно минутку поговорить?"),
    ("user", "Да, слушаю. Возим мебель из Фошаня, два контейнера в месяц."),
    ("bot", "Отлично! Подскажите, на какую почту отправить расчёт, и как к вам обращаться?"),
    ("user", "Пишите на почту olga@mebel-opt.ru, меня зовут Ольга."),
    ("bot", "Спасибо, Ольга! Расчёт пришлём сегодня."),
    ("user", "Перезвоните завтра в 10, обсудим детали."),
    ("bot", "Хорошо, перезвоню завтра в 10. Всего доброго!"),
]


def _answered(campaign, contact, turns=TURNS) -> Call:
    call = Call.objects.create(campaign=campaign, contact=contact)
    for status in (S.DIALING, S.RINGING, S.IN_PROGRESS):
        call_transition(call_id=call.pk, to=status)
    for i, (speaker, text) in enumerate(turns):
        Turn.objects.create(call=call, index=i, speaker=speaker, text=text)
    call_transition(call_id=call.pk, to=S.ENDED, outcome=CallOutcome.COMPLETED)
    return call


def _later(hours: float):
    return time_machine.travel(timezone.now() + timedelta(hours=hours), tick=True)


@time_machine.travel(datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("UTC")), tick=True)
def test_a_bitrix24_outage_never_loses_the_lead_and_the_outbox_delivers_it_later(
    bitrix_settings, portal, make_campaign, make_contact
):
    portal.portal.capacity = 0  # every request: 503 QUERY_LIMIT_EXCEEDED
    call = _answered(make_campaign(), make_contact())
    assert call_after_work(call_id=call.pk) == S.DONE
    lead = Lead.objects.get(call=call)
    crm_row = OutboxMessage.objects.get(kind=OutboxMessage.Kind.CRM_LEAD)
    assert crm_row.lead == lead and crm_row.status == OutboxMessage.Status.PENDING and crm_row.attempts == 0
    assert outbox_deliver(message_id=crm_row.pk).status == "retry"
    crm_row.refresh_from_db()
    assert crm_row.status == OutboxMessage.Status.PENDING and crm_row.attempts == 1
    assert "QUERY_LIMIT_EXCEEDED" in crm_row.last_error and crm_row.next_attempt_at > timezone.now()
    assert outbox_deliver(message_id=crm_row.pk).status == "skipped"  # not due yet

    portal.portal.capacity = 50  # the portal lets us in again
    with _later(1):
        outbox_drain_now()
    crm_row.refresh_from_db()
    lead.refresh_from_db()
    assert crm_row.status == OutboxMessage.Status.DELIVERED and crm_row.attempts == 2
    assert lead.external_id == crm_row.result["external_id"]
    state = portal.portal.state()
    assert state["leads"] == 1 and state["duplicates"] == 0 and state["comments"] == 1
    item = portal.portal.items[1][int(lead.external_id)]
    assert item["originId"] == f"lead:{lead.pk}" and item["fm"][0]["value"] == lead.phone
    # the callee asked for «завтра в 10»: a task with a due time here and there
    task = Task.objects.get(call=call)
    assert task.due_at is not None and state["tasks"] == 1
    assert datetime.fromisoformat(portal.portal.tasks[0]["deadline"]) == task.due_at
    assert task.due_at.astimezone(ZoneInfo(call.contact.timezone)).hour == 10


def test_a_refusal_is_final_visible_with_its_reason_and_a_manager_delivers_it_again(
    bitrix_settings, portal, make_campaign, make_contact, client, manager
):
    bitrix_settings.CRM = {**bitrix_settings.CRM, "BITRIX24_WEBHOOK_URL": portal.url + "/rest/1/wrong/"}
    call = _answered(make_campaign(), make_contact())
    assert call_after_work(call_id=call.pk) == S.DONE
    outbox_drain_now()
    row = OutboxMessage.objects.get(kind=OutboxMessage.Kind.CRM_LEAD)
    assert row.status == OutboxMessage.Status.FAILED and row.attempts == 1
    assert "INVALID_CREDENTIALS" in row.final_reason
    assert Lead.objects.filter(call=call).exists()

    client.force_login(manager)
    page = client.get("/admin/crm/outboxmessage/?status__exact=failed")
    assert page.status_code == 200 and row.key.encode() in page.content
    bitrix_settings.CRM = {**bitrix_settings.CRM, "BITRIX24_WEBHOOK_URL": portal.webhook_url}  # fixed
    page = client.post("/admin/crm/outboxmessage/", {"action": "deliver_again", "_selected_action": [row.pk]},
                       follow=True)
    assert page.status_code == 200
    row.refresh_from_db()
    assert row.status == OutboxMessage.Status.PENDING and row.attempts == 0 and not row.final_reason
    outbox_drain_now()
    row.refresh_from_db()
    assert row.status == OutboxMessage.Status.DELIVERED and portal.portal.state()["leads"] == 1


def test_retryable_failures_give_up_after_the_last_attempt_with_the_reason(
    bitrix_settings, portal, make_campaign, make_contact
):
    bitrix_settings.OUTBOX = {**bitrix_settings.OUTBOX, "MAX_ATTEMPTS": 3}
    portal.portal.fail_rate = 1.0
    call = _answered(make_campaign(), make_contact())
    call_after_work(call_id=call.pk)
    for hours in (0, 1, 2, 3):
        with _later(hours):
            outbox_drain_now()
    row = OutboxMessage.objects.get(kind=OutboxMessage.Kind.CRM_LEAD)
    assert row.status == OutboxMessage.Status.FAILED and row.attempts == 3
    assert row.final_reason.startswith("gave up after 3 attempts") and "INTERNAL_SERVER_ERROR" in row.final_reason


def test_the_row_commits_with_the_state_change_and_delivery_starts_only_after_the_commit(
    django_capture_on_commit_callbacks, make_campaign, make_contact
):
    call = _answered(make_campaign(), make_contact())
    with pytest.raises(RuntimeError), transaction.atomic():
        outbox_enqueue(kind="webhook", key="k-rolled-back", target="1", payload={}, call_id=call.pk)
        raise RuntimeError("the state change failed")
    assert not OutboxMessage.objects.filter(key="k-rolled-back").exists()

    with django_capture_on_commit_callbacks() as callbacks:
        outbox_enqueue(kind="webhook", key="k-kept", target="1", payload={}, call_id=call.pk)
        outbox_enqueue(kind="webhook", key="k-kept", target="1", payload={}, call_id=call.pk)  # once per key
    assert OutboxMessage.objects.filter(key="k-kept").count() == 1
    assert len(callbacks) == 1  # one delivery task, sent on commit


def test_a_message_held_by_a_worker_that_died_is_taken_again_after_its_lease(
    bitrix_settings, portal, make_campaign, make_contact
):
    call = _answered(make_campaign(), make_contact())
    call_after_work(call_id=call.pk)
    row = OutboxMessage.objects.get(kind=OutboxMessage.Kind.CRM_LEAD)
    assert _claim(row.pk) is not None  # a worker took it ... and was killed before it answered
    assert outbox_deliver(message_id=row.pk).status == "skipped"  # held: nobody else sends it meanwhile
    assert row.pk not in outbox_due()
    with time_machine.travel(timezone.now() + timedelta(seconds=61), tick=True):
        assert row.pk in outbox_due()
        assert outbox_deliver(message_id=row.pk).status == "delivered"
    row.refresh_from_db()
    assert row.attempts == 2 and portal.portal.state()["leads"] == 1


def test_back_off_grows_exponentially_with_jitter_and_a_cap(settings):
    settings.OUTBOX = {**settings.OUTBOX, "BACKOFF_BASE_S": 2.0, "BACKOFF_MAX_S": 300.0}
    for attempt, step in ((1, 2.0), (2, 4.0), (5, 32.0), (20, 300.0)):
        waits = {backoff_s(attempt) for _ in range(50)}
        assert all(step / 2 <= w <= step for w in waits) and len(waits) > 1


def test_the_builtin_crm_needs_no_outbox_row(make_campaign, make_contact):
    call = _answered(make_campaign(), make_contact())
    call_after_work(call_id=call.pk)
    assert Lead.objects.filter(call=call).exists()
    assert not OutboxMessage.objects.filter(kind=OutboxMessage.Kind.CRM_LEAD).exists()
