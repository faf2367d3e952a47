"""«Перезвоните завтра в 10»: a due time in the contact's time zone, inside the calling window, a call then."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from calls.models import Call
from calls.services import call_after_work, calls_dispatch_due
from crm.callbacks import callback_due_at, parse_callback
from crm.models import Task
from crm.tests.test_outbox import _answered

UTC = ZoneInfo("UTC")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # Tuesday: 12:00 in Moscow, 14:00 in Yekaterinburg


@pytest.mark.parametrize(("said", "expected"), [
    ("завтра в 10", datetime(2026, 12, 2, 10, 0)),
    ("завтра в десять", datetime(2026, 12, 2, 10, 0)),
    ("завтра утром", datetime(2026, 12, 2, 10, 0)),
    ("в пятницу", datetime(2026, 12, 4, 10, 0)),
    ("в 3 часа", datetime(2026, 12, 1, 15, 0)),
    ("в 9", datetime(2026, 12, 2, 9, 0)),  # 9 o'clock has passed today: tomorrow
    ("через 2 часа", datetime(2026, 12, 1, 16, 0)),
    ("после обеда", datetime(2026, 12, 2, 14, 0)),
    ("на следующей неделе", datetime(2026, 12, 7, 10, 0)),
    ("tomorrow at 10", datetime(2026, 12, 2, 10, 0)),
])
def test_phrases_become_moments_in_the_contacts_time_zone(said, expected):
    tz = ZoneInfo("Asia/Yekaterinburg")
    assert parse_callback(text=said, tz_name="Asia/Yekaterinburg", now=NOW) == expected.replace(tzinfo=tz)


def test_nonsense_names_no_time():
    assert parse_callback(text="когда-нибудь в другой жизни", tz_name="Europe/Moscow", now=NOW) is None


@pytest.mark.django_db
def test_a_moment_outside_the_window_moves_to_the_next_window(make_campaign):
    campaign = make_campaign(window_start=time(10), window_end=time(19), weekdays=[0, 1, 2, 3, 4])
    moscow = ZoneInfo("Europe/Moscow")
    # «в 7 утра» → 10:00 the same day; Saturday → Monday 10:00; 18:59 → no room for a call → next day
    assert callback_due_at(text="завтра в 7 утра", tz_name="Europe/Moscow", campaign=campaign, said_at=NOW) == \
        datetime(2026, 12, 2, 10, 0, tzinfo=moscow)
    assert callback_due_at(text="в субботу в 12", tz_name="Europe/Moscow", campaign=campaign, said_at=NOW) == \
        datetime(2026, 12, 7, 10, 0, tzinfo=moscow)
    assert callback_due_at(text="завтра в 18:59", tz_name="Europe/Moscow", campaign=campaign, said_at=NOW) == \
        datetime(2026, 12, 3, 10, 0, tzinfo=moscow)


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_the_callback_becomes_a_task_with_due_at_and_the_planner_queues_the_call_then(make_campaign, make_contact):
    campaign = make_campaign()
    contact = make_contact(timezone="Asia/Yekaterinburg")
    call = _answered(campaign, contact)
    call_after_work(call_id=call.pk)
    task = Task.objects.get(call=call, kind=Task.Kind.CALLBACK)
    due = datetime(2026, 12, 2, 10, 0, tzinfo=ZoneInfo("Asia/Yekaterinburg"))
    assert task.due_at == due and task.due_text == "завтра в 10"
    callback = Call.objects.get(campaign=campaign, contact=contact, status=Call.Status.QUEUED)
    assert callback.scheduled_for == due and callback.attempt == call.attempt + 1
    assert call.events.filter(kind="callback_planned").count() == 1
    call_after_work(call_id=call.pk)  # a redelivered task plans nothing twice
    assert Call.objects.filter(campaign=campaign, contact=contact).count() == 2
    assert calls_dispatch_due(campaign_id=campaign.pk, now=due - timedelta(hours=1)) == 0  # not yet
    callback.refresh_from_db()
    assert callback.dispatched_at is None
