"""Carrier callbacks: Twilio status callbacks (Twilio's signature) and VoxEngine result reports (our HMAC)."""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from rest_framework import serializers

from calls.media_auth import public_url
from calls.services.dialing import call_provider_id_seen
from calls.services.lifecycle import call_progress
from calls.telephony import get_provider
from calls.telephony.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, callback_first_use, callback_verify
from calls.telephony.twilio import twilio_progress
from calls.voicemail import ANSWERED_BY, call_voicemail_carrier

log = logging.getLogger(__name__)
MAX_DURATION_S = 24 * 3600  # no call lasts a day; a larger figure is a broken or forged report


class TwilioStatusForm(serializers.Serializer):
    """The status callback fields we read; Twilio sends many more, which are ignored."""

    CallSid = serializers.CharField(max_length=64, required=False, allow_blank=True)
    CallStatus = serializers.CharField(max_length=32, required=False, allow_blank=True)
    AnsweredBy = serializers.CharField(max_length=64, required=False, allow_blank=True)
    CallDuration = serializers.IntegerField(min_value=0, max_value=MAX_DURATION_S, required=False)


class VoximplantReport(serializers.Serializer):
    """What ``voxengine/outbound.js`` reports: the event, our call id (signed with the body) and the duration."""

    event = serializers.CharField(max_length=32)
    call_id = serializers.IntegerField(min_value=1)
    session_id = serializers.CharField(max_length=128, required=False, allow_blank=True)
    duration = serializers.FloatField(min_value=0, max_value=MAX_DURATION_S, required=False, allow_null=True)
    answered_by = serializers.ChoiceField(choices=sorted(ANSWERED_BY), required=False)  # event "amd"


def _bad_request(errors) -> JsonResponse:
    return JsonResponse({"error": "invalid callback", "detail": errors}, status=400)


class TwilioAmdForm(serializers.Serializer):
    """Twilio's async AMD callback: who answered (``AnsweredBy``) and how long the detection took."""

    CallSid = serializers.CharField(max_length=64)
    AnsweredBy = serializers.ChoiceField(choices=sorted(ANSWERED_BY))
    MachineDetectionDuration = serializers.IntegerField(min_value=0, max_value=MAX_DURATION_S * 1000, required=False)


def _twilio_fields(request: HttpRequest, call_id: int, what: str, form_class, number_field: str):
    """The callback's validated fields when Twilio's signature holds; otherwise the refusal to answer with."""
    params = request.POST.dict()
    # Twilio signs the URL it was given, which is the public one, not what a proxy hands to Django.
    url = public_url(request.get_full_path())
    signature = request.headers.get("X-Twilio-Signature", "")
    if not get_provider("twilio").validate_callback(url=url, params=params, signature=signature):
        log.warning("twilio %s callback for call %s: bad signature", what, call_id)
        return HttpResponseForbidden("bad signature")
    # an empty number (a call that never connected has CallDuration="") is one that was not sent
    form = form_class(data={k: v for k, v in params.items() if v != "" or k != number_field})
    if not form.is_valid():
        log.warning("twilio %s callback for call %s: invalid fields %s", what, call_id, sorted(form.errors))
        return _bad_request(form.errors)
    return form.validated_data


@csrf_exempt
@require_POST
def twilio_amd(request: HttpRequest, call_id: int) -> HttpResponse:
    """``AsyncAmdStatusCallback``: a machine may get the voicemail message or a hang-up (``calls.voicemail``)."""
    fields = _twilio_fields(request, call_id, "AMD", TwilioAmdForm, "MachineDetectionDuration")
    if isinstance(fields, HttpResponse):
        return fields
    call_provider_id_seen(call_id=call_id, provider_call_id=fields["CallSid"])
    call_voicemail_carrier(call_id=call_id, answered_by=fields["AnsweredBy"], source="twilio")
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def twilio_status(request: HttpRequest, call_id: int) -> HttpResponse:
    fields = _twilio_fields(request, call_id, "status", TwilioStatusForm, "CallDuration")
    if isinstance(fields, HttpResponse):
        return fields
    progress = twilio_progress(fields)
    if progress:
        data = {"provider_call_id": fields.get("CallSid", "")}
        if fields.get("CallDuration"):
            data["duration_s"] = float(fields["CallDuration"])
        call_progress(call_id=call_id, event=progress, **data)
    elif fields.get("CallSid"):  # "initiated": the carrier placed it, even if its answer to the dial was lost
        call_provider_id_seen(call_id=call_id, provider_call_id=fields["CallSid"])
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def voximplant_status(request: HttpRequest, call_id: int) -> HttpResponse:
    secret = settings.TELEPHONY["VOXIMPLANT"].get("CALLBACK_SECRET", "")
    signature = request.headers.get(SIGNATURE_HEADER, "")
    ok = callback_verify(secret=secret, timestamp=request.headers.get(TIMESTAMP_HEADER, ""),
                         signature=signature, body=request.body)
    if not ok:
        log.warning("voximplant result for call %s: bad or stale signature", call_id)
        return HttpResponseForbidden("bad signature")
    try:
        report = json.loads(request.body)
    except ValueError:
        return JsonResponse({"error": "not JSON"}, status=400)
    form = VoximplantReport(data=report)
    if not form.is_valid():
        log.warning("voximplant result for call %s: invalid fields %s", call_id, sorted(form.errors))
        return _bad_request(form.errors)
    # The signature covers the body, not the URL: the call id inside the body is what binds the report to a call.
    if form.validated_data["call_id"] != call_id:
        log.warning("voximplant result signed for call %s posted for call %s", form.validated_data["call_id"], call_id)
        return HttpResponseForbidden("call id mismatch")
    if not callback_first_use(signature=signature):
        log.warning("voximplant result for call %s: replayed signature", call_id)
        return JsonResponse({"error": "replayed callback"}, status=409)
    if form.validated_data["event"] == "amd":  # the scenario hangs up when the answer says so
        action = call_voicemail_carrier(call_id=call_id, answered_by=form.validated_data.get("answered_by", "unknown"),
                                        source="voximplant")
        return JsonResponse({"action": action})
    data = {}
    if form.validated_data.get("duration"):
        data["duration_s"] = form.validated_data["duration"]
    call_progress(call_id=call_id, event=form.validated_data["event"], **data)
    return HttpResponse(status=204)
