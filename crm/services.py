"""Writes for the CRM: a lead (and a callback task) from an analysed call, follow-up messages, all through the outbox.

The built-in Lead is the system of record and is written first; what goes to an outside CRM, a phone or a
webhook is an outbox row in the same transaction, delivered after the commit. A vendor that fails never
takes the Lead, the task or the call's state with it.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext

from calls.models import Campaign, Contact
from crm import telegram
from crm.models import FollowUp, Lead, OutboxMessage, Task
from crm.outbox import outbox_enqueue, outbox_redeliver, webhooks_enqueue
from crm.providers import LeadPayload
from crm.telegram import contact_id_for_token

log = logging.getLogger(__name__)


def _links(call) -> tuple[str, str]:
    from calls.services import public_url  # noqa: PLC0415  cycle: calls.services imports crm.services (calls uses crm)

    transcript = public_url(reverse("calls:call_detail", args=[call.pk]))
    recording = public_url(reverse("calls:call_recording", args=[call.pk])) if call.recording else ""
    return transcript, recording


@transaction.atomic
def lead_create_from_call(*, call) -> Lead:
    """The call's lead (created once), with a callback task when the callee asked to be called back.

    Runs in the caller's transaction: the lead, the task and the outbox rows for the outside CRM and
    the ``lead.created`` webhooks commit together with the call's move on, or not at all.
    """
    from crm.callbacks import callback_due_at  # noqa: PLC0415  dateparser (~50 ms) via crm.callbacks: only for a lead with a callback

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
    callback_when = str(slots.get("callback_time") or "")
    due_at = None
    if call.disposition == "callback" or callback_when:
        due_at = callback_due_at(text=callback_when, tz_name=contact.timezone, campaign=call.campaign,
                                 said_at=call.ended_at)
        Task.objects.get_or_create(
            call=call, kind=Task.Kind.CALLBACK,
            defaults={"lead": lead, "title": (gettext("Call back: %(title)s") % {"title": lead.title})[:255],
                      "due_text": callback_when[:100], "due_at": due_at},
        )
        if due_at is not None:
            from calls.services import callback_schedule  # noqa: PLC0415  cycle: calls.services imports crm.services (calls uses crm)

            callback_schedule(call_id=call.pk, due_at=due_at)
    if created:
        key = f"lead:{lead.pk}"
        provider = settings.CRM["PROVIDER"]
        if provider != "builtin":
            transcript_url, recording_url = _links(call)
            payload = LeadPayload(
                title=lead.title, external_id=key, name=lead.name, company=lead.company, phone=lead.phone,
                email=lead.email, comments=lead.notes, interest=lead.interest, summary=call.summary,
                transcript_url=transcript_url, recording_url=recording_url, callback_when=callback_when,
                callback_at=due_at.isoformat() if due_at else "", data={"lead_id": lead.pk, **slots})
            outbox_enqueue(kind=OutboxMessage.Kind.CRM_LEAD, key=f"crm:{provider}:{key}", target=provider,
                           payload=payload.to_dict(), call_id=call.pk, lead=lead)
        webhooks_enqueue(event="lead.created", campaign_id=call.campaign_id, object_id=lead.pk, call_id=call.pk,
                         lead=lead, data=lead_event_data(lead=lead, due_at=due_at))
    return lead


def lead_event_data(*, lead: Lead, due_at=None) -> dict:
    return {"lead_id": lead.pk, "external_id": f"lead:{lead.pk}", "call_id": lead.call_id, "title": lead.title,
            "name": lead.name, "company": lead.company, "phone": lead.phone, "email": lead.email,
            "interest": lead.interest, "notes": lead.notes, "callback_at": due_at.isoformat() if due_at else None}


@transaction.atomic
def follow_up_enqueue(*, call, lead: Lead | None = None) -> FollowUp | None:
    """Write the call's follow-up messages once, and their outbox rows; they are sent after the commit.

    The campaign's ``follow_up_channel`` chooses: an SMS (``MESSAGING_PROVIDER``), Telegram, both or
    none. Telegram goes to the chat the contact bound by opening the company's bot; until then the SMS
    carries the link that opens it (``crm.telegram.start_link``). A sent message is never sent again. A
    vendor hiccup (timeout, 5xx, Telegram's flood limit) is retried by the outbox with back-off; a
    refusal (a bad number, a blocked bot, bad credentials) or the last hiccup marks it failed with the
    reason, and the call goes on either way. Returns the first message written (the SMS when there is one).
    """
    C = Campaign.FollowUpChannel
    wanted = getattr(call.campaign, "follow_up_channel", C.SMS) or C.SMS
    if not call.follow_up or wanted == C.NONE:
        return None
    contact = call.contact
    chat_id = contact.telegram_chat_id if telegram.bot_configured() else ""
    messages: list[FollowUp] = []
    if wanted in (C.SMS, C.BOTH) or (wanted == C.TELEGRAM and not chat_id):
        text = call.follow_up
        if wanted != C.SMS and not chat_id and telegram.bot_configured():
            text = f"{text}\n{telegram.start_link(contact.pk)}"
        messages.append(_follow_up_write(call=call, lead=lead, key=f"follow_up:{call.pk}",
                                         channel=settings.MESSAGING.get("PROVIDER", "console"), to=contact.phone,
                                         text=text))
    if wanted in (C.TELEGRAM, C.BOTH) and chat_id:
        messages.append(_follow_up_write(call=call, lead=lead, key=f"follow_up:{call.pk}:telegram",
                                         channel=telegram.PROVIDER, to=chat_id, text=call.follow_up))
    return messages[0] if messages else None


def _follow_up_write(*, call, lead: Lead | None, key: str, channel: str, to: str, text: str) -> FollowUp:
    message, created = FollowUp.objects.get_or_create(outbox_key=key, defaults={
        "call": call, "lead": lead, "channel": channel, "to": to, "text": text})
    if created:
        outbox_enqueue(kind=OutboxMessage.Kind.FOLLOW_UP, key=key, target=channel,
                       payload={"to": message.to, "text": message.text}, call_id=call.pk, lead=lead)
    return message


def follow_up_resend(*, message_id: int) -> FollowUp:
    """Send a failed follow-up message again (an operator fixed the number or the vendor settings)."""
    message = FollowUp.objects.get(pk=message_id)
    if message.status != FollowUp.Status.FAILED:
        return message
    # a Telegram message stays one; an SMS goes through the SMS provider configured now
    channel = message.channel if message.channel == telegram.PROVIDER else settings.MESSAGING.get("PROVIDER",
                                                                                                  "console")
    with transaction.atomic():
        outbox = OutboxMessage.objects.filter(key=message.outbox_key).first()
        if outbox is None:  # written before the outbox existed
            message.outbox_key = f"follow_up:{message.call_id}"
            message.save(update_fields=["outbox_key"])
            outbox = outbox_enqueue(kind=OutboxMessage.Kind.FOLLOW_UP, key=message.outbox_key, target=channel,
                                    payload={"to": message.to, "text": message.text}, call_id=message.call_id)
        OutboxMessage.objects.filter(pk=outbox.pk).update(target=channel, payload={"to": message.to,
                                                                                   "text": message.text})
        FollowUp.objects.filter(pk=message.pk).update(channel=channel, attempts=0)
        outbox_redeliver(message_ids=[outbox.pk])
    message.refresh_from_db()
    return message


def telegram_chat_bind(*, token: str, chat_id: int) -> Contact | None:
    """The contact opened the company's bot from its follow-up link: later follow-ups go to this chat.

    Idempotent (Telegram redelivers an update it got no 2xx for); a token we did not sign binds nothing.
    """
    contact_id = contact_id_for_token(token)
    if contact_id is None:
        return None
    contact = Contact.objects.filter(pk=contact_id).first()
    if contact is None:
        return None
    if contact.telegram_chat_id != str(chat_id):
        Contact.objects.filter(pk=contact.pk).update(telegram_chat_id=str(chat_id))
        contact.telegram_chat_id = str(chat_id)
        log.info("contact %s bound to Telegram chat %s", contact.pk, chat_id)
    return contact


def telegram_chat_unbind(*, chat_id: str) -> int:
    """Telegram refused a chat for good (the user blocked the bot): its contacts get the SMS link again."""
    return Contact.objects.filter(telegram_chat_id=str(chat_id)).update(telegram_chat_id="")
