"""Telephony providers behind one interface, chosen per campaign with their options from ``settings.TELEPHONY``.

``provider_for(campaign=...)`` is the one place a campaign's carrier is picked: the campaign's
``telephony_provider`` (blank: ``TELEPHONY["PROVIDER"]``), built with the provider's block of
``TELEPHONY``. A campaign on the simulated carrier also carries its own carrier options in
``Campaign.simulation`` (``SIMULATED_OPTIONS``: a rehearsal's pace, how its callees understand the bot,
...), over the configured ``TELEPHONY["SIMULATED"]``; so a rehearsal changes no setting of the running
worker or web server.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from calls.telephony.base import DialRequest, DialResult, TelephonyProvider, TransferTarget
from integrations.registry import PROVIDERS as REGISTRY
from integrations.registry import load_provider, provider_class

PROVIDERS = REGISTRY["telephony"]  # the names this kind offers (integrations.registry)
# the simulated carrier's options a campaign may set in ``Campaign.simulation`` (beside the outcome shares and seed)
SIMULATED_OPTIONS = ("pace_speed", "callee_stt", "max_call_s", "persona")

__all__ = ["DialRequest", "DialResult", "TelephonyProvider", "TransferTarget", "get_provider", "media_pace",
           "provider_for", "telephony_name", "telephony_options"]


def provider_options(name: str) -> dict[str, Any]:
    """The provider's block of ``TELEPHONY`` (e.g. ``TELEPHONY["TWILIO"]``) as constructor keywords."""
    block = settings.TELEPHONY.get(name.upper()) or {}
    return {key.lower(): value for key, value in block.items()}


def get_provider(name: str) -> TelephonyProvider:
    return load_provider("telephony", name, **provider_options(name))


def media_protocol(name: str) -> str:
    """The wire protocol the carrier ``name``'s media stream speaks (``voice.protocols``); Twilio's for one the
    registry does not know. Read off the class: a call's media socket builds no provider (and needs no secrets)."""
    if name not in PROVIDERS:
        return "twilio"
    return provider_class(PROVIDERS, "telephony", name).media_protocol


def telephony_name(campaign: Any) -> str:
    """The campaign's carrier: its own choice, or the configured default when it has none."""
    return campaign.telephony_provider or settings.TELEPHONY["PROVIDER"]


def telephony_options(campaign: Any, *, name: str = "") -> dict[str, Any]:
    """The options of the campaign's carrier (or of ``name``, the carrier a call was placed with): the
    configured ones, with a simulated campaign's own over them."""
    name = name or telephony_name(campaign)
    options = provider_options(name)
    if name == "simulated":
        own = campaign.simulation or {}
        options.update({key: own[key] for key in SIMULATED_OPTIONS if own.get(key) not in (None, "")})
    return options


def provider_for(*, campaign: Any) -> TelephonyProvider:
    """The provider that dials the campaign's calls (the one function that picks it)."""
    return load_provider("telephony", telephony_name(campaign), **telephony_options(campaign))


def media_pace(campaign: Any, *, provider: str = "") -> float:
    """How much faster than real time a call's media may run: a rehearsal's pace; real carriers 1."""
    name = provider or telephony_name(campaign)
    if name != "simulated":
        return 1.0
    return float(telephony_options(campaign, name=name).get("pace_speed", 1.0))
