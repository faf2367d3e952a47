"""Celery tasks of the trainer: scoring a session after it ends."""

from __future__ import annotations

from celery import shared_task

from training.services import session_score


@shared_task(acks_late=True, time_limit=300, soft_time_limit=240)
def score_session(session_id: int) -> int | None:
    """Compute the review of one session; safe to run twice (see ``services.session_score``)."""
    score = session_score(session_id=session_id)
    return score.total if score is not None else None
