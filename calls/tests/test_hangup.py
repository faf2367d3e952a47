"""``call_hangup`` on its own: the flow's end reaches the carrier, and a carrier failure never breaks the call's end."""

from __future__ import annotations

import logging

import pytest

from calls.models import Call
from calls.services.lifecycle import call_hangup
from calls.tests.carrier_servers import TWILIO_SID, TWILIO_TOKEN, CarrierServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def twilio_call(settings, make_campaign, make_contact):
    with CarrierServer() as server:
        settings.TELEPHONY = {**settings.TELEPHONY, "TWILIO": {
            "ACCOUNT_SID": TWILIO_SID, "AUTH_TOKEN": TWILIO_TOKEN, "FROM_NUMBER": "+15550001111",
            "API_URL": server.url, "TIMEOUT_S": 2}}
        campaign = make_campaign(telephony_provider="twilio")
        call = Call.objects.create(campaign=campaign, contact=make_contact(), provider="twilio",
                                   provider_call_id="CA" + "1" * 32, status=Call.Status.IN_PROGRESS)
        yield server, call


def _hangups(server, sid: str) -> list:
    return [r for r in server.requests if r.method == "POST" and r.path.endswith(f"/Calls/{sid}.json")]


def test_the_carrier_is_asked_to_complete_the_call(twilio_call):
    server, call = twilio_call
    call_hangup(call_id=call.pk)
    [request] = _hangups(server, call.provider_call_id)
    assert request.form["Status"] == ["completed"]


def test_a_carrier_failure_is_logged_and_not_raised(twilio_call, caplog):
    server, call = twilio_call
    server.force_status = 503
    with caplog.at_level(logging.WARNING, logger="calls.services.lifecycle"):
        call_hangup(call_id=call.pk)  # the media socket closes and the call's end is stored all the same
    assert len(_hangups(server, call.provider_call_id)) == 1
    assert any("hang-up through twilio failed" in r.getMessage() for r in caplog.records)


def test_nothing_is_sent_for_a_call_the_carrier_never_named_or_an_unknown_one(twilio_call):
    server, call = twilio_call
    Call.objects.filter(pk=call.pk).update(provider_call_id="")
    call_hangup(call_id=call.pk)
    call_hangup(call_id=call.pk + 1000)
    assert server.requests == []
