"""Planning a campaign's calls: calling windows, the slot grid under the concurrency cap, and handing due calls out.

``campaign_plan`` queues a day's calls with ETAs; ``calls_dispatch_due`` hands the next minute or so of
them to the workers.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from calls.experiments import experiment_script_versions
from calls.models import ACTIVE_STATUSES, AFTER_END_STATUSES, Call, Campaign, Contact, DoNotCall
from calls.selectors import campaign_script_version_id
from config.voice import stt_max_conversations

log = logging.getLogger(__name__)

S = Call.Status


def media_max_streams() -> int | None:
    """Live calls the media processes carry in time (``MEDIA_STREAMS_PER_PROCESS`` × ``MEDIA_REPLICAS``); None:
    no limit set."""
    per_process = int(settings.TELEPHONY.get("MEDIA_STREAMS_PER_PROCESS") or 0)
    return per_process * max(1, int(settings.TELEPHONY.get("MEDIA_PROCESSES") or 1)) if per_process > 0 else None


def live_capacity() -> int | None:
    """Live calls the whole deployment serves in time: the fewer of what the STT recognises and the media processes
    carry; None when neither is limited."""
    caps = [cap for cap in (stt_max_conversations(), media_max_streams()) if cap]
    return min(caps) if caps else None


def campaign_concurrency(*, campaign: Campaign) -> int:
    """The campaign's cap, never above the deployment's live capacity (the planner spaces calls by it)."""
    cap = max(1, campaign.max_concurrent_calls)
    deployment = live_capacity()
    return min(cap, deployment) if deployment else cap


LOCAL_EARLIEST = time(8, 0)  # nobody is called before 08:00 or after 21:00 in their own time
LOCAL_LATEST = time(21, 0)
PLAN_BATCH = 5000


@dataclass
class PlanResult:
    planned: int = 0
    already_planned: int = 0
    deferred: int = 0  # due, but no room left in today's window (the next run takes them)
    not_today: int = 0  # not a calling day for the campaign, or the retry interval runs past the window
    do_not_call: int = 0
    finished: int = 0
    dispatched: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@lru_cache(maxsize=512)
def _tz(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def calling_window(*, campaign: Campaign, tz_name: str, day: date) -> tuple[datetime, datetime] | None:
    """The campaign's window on ``day`` in ``tz_name``, clamped to 08:00–21:00 local; None on a day off."""
    if day.weekday() not in {int(d) for d in campaign.weekdays}:
        return None
    start, end = max(campaign.window_start, LOCAL_EARLIEST), min(campaign.window_end, LOCAL_LATEST)
    if start >= end:
        return None
    tz = _tz(tz_name)
    return datetime.combine(day, start, tz), datetime.combine(day, end, tz)


class _SlotGrid:
    """Start times one ``step`` (= average call length / cap) apart, each used once.

    A call starting in slot n is over by slot n + cap, so no more than ``cap`` calls ever overlap. A
    union-find "next free slot" map keeps placing O(α(n)) per call.
    """

    def __init__(self, *, origin: datetime, step_s: float):
        self.origin, self.step_s = origin, step_s
        self._next: dict[int, int] = {}

    def index(self, moment: datetime, *, up: bool = True) -> int:
        offset = (moment - self.origin).total_seconds() / self.step_s
        return math.ceil(offset - 1e-9) if up else math.floor(offset + 1e-9)

    def occupy(self, moment: datetime) -> None:
        n = self.index(moment, up=False)
        self._next[n] = n + 1

    def take(self, earliest: datetime) -> tuple[int, datetime]:
        n = self.index(earliest)
        root = n
        while root in self._next:
            root = self._next[root]
        while n in self._next and self._next[n] != root:  # path compression
            self._next[n], n = root, self._next[n]
        self._next[root] = root + 1
        return root, self.origin + timedelta(seconds=root * self.step_s)

    def release(self, index: int) -> None:
        self._next.pop(index, None)


@dataclass
class _History:
    max_attempt: int = 0
    attempts: int = 0  # canceled calls do not count
    active: bool = False
    last_status: str = ""
    last_outcome: str = ""
    last_ended_at: datetime | None = None


def _histories(campaign_id: int, contact_ids: Iterable[int] | None) -> dict[int, _History]:
    rows = Call.objects.filter(campaign_id=campaign_id)
    if contact_ids is not None:
        rows = rows.filter(contact_id__in=list(contact_ids))
    out: dict[int, _History] = {}
    fields = ("contact_id", "attempt", "status", "outcome", "ended_at")
    for contact_id, attempt, status, outcome, ended_at in rows.order_by().values_list(*fields).iterator(5000):
        h = out.get(contact_id)
        if h is None:
            h = out[contact_id] = _History()
        if status in ACTIVE_STATUSES:
            h.active = True
        if status != S.CANCELED:
            h.attempts += 1
        if attempt > h.max_attempt:
            h.max_attempt, h.last_status, h.last_outcome, h.last_ended_at = attempt, status, outcome, ended_at
    return out


def campaign_plan(
    *, campaign_id: int, day: date | None = None, now: datetime | None = None,
    contact_ids: Iterable[int] | None = None, dispatch: bool = True,
) -> PlanResult:
    """Queue ``day``'s calls of a campaign (default: today in its time zone) with ETAs inside each contact's
    window and under the concurrency cap.

    Idempotent: a contact with a call still queued or under way is left alone, and the unique
    (campaign, contact, attempt) constraint stops a concurrent run from placing anything twice.
    """
    now = now or timezone.now()
    result = PlanResult()
    campaign = Campaign.objects.select_related("script").filter(pk=campaign_id).first()
    if campaign is None:
        log.warning("campaign %s is gone; nothing to plan", campaign_id)
        return result
    if campaign.status != Campaign.Status.ACTIVE:
        return result
    if day is None:
        day = now.astimezone(_tz(campaign.timezone)).date()
    cap = campaign_concurrency(campaign=campaign)
    grid = _SlotGrid(origin=datetime.combine(day - timedelta(days=1), time(0), ZoneInfo("UTC")),
                     step_s=max(1.0, campaign.average_call_seconds) / cap)
    for (moment,) in Call.objects.filter(
        campaign_id=campaign_id, status__in=ACTIVE_STATUSES, scheduled_for__isnull=False
    ).order_by().values_list("scheduled_for").iterator(5000):
        grid.occupy(moment)
    histories = _histories(campaign_id, contact_ids)
    dnc = set(DoNotCall.objects.values_list("phone", flat=True).iterator(5000))
    contacts = Contact.objects.filter(contact_list_id=campaign.contact_list_id, finished=False)
    if contact_ids is not None:
        contacts = contacts.filter(pk__in=list(contact_ids))
    by_contact_tz = campaign.timezone_policy == Campaign.TimezonePolicy.CONTACT
    interval = timedelta(minutes=campaign.retry_interval_minutes)
    length = timedelta(seconds=campaign.average_call_seconds)
    retry_outcomes = set(campaign.retry_outcomes)
    windows: dict[str, tuple[datetime, datetime] | None] = {}
    due: list[tuple[datetime, datetime, int, int]] = []  # (earliest, latest start, contact id, attempt)
    for contact_id, phone, tz_name, flagged in contacts.order_by().values_list(
        "id", "phone", "timezone", "do_not_call"
    ).iterator(5000):
        if flagged or phone in dnc:
            result.do_not_call += 1
            continue
        h = histories.get(contact_id)
        earliest_retry = None
        if h is not None:
            if h.active:
                result.already_planned += 1
                continue
            if h.last_status in AFTER_END_STATUSES:
                if h.last_outcome not in retry_outcomes or h.attempts >= campaign.max_attempts:
                    result.finished += 1
                    continue
                earliest_retry = (h.last_ended_at or now) + interval
            elif h.attempts >= campaign.max_attempts:
                result.finished += 1
                continue
        key = tz_name if by_contact_tz else campaign.timezone
        if key not in windows:
            windows[key] = calling_window(campaign=campaign, tz_name=key, day=day)
        window = windows[key]
        if window is None:
            result.not_today += 1
            continue
        earliest = max(window[0], now, earliest_retry or window[0])
        latest = window[1] - length  # the call should be over when the window closes
        if earliest > latest:
            result.not_today += 1
            continue
        due.append((earliest, latest, contact_id, (h.max_attempt if h else 0) + 1))
    due.sort()
    version_id = campaign_script_version_id(campaign=campaign)
    # a running A/B test picks each contact's script
    variant_versions = experiment_script_versions(campaign=campaign, contact_ids=[d[2] for d in due])
    batch: list[Call] = []
    for earliest, latest, contact_id, attempt in due:
        index, eta = grid.take(earliest)
        if eta > latest:
            grid.release(index)
            result.deferred += 1
            continue
        batch.append(Call(campaign_id=campaign_id, contact_id=contact_id, attempt=attempt, scheduled_for=eta,
                          provider=campaign.telephony_provider,
                          script_version_id=variant_versions.get(contact_id, version_id)))
        if len(batch) >= PLAN_BATCH:
            result.planned += _insert(batch)
            batch = []
    if batch:
        result.planned += _insert(batch)
    if dispatch and result.planned:
        result.dispatched = calls_dispatch_due(campaign_id=campaign_id, now=now)
    log.info("campaign %s planned for %s: %s", campaign_id, day, result.to_dict())
    return result


def contact_retry_plan(*, campaign_id: int, contact_id: int, now: datetime | None = None) -> None:
    """Plan a retry of the contact today (its own calendar day at ``now``) if the window still allows it."""
    now = now or timezone.now()
    campaign = Campaign.objects.get(pk=campaign_id)
    contact_tz = Contact.objects.values_list("timezone", flat=True).get(pk=contact_id)
    tz = _tz(contact_tz if campaign.timezone_policy == Campaign.TimezonePolicy.CONTACT else campaign.timezone)
    try:
        campaign_plan(campaign_id=campaign_id, day=now.astimezone(tz).date(), now=now, contact_ids=[contact_id])
    except Exception:
        log.exception("campaign %s: planning the retry of contact %s failed", campaign_id, contact_id)


def _insert(batch: list[Call]) -> int:
    with transaction.atomic():
        created = Call.objects.bulk_create(batch, batch_size=1000, ignore_conflicts=True)
    # ignore_conflicts gives no feedback on which rows were skipped; only a concurrent planner can
    # collide with us, and then both count the batch, which is acceptable for a log line.
    return len(created)


# Both stay under the broker's visibility timeout (90 s + the restore sweep): an ETA-ed message held longer
# would be handed out twice. The dispatcher runs every minute, so 75 s of horizon never leaves a gap.
DISPATCH_HORIZON = timedelta(seconds=75)
REDISPATCH_AFTER = timedelta(minutes=2)


def calls_dispatch_due(*, campaign_id: int | None = None, now: datetime | None = None) -> int:
    """Hand calls whose ETA falls within the horizon to the workers, each once (ETA-ed ``place_call``).

    Only a few minutes of calls are ever waiting in the broker: a whole day of ETA tasks would sit in
    the workers' memory and outlive Redis' visibility timeout. Calls still queued long after their
    dispatch (a lost message) go out again; ``place_call`` is idempotent.
    """
    from calls.tasks import place_call  # noqa: PLC0415  calls.tasks imports the services

    now = now or timezone.now()
    queued = Call.objects.filter(status=S.QUEUED, scheduled_for__lte=now + DISPATCH_HORIZON)
    if campaign_id is not None:
        queued = queued.filter(campaign_id=campaign_id)
    fresh = queued.filter(dispatched_at__isnull=True)
    # overdue and not touched by a task for a while (a task waiting for a free line touches it): lost
    stale = queued.filter(dispatched_at__lt=now - REDISPATCH_AFTER, scheduled_for__lt=now - REDISPATCH_AFTER)
    with transaction.atomic():
        rows = list((fresh | stale).order_by("scheduled_for").values_list("id", "scheduled_for")[:10000])
        Call.objects.filter(pk__in=[r[0] for r in rows]).update(dispatched_at=now)

        def send() -> None:
            for call_id, eta in rows:
                place_call.apply_async((call_id,), eta=eta if eta > timezone.now() else None)

        transaction.on_commit(send)
    return len(rows)


