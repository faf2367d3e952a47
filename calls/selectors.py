"""Reads of campaigns and calls: the operator console's progress and lists, a live call's media context,
what a call's webhook carries, and the summary so far for a transfer."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from calls.media_auth import public_url
from calls.models import Call, CallEvent, Campaign, Contact
from calls.telephony import media_pace
from dialogs.analysis import analyse_transcript
from dialogs.models import CampaignLanguage, ScriptVersion
from dialogs.scriptmap import speech_prompt

# a campaign («кампания») agrees in gender: «Активна», «Завершена» (a call's outcome is «Завершён»)
CAMPAIGN_STATUS_LABELS = {
    Campaign.Status.DRAFT: pgettext_lazy("campaign status", "Draft"),
    Campaign.Status.ACTIVE: pgettext_lazy("campaign status", "Active"),
    Campaign.Status.PAUSED: pgettext_lazy("campaign status", "Paused"),
    Campaign.Status.COMPLETED: pgettext_lazy("campaign status", "Completed"),
    Campaign.Status.ARCHIVED: pgettext_lazy("campaign status", "Archived"),
}


@dataclass(frozen=True)
class CampaignProgress:
    campaign: Campaign
    contacts: int
    planned: int
    dialled: int
    connected: int
    interested: int
    leads: int
    open_calls: int = 0
    called_contacts: int = 0

    @property
    def finished(self) -> bool:
        """Every contact was called and no call is still on its way: the campaign is over."""
        return bool(self.planned) and self.open_calls == 0 and self.called_contacts >= self.contacts

    @property
    def status_code(self) -> str:
        if self.campaign.status == Campaign.Status.ACTIVE and self.finished:
            return Campaign.Status.COMPLETED
        return self.campaign.status

    @property
    def status_label(self) -> str:
        return str(CAMPAIGN_STATUS_LABELS.get(self.status_code, Campaign.Status(self.status_code).label))

    def share(self, value: int) -> int:
        return round(100 * value / self.contacts) if self.contacts else 0

    @property
    def rows(self) -> list[tuple[str, int, int]]:
        """(label, count, percent of contacts) for the board's progress bars."""
        labels = [
            (_("Planned"), self.planned), (_("Dialled"), self.dialled), (_("Connected"), self.connected),
            (_("Interested"), self.interested), (_("Leads"), self.leads),
        ]
        return [(label, value, min(100, self.share(value))) for label, value in labels]


def campaign_progress_list(*, campaigns: QuerySet[Campaign] | None = None) -> list[CampaignProgress]:
    """Each campaign's progress: two grouped queries, one over contacts and one over calls.

    Counting both in one query joined each campaign's contacts to its calls, contacts × calls rows: with the
    demo's 3,000 calls the board took 20 s to open.
    """
    campaigns = list((campaigns if campaigns is not None else Campaign.objects.all()).select_related(
        "script", "contact_list"))
    list_ids = {c.contact_list_id for c in campaigns}
    contacts = dict(Contact.objects.filter(contact_list_id__in=list_ids).order_by().values_list("contact_list_id")
                    .annotate(n=Count("pk")))
    calls = Call.objects.filter(campaign_id__in=[c.pk for c in campaigns]).order_by().values("campaign_id")
    figures = {
        row.pop("campaign_id"): row
        for row in calls.annotate(
            planned=Count("pk"),
            dialled=Count("pk", filter=~Q(status__in=[Call.Status.QUEUED, Call.Status.CANCELED])),
            connected=Count("pk", filter=Q(answered_at__isnull=False)),
            interested=Count("pk", filter=Q(disposition=Call.Disposition.INTERESTED)),
            leads=Count("lead"),
            open_calls=Count("pk", filter=~Q(status__in=[Call.Status.DONE, Call.Status.CANCELED])),
            called_contacts=Count("contact", distinct=True),
        )
    }
    empty = {"planned": 0, "dialled": 0, "connected": 0, "interested": 0, "leads": 0, "open_calls": 0,
             "called_contacts": 0}
    return [CampaignProgress(c, contacts=contacts.get(c.contact_list_id, 0), **figures.get(c.pk, empty))
            for c in campaigns]


def calls_recent(*, limit: int = 50) -> QuerySet[Call]:
    return Call.objects.select_related("contact", "campaign").order_by("-queued_at")[:limit]


# --- transfer to a human: what the operator reads before taking the call (issue 14) --------------------------


@dataclass(frozen=True)
class SummarySoFar:
    """A live call in a few lines: the offline analysis of the turns stored so far, and the last of them."""

    summary: str
    interest: int
    stage: str
    slots: dict
    objections: list[str]
    last_lines: list[tuple[str, str]]  # (speaker, text), oldest first
    turns: int
    transfer: dict  # the requested handoff ({"to"} or {"queue"}, "reason"), empty when none was asked for


def call_summary_so_far(*, call_id: int, last: int = 4) -> SummarySoFar | None:
    """The summary so far of a call, live or not: the offline summariser over its stored turns (cheap, no vendor)."""
    call = Call.objects.select_related("campaign__script", "script_version", "contact").filter(pk=call_id).first()
    if call is None:
        return None
    script_map = call.script_version.dialogue_map if call.script_version else call.campaign.script.dialogue_map
    turns = list(call.turns.order_by("index").values_list("speaker", "text"))
    language = script_map.get("language") or call.campaign.script.language
    contact = call.contact
    variables = {"contact": {**(contact.variables or {}), "name": contact.name, "company": contact.company}}
    result = analyse_transcript(turns, script_map=script_map, language=language, provider="offline",
                                variables=variables)
    requested = (CallEvent.objects.filter(call_id=call_id, kind="transfer_requested")
                 .order_by("-created_at").values_list("data", flat=True).first())
    return SummarySoFar(summary=result.summary if turns else "", interest=result.interest if turns else 0,
                        stage=result.stage_reached, slots=dict(result.slots),
                        objections=[o.type for o in result.objections], last_lines=turns[-last:], turns=len(turns),
                        transfer=dict(requested or {}))


def call_handoff(*, call_id: int) -> SummarySoFar | None:
    """The summary so far, only for a call whose bot asked to put the callee through to a person."""
    if not CallEvent.objects.filter(call_id=call_id, kind="transfer_requested").exists():
        return None
    return call_summary_so_far(call_id=call_id)


def call_exists(*, call_id: int) -> bool:
    return Call.objects.filter(pk=call_id).exists()


def campaign_script_version_id(*, campaign: Campaign) -> int | None:
    """The id of the campaign's script's current version (what a newly planned call is pinned to)."""
    return (ScriptVersion.objects.filter(script_id=campaign.script_id, version=campaign.script.version)
            .values_list("id", flat=True).first())


def call_event_data(*, call: Call) -> dict[str, Any]:
    """What a ``call.analyzed`` webhook carries."""
    return {"call_id": call.pk, "campaign_id": call.campaign_id, "contact_id": call.contact_id,
            "phone": call.contact.phone, "status": call.status, "outcome": call.outcome,
            "disposition": call.disposition, "interest": call.interest, "crm_status": call.crm_status,
            "summary": call.summary, "follow_up": call.follow_up, "duration_s": call.duration_s,
            "transcript_url": public_url(reverse("calls:call_detail", args=[call.pk])),
            "recording_url": public_url(reverse("calls:call_recording", args=[call.pk])) if call.recording else None}


# --- during the call: what the media consumer runs the salesperson with ---------------------------------------


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


LIVE_FOR_MEDIA = (Call.Status.DIALING, Call.Status.RINGING, Call.Status.IN_PROGRESS)


def script_with_greeting(script_map: dict, greeting: str) -> dict:
    """A copy of the map whose first stage opens with ``greeting`` (the rest of the script unchanged)."""
    out = copy.deepcopy(script_map)
    start = out.get("start") or "greeting"
    stage = (out.get("stages") or {}).get(start)
    if isinstance(stage, dict):
        stage["phrases"] = [greeting.strip()]
    return out


def call_media_context(*, call_id: int) -> CallMediaContext | None:
    return call_media_contexts(call_ids=[call_id])[0]


def call_media_contexts(*, call_ids: list[int]) -> list[CallMediaContext | None]:
    """``call_media_context`` of many calls with one query (None where a call does not exist), in their order.

    A campaign's calls are answered together, and each media socket needs its call's context before it plays a
    word: compiling the same four-table query once per call was most of the cost (``calls.db_batch`` gathers
    the sockets that ask at once).
    """
    calls = {call.pk: call for call in Call.objects.select_related("campaign__script", "contact", "script_version")
             .filter(pk__in=set(call_ids)).order_by()}
    scripts_of: dict[int, dict] = {}  # «auto» campaigns: their language scripts, read once per campaign
    out: list[CallMediaContext | None] = []
    for call_id in call_ids:
        call = calls.get(call_id)
        if call is None:
            out.append(None)
            continue
        contact = call.contact
        # The script's own variables ({{company}} is the seller) stay; the callee is {{contact.*}}.
        variables = {"contact": {**(contact.variables or {}), "name": contact.name, "company": contact.company,
                                 "first_name": (contact.name or "").split(" ")[0]}}
        script_map = call.script_version.dialogue_map if call.script_version else call.campaign.script.dialogue_map
        if call.campaign.greeting.strip():
            script_map = script_with_greeting(script_map, call.campaign.greeting)
        language, scripts = call.campaign.language, {}
        if language == CampaignLanguage.AUTO:
            # The call opens in the main script's language; the callee's first words may switch it.
            language = script_map.get("language") or call.campaign.script.language
            if call.campaign_id not in scripts_of:
                scripts_of[call.campaign_id] = {s.language: s.dialogue_map
                                                for s in call.campaign.language_scripts.all()}
            scripts = copy.deepcopy(scripts_of[call.campaign_id])  # each call's own, as if read for it alone
            scripts[language] = script_map
        out.append(CallMediaContext(
            call_id=call.pk, campaign_id=call.campaign_id, status=call.status,
            provider=call.provider or call.campaign.telephony_provider, provider_call_id=call.provider_call_id,
            language=language, voice=call.campaign.voice, script_map=script_map, variables=variables,
            scripts=scripts, stt_prompt=speech_prompt(script_map), voicemail_mode=call.campaign.voicemail_mode,
            pace_speed=media_pace(call.campaign, provider=call.provider)))
    return out
