"""Voicemail: Twilio's async AMD against the local Twilio stand-in, the decision, the outcome, the retry, no lead."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
import zoneinfo
from pathlib import Path
from xml.etree import ElementTree

import pytest
import time_machine
from django.test import override_settings
from rest_framework.test import APIClient
from twilio.request_validator import RequestValidator

import calls.telephony
from calls.media_auth import call_media_token, call_media_url, public_url
from calls.models import Call, CallEvent, CallOutcome, VoicemailMode
from calls.services.dialing import call_place
from calls.services.lifecycle import call_transition
from calls.telephony import DialRequest
from calls.telephony.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, callback_signature
from calls.telephony.twilio import voicemail_twiml
from calls.telephony.voximplant import CUSTOM_DATA_MAX_BYTES, custom_data
from calls.tests.carrier_servers import TWILIO_SID, TWILIO_TOKEN, CarrierServer
from crm.models import Lead

S = Call.Status
BASE = "https://calls.example.test"
FROZEN = dt.datetime(2026, 12, 2, 12, 0, tzinfo=zoneinfo.ZoneInfo("Europe/Moscow"))  # inside the window


@pytest.fixture
def server():
    with CarrierServer() as s:
        yield s


@pytest.fixture
def twilio_settings(server):
    tw = {"ACCOUNT_SID": TWILIO_SID, "AUTH_TOKEN": TWILIO_TOKEN, "FROM_NUMBER": "+15550001111",
          "API_URL": server.url, "TIMEOUT_S": 2}
    with override_settings(TELEPHONY={"PROVIDER": "twilio", "PUBLIC_BASE_URL": BASE, "TWILIO": tw,
                                      "VOXIMPLANT": {}, "DIAL_SETTLE_S": 90}):
        yield tw


@pytest.fixture
def no_publish(monkeypatch):
    monkeypatch.setattr("calls.services.lifecycle.call_publish", lambda **kw: None)
    monkeypatch.setattr("calls.voicemail.call_publish", lambda **kw: None)
    monkeypatch.setattr("calls.services.planning.calls_dispatch_due", lambda **kw: 0)


def _dial(make_campaign, make_contact, server, **campaign):
    c = make_campaign(telephony_provider="twilio", retry_interval_minutes=0, window_start="00:00",
                      window_end="23:59", max_attempts=3, **campaign)
    contact = make_contact()
    call = Call.objects.create(campaign=c, contact=contact)
    assert call_place(call_id=call.pk).status == "dialled"
    return Call.objects.get(pk=call.pk), server.requests[-1]


def _signed_post(client, path: str, params: dict):
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(BASE + path, params)
    return client.post(path, params, headers={"X-Twilio-Signature": signature})


@pytest.mark.django_db
@pytest.mark.parametrize("mode,detection", [(VoicemailMode.LEAVE_MESSAGE, "DetectMessageEnd"),
                                            (VoicemailMode.HANG_UP, "Enable"), (VoicemailMode.OFF, None)])
def test_the_dial_asks_twilio_for_async_amd_as_the_campaign_says(make_campaign, make_contact, server,
                                                                 twilio_settings, no_publish, mode, detection):
    call, sent = _dial(make_campaign, make_contact, server, voicemail_mode=mode)
    if detection is None:
        assert "MachineDetection" not in sent.form and "AsyncAmd" not in sent.form
        return
    assert sent.form["MachineDetection"] == [detection]
    assert sent.form["AsyncAmd"] == ["true"]
    assert sent.form["AsyncAmdStatusCallback"] == [f"{BASE}/calls/telephony/twilio/amd/{call.pk}/"]
    assert sent.form["AsyncAmdStatusCallbackMethod"] == ["POST"]


@pytest.mark.django_db
def test_a_campaign_may_leave_detection_to_our_own_detector(make_campaign, make_contact, server, twilio_settings,
                                                            no_publish):
    _, sent = _dial(make_campaign, make_contact, server, voicemail_mode=VoicemailMode.HANG_UP, carrier_amd=False)
    assert "MachineDetection" not in sent.form


@pytest.mark.django_db
def test_amd_callback_is_signed_and_checked(client, make_campaign, make_contact, server, twilio_settings, no_publish):
    call, _ = _dial(make_campaign, make_contact, server, voicemail_mode=VoicemailMode.HANG_UP)
    path = f"/calls/telephony/twilio/amd/{call.pk}/"
    params = {"CallSid": call.provider_call_id, "AccountSid": TWILIO_SID, "AnsweredBy": "machine_start"}
    assert client.post(path, params, headers={"X-Twilio-Signature": "forged"}).status_code == 403
    bad = _signed_post(client, path, {**params, "AnsweredBy": "robot"})
    assert bad.status_code == 400 and "AnsweredBy" in bad.json()["detail"]
    assert not CallEvent.objects.filter(call=call, kind__in=["amd", "voicemail"]).exists()
    assert len(server.requests) == 1  # only the dial: nothing was hung up


@pytest.mark.django_db
def test_a_human_is_recorded_and_the_call_goes_on(client, make_campaign, make_contact, server, twilio_settings,
                                                  no_publish):
    call, _ = _dial(make_campaign, make_contact, server, voicemail_mode=VoicemailMode.LEAVE_MESSAGE)
    call_transition(call_id=call.pk, to=S.IN_PROGRESS)
    answer = _signed_post(client, f"/calls/telephony/twilio/amd/{call.pk}/",
                          {"CallSid": call.provider_call_id, "AnsweredBy": "human", "MachineDetectionDuration": "1800"})
    assert answer.status_code == 204
    assert CallEvent.objects.get(call=call, kind="amd").data == {"answered_by": "human", "source": "twilio"}
    assert not CallEvent.objects.filter(call=call, kind="voicemail").exists()
    assert len(server.requests) == 1
    assert Call.objects.get(pk=call.pk).status == S.IN_PROGRESS


@pytest.mark.django_db
def test_message_left_after_the_beep_then_voicemail_outcome_retry_and_no_lead(
        client, make_campaign, make_contact, server, twilio_settings, no_publish, django_capture_on_commit_callbacks):
    with time_machine.travel(FROZEN, tick=False):
        call, _ = _dial(make_campaign, make_contact, server, voicemail_mode=VoicemailMode.LEAVE_MESSAGE)
        call_transition(call_id=call.pk, to=S.IN_PROGRESS)
        path = f"/calls/telephony/twilio/amd/{call.pk}/"
        with django_capture_on_commit_callbacks(execute=True):
            answer = _signed_post(client, path, {"CallSid": call.provider_call_id, "AnsweredBy": "machine_end_beep",
                                                 "MachineDetectionDuration": "7400"})
        assert answer.status_code == 204
        update = server.requests[-1]
        assert update.path == f"/2010-04-01/Accounts/{TWILIO_SID}/Calls/{call.provider_call_id}.json"
        response = ElementTree.fromstring(update.form["Twiml"][0])  # noqa: S314 - our own output
        say = response.find("Say")
        assert say.get("language") == "ru-RU"
        assert say.text.startswith(f"Здравствуйте, {call.contact.name}! Это Мария, компания ТРАНСТИРЕКС")
        assert [child.tag for child in response] == ["Say", "Hangup"]
        assert CallEvent.objects.get(call=call, kind="voicemail").data == {
            "answered_by": "machine_end_beep", "source": "twilio", "action": "leave_message"}
        # the same verdict again (Twilio retries a callback) changes nothing
        _signed_post(client, path, {"CallSid": call.provider_call_id, "AnsweredBy": "machine_end_beep"})
        assert server.requests[-1] is update
        # Twilio reports the end of the call: voicemail, not a conversation
        with django_capture_on_commit_callbacks(execute=True):
            done = _signed_post(client, f"/calls/telephony/twilio/status/{call.pk}/",
                                {"CallSid": call.provider_call_id, "CallStatus": "completed", "CallDuration": "21"})
        assert done.status_code == 204
        call.refresh_from_db()
        assert (call.status, call.outcome, call.disposition) == (S.DONE, CallOutcome.VOICEMAIL, "voicemail")
        assert not Lead.objects.filter(call=call).exists()
        assert call.analysis == {}
        retry = Call.objects.get(contact=call.contact, attempt=2)
        assert retry.status == S.QUEUED


@pytest.mark.django_db
def test_hang_up_mode_ends_the_call_on_the_first_machine_verdict(client, make_campaign, make_contact, server,
                                                                 twilio_settings, no_publish):
    call, _ = _dial(make_campaign, make_contact, server, voicemail_mode=VoicemailMode.HANG_UP)
    call_transition(call_id=call.pk, to=S.IN_PROGRESS)
    _signed_post(client, f"/calls/telephony/twilio/amd/{call.pk}/",
                 {"CallSid": call.provider_call_id, "AnsweredBy": "machine_start"})
    hang_up = server.requests[-1]
    assert hang_up.path.endswith(f"/Calls/{call.provider_call_id}.json") and hang_up.form["Status"] == ["completed"]
    assert CallEvent.objects.get(call=call, kind="voicemail").data["action"] == "hang_up"


@pytest.mark.django_db
def test_a_campaign_with_voicemail_off_only_records_the_verdict(client, make_campaign, make_contact, server,
                                                                twilio_settings, no_publish):
    call, _ = _dial(make_campaign, make_contact, server, voicemail_mode=VoicemailMode.OFF)
    call_transition(call_id=call.pk, to=S.IN_PROGRESS)
    _signed_post(client, f"/calls/telephony/twilio/amd/{call.pk}/",
                 {"CallSid": call.provider_call_id, "AnsweredBy": "machine_end_silence"})
    assert len(server.requests) == 1
    assert CallEvent.objects.filter(call=call, kind="amd").count() == 1
    assert not CallEvent.objects.filter(call=call, kind="voicemail").exists()


def test_voicemail_twiml_escapes_the_message():
    xml = voicemail_twiml(text="A & B <ok>", language="tg")
    say = ElementTree.fromstring(xml).find("Say")  # noqa: S314 - our own output
    assert say.text == "A & B <ok>" and say.get("language") is None


# --- Voximplant: the scenario's AMD module reports to the signed result callback -----------------------------


def test_voximplant_custom_data_asks_for_amd_and_still_fits_voxengine(settings):
    settings.TELEPHONY = {**settings.TELEPHONY, "PUBLIC_BASE_URL": "https://calls.sales-team.example.ru"}
    big = 9_999_999_999
    request = DialRequest(call_id=big, to="+" + "7" * 15, caller_id="+" + "4" * 15,
                          media_url=call_media_url(call_id=big, token=(token := call_media_token(call_id=big))),
                          media_token=token,
                          status_callback_url=public_url(f"/calls/telephony/voximplant/status/{big}/"),
                          custom={"voicemail": {"mode": "leave_message", "carrier_amd": True}})
    data = custom_data(request)
    assert json.loads(data)["a"] == 1 and len(data.encode()) <= CUSTOM_DATA_MAX_BYTES
    off = custom_data(DialRequest(**{**request.__dict__, "custom": {"voicemail": {"mode": "off"}}}))
    assert "a" not in json.loads(off)


def test_the_voxengine_scenario_runs_the_amd_module_and_obeys_the_answer():
    js = (Path(calls.telephony.__file__).parent / "voxengine" / "outbound.js").read_text()
    for needle in ("require(Modules.AMD)", "AMD.create(", "{ amd: amd }", "AMD.Events.DetectionComplete",
                   'report("amd"', 'answer.action === "hang_up"'):
        assert needle in js


@pytest.mark.django_db
@pytest.mark.parametrize("mode,action", [(VoicemailMode.HANG_UP, "hang_up"), (VoicemailMode.LEAVE_MESSAGE, "")])
def test_voximplant_amd_report_answers_what_the_scenario_does(client, settings, make_campaign, make_contact,
                                                              no_publish, mode, action):

    secret = f"vox-secret-{uuid.uuid4()}"  # the replay store outlives a test
    settings.TELEPHONY = {**settings.TELEPHONY, "VOXIMPLANT": {"ACCOUNT_ID": "1", "API_KEY": "k", "RULE_ID": "2",
                                                               "CALLBACK_SECRET": secret}}
    call = Call.objects.create(campaign=make_campaign(telephony_provider="voximplant", voicemail_mode=mode),
                               contact=make_contact(), provider="voximplant", provider_call_id="555001")
    call_transition(call_id=call.pk, to=S.DIALING)
    call_transition(call_id=call.pk, to=S.IN_PROGRESS)
    body = json.dumps({"event": "amd", "call_id": call.pk, "answered_by": "machine_start"}).encode()
    ts = str(int(time.time()))
    answer = client.post(f"/calls/telephony/voximplant/status/{call.pk}/", body, content_type="application/json",
                         headers={TIMESTAMP_HEADER: ts,
                                  SIGNATURE_HEADER: callback_signature(secret=secret, timestamp=ts, body=body)})
    assert answer.status_code == 200 and answer.json() == {"action": action}
    assert CallEvent.objects.get(call=call, kind="amd").data == {"answered_by": "machine_start",
                                                                  "source": "voximplant"}
    # hang up: decided now; a message: left by our media path after the beep (Voximplant cannot say it)
    assert CallEvent.objects.filter(call=call, kind="voicemail").exists() == (action == "hang_up")


@pytest.mark.django_db
def test_the_campaign_admin_shows_the_voicemail_settings_in_russian(client, manager, make_campaign):
    campaign = make_campaign()
    client.force_login(manager)
    page = client.get(f"/admin/calls/campaign/{campaign.pk}/change/", HTTP_ACCEPT_LANGUAGE="ru")
    assert page.status_code == 200
    html = page.content.decode()
    for text in ("Автоответчики", "Если ответил автоответчик", "Оставить сообщение из скрипта", "Положить трубку",
                 "распознавание автоответчика у оператора связи"):
        assert text.lower() in html.lower(), text
    assert 'name="voicemail_mode"' in html and 'name="carrier_amd"' in html


@pytest.mark.django_db
def test_twilio_failing_to_play_the_message_is_recorded_and_the_call_still_ends_as_voicemail(
        client, make_campaign, make_contact, server, twilio_settings, no_publish):
    call, _ = _dial(make_campaign, make_contact, server, voicemail_mode=VoicemailMode.LEAVE_MESSAGE)
    call_transition(call_id=call.pk, to=S.IN_PROGRESS)
    server.force_status = 503
    answer = _signed_post(client, f"/calls/telephony/twilio/amd/{call.pk}/",
                          {"CallSid": call.provider_call_id, "AnsweredBy": "machine_end_silence"})
    assert answer.status_code == 204  # Twilio does not retry a callback; the failure is ours to record
    failed = CallEvent.objects.get(call=call, kind="voicemail_failed")
    assert (failed.data["action"], failed.data["class"], failed.data["status"]) == (
        "leave_message", "ProviderUnavailable", 503)
    server.force_status = None
    _signed_post(client, f"/calls/telephony/twilio/status/{call.pk}/",
                 {"CallSid": call.provider_call_id, "CallStatus": "completed", "CallDuration": "9"})
    assert Call.objects.get(pk=call.pk).outcome == CallOutcome.VOICEMAIL


@pytest.mark.django_db
def test_the_api_sets_the_voicemail_mode_and_names_a_bad_one(manager, make_campaign):
    api = APIClient()
    api.force_authenticate(manager)
    campaign = make_campaign()
    assert api.get(f"/api/campaigns/{campaign.pk}/").json()["voicemail_mode"] == "off"
    answer = api.patch(f"/api/campaigns/{campaign.pk}/", {"voicemail_mode": "leave_message", "carrier_amd": False},
                       format="json")
    assert answer.status_code == 200, answer.content
    campaign.refresh_from_db()
    assert (campaign.voicemail_mode, campaign.carrier_amd) == ("leave_message", False)
    bad = api.patch(f"/api/campaigns/{campaign.pk}/", {"voicemail_mode": "sing"}, format="json")
    assert bad.status_code == 400 and list(bad.json()) == ["voicemail_mode"]
    campaign.refresh_from_db()
    assert campaign.voicemail_mode == "leave_message"
