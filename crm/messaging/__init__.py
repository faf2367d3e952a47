"""Messaging providers for the follow-up message after a call: the console (development), SMS via Twilio and
the company's Telegram bot (``telegram``, chosen per campaign rather than by ``MESSAGING_PROVIDER``).

Chosen by ``MESSAGING_PROVIDER``; the Twilio account is the telephony one (``TWILIO_ACCOUNT_SID`` …),
the sender ``MESSAGING_FROM_NUMBER`` or else ``TWILIO_FROM_NUMBER``.
"""

from __future__ import annotations

from django.conf import settings

from crm.messaging.base import MessagingProvider
from integrations.registry import PROVIDERS as REGISTRY
from integrations.registry import load_provider

PROVIDERS = REGISTRY["messaging"]  # the names this kind offers (integrations.registry)

__all__ = ["PROVIDERS", "MessagingProvider", "get_messaging"]


def get_messaging(name: str | None = None) -> MessagingProvider:
    name = name or settings.MESSAGING["PROVIDER"]
    options = {}
    if name == "twilio_sms":
        twilio = settings.TELEPHONY.get("TWILIO") or {}
        options = {"account_sid": twilio.get("ACCOUNT_SID", ""), "auth_token": twilio.get("AUTH_TOKEN", ""),
                   "api_url": twilio.get("API_URL", ""),
                   "from_number": settings.MESSAGING.get("FROM_NUMBER") or twilio.get("FROM_NUMBER", "")}
    return load_provider("messaging", name, **options)
