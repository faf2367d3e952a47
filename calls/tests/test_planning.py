"""Planning: windows in each contact's time zone clamped to 08:00–21:00, DNC, retries, idempotence, the cap."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django_celery_beat.models import PeriodicTask

from calls.models import Call, CallOutcome, Campaign, DoNotCall
from calls.services.planning import PlanResult, campaign_plan
from calls.services.schedules import campaign_schedule_sync

pytestmark = pytest.mark.django_db
MONDAY = date(2026, 3, 2)
NIGHT_BEFORE = datetime(2026, 3, 1, 21, 0, tzinfo=UTC)  # 00:00 in Moscow: the nightly run
MSK, VVO, KGD = ZoneInfo("Europe/Moscow"), ZoneInfo("Asia/Vladivostok"), ZoneInfo("Europe/Kaliningrad")


def plan(campaign, **kw):
    kw.setdefault("now", NIGHT_BEFORE)
    return campaign_plan(campaign_id=campaign.pk, day=kw.pop("day", MONDAY), dispatch=False, **kw)


def etas(campaign) -> list[datetime]:
    return sorted(Call.objects.filter(campaign=campaign).values_list("scheduled_for", flat=True))


def max_overlap(starts: list[datetime], length_s: int) -> int:
    points = sorted([(s, 1) for s in starts] + [(s + timedelta(seconds=length_s), -1) for s in starts],
                    key=lambda p: (p[0], p[1]))
    live = peak = 0
    for _, delta in points:
        live += delta
        peak = max(peak, live)
    return peak


def test_each_contact_is_called_in_its_own_time_zone(make_campaign, make_contact):
    campaign = make_campaign(max_concurrent_calls=10)
    moscow, vladivostok, kaliningrad = (make_contact(timezone="Europe/Moscow"),
                                        make_contact(timezone="Asia/Vladivostok"),
                                        make_contact(timezone="Europe/Kaliningrad"))
    result = plan(campaign)
    assert result.planned == 3
    for contact, tz in ((moscow, MSK), (vladivostok, VVO), (kaliningrad, KGD)):
        local = Call.objects.get(contact=contact).scheduled_for.astimezone(tz)
        assert local.date() == MONDAY
        assert time(10) <= local.time() < time(18, 58, 1)
    # Vladivostok's 10:00 comes 7 hours before Moscow's
    vvo = Call.objects.get(contact=vladivostok).scheduled_for
    msk = Call.objects.get(contact=moscow).scheduled_for
    assert msk - vvo == timedelta(hours=7)


def test_campaign_time_zone_policy_uses_the_campaign_clock(make_campaign, make_contact):
    campaign = make_campaign(timezone_policy=Campaign.TimezonePolicy.CAMPAIGN, timezone="Europe/Moscow")
    contact = make_contact(timezone="Asia/Vladivostok")
    plan(campaign)
    assert Call.objects.get(contact=contact).scheduled_for.astimezone(MSK).time() == time(10)


def test_window_crossing_21_is_clamped(make_campaign, make_contact):
    campaign = make_campaign(window_start=time(18), window_end=time(23), max_concurrent_calls=1,
                             average_call_seconds=1800)
    for _ in range(10):
        make_contact(timezone="Asia/Yekaterinburg")
    result = plan(campaign)
    local = [e.astimezone(ZoneInfo("Asia/Yekaterinburg")) for e in etas(campaign)]
    # 18:00, 18:30 … 20:30: the last call still ends by 21:00
    assert [t.strftime("%H:%M") for t in local] == ["18:00", "18:30", "19:00", "19:30", "20:00", "20:30"]
    assert result.planned == 6 and result.deferred == 4


def test_window_before_8_is_clamped_and_days_off_are_skipped(make_campaign, make_contact):
    campaign = make_campaign(window_start=time(6), window_end=time(12), weekdays=[0, 1, 2, 3, 4])
    make_contact()
    plan(campaign)
    assert etas(campaign)[0].astimezone(MSK).time() == time(8)
    saturday = make_campaign(weekdays=[0, 1, 2, 3, 4])
    result = plan(saturday, day=date(2026, 3, 7), now=datetime(2026, 3, 6, 21, tzinfo=UTC))
    assert result.planned == 0 and result.not_today == 1


def test_planning_later_in_the_day_starts_from_now(make_campaign, make_contact):
    campaign = make_campaign()
    make_contact()
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # 15:00 in Moscow
    plan(campaign, now=now)
    assert etas(campaign)[0] >= now


def test_do_not_call_flag_and_list_are_never_planned(make_campaign, make_contact):
    campaign = make_campaign()
    ok = make_contact()
    make_contact(do_not_call=True)
    listed = make_contact()
    DoNotCall.objects.create(phone=listed.phone, reason="asked")
    make_contact(finished=True)
    result = plan(campaign)
    assert result.planned == 1 and result.do_not_call == 2
    assert list(Call.objects.values_list("contact_id", flat=True)) == [ok.pk]


def _ended(campaign, contact, *, attempt: int, outcome: str, at: datetime) -> Call:
    return Call.objects.create(campaign=campaign, contact=contact, attempt=attempt, status=Call.Status.DONE,
                               outcome=outcome, ended_at=at)


def test_retry_policy_interval_attempts_and_outcomes(make_campaign, make_contact):
    campaign = make_campaign(max_attempts=3, retry_interval_minutes=120, max_concurrent_calls=10)
    morning = datetime(2026, 3, 2, 11, 0, tzinfo=MSK)
    no_answer, busy_twice, exhausted, completed, failed, late = (make_contact() for _ in range(6))
    _ended(campaign, no_answer, attempt=1, outcome=CallOutcome.NO_ANSWER, at=morning)
    _ended(campaign, busy_twice, attempt=1, outcome=CallOutcome.BUSY, at=morning)
    _ended(campaign, busy_twice, attempt=2, outcome=CallOutcome.VOICEMAIL, at=morning + timedelta(minutes=30))
    for n in (1, 2, 3):
        _ended(campaign, exhausted, attempt=n, outcome=CallOutcome.NO_ANSWER, at=morning)
    _ended(campaign, completed, attempt=1, outcome=CallOutcome.COMPLETED, at=morning)
    _ended(campaign, failed, attempt=1, outcome=CallOutcome.FAILED, at=morning)
    _ended(campaign, late, attempt=1, outcome=CallOutcome.NO_ANSWER, at=datetime(2026, 3, 2, 18, 0, tzinfo=MSK))
    result = plan(campaign, now=morning + timedelta(minutes=31))
    planned = {c.contact_id: c for c in Call.objects.filter(campaign=campaign, status=Call.Status.QUEUED)}
    assert set(planned) == {no_answer.pk, busy_twice.pk}
    assert planned[no_answer.pk].attempt == 2
    assert planned[no_answer.pk].scheduled_for >= morning + timedelta(minutes=120)
    assert planned[busy_twice.pk].attempt == 3
    assert planned[busy_twice.pk].scheduled_for >= morning + timedelta(minutes=150)
    assert result.finished == 3  # exhausted, completed, failed (failed does not retry by default)
    assert result.not_today == 1  # 18:00 + 2 h runs past the window


def test_planning_twice_places_nothing_twice(make_campaign, make_contact):
    campaign = make_campaign()
    for _ in range(20):
        make_contact()
    first = plan(campaign)
    second = plan(campaign)
    assert first.planned == 20 and second.planned == 0 and second.already_planned == 20
    assert Call.objects.filter(campaign=campaign).count() == 20


def test_concurrency_cap_is_never_exceeded(make_campaign, make_contact):
    campaign = make_campaign(max_concurrent_calls=3, average_call_seconds=300)
    for i in range(40):
        make_contact(timezone=["Europe/Moscow", "Asia/Yekaterinburg", "Europe/Samara"][i % 3])
    plan(campaign)
    assert max_overlap(etas(campaign), 300) <= 3
    for _ in range(25):  # contacts added later fit around the calls already planned
        make_contact()
    result = plan(campaign)
    assert result.planned == 25
    assert max_overlap(etas(campaign), 300) <= 3
    assert Call.objects.filter(campaign=campaign).count() == 65


def test_inactive_campaign_plans_nothing(make_campaign, make_contact):
    campaign = make_campaign(status=Campaign.Status.PAUSED)
    make_contact()
    assert plan(campaign).planned == 0


def test_schedule_sync_creates_a_nightly_periodic_task(make_campaign):
    campaign = campaign_schedule_sync(campaign=make_campaign())
    task = PeriodicTask.objects.get(pk=campaign.schedule_id)
    assert task.task == "calls.tasks.plan_campaign" and task.crontab.hour == "0" and task.enabled
    assert f'"campaign_id": {campaign.pk}' in task.kwargs
    task.crontab = task.crontab.__class__.objects.create(minute="30", hour="2")
    task.save()
    campaign.status = Campaign.Status.PAUSED
    campaign.save()
    campaign_schedule_sync(campaign=campaign)
    task.refresh_from_db()
    assert not task.enabled and task.crontab.hour == "2"  # a manager's edit survives
    assert PeriodicTask.objects.filter(task="calls.tasks.dispatch_due_calls").exists()


@pytest.mark.django_db
def test_planning_without_a_day_plans_today_in_the_campaigns_zone(make_campaign, make_contact):
    """23:30 UTC on Sunday is already Monday in Vladivostok: the nightly task plans that Monday."""
    campaign = make_campaign(timezone="Asia/Vladivostok")
    make_contact(timezone="Asia/Vladivostok")
    sunday_night_utc = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    result = campaign_plan(campaign_id=campaign.pk, now=sunday_night_utc, dispatch=False)
    assert result.planned == 1
    [call] = Call.objects.filter(campaign=campaign)
    assert call.scheduled_for.astimezone(ZoneInfo("Asia/Vladivostok")).date() == date(2026, 3, 2)
    assert campaign_plan(campaign_id=campaign.pk + 999, dispatch=False).to_dict() == PlanResult().to_dict()
