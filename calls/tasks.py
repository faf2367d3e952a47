"""Celery tasks of outbound campaigns: plan a campaign, hand due calls out, place a call, analyse a call.

Tasks take ids, re-fetch rows, are idempotent, and leave every rule to ``calls.services``.
"""

from __future__ import annotations

import logging
from datetime import date

from celery import shared_task

from calls.services.after_call import call_after_work
from calls.services.dialing import call_place
from calls.services.lifecycle import call_fail, calls_sweep
from calls.services.planning import calls_dispatch_due, campaign_plan
from integrations.errors import ProviderError, ProviderTimeout, ProviderUnavailable

log = logging.getLogger(__name__)


@shared_task(acks_late=True, time_limit=30 * 60, soft_time_limit=28 * 60)
def plan_campaign(campaign_id: int, day: str | None = None, contact_ids: list[int] | None = None) -> dict:
    """Plan ``day`` (ISO date; default today in the campaign's time zone)."""
    the_day = date.fromisoformat(day) if day else None
    return campaign_plan(campaign_id=campaign_id, day=the_day, contact_ids=contact_ids).to_dict()


@shared_task(acks_late=True, time_limit=120, soft_time_limit=110)
def dispatch_due_calls() -> int:
    return calls_dispatch_due()


PLACE_MAX_RETRIES = 6
# Countdowns stay under the broker's visibility timeout (90 s): a message held longer by a worker is
# handed to another one as if its worker had died.
MAX_COUNTDOWN_S = 60


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None, time_limit=90,
             soft_time_limit=80)
def place_call(self, call_id: int, carrier_failures: int = 0) -> str:
    """Dial at the call's ETA. At the cap it waits for a line; a carrier hiccup backs off exponentially.

    Retries are explicit rather than ``autoretry_for``: waiting for a free line is not a failure and
    must not use up the carrier-error budget, and the last carrier error has to fail the call.
    """
    try:
        result = call_place(call_id=call_id)
    except (ProviderUnavailable, ProviderTimeout) as exc:
        if carrier_failures >= PLACE_MAX_RETRIES:
            call_fail(call_id=call_id, error=str(exc))
            return "failed"
        raise self.retry(countdown=min(MAX_COUNTDOWN_S, 2 ** (carrier_failures + 1)),
                         kwargs={"call_id": call_id, "carrier_failures": carrier_failures + 1}) from exc
    except ProviderError as exc:  # not retryable: call_place normally ends the call itself
        call_fail(call_id=call_id, error=str(exc))
        return "failed"
    # settling: the last request may have rung the person, so wait for the carrier's word; at_cap: wait for a
    # free line. Neither is a failure, so the carrier budget is kept; the service says how long to wait.
    if result.status in ("settling", "at_cap"):
        raise self.retry(countdown=min(MAX_COUNTDOWN_S, result.wait_s),
                         kwargs={"call_id": call_id, "carrier_failures": carrier_failures})
    return result.status


@shared_task(
    bind=True, acks_late=True, reject_on_worker_lost=True, autoretry_for=(ProviderUnavailable, ProviderTimeout),
    retry_backoff=True, retry_backoff_max=60, max_retries=8, time_limit=10 * 60, soft_time_limit=9 * 60,
)
def analyse_call(self, call_id: int) -> str:
    """Analysis, follow-up and CRM steps; each step is idempotent, so a redelivery resumes where it stopped."""
    return call_after_work(call_id=call_id)


@shared_task(acks_late=True, time_limit=120, soft_time_limit=110)
def sweep_calls() -> dict:
    """Every minute (beat): settle calls stuck in a live state, re-drive stalled after-call work."""
    return calls_sweep()
