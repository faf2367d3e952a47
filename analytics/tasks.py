"""Celery tasks of the analytics app."""

from celery import shared_task

from analytics.services import rollups_refresh


@shared_task(acks_late=True, soft_time_limit=1800, time_limit=1900)
def rollups_refresh_task() -> int:
    return len(rollups_refresh())
