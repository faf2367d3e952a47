"""Rehearsing a campaign end to end on the running stack: the web server serves the media consumer, the worker runs
the tasks and the simulated carrier.

``campaign_rehearse`` creates a campaign of N demo contacts on the simulated carrier, its carrier options
(pace, how callees understand the bot) on the campaign itself, plans it with the real planner, and waits
while the running Celery worker (the one ``make run`` starts) dials, its simulated callees connect to the
web server named by ``TELEPHONY["PUBLIC_BASE_URL"]`` and the real consumer, pipeline and after-call
work play it out, until every call is final. When the time runs out first, the campaign is paused as a
manager pauses one, so nothing more is dialled after the report, and the calls not final are ``lost``.
Nothing here starts a worker or a server, or changes a setting: with no worker answering it refuses at once.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from datetime import time as dtime
from zoneinfo import ZoneInfo, available_timezones

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from calls.models import Call, CallOutcome, Campaign, Contact, ContactList, VoicemailMode
from calls.services import calls_dispatch_due, campaign_plan, campaign_save, campaign_schedule_sync
from calls.telephony import SIMULATED_OPTIONS
from config.celery import NoWorker, worker_required
from config.demo import data
from config.demo.services import demo_seed
from crm.models import Lead
from dialogs.models import Script

__all__ = ["NoWorker", "campaign_create_for_rehearsal", "campaign_rehearsal_start", "campaign_rehearse",
           "daytime_zone", "rehearsal_result"]

log = logging.getLogger(__name__)


def daytime_zone(*, now: datetime | None = None, prefer: str = "Europe/Moscow") -> str:
    """A time zone where it is 09:00–17:00 now, so a rehearsal at any hour stays inside 08:00–21:00."""
    now = now or timezone.now()
    candidates = [prefer, "Europe/Kaliningrad", "Asia/Yekaterinburg", "Asia/Novosibirsk", "Asia/Vladivostok",
                  "Asia/Kamchatka", "America/New_York", "America/Los_Angeles", "Pacific/Honolulu", "Europe/London",
                  *sorted(available_timezones())]
    for name in candidates:
        with contextlib.suppress(Exception):
            if 9 <= now.astimezone(ZoneInfo(name)).hour < 17:
                return name
    return prefer


@dataclass
class RehearsalResult:
    calls: int = 0
    completed: int = 0
    no_answer: int = 0
    busy: int = 0
    voicemail: int = 0
    failed: int = 0
    analysed: int = 0
    leads: int = 0
    transferred: int = 0  # put through to a person (the campaign's simulation may set an ``ask_human`` share)
    lost: int = 0
    seconds: float = 0.0
    campaign_id: int = 0
    timed_out: bool = False  # the time ran out with calls not final: the campaign was paused

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def campaign_create_for_rehearsal(*, contacts: int, seed: int = 1, shares: dict | None = None,
                                  concurrency: int = 4, voicemail_mode: str = VoicemailMode.LEAVE_MESSAGE,
                                  carrier: dict | None = None) -> Campaign:
    """A simulated campaign of demo contacts; ``carrier``: its own simulated-carrier options
    (``calls.telephony.SIMULATED_OPTIONS``, e.g. ``{"pace_speed": 4}``), unset ones as configured."""
    if not Script.objects.filter(name=data.SCRIPTS[0][0]).exists():
        demo_seed()
    script = Script.objects.get(name=data.SCRIPTS[0][0])
    # local time, as every page shows it (TIME_ZONE), not UTC
    stamp = timezone.localtime().strftime("%Y-%m-%d %H:%M:%S")
    tz = daytime_zone()
    with transaction.atomic():
        name = base = gettext("Rehearsal %(time)s") % {"time": stamp}
        n = 1
        while Campaign.objects.filter(name=name).exists() or ContactList.objects.filter(name=name).exists():
            n += 1  # names are unique: a second rehearsal in the same second is numbered
            name = f"{base} ({n})"
        contact_list = ContactList.objects.create(name=name)
        Contact.objects.bulk_create([
            Contact(contact_list=contact_list, phone=f"+7999{seed % 100:02d}{i:05d}", timezone=tz,
                    name=data.CONTACTS[i % len(data.CONTACTS)][0], company=data.CONTACTS[i % len(data.CONTACTS)][1],
                    variables={"city": data.CONTACTS[i % len(data.CONTACTS)][3],
                               "product": data.CONTACTS[i % len(data.CONTACTS)][4]})
            for i in range(contacts)
        ])
        return Campaign.objects.create(
            name=name, script=script, contact_list=contact_list, status=Campaign.Status.ACTIVE,
            telephony_provider=Campaign.Provider.SIMULATED, window_start=dtime(8), window_end=dtime(21),
            weekdays=list(range(7)), timezone=tz, max_concurrent_calls=concurrency, average_call_seconds=8,
            max_attempts=1, simulation={**(shares or {}), **_carrier_options(carrier), "seed": seed},
            voicemail_mode=voicemail_mode,  # a simulated answering machine gets the script's message by default
        )


def _carrier_options(carrier: dict | None) -> dict:
    unknown = set(carrier or {}) - set(SIMULATED_OPTIONS)
    if unknown:
        raise ValueError(f"unknown simulated carrier option(s) {sorted(unknown)}; choose from {SIMULATED_OPTIONS}")
    return {key: value for key, value in (carrier or {}).items() if value is not None}


def campaign_rehearsal_start(*, contacts: int, seed: int = 1, worker_timeout_s: float = 1.0) -> Campaign:
    """The console's "rehearse": a simulated campaign planned now; the running worker and web server do the rest.

    Calls due within the dispatch horizon go to the worker at once, later ones through beat's
    every-minute dispatcher, so the board fills in live just as a real campaign would. ``NoWorker``,
    with nothing created, when no worker answers within ``worker_timeout_s``: nothing would dial.
    """
    worker_required(timeout_s=worker_timeout_s)
    campaign = campaign_create_for_rehearsal(contacts=contacts, seed=seed)
    campaign_schedule_sync(campaign=campaign)
    campaign_plan(campaign_id=campaign.pk)  # today in the campaign's zone
    return campaign


def rehearsal_result(*, campaign_id: int) -> RehearsalResult:
    calls = Call.objects.filter(campaign_id=campaign_id)
    r = RehearsalResult(campaign_id=campaign_id, calls=calls.count())
    for outcome in ("completed", "no_answer", "busy", "voicemail", "failed"):
        setattr(r, outcome, calls.filter(outcome=outcome).count())
    r.analysed = calls.filter(outcome=CallOutcome.COMPLETED, status=Call.Status.DONE).exclude(analysis={}).count()
    r.leads = Lead.objects.filter(call__campaign_id=campaign_id).count()
    r.transferred = calls.filter(transferred_at__isnull=False).count()
    r.lost = calls.exclude(status__in=[Call.Status.DONE, Call.Status.CANCELED]).count()
    return r


def campaign_rehearse(*, contacts: int, seed: int = 1, timeout_s: float = 900, pace_speed: float | None = None,
                      callee_stt: str | None = None, concurrency: int = 4, shares: dict | None = None,
                      voicemail_mode: str = VoicemailMode.LEAVE_MESSAGE, persona: str | None = None,
                      max_call_s: float | None = None) -> RehearsalResult:
    """Rehearse on the running worker and web server; ``NoWorker`` at once when no worker answers.

    ``pace_speed``, ``callee_stt``, ``persona``, ``max_call_s``: the campaign's own simulated-carrier
    options (``None``: as the worker is configured, ``SIMULATED_*``).
    """
    started = time.monotonic()
    worker_required()
    campaign, done = _rehearse_until_done(
        contacts=contacts, seed=seed, shares=shares, concurrency=concurrency, deadline=started + timeout_s,
        voicemail_mode=voicemail_mode,
        carrier={"pace_speed": pace_speed, "callee_stt": callee_stt, "persona": persona, "max_call_s": max_call_s})
    if not done:
        # left active, beat's dispatcher would go on ringing its contacts after this report: pause it as a
        # manager does, and every call still queued is canceled when its task comes, not dialled
        campaign_save(fields={"status": Campaign.Status.PAUSED}, campaign=Campaign.objects.get(pk=campaign.pk))
        log.warning("rehearsal campaign %s: out of time after %s s with calls not final; paused",
                    campaign.pk, timeout_s)
    result = rehearsal_result(campaign_id=campaign.pk)
    result.timed_out = not done
    result.seconds = round(time.monotonic() - started, 1)
    return result


def _rehearse_until_done(*, contacts: int, seed: int, shares: dict | None, concurrency: int,
                         deadline: float, voicemail_mode: str, carrier: dict) -> tuple[Campaign, bool]:
    """The planned campaign, and whether every call of it was final by ``deadline`` (``time.monotonic``)."""
    campaign = campaign_create_for_rehearsal(contacts=contacts, seed=seed, shares=shares, concurrency=concurrency,
                                             voicemail_mode=voicemail_mode, carrier=carrier)
    plan = campaign_plan(campaign_id=campaign.pk)  # today in the campaign's zone
    log.info("rehearsal campaign %s: %s", campaign.pk, plan.to_dict())
    pending = Call.objects.filter(campaign=campaign).exclude(status__in=[Call.Status.DONE, Call.Status.CANCELED])
    while time.monotonic() < deadline:
        if not pending.exists():
            return campaign, True
        # what beat's every-minute dispatcher does, sooner: the rehearsal's ETAs are seconds apart
        calls_dispatch_due(campaign_id=campaign.pk)
        time.sleep(1)
    return campaign, not pending.exists()
