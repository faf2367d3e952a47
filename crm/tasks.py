"""Celery tasks of the outbox: deliver one message, and the beat task that re-drives what is due.

Both are idempotent (a message is claimed with a lease before it is sent), so they run with ``acks_late``:
a worker killed mid-delivery hands the message back to the broker and the lease lets another worker take it.
"""

from __future__ import annotations

from celery import shared_task

from crm.outbox import outbox_deliver, outbox_due

# Longer waits are left to the beat task: an ETA far beyond the broker's visibility timeout would be
# handed out twice.
SELF_RETRY_MAX_S = 60
DRAIN_GRACE_S = 30


@shared_task(acks_late=True, reject_on_worker_lost=True, time_limit=120, soft_time_limit=100)
def deliver_outbox(message_id: int) -> str:
    result = outbox_deliver(message_id=message_id)
    if result.status == "retry" and result.retry_in_s <= SELF_RETRY_MAX_S:
        deliver_outbox.apply_async((message_id,), countdown=result.retry_in_s)
    return result.status


@shared_task(acks_late=True, time_limit=60, soft_time_limit=50)
def drain_outbox() -> int:
    """Every few seconds (beat): hand out messages whose retry time came or whose worker died."""
    due = outbox_due(grace_s=DRAIN_GRACE_S)
    for pk in due:
        deliver_outbox.delay(pk)
    return len(due)
