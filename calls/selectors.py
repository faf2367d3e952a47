"""Reads for the operator console: campaign progress and recent calls."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from calls.models import Call, CallEvent, Campaign

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
    campaigns = (campaigns if campaigns is not None else Campaign.objects.all()).annotate(
        n_contacts=Count("contact_list__contacts", distinct=True),
        n_planned=Count("calls", distinct=True),
        n_dialled=Count(
            "calls", filter=~Q(calls__status__in=[Call.Status.QUEUED, Call.Status.CANCELED]), distinct=True
        ),
        n_connected=Count("calls", filter=Q(calls__answered_at__isnull=False), distinct=True),
        n_interested=Count("calls", filter=Q(calls__disposition=Call.Disposition.INTERESTED), distinct=True),
        n_leads=Count("calls__lead", distinct=True),
        n_open=Count("calls", filter=~Q(calls__status__in=[Call.Status.DONE, Call.Status.CANCELED]), distinct=True),
        n_called=Count("calls__contact", distinct=True),
    ).select_related("script", "contact_list")
    return [
        CampaignProgress(c, c.n_contacts, c.n_planned, c.n_dialled, c.n_connected, c.n_interested, c.n_leads,
                         open_calls=c.n_open, called_contacts=c.n_called)
        for c in campaigns
    ]


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
    from dialogs.analysis import analyse_transcript

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
