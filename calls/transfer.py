"""Transfer to a human: the bot hands a live call to a person (cold transfer through the carrier), once, visibly.

The flow (or the LLM's ``transfer_call`` tool) ends its turn with the script's handoff line and a
``transfer`` directive; the media consumer records the request (``call_transfer_requested``: the call
page then shows the summary so far, for the operator about to take the call) and, once the line has
been played, asks the carrier to connect the callee to the script's number or operator queue
(``call_transfer``) instead of hanging up. The bot's part of the call ends there and is analysed as
usual; ``Call.transferred_at`` / ``transfer_target`` and a ``transferred`` event record the handoff. A
carrier that refuses is written down (``transfer_failed``, with the classified error) and the call is
hung up, so nobody is left on a dead line.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from calls.events import call_publish
from calls.models import Call, CallEvent
from calls.services.lifecycle import call_hangup
from calls.telephony import TransferTarget, get_provider
from config.metrics import carrier_error_code, record_carrier_error
from integrations.errors import ProviderError

log = logging.getLogger(__name__)


def _target_data(target: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(target[k]) for k in ("to", "queue", "reason") if target.get(k)}


def _publish(call: Call, kind: str, data: dict[str, Any]) -> None:
    payload = {"kind": "transfer", "event": kind, "data": data}
    transaction.on_commit(lambda: call_publish(call_id=call.pk, campaign_id=call.campaign_id, payload=payload))


def call_transfer_requested(*, call_id: int, target: Mapping[str, Any]) -> None:
    """The bot said it is putting the callee through: write it down and tell the call's page (once per call)."""
    call = Call.objects.filter(pk=call_id).only("pk", "campaign_id").first()
    if call is None:
        return
    data = _target_data(target)
    with transaction.atomic():
        if CallEvent.objects.filter(call_id=call_id, kind="transfer_requested").exists():
            return
        CallEvent.objects.create(call_id=call_id, kind="transfer_requested", data=data)
        _publish(call, "transfer_requested", data)


def call_transfer(*, call_id: int, target: Mapping[str, Any]) -> bool:
    """Ask the carrier to connect the live callee to ``target`` (``{"to": "+7…"}`` or ``{"queue": …}``).

    True when the carrier took the call over; False when it refused (written down, and the call hung up).
    """
    call = Call.objects.select_related("campaign").filter(pk=call_id).first()
    if call is None:
        log.warning("transfer of unknown call %s", call_id)
        return False
    data = _target_data(target)
    provider_name = call.provider or call.campaign.telephony_provider
    try:
        where = TransferTarget(to=data.get("to", ""), queue=data.get("queue", ""), caller_id=call.campaign.caller_id)
        get_provider(provider_name).transfer(provider_call_id=call.provider_call_id, target=where,
                                             control_url=call.provider_control_url)
    except (ProviderError, ValueError) as exc:
        if isinstance(exc, ProviderError):
            record_carrier_error(provider=provider_name, code=carrier_error_code(exc))
        log.warning("call %s: transfer through %s failed: %s", call_id, provider_name, exc)
        with transaction.atomic():
            failed = {**data, "provider": provider_name, "error": str(exc)[:500]}
            CallEvent.objects.create(call_id=call_id, kind="transfer_failed", data=failed)
            _publish(call, "transfer_failed", failed)
        call_hangup(call_id=call_id)
        return False
    with transaction.atomic():
        Call.objects.filter(pk=call_id).update(transferred_at=timezone.now(), transfer_target=where.label[:80])
        done = {**data, "provider": provider_name}
        CallEvent.objects.create(call_id=call_id, kind="transferred", data=done)
        _publish(call, "transferred", done)
    return True
