"""Reads for the trainer: which sessions a user may see, and a trainee's history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.text import slugify
from django.utils.timezone import localtime
from django.utils.translation import gettext_lazy as _

from config.roles import TRAINEE, user_role
from training.models import Assignment, Certification, Scenario, Scorecard, Trainee, TrainingSession
from training.scoring import DEFAULT_SCORECARD, PHRASES_RULE, CheckSpec, ScorecardSpec, StageSpec


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


# --- scorecards ----------------------------------------------------------------------------------


def _stage_key(title: str, known: dict[str, str]) -> str:
    return known.get(title) or slugify(title) or "stage"


def scorecard_for(*, scenario: Scenario | None) -> Scorecard | None:
    """The scenario's own scorecard, else the default one (``None``: no scorecard rows at all)."""
    if scenario is not None and scenario.scorecard_id:
        return scenario.scorecard
    return Scorecard.objects.filter(is_default=True).first()


def scorecard_spec(*, scorecard: Scorecard | None) -> ScorecardSpec:
    """The scorecard as scoring sees it: stages in the order of their first check, keys that stay stable.

    Stages of the shipped card keep their keys (greeting, discovery…), which the analytics export uses.
    """
    if scorecard is None:
        return DEFAULT_SCORECARD
    known = {stage.title: stage.key for stage in DEFAULT_SCORECARD.stages}
    stages: dict[str, list[CheckSpec]] = {}
    seen: dict[str, int] = {}
    for check in scorecard.checks.all().order_by("order", "id"):
        key = check.rule if check.rule != PHRASES_RULE else f"custom_{check.pk}"
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            key = f"{key}_{check.pk}"
        phrases = tuple(p.strip() for p in check.phrases.split(",") if p.strip())
        stages.setdefault(check.stage, []).append(CheckSpec(
            key=key, label=check.label, rule=check.rule, points=check.points, description=check.description,
            phrases=phrases,
        ))
    return ScorecardSpec(
        name=scorecard.name, pass_threshold=scorecard.pass_threshold,
        stages=tuple(StageSpec(key=_stage_key(title, known), title=title, checks=tuple(checks))
                     for title, checks in stages.items()),
    )


# --- assignments ---------------------------------------------------------------------------------


class AssignmentStatus:
    OPEN = "open"
    OVERDUE = "overdue"
    PASSED = "passed"
    FAILED = "failed"


STATUS_LABELS = {
    AssignmentStatus.OPEN: _("Open"),
    AssignmentStatus.OVERDUE: _("Overdue"),
    AssignmentStatus.PASSED: _("Passed"),
    AssignmentStatus.FAILED: _("No attempts left"),
}


@dataclass(frozen=True)
class AssignmentProgress:
    assignment: Assignment
    trainee: Trainee
    threshold: int
    attempts: int  # scored sessions that count (at most max_attempts)
    best: int | None
    status: str

    @property
    def status_label(self) -> str:
        return str(STATUS_LABELS[self.status])

    @property
    def attempts_left(self) -> int:
        return max(0, self.assignment.max_attempts - self.attempts)


@dataclass(frozen=True)
class CountedAttempt:
    assignment: Assignment
    threshold: int
    attempt: int


def assignment_threshold(*, assignment: Assignment) -> int:
    if assignment.pass_threshold:
        return assignment.pass_threshold
    card = scorecard_for(scenario=assignment.scenario)
    return card.pass_threshold if card else DEFAULT_SCORECARD.pass_threshold


def assignment_trainees(*, assignment: Assignment) -> QuerySet[Trainee]:
    chosen = Q(pk__in=assignment.trainees.values("pk"))
    if assignment.team:
        chosen |= Q(team=assignment.team)
    return Trainee.objects.filter(chosen).select_related("user").distinct()


def _attempts(*, assignment: Assignment, trainee: Trainee) -> list[TrainingSession]:
    """The scored sessions of this scenario since it was assigned, oldest first, within the attempts."""
    return list(
        TrainingSession.objects.filter(trainee=trainee, scenario_id=assignment.scenario_id, score__isnull=False,
                                       created_at__gte=assignment.created_at)
        .select_related("score").order_by("created_at", "id")[: assignment.max_attempts]
    )


def assignment_progress(*, assignment: Assignment, trainee: Trainee, now: Any = None) -> AssignmentProgress:
    now = now or timezone.now()
    threshold = assignment_threshold(assignment=assignment)
    sessions = _attempts(assignment=assignment, trainee=trainee)
    totals = [s.score.total for s in sessions]
    if any(t >= threshold for t in totals):
        status = AssignmentStatus.PASSED
    elif len(totals) >= assignment.max_attempts:
        status = AssignmentStatus.FAILED
    elif now > assignment.due_at:
        status = AssignmentStatus.OVERDUE
    else:
        status = AssignmentStatus.OPEN
    return AssignmentProgress(assignment=assignment, trainee=trainee, threshold=threshold, attempts=len(totals),
                              best=max(totals) if totals else None, status=status)


def assignments_for_trainee(*, trainee: Trainee, open_only: bool = True) -> list[AssignmentProgress]:
    found = Assignment.objects.filter(Q(trainees=trainee) | Q(team=trainee.team) if trainee.team else
                                      Q(trainees=trainee)).select_related("scenario").distinct()
    rows = [assignment_progress(assignment=a, trainee=trainee) for a in found.order_by("due_at", "id")]
    if open_only:
        rows = [r for r in rows if r.status in (AssignmentStatus.OPEN, AssignmentStatus.OVERDUE)]
    return rows


def assignments_overview() -> list[tuple[Assignment, list[AssignmentProgress]]]:
    """Every assignment with each assignee's progress, for the manager: who passed, who is overdue."""
    out = []
    for a in Assignment.objects.select_related("scenario").order_by("due_at", "id"):
        out.append((a, [assignment_progress(assignment=a, trainee=t) for t in assignment_trainees(assignment=a)]))
    return out


def assignment_attempt_for(*, session: TrainingSession) -> CountedAttempt | None:
    """The open assignment this scored session counts for (the one due first), if any."""
    for a in Assignment.objects.filter(scenario_id=session.scenario_id, created_at__lte=session.created_at) \
            .order_by("due_at", "id"):
        if not assignment_trainees(assignment=a).filter(pk=session.trainee_id).exists():
            continue
        ids = [s.pk for s in _attempts(assignment=a, trainee=session.trainee)]
        if session.pk in ids:
            return CountedAttempt(assignment=a, threshold=assignment_threshold(assignment=a),
                                  attempt=ids.index(session.pk) + 1)
    return None


def certifications_of(*, trainee: Trainee) -> QuerySet[Certification]:
    return Certification.objects.filter(trainee=trainee).select_related("scenario")
