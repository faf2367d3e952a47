"""A small rehearsal through the real daphne server, a ``celery worker`` process, simulated carrier, consumer and
pipeline: ``campaign_rehearse`` as the command runs it against ``make run``'s stack."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import timezone

from calls.models import Call, CallEvent, Campaign, VoicemailMode
from calls.services import calls_dispatch_due, campaign_plan
from calls.simulation import campaign_create_for_rehearsal, campaign_rehearse
from calls.tasks import place_call
from calls.telephony import media_pace, provider_for
from crm.models import Lead


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_small_rehearsal_loses_no_call(rehearsal_worker):
    result = campaign_rehearse(contacts=3, seed=3, pace_speed=6.0, concurrency=3, timeout_s=170,
                               shares={"answer": 0.5, "no_answer": 0.25, "busy": 0.25, "voicemail": 0})
    assert result.calls == 3
    assert result.lost == 0 and not result.timed_out, result
    assert result.completed + result.no_answer + result.busy + result.voicemail + result.failed == 3
    assert result.analysed == result.completed
    answered = Call.objects.filter(campaign_id=result.campaign_id, outcome="completed")
    assert answered.exists()
    for call in answered:
        # the answering-machine detector listened (rehearsals leave a voicemail) and did not take the persona,
        # who waits for the bot's opening line, for a machine
        verdicts = [e.data["answered_by"] for e in call.events.filter(kind="amd")]
        assert len(verdicts) == 1 and verdicts[0] in ("human", "unknown"), verdicts
        assert not call.events.filter(kind="voicemail").exists()
        assert call.turns.filter(speaker="bot").exists() and call.turns.filter(speaker="user").exists()
        assert call.recording.name.endswith(".wav")
        should_lead = call.crm_status in ("lead", "task")
        assert Lead.objects.filter(call=call).exists() == should_lead


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_rehearsal_leaves_the_scripts_message_on_an_answering_machine(rehearsal_worker):
    """The simulated machine plays a greeting and a beep; our detector holds the bot, the message is left after the
    beep, the call ends as voicemail with no analysis and no lead."""
    result = campaign_rehearse(contacts=1, seed=5, pace_speed=4.0, concurrency=1, timeout_s=120,
                               shares={"answer": 0, "no_answer": 0, "busy": 0, "voicemail": 1})
    assert (result.calls, result.voicemail, result.lost, result.leads) == (1, 1, 0, 0), result
    call = Call.objects.get(campaign_id=result.campaign_id)
    assert call.status == Call.Status.DONE and call.analysis == {}
    assert not Lead.objects.filter(call=call).exists()
    verdicts = list(CallEvent.objects.filter(call=call, kind="amd").values_list("data", flat=True))
    assert [v["answered_by"] for v in verdicts] == ["machine_start", "machine_end_beep"]
    assert CallEvent.objects.get(call=call, kind="voicemail").data == {
        "answered_by": "machine_end_beep", "source": "offline", "action": "leave_message"}
    # the message was said after the beep, whole, into the recording, and nothing answered the greeting
    message = call.turns.filter(speaker="bot").last()
    assert message.text.startswith("Здравствуйте") and "Перезвоню вам позже" in message.text
    beep = CallEvent.objects.get(call=call, kind="amd", data__answered_by="machine_end_beep")
    assert message.created_at >= beep.created_at and not message.interrupted
    assert message.ended_ms - message.started_ms > 1000  # over a second of the bot's audio after the beep
    assert call.recording.name.endswith(".wav")
    assert not call.turns.filter(speaker="user").exists()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_rehearsal_hangs_up_on_an_answering_machine_when_the_campaign_says_so(rehearsal_worker):
    result = campaign_rehearse(contacts=1, seed=5, pace_speed=4.0, concurrency=1, timeout_s=120,
                               shares={"answer": 0, "no_answer": 0, "busy": 0, "voicemail": 1},
                               voicemail_mode=VoicemailMode.HANG_UP)
    assert (result.calls, result.voicemail, result.lost, result.leads) == (1, 1, 0, 0), result
    call = Call.objects.get(campaign_id=result.campaign_id)
    assert CallEvent.objects.get(call=call, kind="voicemail").data == {
        "answered_by": "machine_start", "source": "offline", "action": "hang_up"}
    # hung up during the greeting: the beep never came, and the bot said nothing after its cut-off opening
    assert [e.data["answered_by"] for e in CallEvent.objects.filter(call=call, kind="amd")] == ["machine_start"]
    assert call.turns.filter(speaker="bot").count() <= 1
    ended = CallEvent.objects.get(call=call, kind="status", to_status=Call.Status.ENDED)
    assert ended.data.get("end_reason") == "voicemail"


@pytest.mark.django_db
def test_a_rehearsal_without_a_running_worker_says_so_and_starts_nothing():
    with pytest.raises(CommandError, match=r"Celery.*make run.*REDIS_URL"):  # in the active language
        call_command("simulate_campaign", "--contacts", "2", "--timeout", "5")
    assert not Campaign.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_rehearsal_out_of_time_pauses_its_campaign_and_dials_nothing_more(celery_worker_thread):
    """``--timeout 0``: the deadline has passed at the first look, whatever the clock; the report says so, and
    beat's dispatcher, later, hands the calls left to their tasks, which cancel them undialled."""
    out = io.StringIO()
    with transaction.atomic():  # rolled back: the planned calls never reach the worker, which would dial them
        call_command("simulate_campaign", "--contacts", "3", "--timeout", "0", "--json", stdout=out)
        report = json.loads(out.getvalue())
        assert (report["timed_out"], report["calls"], report["lost"]) == (True, 3, 3), report
        campaign = Campaign.objects.select_related("schedule").get(pk=report["campaign_id"])
        assert campaign.status == Campaign.Status.PAUSED and not campaign.schedule.enabled
        assert campaign_plan(campaign_id=campaign.pk).planned == 0
        assert calls_dispatch_due(campaign_id=campaign.pk, now=timezone.now() + timedelta(hours=2)) == 3
        for call_id in Call.objects.filter(campaign=campaign).values_list("pk", flat=True):
            assert place_call.apply(args=(call_id,)).get() == "canceled"
        calls = Call.objects.filter(campaign=campaign)
        assert {c.status for c in calls} == {Call.Status.CANCELED}
        assert all(c.dial_requested_at is None and not c.provider_call_id for c in calls)
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_a_rehearsal_campaign_carries_its_own_carrier_options(settings):
    """Pace and callee STT are the campaign's, over the configured ones; no setting changes."""
    configured = dict(settings.TELEPHONY["SIMULATED"])
    campaign = campaign_create_for_rehearsal(contacts=1, carrier={"pace_speed": 5.0, "callee_stt": "fake"})
    provider = provider_for(campaign=campaign)
    assert (provider.name, provider.pace_speed, provider.callee_stt) == ("simulated", 5.0, "fake")
    assert media_pace(campaign) == 5.0
    # a call keeps the carrier it was placed with, even if the campaign is switched to another one since
    assert media_pace(campaign, provider="twilio") == 1.0
    campaign.telephony_provider = "fake"
    assert media_pace(campaign, provider="simulated") == 5.0
    assert settings.TELEPHONY["SIMULATED"] == configured
    plain = campaign_create_for_rehearsal(contacts=1, seed=2)
    assert provider_for(campaign=plain).pace_speed == float(configured["PACE_SPEED"])
    with pytest.raises(ValueError, match="unknown simulated carrier option"):
        campaign_create_for_rehearsal(contacts=1, carrier={"pace": 5})


@pytest.mark.django_db
def test_rehearsals_in_the_same_second_get_readable_unique_names():
    with time_machine.travel("2026-12-01 22:16:50 +00:00", tick=False):
        names = [campaign_create_for_rehearsal(contacts=1).name for _ in range(3)]
    assert names[0].endswith(":16:50") and "." not in names[0]  # to the second, no microseconds
    assert names[1:] == [f"{names[0]} (2)", f"{names[0]} (3)"]
