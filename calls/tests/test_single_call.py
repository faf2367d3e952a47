"""A single call through ``POST /api/calls/``: managers only, clear refusals, then the normal lifecycle to a lead."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import translation
from rest_framework.test import APIClient
from twilio.request_validator import RequestValidator

from calls.models import Call, CallEvent, Campaign, DoNotCall
from calls.selectors import call_media_context
from calls.services.after_call import call_turn_add
from calls.tests.carrier_servers import TWILIO_SID, TWILIO_TOKEN, CarrierServer
from crm.models import Lead
from dialogs.models import Script
from dialogs.scriptmap import demo_map
from dialogs.services import script_save


def daytime_zone() -> str:
    """An Etc/GMT zone where it is now between 10:00 and 18:00, so the callee may be called whatever the clock."""
    now = datetime.now(UTC)
    for offset in range(-12, 15):
        name = f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"  # POSIX signs: Etc/GMT-3 is UTC+3
        if 10 <= now.astimezone(ZoneInfo(name)).hour < 18:
            return name
    raise AssertionError("no zone in daytime")


@pytest.fixture
def api(db):
    return APIClient()


@pytest.fixture
def scripts(db):
    return {lang: script_save(script=Script(name=f"Freight {lang}", language=lang, dialogue_map=demo_map(lang)))
            for lang in ("ru", "uz", "tg")}


@pytest.mark.django_db
def test_only_managers_may_start_a_single_call(api, manager, operator, trainee, scripts):
    body = {"phone": "+7 916 123-45-67", "language": "ru", "timezone": daytime_zone()}
    assert api.post("/api/calls/", body, format="json").status_code in (401, 403)
    for user in (operator, trainee):
        api.force_authenticate(user)
        assert api.post("/api/calls/", body, format="json").status_code == 403, user
    assert not Call.objects.exists()
    api.force_authenticate(operator)
    assert api.get("/api/calls/").status_code == 200  # operators still read calls


@pytest.mark.django_db
def test_bad_single_calls_are_refused_with_the_reason_and_leave_nothing(api, manager, scripts, settings):
    api.force_authenticate(manager)
    zone = daytime_zone()

    def refused(body: dict, field: str) -> str:
        response = api.post("/api/calls/", {"timezone": zone, **body}, format="json")
        assert response.status_code == 400, response.content
        assert field in response.json(), response.json()
        return " ".join(response.json()[field])

    assert refused({"phone": "12"}, "phone")
    assert refused({"language": "ru"}, "phone")  # phone is required
    DoNotCall.objects.create(phone="+79161112233")
    with translation.override("ru"):  # the console's language, as the API answers by default
        expected = translation.gettext("This number is on the do-not-call list.")
    assert refused({"phone": "+79161112233"}, "phone") == expected
    assert refused({"phone": "+79161234567", "language": "de"}, "language")
    assert refused({"phone": "+79161234567", "script": 99999}, "script")
    assert "«uz»" in refused({"phone": "+79161234567", "language": "ru", "script": scripts["uz"].pk}, "script")
    settings.VOICE = {**settings.VOICE, "TTS": {"PROVIDER": "local", "OPTIONS": {}}, "TTS_BY_LANGUAGE": {}}
    assert "TTS_BY_LANGUAGE" in refused({"phone": "+79161234567", "language": "tg"}, "language")
    assert refused({"phone": "+79161234567", "timezone": "Mars/Olympus"}, "timezone")
    assert not Call.objects.exists() and not Campaign.objects.exists()


@pytest.mark.django_db
def test_nobody_is_called_at_night_in_their_own_time(api, manager, scripts):
    api.force_authenticate(manager)
    # 23:30 in Moscow is 01:30 in Tashkent: both outside 08:00–21:00; 08:30 in Kamchatka is fine
    with time_machine.travel(datetime(2026, 3, 2, 20, 30, tzinfo=UTC), tick=False):
        for phone, zone in (("+79161234567", "Europe/Moscow"), ("+998901234567", "")):
            response = api.post("/api/calls/", {"phone": phone, "timezone": zone}, format="json")
            assert response.status_code == 400, response.content
            assert "23:30" in response.json()["phone"][0] or "01:30" in response.json()["phone"][0]
        assert "Asia/Tashkent" in response.json()["phone"][0]  # the zone came from the number's country
        assert not Call.objects.exists()
        response = api.post("/api/calls/", {"phone": "+74152123456", "timezone": "Asia/Kamchatka"},
                            format="json")
        assert response.status_code == 201, response.content


@pytest.fixture
def twilio(settings):
    with CarrierServer() as server:
        settings.TELEPHONY = {**settings.TELEPHONY, "PUBLIC_BASE_URL": "https://calls.example.test", "TWILIO": {
            "ACCOUNT_SID": TWILIO_SID, "AUTH_TOKEN": TWILIO_TOKEN, "FROM_NUMBER": "+15550001111",
            "API_URL": server.url, "TIMEOUT_S": 5}}
        yield server


def _wait(predicate, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def _twilio_callback(client, call_id: int, **params) -> None:
    path = f"/calls/telephony/twilio/status/{call_id}/"
    params = {"AccountSid": TWILIO_SID, **params}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature("https://calls.example.test" + path, params)
    assert client.post(path, params, headers={"X-Twilio-Signature": signature}).status_code == 204


@pytest.mark.django_db(transaction=True)
def test_a_single_call_dials_through_twilio_and_ends_analysed_with_a_lead(
        api, client, manager, scripts, twilio, celery_worker_thread):
    api.force_authenticate(manager)
    greeting = "Добрый день, Иван! Это Мария из «ТРАНСТИРЕКС», звоню по вашей заявке на доставку."
    response = api.post("/api/calls/", {
        "phone": "8 (916) 555-44-33", "name": "Иван Петров", "company": "ООО «Ромашка»", "language": "ru",
        "voice": "ru", "greeting": greeting, "telephony_provider": "twilio", "timezone": daytime_zone(),
    }, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    call = Call.objects.select_related("campaign", "contact").get(pk=body["id"])
    assert body["status"] in ("queued", "dialing")
    assert call.contact.phone == "+79165554433" and call.contact.name == "Иван Петров"
    assert call.campaign.single and call.campaign.language == "ru" and call.campaign.voice == "ru"
    assert call.campaign.created_by == manager and call.script_version.script == scripts["ru"]
    assert CallEvent.objects.filter(call=call, kind="single_call", data__by=manager.username).exists()

    # the worker dials through Twilio's REST API (the local stand-in) with the media stream TwiML
    created = _wait(lambda: [r for r in twilio.requests if r.path.endswith("/Calls.json")])
    assert created[0].form["To"] == ["+79165554433"]
    assert f"/ws/calls/{call.pk}/media/" in created[0].form["Twiml"][0]
    call = _wait(lambda: Call.objects.filter(pk=call.pk).exclude(provider_call_id="").first())
    assert call.status == "dialing" and call.provider == "twilio"
    # the media consumer opens with the given greeting, the rest of the script unchanged
    ctx = call_media_context(call_id=call.pk)
    assert ctx.script_map["stages"]["greeting"]["phrases"] == [greeting]
    assert ctx.script_map["stages"]["presentation"] == scripts["ru"].dialogue_map["stages"]["presentation"]

    sid = call.provider_call_id
    _twilio_callback(client, call.pk, CallSid=sid, CallStatus="ringing")
    _twilio_callback(client, call.pk, CallSid=sid, CallStatus="in-progress")
    assert Call.objects.get(pk=call.pk).status == "in_progress"
    for i, (speaker, text) in enumerate([
        ("bot", greeting), ("user", "Да, интересно, посчитайте двадцать тонн мебели из Фошаня"),
        ("bot", "Отлично! Куда отправить расчёт?"), ("user", "Пишите на почту ivan@romashka.ru"),
    ]):
        call_turn_add(call_id=call.pk, index=i, speaker=speaker, text=text)
    _twilio_callback(client, call.pk, CallSid=sid, CallStatus="completed", CallDuration="42")
    done = _wait(lambda: Call.objects.filter(pk=call.pk, status="done").first(), timeout_s=60)
    assert done.outcome == "completed" and done.duration_s == 42
    assert done.disposition == "interested" and done.crm_status in ("lead", "task")
    lead = Lead.objects.get(call=done)
    assert lead.phone == "+79165554433" or lead.contact_id == done.contact_id
    statuses = list(CallEvent.objects.filter(call=done, kind="status").values_list("to_status", flat=True))
    assert statuses == ["dialing", "ringing", "in_progress", "ended", "analysing", "follow_up", "crm", "done"]
    # the same number again reuses its contact in «Single calls»
    again = api.post("/api/calls/", {"phone": "+79165554433", "timezone": daytime_zone(),
                                     "telephony_provider": "twilio"}, format="json")
    assert again.status_code == 201
    assert Call.objects.get(pk=again.json()["id"]).contact_id == done.contact_id
    assert timedelta(0) <= Call.objects.get(pk=again.json()["id"]).scheduled_for - done.scheduled_for


@pytest.mark.django_db
def test_the_console_form_is_for_managers_and_starts_the_call(client, manager, operator, scripts,
                                                              django_capture_on_commit_callbacks):
    client.force_login(operator)
    assert client.get("/calls/single/").status_code == 403
    assert client.post("/calls/single/", {"phone": "+79161234567"}).status_code == 403
    client.force_login(manager)
    page = client.get("/calls/single/")
    assert page.status_code == 200 and b'id="single-call-form"' in page.content
    assert b"/calls/single/" in client.get("/calls/").content  # the board links to it
    bad = client.post("/calls/single/", {"phone": "12", "language": "ru"})
    assert bad.status_code == 400 and not Call.objects.exists()
    wrong_script = client.post("/calls/single/", {"phone": "+79161234567", "language": "ru",
                                                  "script": scripts["tg"].pk, "timezone": daytime_zone()})
    assert wrong_script.status_code == 400 and "«tg»" in wrong_script.content.decode()
    with django_capture_on_commit_callbacks() as callbacks:  # dispatch is sent once the request commits
        response = client.post("/calls/single/", {
            "phone": "+998 90 123 45 67", "name": "Alisher", "language": "uz", "script": scripts["uz"].pk,
            "greeting": "Assalomu alaykum, Alisher!", "timezone": daytime_zone(), "telephony_provider": "simulated"})
    call = Call.objects.select_related("campaign").get()
    assert response.status_code == 302 and response["Location"] == f"/calls/{call.pk}/"
    assert call.campaign.language == "uz" and call.campaign.telephony_provider == "simulated"
    assert call.campaign.greeting == "Assalomu alaykum, Alisher!" and call.contact.phone == "+998901234567"
    assert len(callbacks) == 1  # place_call goes to the worker after commit
