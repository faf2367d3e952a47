"""Dialling: placing a queued call under the concurrency cap, and starting a single call outside any campaign plan."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from calls.media_auth import call_media_token, call_media_url, public_url
from calls.media_pressure import media_busy
from calls.models import LIVE_STATUSES, Call, CallEvent, CallOutcome, Campaign, Contact, ContactList, DoNotCall
from calls.services.lifecycle import call_transition
from calls.services.planning import LOCAL_EARLIEST, LOCAL_LATEST, calls_dispatch_due, live_capacity
from calls.telephony import DialRequest, provider_for
from config.metrics import carrier_error_code, record_carrier_error
from config.voice import tts_language_problem
from dialogs.models import CampaignLanguage, Script
from dialogs.services import script_current_version
from integrations.errors import ProviderError, ProviderTimeout

log = logging.getLogger(__name__)

S = Call.Status


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
            deployment = live_capacity()  # speech recognition and the media processes serve no more in time
            if live >= campaign.max_concurrent_calls or (
                    deployment is not None and Call.objects.filter(status__in=LIVE_STATUSES).count() >= deployment):
                return _wait_for_a_line(call_id, campaign)
            if (busy := media_busy()) is not None:
                # a media process's audio runs late now: a new call would make every live one later still
                log.info("call %s held: media process %s is %s ms late with %s calls", call_id, busy.get("process"),
                         busy.get("lag_ms"), busy.get("streams"))
                return _wait_for_a_line(call_id, campaign)
            call = call_transition(call_id=call_id, to=S.DIALING, provider=campaign.telephony_provider)
        elif call.status == S.DIALING and not call.provider_call_id:
            if call.dial_requested_at is not None:
                settle = timedelta(seconds=settings.TELEPHONY.get("DIAL_SETTLE_S", 90))
                waited = timezone.now() - call.dial_requested_at
                if waited < settle:
                    # asked again no sooner than 5 s: the status callback is what moves the call on
                    return PlaceResult("settling", call_id, wait_s=max(5.0, (settle - waited).total_seconds()))
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


# --- single calls -----------------------------------------------------------------------------------------

SINGLE_CALLS_LIST = "Single calls"


class SingleCallError(Exception):
    """A single call that cannot be placed; ``field`` names the input at fault (for a 400 answer)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


# The capital's zone for a number's country when the caller gives none (phonenumberslite has no
# per-number zones); Russia spans eleven, so Russian numbers far from Moscow need an explicit zone.
COUNTRY_ZONES = {"RU": "Europe/Moscow", "UZ": "Asia/Tashkent", "TJ": "Asia/Dushanbe", "KZ": "Asia/Almaty",
                 "KG": "Asia/Bishkek", "BY": "Europe/Minsk", "AM": "Asia/Yerevan", "GE": "Asia/Tbilisi",
                 "AZ": "Asia/Baku", "TM": "Asia/Ashgabat", "CN": "Asia/Shanghai", "TR": "Europe/Istanbul"}


def _callee_timezone(phone: str) -> str:
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


