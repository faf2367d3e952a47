"""Voximplant and Twilio against a local server speaking their protocols; callbacks with signatures checked."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from unittest import mock
from xml.etree import ElementTree

import pytest
from celery.exceptions import Retry
from django.core import signing
from django.test import override_settings
from django.utils import timezone
from twilio.request_validator import RequestValidator

import calls.telephony
from calls.media_auth import call_media_token, call_media_url, public_url
from calls.models import Call, CallEvent, CallOutcome
from calls.services.dialing import call_place
from calls.services.lifecycle import call_transition
from calls.tasks import place_call
from calls.telephony import DialRequest, get_provider, media_protocol
from calls.telephony.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, callback_signature
from calls.telephony.twilio import TwilioTelephony, stream_twiml
from calls.telephony.voximplant import CUSTOM_DATA_MAX_BYTES, VoximplantTelephony, custom_data
from calls.tests.carrier_servers import (
    TWILIO_SID,
    TWILIO_TOKEN,
    VOX_ACCOUNT,
    VOX_KEY,
    VOX_RULE,
    CarrierServer,
)
from integrations.errors import (
    ProviderAuthError,
    ProviderBadResponse,
    ProviderConfigError,
    ProviderTimeout,
    ProviderUnavailable,
)

S = Call.Status
TOKEN = "7:1vMfXq:PbVqOJ3cKj8rL0yX2kz3c6ZqgZ0mJ8m2vA9sQwE1x4c"  # the shape of call_media_token's
REQUEST = DialRequest(call_id=7, to="+79160001234", caller_id="+74950000000",
                      media_url=f"wss://example.test/ws/calls/7/media/?token={TOKEN}", media_token=TOKEN,
                      status_callback_url="https://example.test/calls/telephony/voximplant/status/7/")


@pytest.fixture
def server():
    with CarrierServer() as s:
        yield s


def vox(server, **kw):
    options = {"account_id": VOX_ACCOUNT, "api_key": VOX_KEY, "rule_id": VOX_RULE,
               "api_url": server.url + "/platform_api", **kw}
    return VoximplantTelephony(**options)


def twilio(server, **kw):
    return TwilioTelephony(**{"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "from_number": "+15550001111",
                              "api_url": server.url, **kw})


# --- Voximplant ------------------------------------------------------------------------------------


def test_voximplant_start_scenarios_carries_the_media_url(server):
    result = vox(server).dial(request=REQUEST)
    assert result.provider_call_id == "555001"
    sent = server.requests[-1]
    assert sent.path == "/platform_api/StartScenarios"
    assert sent.form["rule_id"] == [VOX_RULE]
    custom = json.loads(sent.form["script_custom_data"][0])
    assert custom == {"to": REQUEST.to, "from": REQUEST.caller_id, "call": 7, "t": TOKEN,
                      "b": "https://example.test"}


def _scenario_js() -> str:
    return (Path(calls.telephony.__file__).parent / "voxengine" / "outbound.js").read_text()


@pytest.mark.django_db
def test_voximplant_custom_data_fits_voxengine_and_the_scenario_builds_djangos_urls(settings, tmp_path):
    settings.TELEPHONY = {**settings.TELEPHONY, "PUBLIC_BASE_URL": "https://calls.sales-team.example.ru"}
    # a long call id and the longest phone numbers E.164 allows: still inside VoxEngine's 200 bytes
    token = call_media_token(call_id=9_999_999_999)
    request = DialRequest(call_id=9_999_999_999, to="+" + "7" * 15, caller_id="+" + "4" * 15,
                          media_url=call_media_url(call_id=9_999_999_999, token=token), media_token=token,
                          status_callback_url=public_url("/calls/telephony/voximplant/status/9999999999/"))
    data = custom_data(request)
    assert len(data.encode()) <= CUSTOM_DATA_MAX_BYTES
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the scenario's URL builder cannot be run here")
    js = _scenario_js()
    builder = js[js.index("function callUrls"): js.index("var data =")]
    script = tmp_path / "urls.js"
    script.write_text(builder + f"process.stdout.write(JSON.stringify(callUrls({data})));")
    built = json.loads(subprocess.run([node, str(script)], capture_output=True, text=True, check=True).stdout)
    assert built == {"media": request.media_url, "result": request.status_callback_url}


def test_voximplant_refuses_custom_data_it_cannot_deliver():
    with pytest.raises(ProviderConfigError, match="200"):
        long_base = "https://" + "x" * 120 + ".example"
        custom_data(replace(REQUEST, media_url=f"wss://{long_base[8:]}/ws/calls/7/media/?token={TOKEN}",
                            status_callback_url=f"{long_base}/calls/telephony/voximplant/status/7/"))
    with pytest.raises(ProviderConfigError, match="result callback"):
        custom_data(replace(REQUEST, status_callback_url="https://example.test/hooks/7/"))
    with pytest.raises(ProviderConfigError, match="media socket"):
        custom_data(replace(REQUEST, media_url="wss://elsewhere.test/ws/calls/7/media/?token=" + TOKEN))


def test_voximplant_errors_map_to_the_provider_family(server):
    with pytest.raises(ProviderAuthError):
        vox(server, api_key="wrong").dial(request=REQUEST)
    with pytest.raises(ProviderBadResponse):
        vox(server, rule_id="1").dial(request=REQUEST)
    server.force_status = 503
    with pytest.raises(ProviderUnavailable):
        vox(server).dial(request=REQUEST)
    with pytest.raises(ProviderUnavailable):
        vox(server, api_url="http://127.0.0.1:9/platform_api", timeout_s=1).dial(request=REQUEST)
    with pytest.raises(ProviderConfigError):
        vox(server, account_id="")


SECRET = "vox-callback-secret"


@pytest.fixture
def answered_call(make_campaign, make_contact):
    call = Call.objects.create(campaign=make_campaign(), contact=make_contact())
    call_transition(call_id=call.pk, to=S.DIALING)
    return call


def _vox_post(client, call_id, payload, *, secret=None, ts=None, body=None):
    secret = secret or SECRET
    if body is None:
        payload = {"call_id": call_id, **payload} if isinstance(payload, dict) else payload
        body = json.dumps(payload).encode()
    ts = ts or str(int(time.time()))
    return client.post(f"/calls/telephony/voximplant/status/{call_id}/", body, content_type="application/json",
                       headers={TIMESTAMP_HEADER: ts,
                                SIGNATURE_HEADER: callback_signature(secret=secret, timestamp=ts, body=body)})


@pytest.fixture
def vox_secret(settings, monkeypatch):
    """A secret of this test's own: the replay store outlives a test, and identical requests would collide."""

    monkeypatch.setattr(sys.modules[__name__], "SECRET", f"vox-secret-{uuid.uuid4()}")
    settings.TELEPHONY = {**settings.TELEPHONY,
                          "VOXIMPLANT": {**settings.TELEPHONY["VOXIMPLANT"], "CALLBACK_SECRET": SECRET}}


@pytest.mark.django_db
def test_voximplant_result_callback_is_signed(client, answered_call, vox_secret):
    assert _vox_post(client, answered_call.pk, {"event": "busy"}, secret="wrong").status_code == 403
    stale = str(int(time.time()) - 3600)
    assert _vox_post(client, answered_call.pk, {"event": "busy"}, ts=stale).status_code == 403
    assert Call.objects.get(pk=answered_call.pk).status == S.DIALING
    assert _vox_post(client, answered_call.pk, {"event": "ringing"}).status_code == 204
    assert _vox_post(client, answered_call.pk, {"event": "busy", "code": 486}).status_code == 204
    call = Call.objects.get(pk=answered_call.pk)
    assert call.outcome == CallOutcome.BUSY and call.status == S.DONE


@pytest.mark.django_db
def test_voximplant_result_signed_for_one_call_cannot_end_another(client, vox_secret, make_campaign, make_contact):
    campaign = make_campaign()
    calls = [Call.objects.create(campaign=campaign, contact=make_contact()) for _ in range(3)]
    for call in calls:
        call_transition(call_id=call.pk, to=S.DIALING)
    first, second, third = calls
    body = json.dumps({"event": "no_answer", "call_id": first.pk}).encode()
    ts = str(int(time.time()))
    headers = {TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: callback_signature(secret=SECRET, timestamp=ts, body=body)}
    # the same signed body, posted against other calls' URLs, is refused
    for other in (second, third):
        answer = client.post(f"/calls/telephony/voximplant/status/{other.pk}/", body,
                             content_type="application/json", headers=headers)
        assert answer.status_code == 403
        assert Call.objects.get(pk=other.pk).status == S.DIALING
    # and a body without the call id is refused too
    assert _vox_post(client, second.pk, None, body=b'{"event": "no_answer"}').status_code == 400
    assert Call.objects.get(pk=second.pk).status == S.DIALING
    # against its own call it is taken once; the replay of the very same request is refused
    url = f"/calls/telephony/voximplant/status/{first.pk}/"
    assert client.post(url, body, content_type="application/json", headers=headers).status_code == 204
    assert Call.objects.get(pk=first.pk).outcome == CallOutcome.NO_ANSWER
    replay = client.post(url, body, content_type="application/json", headers=headers)
    assert replay.status_code == 409
    assert CallEvent.objects.filter(call=first, kind="late_report").count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("ts", ["nan", "NaN", "inf", "-inf", "1e999", "0x10", ""])
def test_voximplant_result_with_a_timestamp_that_is_not_a_finite_number_is_refused(client, vox_secret,
                                                                                      answered_call, ts):
    body = json.dumps({"event": "busy", "call_id": answered_call.pk}).encode()
    sig = callback_signature(secret=SECRET, timestamp=ts, body=body)
    answer = client.post(f"/calls/telephony/voximplant/status/{answered_call.pk}/", body,
                         content_type="application/json", headers={TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: sig})
    assert answer.status_code == 403
    assert Call.objects.get(pk=answered_call.pk).status == S.DIALING


@pytest.mark.django_db
@pytest.mark.parametrize("body", [b"[1]", b'"busy"', b"null", b"{not json", b'{"event": "busy", "call_id": "x"}',
                                  b'{"event": "completed", "call_id": %d, "duration": "abc"}',
                                  b'{"event": "completed", "call_id": %d, "duration": 1e999}',
                                  b'{"event": "completed", "call_id": %d, "duration": NaN}',
                                  b'{"event": "completed", "call_id": %d, "duration": -5}',
                                  b'{"event": ["busy"], "call_id": %d}'])
def test_voximplant_signed_result_with_a_bad_body_is_a_400_and_changes_nothing(client, vox_secret, answered_call,
                                                                               body):
    if b"%d" in body:
        body = body % answered_call.pk
    answer = _vox_post(client, answered_call.pk, None, body=body)
    assert answer.status_code == 400, answer.content
    assert Call.objects.get(pk=answered_call.pk).status == S.DIALING


def test_voxengine_scenario_is_in_the_repo():
    js = _scenario_js()
    for needle in ("callPSTN", "createWebSocket", "sendMediaTo", "hmac_sha256", "X-Callback-Signature"):
        assert needle in js


# --- Twilio --------------------------------------------------------------------------------------------


def test_twilio_calls_create_through_the_sdk(server):
    provider = twilio(server, machine_detection=True)
    result = provider.dial(request=REQUEST)
    assert result.provider_call_id.startswith("CA")
    sent = server.requests[-1]
    assert sent.path == f"/2010-04-01/Accounts/{TWILIO_SID}/Calls.json"
    twiml = sent.form["Twiml"][0]
    assert "<Connect><Stream url=" in twiml and f'name="token" value="{TOKEN}"' in twiml
    assert sent.form["StatusCallback"] == [REQUEST.status_callback_url]
    assert set(sent.form["StatusCallbackEvent"]) == {"initiated", "ringing", "answered", "completed"}
    assert sent.form["MachineDetection"] == ["Enable"]
    provider.hangup(provider_call_id=result.provider_call_id)
    assert server.requests[-1].path.endswith(f"/Calls/{result.provider_call_id}.json")
    assert server.requests[-1].form["Status"] == ["completed"]


def test_twilio_errors_map_to_the_provider_family(server):
    with pytest.raises(ProviderAuthError):
        twilio(server, auth_token="nope").dial(request=REQUEST)
    server.force_status = 500
    with pytest.raises(ProviderUnavailable):
        twilio(server).dial(request=REQUEST)
    server.force_status = 400
    with pytest.raises(ProviderBadResponse):
        twilio(server).dial(request=REQUEST)


@pytest.mark.django_db
def test_twilio_status_callback_signature(client, answered_call):
    tw = {"ACCOUNT_SID": TWILIO_SID, "AUTH_TOKEN": TWILIO_TOKEN, "FROM_NUMBER": "", "API_URL": ""}
    with override_settings(TELEPHONY={"PROVIDER": "twilio", "PUBLIC_BASE_URL": "https://calls.example.test",
                                      "TWILIO": tw, "VOXIMPLANT": {}}):
        path = f"/calls/telephony/twilio/status/{answered_call.pk}/"
        params = {"CallSid": "CA123", "CallStatus": "in-progress", "AccountSid": TWILIO_SID}
        signature = RequestValidator(TWILIO_TOKEN).compute_signature("https://calls.example.test" + path, params)
        bad = client.post(path, params, headers={"X-Twilio-Signature": "invalid"})
        assert bad.status_code == 403
        assert Call.objects.get(pk=answered_call.pk).status == S.DIALING
        good = client.post(path, params, headers={"X-Twilio-Signature": signature})
        assert good.status_code == 204
        assert Call.objects.get(pk=answered_call.pk).status == S.IN_PROGRESS
        params = {"CallSid": "CA123", "CallStatus": "completed", "CallDuration": "42", "AccountSid": TWILIO_SID}
        signature = RequestValidator(TWILIO_TOKEN).compute_signature("https://calls.example.test" + path, params)
        assert client.post(path, params, headers={"X-Twilio-Signature": signature}).status_code == 204
        call = Call.objects.get(pk=answered_call.pk)
        assert call.outcome == CallOutcome.COMPLETED and call.duration_s == 42


@pytest.mark.django_db
@pytest.mark.parametrize("duration", ["abc", "1e999", "-3", "nan", "4.5"])
def test_twilio_signed_status_callback_with_a_bad_duration_is_a_400(client, answered_call, duration):
    tw = {"ACCOUNT_SID": TWILIO_SID, "AUTH_TOKEN": TWILIO_TOKEN, "FROM_NUMBER": "", "API_URL": ""}
    with override_settings(TELEPHONY={"PROVIDER": "twilio", "PUBLIC_BASE_URL": "https://calls.example.test",
                                      "TWILIO": tw, "VOXIMPLANT": {}}):
        path = f"/calls/telephony/twilio/status/{answered_call.pk}/"
        params = {"CallSid": "CA123", "CallStatus": "completed", "CallDuration": duration, "AccountSid": TWILIO_SID}
        signature = RequestValidator(TWILIO_TOKEN).compute_signature("https://calls.example.test" + path, params)
        answer = client.post(path, params, headers={"X-Twilio-Signature": signature})
        assert answer.status_code == 400
        assert "CallDuration" in answer.json()["detail"]
        assert Call.objects.get(pk=answered_call.pk).status == S.DIALING


def test_stream_twiml_escapes_and_carries_the_token():
    xml = stream_twiml(media_url="wss://h/ws/calls/1/media/", token='a"b&c', call_id=1)
    stream = ElementTree.fromstring(xml).find("Connect/Stream")  # noqa: S314 - our own output
    assert stream.get("url") == "wss://h/ws/calls/1/media/"
    assert {p.get("name"): p.get("value") for p in stream.findall("Parameter")} == {"token": 'a"b&c', "call_id": "1"}


# --- dialling at most once per attempt ------------------------------------------------------------------


@pytest.fixture
def twilio_campaign(server, settings, make_campaign):
    tw = {"ACCOUNT_SID": TWILIO_SID, "AUTH_TOKEN": TWILIO_TOKEN, "FROM_NUMBER": "+15550001111",
          "API_URL": server.url, "TIMEOUT_S": 0.5}
    settings.TELEPHONY = {**settings.TELEPHONY, "PUBLIC_BASE_URL": "https://calls.example.test", "TWILIO": tw,
                          "DIAL_SETTLE_S": 90}
    return make_campaign(telephony_provider="twilio")


def _creates(server) -> int:
    return sum(1 for r in server.requests if r.path.endswith(f"/Accounts/{TWILIO_SID}/Calls.json"))


def _twilio_callback(client, call_id: int, **params):
    path = f"/calls/telephony/twilio/status/{call_id}/"
    params = {"AccountSid": TWILIO_SID, **params}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature("https://calls.example.test" + path, params)
    assert client.post(path, params, headers={"X-Twilio-Signature": signature}).status_code == 204


@pytest.mark.django_db
def test_a_dial_whose_answer_was_lost_is_not_repeated_while_the_carrier_may_be_ringing(
    server, twilio_campaign, make_contact, client
):
    call = Call.objects.create(campaign=twilio_campaign, contact=make_contact())
    server.delay_s = 1.5  # Twilio creates the call but its answer comes after the client gave up
    with pytest.raises(ProviderTimeout):
        call_place(call_id=call.pk)
    assert _creates(server) == 1
    server.delay_s = 0
    retry = call_place(call_id=call.pk)  # the task's retry a few seconds later
    assert retry.status == "settling" and 60 < retry.wait_s <= 90
    assert _creates(server) == 1  # the person's phone was not rung a second time
    # Twilio's "initiated" callback names its call: from then on the call is the carrier's
    _twilio_callback(client, call.pk, CallSid="CA" + "5" * 32, CallStatus="initiated")
    assert Call.objects.get(pk=call.pk).provider_call_id == "CA" + "5" * 32
    assert call_place(call_id=call.pk).status == "skipped"
    _twilio_callback(client, call.pk, CallSid="CA" + "5" * 32, CallStatus="no-answer")
    assert Call.objects.get(pk=call.pk).outcome == CallOutcome.NO_ANSWER
    assert _creates(server) == 1


@pytest.mark.django_db
def test_a_refused_dial_is_retried_at_once_and_a_silent_one_after_the_settle_time(
    server, twilio_campaign, make_contact
):
    call = Call.objects.create(campaign=twilio_campaign, contact=make_contact())
    server.force_status = 503  # Twilio answered: nothing was placed
    with pytest.raises(ProviderUnavailable):
        call_place(call_id=call.pk)
    assert Call.objects.get(pk=call.pk).dial_requested_at is None
    server.force_status = None
    placed = call_place(call_id=call.pk)
    assert placed.status == "dialled" and placed.provider_call_id.startswith("CA")

    silent = Call.objects.create(campaign=twilio_campaign, contact=make_contact())
    server.delay_s = 1.5
    with pytest.raises(Exception):  # noqa: B017 - the timeout, as above
        call_place(call_id=silent.pk)
    server.delay_s = 0
    # the carrier never reported that call within the settle time: it was not placed, so dial again
    Call.objects.filter(pk=silent.pk).update(dial_requested_at=timezone.now() - timedelta(seconds=91))
    assert call_place(call_id=silent.pk).status == "dialled"
    assert _creates(server) == 4  # refused, dialled; lost, dialled again


@pytest.mark.django_db
def test_the_dial_task_waits_out_a_settling_call_without_spending_its_carrier_error_budget(
    server, twilio_campaign, make_contact
):
    call = Call.objects.create(campaign=twilio_campaign, contact=make_contact(), status=S.DIALING,
                               dial_requested_at=timezone.now())
    with mock.patch.object(place_call, "retry", side_effect=Retry()) as retry:  # Celery's re-queue, recorded
        with pytest.raises(Retry):
            place_call(call.pk, carrier_failures=2)
    assert retry.call_args.kwargs["kwargs"] == {"call_id": call.pk, "carrier_failures": 2}
    assert 55 < retry.call_args.kwargs["countdown"] <= 60  # capped under the broker's visibility timeout
    assert _creates(server) == 0


@pytest.mark.django_db
def test_the_dial_sends_one_token_even_when_the_clock_ticks_between_signings(make_campaign, make_contact,
                                                                             fake_telephony, monkeypatch):
    """A media token carries its signing second: signed twice, the URL's and the separate one could differ, and the
    Voximplant dial refused such a pair (a failed call, now and then, on a busy machine)."""

    seconds = iter(range(1_000_000, 1_000_100))
    monkeypatch.setattr(signing.TimestampSigner, "timestamp", lambda self: signing.b62_encode(next(seconds)))
    call = Call.objects.create(campaign=make_campaign(), contact=make_contact())
    assert call_place(call_id=call.pk).status == "dialled"
    [request] = fake_telephony.dialled
    assert request.media_url.endswith(f"?token={request.media_token}")


def test_a_calls_media_protocol_is_read_off_its_carrier_without_building_it(settings):
    settings.TELEPHONY = {**settings.TELEPHONY, "VOXIMPLANT": {}}  # no credentials: building it would fail
    with pytest.raises(ProviderConfigError):
        get_provider("voximplant")
    assert [media_protocol(name) for name in ("voximplant", "twilio", "simulated", "fake")] == [
        "voximplant", "twilio", "twilio", "twilio"]
    assert media_protocol("gone-carrier") == "twilio"  # a carrier since removed from the registry
