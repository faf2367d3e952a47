"""The outbox: whatever leaves the house is written with the state change that caused it, then delivered.

``outbox_enqueue`` runs inside the caller's transaction, so the row exists exactly when the change does;
the delivery task is sent after the commit. ``outbox_deliver`` claims a message with a lease (a worker that
dies mid-delivery lets it go after ``OUTBOX["LEASE_S"]``), runs the sender for its kind outside any
transaction, and records the outcome: delivered; retryable (5xx, 503 ``QUERY_LIMIT_EXCEEDED``, timeouts)
with exponential back-off and jitter; or final (auth, 400, too many attempts) with the reason.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from crm.messaging import get_messaging
from crm.models import FollowUp, Lead, OutboxMessage, WebhookEndpoint
from crm.providers import LeadPayload, get_crm
from integrations.errors import ProviderError, ProviderTimeout, ProviderUnavailable, error_for_status

log = logging.getLogger(__name__)
K, ST = OutboxMessage.Kind, OutboxMessage.Status


def _conf(name: str, default: Any) -> Any:
    return (getattr(settings, "OUTBOX", None) or {}).get(name, default)


def outbox_enqueue(*, kind: str, key: str, target: str, payload: dict[str, Any], call_id: int | None = None,
                   lead: Lead | None = None) -> OutboxMessage:
    """Write the message (once per ``key``) in the caller's transaction; its delivery starts after the commit."""
    message, created = OutboxMessage.objects.get_or_create(key=key[:200], defaults={
        "kind": kind, "target": target[:64], "payload": payload, "call_id": call_id, "lead": lead,
        "max_attempts": _conf("MAX_ATTEMPTS", 12), "next_attempt_at": timezone.now(),
    })
    if created:
        from crm.tasks import deliver_outbox  # noqa: PLC0415  cycle: crm.tasks imports crm.outbox

        deliver_outbox.delay_on_commit(message.pk)
    return message


def backoff_s(attempt: int) -> float:
    """Exponential back-off with 'equal jitter': half the step is fixed, half random, so retries spread out."""
    step = min(_conf("BACKOFF_MAX_S", 300.0), _conf("BACKOFF_BASE_S", 2.0) * 2 ** max(0, attempt - 1))
    return step / 2 + random.uniform(0, step / 2)


@dataclass
class Delivery:
    status: str  # delivered | retry | failed | skipped
    retry_in_s: float = 0.0


def _claim(message_id: int) -> OutboxMessage | None:
    now = timezone.now()
    with transaction.atomic():
        message = OutboxMessage.objects.select_for_update().filter(pk=message_id).first()
        if message is None or message.status != ST.PENDING:
            return None
        if message.next_attempt_at and message.next_attempt_at > now:
            return None
        if message.leased_until and message.leased_until > now:
            return None  # another worker is delivering it
        message.attempts += 1
        message.leased_until = now + timedelta(seconds=_conf("LEASE_S", 60))
        message.save(update_fields=["attempts", "leased_until"])
    return message


def outbox_deliver(*, message_id: int) -> Delivery:
    """Deliver one due message once; safe to call twice at the same time or after a crash."""
    message = _claim(message_id)
    if message is None:
        return Delivery("skipped")
    sender = SENDERS[message.kind]
    try:
        result = sender(message)
    except ProviderError as exc:
        return _failed(message, exc, retryable=exc.retryable)
    except Exception as exc:  # a bug or a database hiccup: keep it, retry, and let a person see it
        log.exception("outbox %s (%s): unexpected error", message.pk, message.key)
        return _failed(message, exc, retryable=True)
    with transaction.atomic():
        OutboxMessage.objects.filter(pk=message.pk).update(
            status=ST.DELIVERED, delivered_at=timezone.now(), leased_until=None, last_error="", final_reason="",
            result=result or {})
        AFTER_DELIVERY.get(message.kind, lambda m, r: None)(message, result or {})
    return Delivery("delivered")


def _failed(message: OutboxMessage, exc: Exception, *, retryable: bool) -> Delivery:
    error = str(exc)[:2000] or exc.__class__.__name__
    final = not retryable or message.attempts >= message.max_attempts
    with transaction.atomic():
        if final:
            reason = error if not retryable else f"gave up after {message.attempts} attempts: {error}"
            OutboxMessage.objects.filter(pk=message.pk).update(
                status=ST.FAILED, last_error=error, final_reason=reason[:300], leased_until=None)
            AFTER_FAILURE.get(message.kind, lambda m, e: None)(message, reason)
            log.warning("outbox %s (%s) failed for good: %s", message.pk, message.key, reason)
            return Delivery("failed")
        wait = max(backoff_s(message.attempts), float(getattr(exc, "retry_after_s", None) or 0.0))
        OutboxMessage.objects.filter(pk=message.pk).update(
            last_error=error, leased_until=None, next_attempt_at=timezone.now() + timedelta(seconds=wait))
    log.info("outbox %s (%s) attempt %s failed, retry in %.1f s: %s", message.pk, message.key, message.attempts,
             wait, error)
    return Delivery("retry", wait)


def outbox_redeliver(*, message_ids: list[int]) -> int:
    """Admin's "deliver again": failed (or stuck) messages get a fresh set of attempts, now."""
    from crm.tasks import deliver_outbox  # noqa: PLC0415  cycle: crm.tasks imports crm.outbox

    with transaction.atomic():
        ids = list(OutboxMessage.objects.filter(pk__in=message_ids).exclude(status=ST.DELIVERED)
                   .values_list("pk", flat=True))
        OutboxMessage.objects.filter(pk__in=ids).update(
            status=ST.PENDING, attempts=0, next_attempt_at=timezone.now(), leased_until=None, final_reason="")
        FollowUp.objects.filter(outbox_key__in=OutboxMessage.objects.filter(pk__in=ids, kind=K.FOLLOW_UP)
                                .values("key")).update(status=FollowUp.Status.PENDING)
        for pk in ids:
            deliver_outbox.delay_on_commit(pk)
    return len(ids)


def outbox_due(*, limit: int = 500, grace_s: float = 0.0) -> list[int]:
    """Pending messages whose time has come and that no live worker holds (a lost task, a killed worker).

    ``grace_s``: only those overdue by that much (their own task is late or lost), so a busy queue is not
    handed the same message again on every beat.
    """
    now = timezone.now()
    return list(OutboxMessage.objects.filter(status=ST.PENDING)
                .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now - timedelta(seconds=grace_s)))
                .filter(Q(leased_until__isnull=True) | Q(leased_until__lte=now))
                .order_by("next_attempt_at").values_list("pk", flat=True)[:limit])


def outbox_drain_now(*, deadline_s: float = 30.0) -> int:
    """Deliver everything due in this process (tests, and a command-line flush). Returns deliveries made."""
    done, end = 0, time.monotonic() + deadline_s
    while time.monotonic() < end:
        due = outbox_due()
        if not due:
            break
        for pk in due:
            if outbox_deliver(message_id=pk).status == "delivered":
                done += 1
    return done


# --- senders, one per kind: return what the receiver answered, raise ProviderError ----------------------


def _send_crm_lead(message: OutboxMessage) -> dict[str, Any]:
    payload = LeadPayload.from_dict(message.payload)
    external_id = get_crm(message.target).lead_push(lead=payload, resume=message.attempts > 1)
    return {"external_id": external_id}


def _after_crm_lead(message: OutboxMessage, result: dict[str, Any]) -> None:
    if message.lead_id and result.get("external_id"):
        Lead.objects.filter(pk=message.lead_id).update(external_id=str(result["external_id"])[:64])


def _send_follow_up(message: OutboxMessage) -> dict[str, Any]:
    FollowUp.objects.filter(outbox_key=message.key).update(attempts=F("attempts") + 1)
    # an earlier attempt (this run's or one before a "send again") may have reached the vendor unanswered
    resume = message.attempts > 1 or bool(message.last_error)
    try:
        external_id = get_messaging(message.target).send(to=message.payload["to"], text=message.payload["text"],
                                                         resume=resume, since=message.created_at)
    except ProviderError as exc:
        if message.target == "telegram" and exc.status == 403:  # the user blocked the bot: SMS links again
            from crm.services import telegram_chat_unbind  # noqa: PLC0415  cycle: crm.services imports crm.outbox

            telegram_chat_unbind(chat_id=message.payload["to"])
        raise
    return {"external_id": external_id}


def _after_follow_up(message: OutboxMessage, result: dict[str, Any]) -> None:
    FollowUp.objects.filter(outbox_key=message.key).update(
        status=FollowUp.Status.SENT, sent_at=timezone.now(), external_id=str(result.get("external_id", ""))[:128],
        error="")


def _follow_up_failed(message: OutboxMessage, reason: str) -> None:
    FollowUp.objects.filter(outbox_key=message.key).update(status=FollowUp.Status.FAILED, error=reason[:2000])


SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Signature-Timestamp"
EVENT_ID_HEADER = "X-Event-Id"


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """Stripe-style: HMAC-SHA256 of ``"{timestamp}.{body}"`` with the endpoint's secret, hex, as ``v1=…``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={mac}"


def _send_webhook(message: OutboxMessage) -> dict[str, Any]:
    import httpx  # noqa: PLC0415  httpx (~0.2 s): loaded with the first outgoing webhook

    endpoint = WebhookEndpoint.objects.filter(pk=int(message.target)).first()
    if endpoint is None or not endpoint.active:
        raise ProviderError("the webhook endpoint is gone or switched off", provider="webhook")
    body = json.dumps(message.payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(time.time())
    headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: str(timestamp), EVENT_ID_HEADER: message.key,
               SIGNATURE_HEADER: webhook_signature(secret=endpoint.secret, timestamp=timestamp, body=body)}
    try:
        response = httpx.post(endpoint.url, content=body, headers=headers,
                              timeout=_conf("WEBHOOK_TIMEOUT_S", 10.0))
    except httpx.TimeoutException as exc:
        raise ProviderTimeout(f"{endpoint.url}: timed out", provider="webhook") from exc
    except httpx.HTTPError as exc:
        raise ProviderUnavailable(f"{endpoint.url}: {exc}", provider="webhook") from exc
    if response.status_code >= 300:
        raise error_for_status(response.status_code, f"{endpoint.url} answered {response.status_code}: "
                                                     f"{response.text[:200]}", provider="webhook")
    return {"status": response.status_code}


SENDERS: dict[str, Callable[[OutboxMessage], dict[str, Any]]] = {
    K.CRM_LEAD: _send_crm_lead, K.FOLLOW_UP: _send_follow_up, K.WEBHOOK: _send_webhook,
}
AFTER_DELIVERY = {K.CRM_LEAD: _after_crm_lead, K.FOLLOW_UP: _after_follow_up}
AFTER_FAILURE = {K.FOLLOW_UP: _follow_up_failed}


def webhooks_enqueue(*, event: str, campaign_id: int | None, object_id: int, data: dict[str, Any],
                     call_id: int | None = None, lead: Lead | None = None) -> int:
    """One signed delivery per active endpoint that wants ``event`` (global ones and the campaign's own)."""
    endpoints = (WebhookEndpoint.objects.filter(active=True)
                 .filter(Q(campaign__isnull=True) | Q(campaign_id=campaign_id)))
    count = 0
    for endpoint in endpoints:
        if event not in (endpoint.events or []):
            continue
        key = f"webhook:{endpoint.pk}:{event}:{object_id}"
        payload = {"id": key, "type": event, "created": int(time.time()), "data": data}
        outbox_enqueue(kind=K.WEBHOOK, key=key, target=str(endpoint.pk), payload=payload, call_id=call_id, lead=lead)
        count += 1
    return count
