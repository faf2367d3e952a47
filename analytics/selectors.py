"""Headline KPIs for the manager's dashboard."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

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
    trainee_id: int | None = None
    team: str = ""


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
    return [
        LeaderRow(str(t), t.n, t.best, round(t.avg, 1) if t.avg is not None else None, trainee_id=t.pk, team=t.team)
        for t in rows
    ]


EXPORT_STAGES = ("greeting", "discovery", "presentation", "objections", "closing")
EXPORT_METRICS = (
    "talk_ratio", "longest_monologue_s", "questions_asked", "open_questions", "filler_rate", "interruptions",
    "objections_met", "objections_handled",
)
EXPORT_HEADER = (
    "session", "trainee", "username", "team", "scenario", "language", "difficulty", "status", "created", "ended",
    "end_reason", "score", *(f"stage_{k}" for k in EXPORT_STAGES), *EXPORT_METRICS,
)


def training_export_rows(*, trainee_id: int | None = None) -> Iterator[list[Any]]:
    """Every training session as a CSV row (header first); stage points and metrics as columns."""
    from training.models import TrainingSession

    yield list(EXPORT_HEADER)
    sessions = TrainingSession.objects.select_related("trainee__user", "scenario", "score").order_by("created_at")
    if trainee_id is not None:
        sessions = sessions.filter(trainee_id=trainee_id)
    for s in sessions.iterator(chunk_size=500):
        score = getattr(s, "score", None)
        stages = {st["key"]: st for st in (score.rubric.get("stages", []) if score else [])}
        metrics = score.metrics if score else {}
        yield [
            s.pk, str(s.trainee), s.trainee.user.get_username(), s.trainee.team,
            s.scenario.title if s.scenario else s.product_description[:80], s.language, s.difficulty, s.status,
            s.created_at.isoformat(), s.ended_at.isoformat() if s.ended_at else "", s.end_reason,
            score.total if score else "",
            *((stages[k]["points"] if k in stages and stages[k].get("applicable") else "") for k in EXPORT_STAGES),
            *(metrics.get(k, "") for k in EXPORT_METRICS),
        ]
