"""Headline KPIs for the manager's dashboard."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Avg, Count, Max, Q

from calls.models import Call, Campaign
from crm.models import Lead
from training.models import Score, Trainee


@dataclass(frozen=True)
class LeaderRow:
    trainee: str
    sessions: int
    best: int | None
    average: float | None


@dataclass(frozen=True)
class Kpis:
    campaigns_active: int
    calls_total: int
    calls_connected: int
    leads: int
    sessions_scored: int
    average_score: float | None

    @property
    def connect_rate(self) -> int:
        return round(100 * self.calls_connected / self.calls_total) if self.calls_total else 0


def kpis() -> Kpis:
    calls = Call.objects.aggregate(total=Count("id"), connected=Count("id", filter=Q(answered_at__isnull=False)))
    scores = Score.objects.aggregate(n=Count("id"), avg=Avg("total"))
    return Kpis(
        campaigns_active=Campaign.objects.filter(status=Campaign.Status.ACTIVE).count(),
        calls_total=calls["total"],
        calls_connected=calls["connected"],
        leads=Lead.objects.count(),
        sessions_scored=scores["n"],
        average_score=round(scores["avg"], 1) if scores["avg"] is not None else None,
    )


def leaderboard(*, limit: int = 20) -> list[LeaderRow]:
    rows = (
        Trainee.objects.annotate(
            n=Count("sessions__score"), best=Max("sessions__score__total"), avg=Avg("sessions__score__total")
        )
        .select_related("user")
        .order_by("-avg", "-best")[:limit]
    )
    return [LeaderRow(str(t), t.n, t.best, round(t.avg, 1) if t.avg is not None else None) for t in rows]
