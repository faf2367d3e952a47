"""Reads for the operator console: campaign progress and recent calls."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from calls.models import Call, Campaign

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


def call_exists(*, call_id: int) -> bool:
    return Call.objects.filter(pk=call_id).exists()
