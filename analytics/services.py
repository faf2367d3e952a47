"""Writes of the analytics app: the daily call rollup, rebuilt per day by beat (and by the seed/benchmark)."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from analytics.filters import day_bounds, today
from analytics.models import DailyCallRollup, RollupDay
from analytics.selectors import live_tallies
from analytics.tally import histogram_pack
from calls.models import Call

log = logging.getLogger(__name__)

LATE_DAYS = 14  # a call whose analysis lands later than this does not re-open its day


def rollup_day(*, day: date) -> int:
    """Rebuild one finished day's rollup rows from the calls; returns the number of calls counted.

    Idempotent: the day's rows are replaced in one transaction. Today is never rolled up (it is live).
    """
    if day >= today():
        raise ValueError(f"{day} is not over yet; today's figures are counted live")
    computed_at = timezone.now()  # taken before reading, so a call finishing meanwhile re-opens the day
    start, end = day_bounds(day, day)
    tallies = live_tallies(start=start, end=end)
    rows = [
        DailyCallRollup(
            day=key[0], campaign_id=key[1], script_id=key[2], script_version_id=key[3], language=key[4] or "",
            provider=key[5] or "", calls=t.calls, connected=t.connected, talked=t.talked, interested=t.interested,
            leads=t.leads, contact_obtained=t.contact_obtained, quote_requested=t.quote_requested,
            voicemail=t.voicemail, no_answer=t.no_answer, busy=t.busy, transferred=t.transferred,
            talk_seconds=t.talk_seconds,
            talk_histogram=histogram_pack(t.talk_histogram), stages=dict(t.stages),
            objections=t.objections, other_turns=t.other_turns,
        )
        for key, t in tallies.items()
    ]
    with transaction.atomic():
        DailyCallRollup.objects.filter(day=day).delete()
        DailyCallRollup.objects.bulk_create(rows, batch_size=1000)
        total = sum(r.calls for r in rows)
        RollupDay.objects.update_or_create(day=day, defaults={"computed_at": computed_at, "calls": total})
    return total


def _days_with_calls(*, before: datetime, changed_since: datetime | None = None) -> set[date]:
    calls = Call.objects.filter(queued_at__lt=before)
    if changed_since is not None:
        calls = calls.filter(Q(done_at__gte=changed_since) | Q(ended_at__gte=changed_since))
    tz = timezone.get_default_timezone()
    return {d.astimezone(tz).date() for d in calls.order_by().datetimes("queued_at", "day", tzinfo=tz)}


def rollups_refresh(*, full: bool = False) -> list[date]:
    """Roll up every finished day that has none yet, and re-roll recent days whose calls changed since.

    Run by beat every few minutes; ``full`` re-rolls every day (after a definition change).
    """
    current = today()
    start_of_today = day_bounds(current, current)[0]
    all_days = _days_with_calls(before=start_of_today)
    done = dict(RollupDay.objects.values_list("day", "computed_at"))
    todo = all_days if full else {d for d in all_days if d not in done}
    recent = {d: at for d, at in done.items() if d >= current - timedelta(days=LATE_DAYS)}
    if recent and not full:
        since = RollupDay.objects.filter(day__in=recent).aggregate(m=Min("computed_at"))["m"]
        for d in _days_with_calls(before=start_of_today, changed_since=since):
            if d in recent:
                first, last = day_bounds(d, d)
                if Call.objects.filter(queued_at__gte=first, queued_at__lt=last).filter(
                    Q(done_at__gte=recent[d]) | Q(ended_at__gte=recent[d])
                ).exists():
                    todo.add(d)
    for d in sorted(todo):
        rollup_day(day=d)
    # a day whose calls were all deleted keeps no stale figures
    gone = [d for d in done if d not in all_days]
    if gone:
        DailyCallRollup.objects.filter(day__in=gone).delete()
        RollupDay.objects.filter(day__in=gone).delete()
    if todo:
        log.info("analytics rollup refreshed %d day(s)", len(todo))
    return sorted(todo)


ROLLUP_TASK = "analytics.tasks.rollups_refresh_task"


def rollup_schedule_ensure() -> None:
    """The beat entry that keeps the rollup fresh (every 10 minutes); managers may edit it in the admin."""
    every, _ = IntervalSchedule.objects.get_or_create(every=10, period=IntervalSchedule.MINUTES)
    PeriodicTask.objects.get_or_create(name="analytics: refresh the dashboard figures",
                                       defaults={"task": ROLLUP_TASK, "interval": every})
