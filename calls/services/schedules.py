"""Campaign writes and their beat schedules: save, delete, the nightly planning task, and "plan now"."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from calls.models import Call, Campaign

PLAN_TASK = "calls.tasks.plan_campaign"
DISPATCH_TASK = "calls.tasks.dispatch_due_calls"
DEFAULT_PLAN_CRON = {"minute": "5", "hour": "0"}  # nightly, in CELERY_TIMEZONE


class CampaignHasCalls(Exception):
    """A campaign whose calls are the record of who was rung is archived, never deleted."""


@transaction.atomic
def campaign_save(*, fields: dict[str, Any], campaign: Campaign | None = None, created_by: Any = None) -> Campaign:
    """Create (no ``campaign``) or update a campaign from validated ``fields``, then keep its beat schedule in step."""
    fields = dict(fields)
    many = {f.name: fields.pop(f.name) for f in Campaign._meta.many_to_many if f.name in fields}
    if campaign is None:
        campaign = Campaign(created_by=created_by)
    for name, value in fields.items():
        setattr(campaign, name, value)
    campaign.save()
    for name, values in many.items():
        getattr(campaign, name).set(values)
    return campaign_schedule_sync(campaign=campaign)


@transaction.atomic
def campaign_delete(*, campaign: Campaign) -> None:
    if Call.objects.filter(campaign=campaign).exists():
        raise CampaignHasCalls(campaign.pk)
    campaign.delete()


@transaction.atomic
def campaign_schedule_sync(*, campaign: Campaign) -> Campaign:
    """Create or update the campaign's nightly planning ``PeriodicTask`` (and the shared dispatcher).

    A schedule a manager already edited in the admin keeps its crontab; only its name, arguments
    and on/off state follow the campaign.
    """
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.MINUTES)
    PeriodicTask.objects.get_or_create(
        name="calls: dispatch due calls", defaults={"task": DISPATCH_TASK, "interval": every_minute}
    )
    enabled = campaign.status == Campaign.Status.ACTIVE
    name = f"calls: plan campaign #{campaign.pk} {campaign.name}"[:200]
    # Re-read: the admin may have changed the crontab since this campaign object was loaded.
    task = PeriodicTask.objects.filter(pk=campaign.schedule_id).first() if campaign.schedule_id else None
    if task is None:
        crontab, _ = CrontabSchedule.objects.get_or_create(
            **DEFAULT_PLAN_CRON, day_of_week="*", day_of_month="*", month_of_year="*",
            timezone=settings.CELERY_TIMEZONE,
        )
        task = PeriodicTask.objects.create(name=name, task=PLAN_TASK, crontab=crontab,
                                           kwargs=json.dumps({"campaign_id": campaign.pk}), enabled=enabled)
        Campaign.objects.filter(pk=campaign.pk).update(schedule=task)
        campaign.schedule = task
    else:
        task.name, task.task, task.enabled = name, PLAN_TASK, enabled
        task.kwargs = json.dumps({"campaign_id": campaign.pk})
        task.save(update_fields=["name", "task", "enabled", "kwargs"])
    return campaign


def campaign_plan_now(*, campaign_id: int) -> None:
    """The admin's "run planning now": plan today in the background."""
    from calls.tasks import plan_campaign  # noqa: PLC0415  calls.tasks imports the services

    plan_campaign.delay_on_commit(campaign_id=campaign_id)
