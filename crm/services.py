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


@transaction.atomic
def follow_up_send(*, call, lead: Lead | None = None) -> FollowUp | None:
    """Write (once) and send the follow-up message. Development sends to the console (the log)."""
    if not call.follow_up:
        return None
    channel = settings.MESSAGING.get("PROVIDER", "console")
    message, _ = FollowUp.objects.get_or_create(
        call=call, defaults={"lead": lead, "channel": channel, "to": call.contact.phone, "text": call.follow_up}
    )
    if message.status != FollowUp.Status.SENT and channel == "console":
        log.info("follow-up for call %s via console: %s", call.pk, message.text)
        message.status, message.sent_at = FollowUp.Status.SENT, timezone.now()
        message.save(update_fields=["status", "sent_at"])
    return message
