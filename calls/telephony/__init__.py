"""Telephony providers behind one interface, chosen per campaign with their options from ``settings.TELEPHONY``."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from calls.telephony.base import DialRequest, DialResult, TelephonyProvider, TransferTarget
from voice.registry import load

PROVIDERS = {
    "simulated": "calls.telephony.simulated:SimulatedTelephony",
    "voximplant": "calls.telephony.voximplant:VoximplantTelephony",
    "twilio": "calls.telephony.twilio:TwilioTelephony",
    "fake": "calls.telephony.fake:FakeTelephony",
}

__all__ = ["DialRequest", "DialResult", "TelephonyProvider", "TransferTarget", "get_provider", "provider_for"]


def provider_options(name: str) -> dict[str, Any]:
    """The provider's block of ``TELEPHONY`` (e.g. ``TELEPHONY["TWILIO"]``) as constructor keywords."""
    block = settings.TELEPHONY.get(name.upper()) or {}
    return {key.lower(): value for key, value in block.items()}


def get_provider(name: str) -> TelephonyProvider:
    return load(PROVIDERS, "telephony", name, provider_options(name))


def provider_for(*, campaign: Any) -> TelephonyProvider:
    return get_provider(campaign.telephony_provider or settings.TELEPHONY["PROVIDER"])
