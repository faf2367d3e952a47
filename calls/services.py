"""Writes for campaigns, contacts and calls: import, planning, the call lifecycle, dialling and after-call work.

``call_transition`` is the only function that changes ``Call.status``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import tablib
from django.conf import settings
from django.core import signing
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from calls.models import Call, CallEvent, CallOutcome, Campaign, Contact, ContactList, DoNotCall
from calls.resources import ContactResource
from calls.telephony import media_pace
from config.live_events import group_send, group_send_async
from config.metrics import carrier_error_code, record_carrier_error, record_turn_metrics
from dialogs.models import CampaignLanguage

log = logging.getLogger(__name__)


@dataclass
class RowProblem:
    row: int
    field: str
    message: str


@dataclass
class ImportReport:
    created: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    fatal: str = ""

    @property
    def rejected_rows(self) -> int:
        return len({p.row for p in self.problems})


IMPORT_FORMATS = {"csv", "xlsx"}


def _load_dataset(content: bytes, file_format: str) -> tablib.Dataset:
    if file_format == "csv":
        text = content.decode("utf-8-sig")
        return tablib.Dataset().load(text, format="csv")
    return tablib.Dataset().load(content, format="xlsx")


def contacts_import(*, contact_list: ContactList, content: bytes, file_format: str) -> ImportReport:
    """Import contacts; good rows go in, each bad row is reported with its row number and reason.

    Row numbers count the header as row 1, as a spreadsheet shows them.
    """
    report = ImportReport()
    if file_format not in IMPORT_FORMATS:
        report.fatal = f"unsupported format {file_format!r}; use CSV or XLSX"
        return report
    try:
        dataset = _load_dataset(content, file_format)
    except UnicodeDecodeError:
        report.fatal = str(_("The file is not UTF-8 text: save it as “CSV UTF-8” or upload an XLSX file."))
        return report
    except Exception:  # a corrupt or binary file is the user's to see, in words, not a 500 or a traceback
        log.info("contact import: unreadable %s file", file_format, exc_info=True)
        report.fatal = str(_("The file could not be read as %(format)s. Check that it is a CSV or XLSX file.")
                           % {"format": file_format.upper()})
        return report
    headers = {str(h).strip().lower() for h in (dataset.headers or [])}
    if not headers & {"phone", "телефон", "номер"}:
        report.fatal = "the file has no “phone” column"
        return report
    resource = ContactResource(contact_list=contact_list)
    # No enclosing transaction: each good row commits on its own, so one bad row (even one that
    # trips a database constraint) cannot take the others down with it.
    result = resource.import_data(dataset, dry_run=False, raise_errors=False, use_transactions=False)
    for invalid in result.invalid_rows:
        for field_name, messages in invalid.error_dict.items():
            for message in messages:
                report.problems.append(RowProblem(row=invalid.number + 1, field=str(field_name), message=str(message)))
    for number, row in enumerate(result.rows, start=1):
        for error in row.errors:
            report.problems.append(RowProblem(row=number + 1, field="", message=f"{type(error.error).__name__}"))
    report.created = result.totals.get("new", 0)
    report.problems.sort(key=lambda p: p.row)
    return report


# --- the call lifecycle -------------------------------------------------------------------------------

S = Call.Status
TRANSITIONS: dict[str, frozenset[str]] = {
    S.QUEUED: frozenset({S.DIALING, S.CANCELED}),
    S.DIALING: frozenset({S.RINGING, S.IN_PROGRESS, S.ENDED, S.CANCELED}),
    S.RINGING: frozenset({S.IN_PROGRESS, S.ENDED, S.CANCELED}),
    S.IN_PROGRESS: frozenset({S.ENDED}),
    # Unanswered calls have nothing to analyse and go straight to done.
    S.ENDED: frozenset({S.ANALYSING, S.DONE}),
    S.ANALYSING: frozenset({S.FOLLOW_UP, S.DONE}),
    S.FOLLOW_UP: frozenset({S.CRM, S.DONE}),
    S.CRM: frozenset({S.DONE}),
    S.DONE: frozenset(),
    S.CANCELED: frozenset(),
}
ACTIVE_STATUSES = (S.QUEUED, S.DIALING, S.RINGING, S.IN_PROGRESS)
LIVE_STATUSES = (S.DIALING, S.RINGING, S.IN_PROGRESS)  # what counts against the concurrency cap


def stt_max_conversations() -> int | None:
    """Live calls (all campaigns) the speech recognition serves in time; see ``config.voice``."""
    from config.voice import stt_max_conversations as from_settings

    return from_settings()


def campaign_concurrency(*, campaign: Campaign) -> int:
    """The campaign's cap, never above what the STT capacity serves (the planner spaces calls by it)."""
    cap = max(1, campaign.max_concurrent_calls)
    stt_cap = stt_max_conversations()
    return min(cap, stt_cap) if stt_cap else cap
AFTER_END_STATUSES = (S.ENDED, S.ANALYSING, S.FOLLOW_UP, S.CRM, S.DONE)
FINAL_STATUSES = (S.DONE, S.CANCELED)
_TIMESTAMPS = {S.DIALING: "dialing_at", S.IN_PROGRESS: "answered_at", S.ENDED: "ended_at", S.DONE: "done_at",
               S.CANCELED: "done_at"}
_DATA_FIELDS = ("outcome", "provider_call_id", "duration_s", "error")


class IllegalTransition(Exception):
    def __init__(self, call_id: int, from_status: str, to_status: str):
        super().__init__(f"call {call_id}: {from_status} -> {to_status} is not allowed")
        self.from_status, self.to_status = from_status, to_status


def call_group(call_id: int) -> str:
    return f"call_{call_id}"


def campaign_group(campaign_id: int) -> str:
    return f"campaign_{campaign_id}"


BOARD_GROUP = "calls_board"


def _call_event(call_id: int, campaign_id: int, payload: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """The groups a call's event goes to (the call's, the campaign's, the board's) and the message."""
    message = {"type": "call.event", "payload": {"call_id": call_id, "campaign_id": campaign_id, **payload}}
    return [call_group(call_id), campaign_group(campaign_id), BOARD_GROUP], message


async def call_publish_async(*, call_id: int, campaign_id: int, payload: dict[str, Any]) -> None:
    """Publish a call's live event from an event loop (the media consumer), best effort."""
    await group_send_async(*_call_event(call_id, campaign_id, payload))


async def call_publish_pipeline(*, call_id: int, campaign_id: int, payload: dict[str, Any]) -> None:
    """A live call's transcript lines and mind states: only its own page shows them, so only its group gets them.

    Several such events a second per call would otherwise go to the campaign's and the board's groups
    as well (three Redis round trips each), which nobody there reads.
    """
    _, message = _call_event(call_id, campaign_id, payload)
    await group_send_async([call_group(call_id)], message)


def call_publish(*, call_id: int, campaign_id: int, payload: dict[str, Any]) -> None:
    """Publish a call's live event from sync code (services, tasks), best effort."""
    group_send(*_call_event(call_id, campaign_id, payload))


def call_transition(*, call_id: int, to: str, **data: Any) -> Call:
    """Move a call to ``to``: check the move, stamp the time, write a ``CallEvent``, publish after commit.

    Moving to the status a call already has is a no-op, so repeated webhooks are harmless. ``data``
    may carry ``outcome`` (required for ``ended``), ``provider_call_id``, ``duration_s`` and
    ``error``, which are stored on the call; anything else goes into the event only.
    """
    to = S(to)
    with transaction.atomic():
        call = Call.objects.select_for_update().select_related("campaign").get(pk=call_id)
        if call.status == to:
            return call
        if to not in TRANSITIONS[call.status]:
            raise IllegalTransition(call_id, call.status, to)
        if to == S.ENDED:
            outcome = data.get("outcome") or CallOutcome.FAILED
            data["outcome"] = CallOutcome(outcome).value
        now = timezone.now()
        from_status = call.status
        call.status = to
        update = ["status"]
        stamp = _TIMESTAMPS.get(to)
        if stamp and getattr(call, stamp) is None:
            setattr(call, stamp, now)
            update.append(stamp)
        for name in _DATA_FIELDS:
            if data.get(name) not in (None, ""):
                setattr(call, name, data[name])
                update.append(name)
        if to == S.ENDED and call.duration_s is None and call.answered_at is not None:
            call.duration_s = round((now - call.answered_at).total_seconds(), 2)
            update.append("duration_s")
        if to == S.ENDED and call.outcome != CallOutcome.COMPLETED and not call.disposition:
            disposition = {CallOutcome.NO_ANSWER: Call.Disposition.NO_ANSWER, CallOutcome.BUSY: Call.Disposition.BUSY,
                           CallOutcome.VOICEMAIL: Call.Disposition.VOICEMAIL}.get(call.outcome)
            if disposition:
                call.disposition = disposition
                update.append("disposition")
        call.save(update_fields=list(dict.fromkeys(update)))
        event_data = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in data.items()}
        event = CallEvent.objects.create(call=call, from_status=from_status, to_status=to, data=event_data)
        payload = {"kind": "status", "from": from_status, "to": to, "outcome": call.outcome,
                   "disposition": call.disposition, "at": event.created_at.isoformat(), "data": event_data}
        campaign_id = call.campaign_id
        transaction.on_commit(lambda: call_publish(call_id=call_id, campaign_id=campaign_id, payload=payload))
        if to == S.ENDED:
            _after_end(call)
    return call


def _after_end(call: Call) -> None:
    """Inside the ending transaction: finish the contact or plan its retry; analyse answered calls."""
    campaign = call.campaign
    if call.outcome == CallOutcome.COMPLETED:
        Contact.objects.filter(pk=call.contact_id).update(finished=True)
        from calls.tasks import analyse_call

        call_id = call.pk
        transaction.on_commit(lambda: analyse_call.delay(call_id))
        return
    call_transition(call_id=call.pk, to=S.DONE, reason="not answered")
    attempts = Call.objects.filter(campaign=campaign, contact_id=call.contact_id).exclude(status=S.CANCELED).count()
    if call.outcome in campaign.retry_outcomes and attempts < campaign.max_attempts:
        contact_id, campaign_id = call.contact_id, campaign.pk
        # Plans the retry today if the interval still fits the contact's window; otherwise the nightly run will.
        transaction.on_commit(lambda: _plan_retry(campaign_id=campaign_id, contact_id=contact_id))
    else:
        Contact.objects.filter(pk=call.contact_id).update(finished=True)


def _plan_retry(*, campaign_id: int, contact_id: int, now: datetime | None = None) -> None:
    """Plan a retry of the contact today (its own calendar day at ``now``) if the window still allows it."""
    now = now or timezone.now()
    campaign = Campaign.objects.get(pk=campaign_id)
    contact_tz = Contact.objects.values_list("timezone", flat=True).get(pk=contact_id)
    tz = _tz(contact_tz if campaign.timezone_policy == Campaign.TimezonePolicy.CONTACT else campaign.timezone)
    try:
        campaign_plan(campaign_id=campaign_id, day=now.astimezone(tz).date(), now=now, contact_ids=[contact_id])
    except Exception:
        log.exception("campaign %s: planning the retry of contact %s failed", campaign_id, contact_id)


# --- planning ------------------------------------------------------------------------------------------

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
    version_id = _current_version_id(campaign)
    from calls.experiments import experiment_script_versions  # a running A/B test picks each contact's script

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


def _current_version_id(campaign: Campaign) -> int | None:
    from dialogs.models import ScriptVersion

    return (ScriptVersion.objects.filter(script_id=campaign.script_id, version=campaign.script.version)
            .values_list("id", flat=True).first())


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
    from calls.tasks import place_call

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


# --- schedules ------------------------------------------------------------------------------------------

PLAN_TASK = "calls.tasks.plan_campaign"
DISPATCH_TASK = "calls.tasks.dispatch_due_calls"
DEFAULT_PLAN_CRON = {"minute": "5", "hour": "0"}  # nightly, in CELERY_TIMEZONE


class CampaignHasCalls(Exception):
    """A campaign whose calls are the record of who was rung is archived, never deleted."""


@transaction.atomic
def campaign_save(*, fields: dict[str, Any], campaign: Campaign | None = None, created_by: Any = None) -> Campaign:
    """Create (no ``campaign``) or update a campaign from validated ``fields``, then keep its beat schedule in step."""
    fields = dict(fields)
    many = {f.name: fields.pop(f.name) for f in Campaign._meta.many_to_many if f.name in fields}
    if campaign is None:
        campaign = Campaign(created_by=created_by)
    for name, value in fields.items():
        setattr(campaign, name, value)
    campaign.save()
    for name, values in many.items():
        getattr(campaign, name).set(values)
    return campaign_schedule_sync(campaign=campaign)


@transaction.atomic
def campaign_delete(*, campaign: Campaign) -> None:
    if Call.objects.filter(campaign=campaign).exists():
        raise CampaignHasCalls(campaign.pk)
    campaign.delete()


@transaction.atomic
def campaign_schedule_sync(*, campaign: Campaign) -> Campaign:
    """Create or update the campaign's nightly planning ``PeriodicTask`` (and the shared dispatcher).

    A schedule a manager already edited in the admin keeps its crontab; only its name, arguments
    and on/off state follow the campaign.
    """
    import json

    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.MINUTES)
    PeriodicTask.objects.get_or_create(
        name="calls: dispatch due calls", defaults={"task": DISPATCH_TASK, "interval": every_minute}
    )
    enabled = campaign.status == Campaign.Status.ACTIVE
    name = f"calls: plan campaign #{campaign.pk} {campaign.name}"[:200]
    # Re-read: the admin may have changed the crontab since this campaign object was loaded.
    task = PeriodicTask.objects.filter(pk=campaign.schedule_id).first() if campaign.schedule_id else None
    if task is None:
        crontab, _ = CrontabSchedule.objects.get_or_create(
            **DEFAULT_PLAN_CRON, day_of_week="*", day_of_month="*", month_of_year="*",
            timezone=settings.CELERY_TIMEZONE,
        )
        task = PeriodicTask.objects.create(name=name, task=PLAN_TASK, crontab=crontab,
                                           kwargs=json.dumps({"campaign_id": campaign.pk}), enabled=enabled)
        Campaign.objects.filter(pk=campaign.pk).update(schedule=task)
        campaign.schedule = task
    else:
        task.name, task.task, task.enabled = name, PLAN_TASK, enabled
        task.kwargs = json.dumps({"campaign_id": campaign.pk})
        task.save(update_fields=["name", "task", "enabled", "kwargs"])
    return campaign


def campaign_plan_now(*, campaign_id: int) -> None:
    """The admin's "run planning now": plan today in the background."""
    from calls.tasks import plan_campaign

    plan_campaign.delay_on_commit(campaign_id=campaign_id)


# --- dialling ---------------------------------------------------------------------------------------------

MEDIA_TOKEN_SALT = "calls.media"  # noqa: S105 - a signing salt, not a secret


def call_media_token(*, call_id: int) -> str:
    return signing.TimestampSigner(salt=MEDIA_TOKEN_SALT).sign(str(call_id))


def call_media_token_valid(*, call_id: int, token: str) -> bool:
    max_age = settings.TELEPHONY.get("MEDIA_TOKEN_MAX_AGE_S", 3600)
    try:
        value = signing.TimestampSigner(salt=MEDIA_TOKEN_SALT).unsign(token or "", max_age=max_age)
    except signing.BadSignature:  # SignatureExpired is a BadSignature
        return False
    return value == str(call_id)


def call_media_url(*, call_id: int, with_token: bool = True, token: str | None = None) -> str:
    """The call's media socket URL; ``token`` is the one the dial also sends on its own (signed once: a token
    carries its signing second, so two signings may differ)."""
    base = settings.TELEPHONY["PUBLIC_BASE_URL"].rstrip("/")
    ws = "wss://" + base.removeprefix("https://") if base.startswith("https://") else "ws://" + base.removeprefix(
        "http://")
    url = f"{ws}/ws/calls/{call_id}/media/"
    return f"{url}?token={token or call_media_token(call_id=call_id)}" if with_token else url


def public_url(path: str) -> str:
    return settings.TELEPHONY["PUBLIC_BASE_URL"].rstrip("/") + path


@dataclass
class PlaceResult:
    status: str  # dialled | at_cap | settling | skipped | canceled | failed
    call_id: int
    provider_call_id: str = ""
    wait_s: float = 0.0  # settling or at_cap: ask again after this long


def _wait_for_a_line(call_id: int, campaign: Campaign) -> PlaceResult:
    """At the cap: ask again after about one call's share of the campaign's line time (2..60 s).

    The call stays held by its task meanwhile (``dispatched_at``), so the dispatcher does not hand it out twice.
    """
    Call.objects.filter(pk=call_id).update(dispatched_at=timezone.now())
    share = campaign.average_call_seconds / max(1, campaign.max_concurrent_calls)
    return PlaceResult("at_cap", call_id, wait_s=max(2.0, min(60.0, share)))


def call_place(*, call_id: int) -> PlaceResult:
    """Claim a queued call under the concurrency cap (queued -> dialing) and ask the provider to dial.

    A call already ``dialing`` without a provider id is a retried dial; anything else is left alone.
    A person is rung at most once per attempt: when the previous request may have reached the
    carrier (it timed out, or the worker died before the carrier's id was saved), the call is
    ``settling`` until the carrier had ``DIAL_SETTLE_S`` to report it through its status callback,
    which moves the call on and makes this a ``skipped``. Provider errors propagate so the task can
    back off; a non-retryable one fails the call.
    """
    from calls.telephony import DialRequest, provider_for
    from voice.errors import ProviderError, ProviderTimeout

    with transaction.atomic():
        call = Call.objects.select_related("contact").filter(pk=call_id).first()
        if call is None:
            log.warning("call %s is gone; nothing to place", call_id)
            return PlaceResult("skipped", call_id)
        # Locking the campaign row serialises the cap check between workers (PostgreSQL).
        campaign = Campaign.objects.select_for_update().get(pk=call.campaign_id)
        call = Call.objects.select_for_update().select_related("contact").get(pk=call_id)
        if call.status == S.QUEUED:
            contact = call.contact
            if campaign.status != Campaign.Status.ACTIVE:
                call_transition(call_id=call_id, to=S.CANCELED, reason="campaign not active")
                return PlaceResult("canceled", call_id)
            if contact.do_not_call or DoNotCall.objects.filter(phone=contact.phone).exists():
                call_transition(call_id=call_id, to=S.CANCELED, reason="do not call")
                return PlaceResult("canceled", call_id)
            live = Call.objects.filter(campaign_id=campaign.pk, status__in=LIVE_STATUSES).count()
            stt_cap = stt_max_conversations()
            if live >= campaign.max_concurrent_calls or (  # or speech recognition serves no more in time
                    stt_cap is not None and Call.objects.filter(status__in=LIVE_STATUSES).count() >= stt_cap):
                return _wait_for_a_line(call_id, campaign)
            call = call_transition(call_id=call_id, to=S.DIALING, provider=campaign.telephony_provider)
        elif call.status == S.DIALING and not call.provider_call_id:
            if call.dial_requested_at is not None:
                settle = timedelta(seconds=settings.TELEPHONY.get("DIAL_SETTLE_S", 90))
                waited = timezone.now() - call.dial_requested_at
                if waited < settle:
                    return PlaceResult("settling", call_id, wait_s=(settle - waited).total_seconds())
                log.warning("call %s: the carrier never reported the dial requested %s ago; dialling again",
                            call_id, waited)
        else:
            return PlaceResult("skipped", call_id)
        # committed before the request leaves: a worker that dies after it cannot lose the fact
        Call.objects.filter(pk=call_id).update(dial_requested_at=timezone.now())
    provider = provider_for(campaign=campaign)
    token = call_media_token(call_id=call.pk)
    request = DialRequest(
        call_id=call.pk, to=call.contact.phone, caller_id=campaign.caller_id,
        media_url=call_media_url(call_id=call.pk, with_token=provider.token_in_url, token=token),
        media_token=token,
        status_callback_url=public_url(f"/calls/telephony/{provider.name}/status/{call.pk}/"),
        language=campaign.language,
        custom={"campaign_id": campaign.pk, "attempt": call.attempt, "simulation": campaign.simulation,
                "voicemail": {"mode": campaign.voicemail_mode, "carrier_amd": campaign.carrier_amd}},
    )
    try:
        placed = provider.dial(request=request)
    except ProviderError as exc:
        record_carrier_error(provider=provider.name, code=carrier_error_code(exc))
        if not exc.retryable:
            call_transition(call_id=call.pk, to=S.ENDED, outcome=CallOutcome.FAILED, error=str(exc)[:2000])
            return PlaceResult("failed", call_id)
        if not isinstance(exc, ProviderTimeout):
            # the carrier answered (5xx) or could not be reached: nothing was placed, the retry may dial
            Call.objects.filter(pk=call.pk).update(dial_requested_at=None)
        raise
    Call.objects.filter(pk=call.pk, provider_call_id="").update(provider_call_id=placed.provider_call_id,
                                                                provider=provider.name,
                                                                provider_control_url=placed.control_url[:500])
    return PlaceResult("dialled", call_id, placed.provider_call_id)


def call_provider_id_seen(*, call_id: int, provider_call_id: str) -> None:
    """The carrier named its id for the call (a status callback): a dial retry must not ring again."""
    Call.objects.filter(pk=call_id, provider_call_id="").update(provider_call_id=provider_call_id[:128])


def call_fail(*, call_id: int, error: str) -> Call | None:
    """Give up on a call that could not be dialled (retries exhausted)."""
    call = Call.objects.filter(pk=call_id).only("status").first()
    if call is None or call.status not in (S.QUEUED, S.DIALING, S.RINGING):
        return call
    if call.status == S.QUEUED:
        return call_transition(call_id=call_id, to=S.CANCELED, error=error[:2000])
    return call_transition(call_id=call_id, to=S.ENDED, outcome=CallOutcome.FAILED, error=error[:2000])


# Provider-neutral call progress, as status webhooks and the simulated carrier report it.
PROGRESS = {"ringing": S.RINGING, "answered": S.IN_PROGRESS}
PROGRESS_OUTCOMES = {
    "completed": CallOutcome.COMPLETED, "no_answer": CallOutcome.NO_ANSWER, "busy": CallOutcome.BUSY,
    "voicemail": CallOutcome.VOICEMAIL, "failed": CallOutcome.FAILED, "canceled": CallOutcome.NO_ANSWER,
}


def call_progress(*, call_id: int, event: str, **data: Any) -> Call | None:
    """Apply what the carrier says happened (``ringing``, ``answered``, ``completed``, ``busy`` …).

    Carriers report late and out of order (the media stream usually ends a call before the status
    callback does), so a report that would move a call backwards is recorded and otherwise ignored.
    """
    call = Call.objects.filter(pk=call_id).only("status", "campaign_id", "provider").first()
    if call is None:
        log.warning("progress %r for unknown call %s", event, call_id)
        return None
    try:
        if event in PROGRESS:
            return call_transition(call_id=call_id, to=PROGRESS[event], **data)
        if event in PROGRESS_OUTCOMES:
            if call.status in AFTER_END_STATUSES or call.status == S.CANCELED:
                return call
            if event == "completed" and CallEvent.objects.filter(call_id=call_id, kind="voicemail").exists():
                event = "voicemail"  # a machine answered and was dealt with (calls.voicemail): not a conversation
            if event == "failed":
                record_carrier_error(provider=call.provider or "unknown", code=data.get("code") or "call_failed")
            return call_transition(call_id=call_id, to=S.ENDED, outcome=PROGRESS_OUTCOMES[event], **data)
    except IllegalTransition as exc:
        CallEvent.objects.create(call_id=call_id, kind="late_report", data={"event": event, "detail": str(exc)})
        return call
    CallEvent.objects.create(call_id=call_id, kind="provider", data={"event": event, **data})
    return call


# --- after the call ----------------------------------------------------------------------------------------


def call_analyse(*, call_id: int) -> Call:
    """ended|analysing -> analysing -> follow_up: run the transcript analysis and store its fields."""
    from config.voice import openai_llm_config
    from crm.outbox import webhooks_enqueue
    from dialogs.analysis import analyse_transcript

    call = call_transition(call_id=call_id, to=S.ANALYSING)
    call = Call.objects.select_related("campaign__script", "script_version", "contact").get(pk=call_id)
    turns = list(call.turns.order_by("index").values_list("speaker", "text"))
    script_map = call.script_version.dialogue_map if call.script_version else call.campaign.script.dialogue_map
    provider = settings.DIALOG.get("ANALYSIS", "offline")
    contact = call.contact
    variables = {"contact": {**(contact.variables or {}), "name": contact.name, "company": contact.company,
                             "first_name": (contact.name or "").split(" ")[0]}}
    # a bot turn marked stt_missed answered customer words the STT could not recognise at all
    unrecognised = call.turns.filter(stt_missed=True).count()
    result = analyse_transcript(turns, script_map=script_map, language=call.language or call.campaign.language,
                                provider=provider,
                                config=openai_llm_config() if provider == "openai" else None,
                                unrecognised=unrecognised, variables=variables)
    valid = {c.value for c in Call.Disposition}
    call.disposition = result.disposition if result.disposition in valid else call.disposition
    call.summary, call.follow_up = result.summary, result.follow_up
    call.interest = max(0, min(100, int(result.interest)))
    call.crm_status = result.crm_status if result.crm_status in {c.value for c in Call.CrmStatus} else ""
    call.analysis, call.analysis_error = result.to_dict(), result.error
    with transaction.atomic():
        current = Call.objects.select_for_update().only("status").get(pk=call_id)
        if current.status != S.ANALYSING:  # another worker finished the analysis first: keep its result
            return Call.objects.get(pk=call_id)
        call.save(update_fields=["disposition", "summary", "follow_up", "interest", "crm_status", "analysis",
                                 "analysis_error"])
        webhooks_enqueue(event="call.analyzed", campaign_id=call.campaign_id, object_id=call.pk, call_id=call.pk,
                         data=call_event_data(call=call))
        return call_transition(call_id=call_id, to=S.FOLLOW_UP, disposition=call.disposition,
                               interest=call.interest, crm_status=call.crm_status)


def call_event_data(*, call: Call) -> dict[str, Any]:
    """What a ``call.analyzed`` webhook carries."""
    from django.urls import reverse

    return {"call_id": call.pk, "campaign_id": call.campaign_id, "contact_id": call.contact_id,
            "phone": call.contact.phone, "status": call.status, "outcome": call.outcome,
            "disposition": call.disposition, "interest": call.interest, "crm_status": call.crm_status,
            "summary": call.summary, "follow_up": call.follow_up, "duration_s": call.duration_s,
            "transcript_url": public_url(reverse("calls:call_detail", args=[call.pk])),
            "recording_url": public_url(reverse("calls:call_recording", args=[call.pk])) if call.recording else None}


def call_after_work(*, call_id: int) -> str:
    """Analysis, follow-up message, CRM, done: each step resumes where a crashed run stopped.

    Each step's outside work (the message, the CRM copy, webhooks) is an outbox row written in the same
    transaction as the step's move on, so a vendor failure can neither lose the lead nor stop the call.
    """
    from crm.services import follow_up_enqueue, lead_create_from_call

    call = Call.objects.filter(pk=call_id).only("status", "outcome").first()
    if call is None:
        log.warning("after-call work: call %s is gone", call_id)
        return "gone"
    if call.status == S.ENDED and call.outcome != CallOutcome.COMPLETED:
        return call_transition(call_id=call_id, to=S.DONE).status
    if call.status in (S.ENDED, S.ANALYSING):
        call = call_analyse(call_id=call_id)
    call = Call.objects.select_related("contact", "campaign").get(pk=call_id)
    if call.status == S.FOLLOW_UP:
        with transaction.atomic():
            message = follow_up_enqueue(call=call)
            call = call_transition(call_id=call_id, to=S.CRM, follow_up_id=message.pk if message else None)
    if call.status == S.CRM:
        with transaction.atomic():
            lead_id = None
            call = Call.objects.select_related("contact", "campaign").get(pk=call_id)
            if call.crm_status in (Call.CrmStatus.LEAD, Call.CrmStatus.TASK) and not (call.analysis or {}).get(
                    "unintelligible"):
                lead_id = lead_create_from_call(call=call).pk
            call = call_transition(call_id=call_id, to=S.DONE, lead_id=lead_id)
    return call.status


def callback_schedule(*, call_id: int, due_at: datetime) -> Call | None:
    """Queue a call back to the contact at ``due_at`` (already inside the calling window), once."""
    call = Call.objects.select_related("campaign").get(pk=call_id)
    campaign = call.campaign
    if Call.objects.filter(campaign_id=campaign.pk, contact_id=call.contact_id, status__in=ACTIVE_STATUSES).exists():
        return None
    attempt = (Call.objects.filter(campaign_id=campaign.pk, contact_id=call.contact_id)
               .aggregate(m=models.Max("attempt"))["m"] or 0) + 1
    callback = Call.objects.create(campaign_id=campaign.pk, contact_id=call.contact_id, attempt=attempt,
                                   scheduled_for=due_at, provider=campaign.telephony_provider,
                                   script_version_id=_current_version_id(campaign))
    CallEvent.objects.create(call_id=call_id, kind="callback_planned",
                             data={"call_id": callback.pk, "at": due_at.isoformat()})
    return callback


# --- during the call ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallMediaContext:
    """What the media consumer needs to run the salesperson for one call."""

    call_id: int
    campaign_id: int
    status: str
    provider: str
    provider_call_id: str
    language: str
    voice: str
    script_map: dict
    variables: dict
    # campaigns in language «auto»: every script language the callee may answer in -> its map
    scripts: dict = field(default_factory=dict)
    # words the recogniser should expect (company, products, cities from the script): pass it as
    # ``stt.transcribe(..., prompt=ctx.stt_prompt)``
    stt_prompt: str = ""
    voicemail_mode: str = "off"  # Campaign.voicemail_mode: the media path listens for a machine unless "off"
    pace_speed: float = 1.0  # a rehearsal's speed-up (calls.telephony.media_pace); real carriers 1


LIVE_FOR_MEDIA = (S.DIALING, S.RINGING, S.IN_PROGRESS)


def call_media_context(*, call_id: int) -> CallMediaContext | None:
    call = Call.objects.select_related("campaign__script", "contact", "script_version").filter(pk=call_id).first()
    if call is None:
        return None
    contact = call.contact
    # The script's own variables ({{company}} is the seller) stay; the callee is {{contact.*}}.
    variables = {"contact": {**(contact.variables or {}), "name": contact.name, "company": contact.company,
                             "first_name": (contact.name or "").split(" ")[0]}}
    from dialogs.scriptmap import speech_prompt

    script_map = call.script_version.dialogue_map if call.script_version else call.campaign.script.dialogue_map
    if call.campaign.greeting.strip():
        script_map = script_with_greeting(script_map, call.campaign.greeting)
    language, scripts = call.campaign.language, {}
    if language == CampaignLanguage.AUTO:
        # The call opens in the main script's language; the callee's first words may switch it.
        language = script_map.get("language") or call.campaign.script.language
        scripts = {s.language: s.dialogue_map for s in call.campaign.language_scripts.all()}
        scripts[language] = script_map
    return CallMediaContext(call_id=call.pk, campaign_id=call.campaign_id, status=call.status,
                            provider=call.provider or call.campaign.telephony_provider,
                            provider_call_id=call.provider_call_id, language=language,
                            voice=call.campaign.voice, script_map=script_map, variables=variables, scripts=scripts,
                            stt_prompt=speech_prompt(script_map), voicemail_mode=call.campaign.voicemail_mode,
                            pace_speed=media_pace(call.campaign, provider=call.provider))


def call_language_heard(*, ctx: CallMediaContext, current: str, detected: str, text: str = "",
                        probability: float | None = None) -> str:
    """A campaign in «auto»: the language to go on in after the recogniser heard ``detected``.

    ``calls.language.LanguageWatch`` calls it for the caller's first turns (transcribed without a
    language hint) once the detection is sure enough; when the answer differs from ``current`` the
    call switches to ``ctx.scripts[answer]``. A switch is written to the call's event log and to
    ``Call.language``.
    """
    from dialogs.languages import pick_language

    if not ctx.scripts:
        return current
    chosen = pick_language(detected, candidates=ctx.scripts, current=current)
    if chosen != current:
        data = {"from": current, "to": chosen, "detected": detected, "text": text[:200]}
        if probability is not None:
            data["probability"] = round(probability, 3)
        with transaction.atomic():
            CallEvent.objects.create(call_id=ctx.call_id, kind="language", data=data)
            Call.objects.filter(pk=ctx.call_id).update(language=chosen)
    return chosen


def call_turn_add(*, call_id: int, index: int, speaker: str, text: str, **fields: Any) -> None:
    """Store one utterance (idempotent per index) and show it live."""
    from calls.models import Turn

    allowed = {f.name for f in Turn._meta.fields} - {"id", "call", "index", "speaker", "text", "created_at"}
    values = {k: v for k, v in fields.items() if k in allowed and v is not None}
    # One INSERT ... ON CONFLICT statement: a busy call server writes turns for every live call, and
    # update_or_create's locked read, insert and savepoint were the largest database cost under load.
    Turn.objects.bulk_create(
        [Turn(call_id=call_id, index=index, speaker=speaker, text=text, **values)],
        update_conflicts=True, unique_fields=["call", "index"], update_fields=["speaker", "text", *values],
    )
    record_turn_metrics(values, channel="call")


def call_recording_save(*, call_id: int, wav: bytes) -> None:
    from django.core.files.base import ContentFile

    call = Call.objects.filter(pk=call_id).first()
    if call is None or not wav:
        return
    call.recording.save(f"call_{call_id}.wav", ContentFile(wav), save=False)
    Call.objects.filter(pk=call_id).update(recording=call.recording.name)


def call_hangup(*, call_id: int) -> None:
    """The flow ended the conversation: ask the carrier to hang up (media-only carriers need nothing)."""
    from calls.telephony import get_provider
    from voice.errors import ProviderError

    call = Call.objects.filter(pk=call_id).only("provider", "provider_call_id").first()
    if call is None or not call.provider_call_id:
        return
    try:
        get_provider(call.provider).hangup(provider_call_id=call.provider_call_id)
    except ProviderError:
        log.warning("call %s: hang-up through %s failed", call_id, call.provider, exc_info=True)


# --- the sweeper ---------------------------------------------------------------------------------------------

# How long a call may sit in each state before the sweeper settles it (seconds; ``CALL_STUCK_AFTER_S``
# overrides any of them). Live states are asked of the carrier first; after-call states are re-driven.
STUCK_AFTER_S = {S.DIALING: 180, S.RINGING: 180, S.IN_PROGRESS: 3600, S.ENDED: 180, S.ANALYSING: 900,
                 S.FOLLOW_UP: 180, S.CRM: 180}
SWEEP_BATCH = 500


def _stuck(status: str, now: datetime) -> list[int]:
    from django.db.models import OuterRef, Q, Subquery

    limit = timedelta(seconds={**STUCK_AFTER_S, **getattr(settings, "CALL_STUCK_AFTER_S", {})}[status])
    since = Subquery(CallEvent.objects.filter(call=OuterRef("pk"), kind="status", to_status=status)
                     .order_by("-created_at").values("created_at")[:1])
    return list(Call.objects.filter(status=status).annotate(since=since)
                .filter(Q(since__lt=now - limit) | Q(since__isnull=True, queued_at__lt=now - limit))
                .values_list("pk", flat=True)[:SWEEP_BATCH])


def _settle_live(call_id: int, status: str, waited_s: int) -> str:
    """Ask the carrier where the call is; without an answer end it with the reason. Returns what was done."""
    from calls.telephony import get_provider
    from voice.errors import ProviderError

    call = Call.objects.filter(pk=call_id, status=status).first()
    if call is None:
        return "moved"
    state = None
    if call.provider_call_id and call.provider:
        try:
            state = get_provider(call.provider).call_state(provider_call_id=call.provider_call_id)
        except ProviderError as exc:
            log.warning("sweeper: call %s: the carrier could not say where it is: %s", call_id, exc)
    if state in ("ringing", "answered") and PROGRESS[state] == status:
        CallEvent.objects.create(call_id=call_id, kind="sweeper", data={"carrier_says": state, "action": "left"})
        return "live"
    if state in PROGRESS or state in PROGRESS_OUTCOMES:
        call_progress(call_id=call_id, event=state, reason="sweeper asked the carrier")
        return f"carrier:{state}"
    if status == S.DIALING and call.dial_requested_at is None and not call.provider_call_id:
        from calls.tasks import place_call  # the dial never left: its task was lost with a worker

        place_call.delay(call_id)
        return "redialled"
    outcome = {S.DIALING: CallOutcome.FAILED, S.RINGING: CallOutcome.NO_ANSWER,
               S.IN_PROGRESS: CallOutcome.COMPLETED}[status]
    reason = f"stuck in {status} for {waited_s // 60} min with no word from the carrier; ended by the sweeper"
    try:
        call_transition(call_id=call_id, to=S.ENDED, outcome=outcome, error=reason, reason=reason)
    except IllegalTransition:
        return "moved"
    return "ended"


def calls_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Settle every call past its deadline in a live state and re-drive stalled after-call work, once each."""
    from calls.tasks import analyse_call

    now = now or timezone.now()
    done: dict[str, int] = {}
    for status in (S.DIALING, S.RINGING, S.IN_PROGRESS):
        limit_s = {**STUCK_AFTER_S, **getattr(settings, "CALL_STUCK_AFTER_S", {})}[status]
        for call_id in _stuck(status, now):
            action = _settle_live(call_id, status, limit_s)
            done[f"{status}:{action}"] = done.get(f"{status}:{action}", 0) + 1
    for status in (S.ENDED, S.ANALYSING, S.FOLLOW_UP, S.CRM):
        for call_id in _stuck(status, now):
            CallEvent.objects.create(call_id=call_id, kind="sweeper", data={"status": status, "action": "re-drive"})
            analyse_call.delay(call_id)
            done[f"{status}:redriven"] = done.get(f"{status}:redriven", 0) + 1
    if done:
        log.info("sweeper: %s", done)
    return done


# --- single calls -----------------------------------------------------------------------------------------

SINGLE_CALLS_LIST = "Single calls"


class SingleCallError(Exception):
    """A single call that cannot be placed; ``field`` names the input at fault (for a 400 answer)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def script_with_greeting(script_map: dict, greeting: str) -> dict:
    """A copy of the map whose first stage opens with ``greeting`` (the rest of the script unchanged)."""
    import copy

    out = copy.deepcopy(script_map)
    start = out.get("start") or "greeting"
    stage = (out.get("stages") or {}).get(start)
    if isinstance(stage, dict):
        stage["phrases"] = [greeting.strip()]
    return out


# The capital's zone for a number's country when the caller gives none (phonenumberslite has no
# per-number zones); Russia spans eleven, so Russian numbers far from Moscow need an explicit zone.
COUNTRY_ZONES = {"RU": "Europe/Moscow", "UZ": "Asia/Tashkent", "TJ": "Asia/Dushanbe", "KZ": "Asia/Almaty",
                 "KG": "Asia/Bishkek", "BY": "Europe/Minsk", "AM": "Asia/Yerevan", "GE": "Asia/Tbilisi",
                 "AZ": "Asia/Baku", "TM": "Asia/Ashgabat", "CN": "Asia/Shanghai", "TR": "Europe/Istanbul"}


def _callee_timezone(phone: str) -> str:
    import phonenumbers

    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(phone))
    except phonenumbers.NumberParseException:
        region = ""
    return COUNTRY_ZONES.get(region, "Europe/Moscow")


@transaction.atomic
def call_single_start(*, phone: str, language: str, user: Any = None, name: str = "", company: str = "",
                      timezone_name: str = "", voice: str = "", script_id: int | None = None, greeting: str = "",
                      provider: str = "") -> Call:
    """One call now, outside any planned campaign: the same lifecycle, analysis and CRM as campaign calls.

    The call gets its own one-call campaign (``single=True``) in the list «Single calls». ``script_id``
    chooses the script, else the first active script in ``language``; ``greeting`` replaces the
    script's opening line. Refused (``SingleCallError``): a number on the do-not-call list, a callee
    outside 08:00–21:00 of their own time, a language the TTS cannot speak, no script for it.
    """

    from config.voice import tts_language_problem
    from dialogs.models import CampaignLanguage, Script
    from dialogs.services import script_current_version

    if language not in CampaignLanguage.values:
        raise SingleCallError("language", _("Unknown language «%(language)s».") % {"language": language})
    if DoNotCall.objects.filter(phone=phone).exists() or Contact.objects.filter(phone=phone, do_not_call=True).exists():
        raise SingleCallError("phone", _("This number is on the do-not-call list."))
    if script_id is not None:
        script = Script.objects.filter(pk=script_id, is_active=True).first()
        if script is None:
            raise SingleCallError("script", _("No active script with this id."))
        if language not in (CampaignLanguage.AUTO, script.language):
            raise SingleCallError("script", _("The script is in «%(script)s», the call in «%(call)s».")
                                  % {"script": script.language, "call": language})
    else:
        wanted = "ru" if language == CampaignLanguage.AUTO else language
        script = Script.objects.filter(language=wanted, is_active=True).order_by("name").first()
        if script is None:
            raise SingleCallError("script", _("There is no active script in «%(language)s»; choose one.")
                                  % {"language": wanted})
    others = []
    if language == CampaignLanguage.AUTO:
        seen = {script.language}
        for other in Script.objects.filter(is_active=True).exclude(language=script.language).order_by("name"):
            if other.language not in seen:
                seen.add(other.language)
                others.append(other)
    for lang in {script.language, *(o.language for o in others)}:
        problem = tts_language_problem(lang)
        if problem:
            raise SingleCallError("language", problem)
    tz_name = timezone_name or _callee_timezone(phone)
    try:
        local = timezone.now().astimezone(ZoneInfo(tz_name))
    except (KeyError, ValueError) as exc:
        raise SingleCallError("timezone", _("Unknown time zone «%(tz)s».") % {"tz": tz_name}) from exc
    if not LOCAL_EARLIEST <= local.time() < LOCAL_LATEST:
        raise SingleCallError("phone", _("It is %(time)s for the callee (%(tz)s): calls are made 08:00–21:00 "
                                         "of their own time.") % {"time": local.strftime("%H:%M"), "tz": tz_name})
    provider = provider or settings.TELEPHONY.get("PROVIDER") or Campaign.Provider.SIMULATED
    contact_list, _created = ContactList.objects.get_or_create(name=SINGLE_CALLS_LIST)
    contact, created = Contact.objects.get_or_create(
        contact_list=contact_list, phone=phone, defaults={"name": name, "company": company, "timezone": tz_name})
    if not created:
        Contact.objects.filter(pk=contact.pk).update(name=name or contact.name, company=company or contact.company,
                                                     timezone=tz_name, finished=False)
    now = timezone.now()
    campaign = Campaign.objects.create(
        name=f"{SINGLE_CALLS_LIST}: {phone} {now:%Y-%m-%d %H:%M:%S.%f}", single=True, script=script,
        contact_list=contact_list, language=language, voice=voice, greeting=greeting.strip(),
        telephony_provider=provider, status=Campaign.Status.ACTIVE, window_start=LOCAL_EARLIEST,
        window_end=LOCAL_LATEST, weekdays=list(range(7)), timezone=tz_name, max_concurrent_calls=1, max_attempts=1,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    if others:
        campaign.language_scripts.set(others)
    call = Call.objects.create(campaign=campaign, contact=contact, attempt=1, scheduled_for=now,
                               script_version=script_current_version(script=script))
    CallEvent.objects.create(call=call, kind="single_call",
                             data={"by": getattr(user, "username", "") or "", "language": language})
    calls_dispatch_due(campaign_id=campaign.pk, now=now)
    return call


# --- live listen-in and takeover (calls.listen) ------------------------------------------------------------

OPERATOR_EVENT_KINDS = ("listen_started", "listen_stopped", "takeover_started", "takeover_ended")


def call_operator_event(*, call_id: int, kind: str, user_id: int | None, username: str, **data: Any) -> None:
    """Log a person listening to or taking over a call, with who it was; the call's page refreshes its log."""
    if kind not in OPERATOR_EVENT_KINDS:
        raise ValueError(f"unknown operator event {kind!r}")
    call = Call.objects.filter(pk=call_id).only("campaign_id").first()
    if call is None:
        log.warning("%s for unknown call %s", kind, call_id)
        return
    event = CallEvent.objects.create(call_id=call_id, kind=kind, data={"user": username, "user_id": user_id, **data})
    call_publish(call_id=call_id, campaign_id=call.campaign_id,
                 payload={"kind": "operator", "event": kind, "user": username, "at": event.created_at.isoformat()})
