"""Reads for the trainer: which sessions a user may see, and a trainee's history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils.timezone import localtime

from config.roles import TRAINEE, user_role
from training.models import Scenario, Trainee, TrainingSession


def sessions_visible_to(*, user: Any) -> QuerySet[TrainingSession]:
    """Trainees see only their own sessions; managers (view permission, no trainee role) see all."""
    qs = TrainingSession.objects.select_related("trainee__user", "scenario")
    if not user.is_authenticated:
        return qs.none()
    if user_role(user) == TRAINEE:
        return qs.filter(trainee__user=user)
    if user.has_perm("training.view_trainingsession"):
        return qs
    return qs.none()


def scenarios_available() -> QuerySet[Scenario]:
    return Scenario.objects.filter(is_active=True)


@dataclass(frozen=True)
class ChartPoint:
    x: float
    y: float
    total: int
    label: str
    session_id: int


@dataclass(frozen=True)
class ProgressChart:
    """Scores over time, laid out for an inline SVG (no chart library): ``points`` in a 0..width box."""

    points: list[ChartPoint]
    width: int = 600
    height: int = 200
    pad: int = 24

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)

    @property
    def gridlines(self) -> list[tuple[int, float]]:
        inner = self.height - 2 * self.pad
        return [(v, self.pad + inner * (1 - v / 100)) for v in (0, 25, 50, 75, 100)]

    @property
    def average(self) -> float | None:
        return round(sum(p.total for p in self.points) / len(self.points), 1) if self.points else None


def scored_sessions(*, trainee: Trainee) -> QuerySet[TrainingSession]:
    return (
        TrainingSession.objects.filter(trainee=trainee, score__isnull=False)
        .select_related("score", "scenario")
        .order_by("created_at")
    )


def progress_chart(*, trainee: Trainee, limit: int = 50, width: int = 600, height: int = 200) -> ProgressChart:
    sessions = list(scored_sessions(trainee=trainee))[-limit:]
    pad = 24
    inner_w, inner_h = width - 2 * pad, height - 2 * pad
    n = len(sessions)
    points = [
        ChartPoint(
            x=pad + (inner_w * i / (n - 1) if n > 1 else inner_w / 2),
            y=pad + inner_h * (1 - s.score.total / 100),
            total=s.score.total,
            label=f"#{s.pk} {localtime(s.created_at):%d.%m %H:%M}",
            session_id=s.pk,
        )
        for i, s in enumerate(sessions)
    ]
    return ProgressChart(points=points, width=width, height=height, pad=pad)


def trainee_for(*, user: Any) -> Trainee | None:
    return Trainee.objects.filter(user=user).first() if getattr(user, "is_authenticated", False) else None
