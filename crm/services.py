"""Writes for the built-in CRM: a lead (and a callback task) from an analysed call, follow-up messages."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from crm.models import FollowUp, Lead, Task
from crm.providers import LeadPayload, get_crm

log = logging.getLogger(__name__)


@transaction.atomic
def lead_create_from_call(*, call) -> Lead:
    """The call's lead (created once), with a callback task when the callee asked to be called back."""
    contact = call.contact
    analysis = call.analysis or {}
    slots = analysis.get("slots") or {}
    lead, created = Lead.objects.get_or_create(
        call=call,
        defaults={
            "contact": contact,
            "title": f"{contact.company or contact.name or contact.phone}: {call.campaign.name}"[:255],
            "name": slots.get("name") or contact.name,
            "company": contact.company,
            "phone": contact.phone,
            "email": slots.get("email") or "",
            "interest": call.interest,
            "notes": call.summary,
            "data": slots,
        },
    )
    callback_when = slots.get("callback_time") or ""
    if call.disposition == "callback" or callback_when:
        Task.objects.get_or_create(
            call=call, kind=Task.Kind.CALLBACK,
            defaults={"lead": lead, "title": f"Перезвонить: {lead.title}"[:255], "due_text": str(callback_when)[:100]},
        )
    if created:
        provider = get_crm()
        if provider.name != "builtin":
            payload = LeadPayload(title=lead.title, name=lead.name, company=lead.company, phone=lead.phone,
                                  email=lead.email, comments=lead.notes, interest=lead.interest,
                                  callback_when=str(callback_when), data={"lead_id": lead.pk, **slots})
            lead.external_id = provider.lead_push(lead=payload)
            lead.save(update_fields=["external_id"])
    return lead


FOLLOW_UP_MAX_ATTEMPTS = 3


def follow_up_send(*, call, lead: Lead | None = None) -> FollowUp | None:
    """Write the call's follow-up message once and send it through its messaging provider.

    A sent message is never sent again. A vendor hiccup (timeout, 5xx) propagates, so the after-call
    task retries it, up to ``FOLLOW_UP_MAX_ATTEMPTS`` sends; a refusal (a bad number, bad credentials,
    an unknown provider) or the last hiccup marks it failed with the reason, and the call goes on.
    """
    from crm.messaging import get_messaging
    from voice.errors import ProviderError

    if not call.follow_up:
        return None
    with transaction.atomic():
        message, _ = FollowUp.objects.select_for_update().get_or_create(call=call, defaults={
            "lead": lead, "channel": settings.MESSAGING.get("PROVIDER", "console"), "to": call.contact.phone,
            "text": call.follow_up,
        })
        if message.status != FollowUp.Status.PENDING:
            return message
        message.attempts += 1
        message.save(update_fields=["attempts"])
    try:  # outside the transaction: no row lock is held while the vendor answers
        external_id = get_messaging(message.channel).send(to=message.to, text=message.text)
    except ProviderError as exc:
        last = not exc.retryable or message.attempts >= FOLLOW_UP_MAX_ATTEMPTS
        message.error = str(exc)[:2000]
        message.status = FollowUp.Status.FAILED if last else FollowUp.Status.PENDING
        message.save(update_fields=["error", "status"])
        log.warning("follow-up for call %s via %s failed (attempt %s): %s", call.pk, message.channel,
                    message.attempts, exc)
        if not last:
            raise
        return message
    message.status, message.sent_at, message.external_id, message.error = (
        FollowUp.Status.SENT, timezone.now(), external_id[:128], "")
    message.save(update_fields=["status", "sent_at", "external_id", "error"])
    return message


def follow_up_resend(*, message_id: int) -> FollowUp:
    """Send a failed follow-up message again (an operator fixed the number or the vendor settings)."""
    from voice.errors import ProviderError

    with transaction.atomic():
        message = FollowUp.objects.select_for_update().select_related("call__contact").get(pk=message_id)
        if message.status != FollowUp.Status.FAILED:
            return message
        message.status, message.attempts = FollowUp.Status.PENDING, 0
        message.channel = settings.MESSAGING.get("PROVIDER", "console")
        message.save(update_fields=["status", "attempts", "channel"])
    try:
        return follow_up_send(call=message.call) or message
    except ProviderError:  # a hiccup on a manual resend: it stays pending for the next try
        message.refresh_from_db()
        return message
