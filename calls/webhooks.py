"""Carrier callbacks: Twilio status callbacks (Twilio's signature) and VoxEngine result reports (our HMAC)."""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from calls.services import call_progress, call_provider_id_seen, public_url
from calls.telephony.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, callback_verify

log = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def twilio_status(request: HttpRequest, call_id: int) -> HttpResponse:
    from calls.telephony import get_provider
    from calls.telephony.twilio import twilio_progress

    provider = get_provider("twilio")
    params = request.POST.dict()
    # Twilio signs the URL it was given, which is the public one, not what a proxy hands to Django.
    url = public_url(request.get_full_path())
    if not provider.validate_callback(url=url, params=params, signature=request.headers.get("X-Twilio-Signature", "")):
        log.warning("twilio status callback for call %s: bad signature", call_id)
        return HttpResponseForbidden("bad signature")
    progress = twilio_progress(params)
    if progress:
        data = {"provider_call_id": params.get("CallSid", "")}
        if params.get("CallDuration"):
            data["duration_s"] = float(params["CallDuration"])
        call_progress(call_id=call_id, event=progress, **data)
    elif params.get("CallSid"):  # "initiated": the carrier placed it, even if its answer to the dial was lost
        call_provider_id_seen(call_id=call_id, provider_call_id=params["CallSid"])
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def voximplant_status(request: HttpRequest, call_id: int) -> HttpResponse:
    secret = settings.TELEPHONY["VOXIMPLANT"].get("CALLBACK_SECRET", "")
    ok = callback_verify(secret=secret, timestamp=request.headers.get(TIMESTAMP_HEADER, ""),
                         signature=request.headers.get(SIGNATURE_HEADER, ""), body=request.body)
    if not ok:
        log.warning("voximplant result for call %s: bad or stale signature", call_id)
        return HttpResponseForbidden("bad signature")
    try:
        report = json.loads(request.body)
    except ValueError:
        return JsonResponse({"error": "not JSON"}, status=400)
    event = str(report.get("event", ""))
    data = {}
    if report.get("duration"):
        data["duration_s"] = float(report["duration"])
    call_progress(call_id=call_id, event=event, **data)
    return HttpResponse(status=204)
