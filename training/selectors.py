"""Reads for the trainer: which sessions a user may see, and a trainee's history."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from config.roles import TRAINEE, user_role
from training.models import Scenario, TrainingSession


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
