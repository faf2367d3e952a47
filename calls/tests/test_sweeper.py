"""The sweeper: every call stuck past its deadline in a live state is settled (carrier first, else ended with a
reason), stalled after-call work is re-driven, and nothing that is still on time is touched. Time is frozen."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from calls import tasks
from calls.models import Call, CallEvent, CallOutcome, Turn
from calls.services import planning
from calls.services.after_call import call_after_work
from calls.services.lifecycle import call_transition, calls_sweep
from calls.tests.carrier_servers import TWILIO_SID, TWILIO_TOKEN, CarrierServer
from crm import tasks as crm_tasks
from crm.models import Lead

pytestmark = pytest.mark.django_db
S = Call.Status
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("UTC"))


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def redriven(monkeypatch):
    """What the sweeper hands to the workers (the broker is not the subject here)."""
    sent = {"analyse_call": [], "place_call": []}
    monkeypatch.setattr(tasks.analyse_call, "delay", lambda call_id: sent["analyse_call"].append(call_id))
    monkeypatch.setattr(tasks.place_call, "delay", lambda call_id: sent["place_call"].append(call_id))
    return sent


def _call_in(campaign, contact, status: str, *, provider_call_id: str = "", dial_requested: bool = True) -> Call:
    call = Call.objects.create(campaign=campaign, contact=contact)
    path = [S.DIALING, S.RINGING, S.IN_PROGRESS, S.ENDED, S.ANALYSING, S.FOLLOW_UP, S.CRM]
    for step in path[: path.index(status) + 1]:
        call_transition(call_id=call.pk, to=step, **({"outcome": CallOutcome.COMPLETED} if step == S.ENDED else {}))
        if step == S.DIALING:
            Call.objects.filter(pk=call.pk).update(
                provider="fake", provider_call_id=provider_call_id, dial_requested_at=T0 if dial_requested else None)
    return Call.objects.get(pk=call.pk)


def test_calls_on_time_are_left_alone(clock, redriven, make_campaign, make_contact):
    campaign = make_campaign()
    calls = [_call_in(campaign, make_contact(), s) for s in (S.DIALING, S.RINGING, S.IN_PROGRESS, S.CRM)]
    clock.shift(timedelta(seconds=60))
    assert calls_sweep() == {}
    assert [Call.objects.get(pk=c.pk).status for c in calls] == [S.DIALING, S.RINGING, S.IN_PROGRESS, S.CRM]
    assert redriven == {"analyse_call": [], "place_call": []}


def test_a_ringing_call_the_carrier_never_reported_is_ended_as_no_answer_with_a_reason(
    clock, redriven, fake_telephony, make_campaign, make_contact
):
    call = _call_in(make_campaign(), make_contact(), S.RINGING, provider_call_id="fake-77")
    clock.shift(timedelta(minutes=17))
    assert calls_sweep() == {"ringing:ended": 1}
    call.refresh_from_db()
    assert call.status == S.DONE and call.outcome == CallOutcome.NO_ANSWER  # not answered: done, retry planned
    assert "stuck in ringing" in call.error and "sweeper" in call.error
    assert calls_sweep() == {}  # settled once


def test_the_carrier_is_asked_first_and_its_word_settles_the_call(
    clock, redriven, fake_telephony, make_campaign, make_contact
):
    campaign = make_campaign()
    busy = _call_in(campaign, make_contact(), S.RINGING, provider_call_id="fake-1")
    live = _call_in(campaign, make_contact(), S.IN_PROGRESS, provider_call_id="fake-2")
    fake_telephony.states.update({"fake-1": "busy", "fake-2": "answered"})
    clock.shift(timedelta(hours=2))
    assert calls_sweep() == {"ringing:carrier:busy": 1, "in_progress:live": 1}
    busy.refresh_from_db()
    assert busy.outcome == CallOutcome.BUSY and busy.status == S.DONE
    assert Call.objects.get(pk=live.pk).status == S.IN_PROGRESS  # the carrier says it is still on
    assert CallEvent.objects.filter(call=live, kind="sweeper").exists()


def test_a_conversation_that_never_ended_is_ended_as_completed_and_analysed(
    clock, redriven, fake_telephony, make_campaign, make_contact
):
    call = _call_in(make_campaign(), make_contact(), S.IN_PROGRESS, provider_call_id="fake-9")
    Turn.objects.create(call=call, index=0, speaker="user", text="Да, слушаю.")
    clock.shift(timedelta(hours=2))
    assert calls_sweep() == {"in_progress:ended": 1}
    call.refresh_from_db()
    assert call.status == S.ENDED and call.outcome == CallOutcome.COMPLETED and "in_progress" in call.error


def test_a_dial_that_never_left_is_redialled_and_one_that_left_without_word_is_failed(
    clock, redriven, fake_telephony, make_campaign, make_contact
):
    campaign = make_campaign()
    lost = _call_in(campaign, make_contact(), S.DIALING, dial_requested=False)  # worker died before the request
    silent = _call_in(campaign, make_contact(), S.DIALING)  # requested, the carrier never said a word
    clock.shift(timedelta(minutes=5))
    assert calls_sweep() == {"dialing:redialled": 1, "dialing:ended": 1}
    assert redriven["place_call"] == [lost.pk]
    silent.refresh_from_db()
    assert silent.status == S.DONE and silent.outcome == CallOutcome.FAILED and "stuck in dialing" in silent.error


@pytest.mark.parametrize("status", [S.ENDED, S.ANALYSING, S.FOLLOW_UP, S.CRM])
def test_stalled_after_call_work_is_redriven_and_finishes_once(clock, redriven, status, make_campaign, make_contact):
    call = _call_in(make_campaign(), make_contact(), status)
    if status in (S.FOLLOW_UP, S.CRM):
        Call.objects.filter(pk=call.pk).update(crm_status=Call.CrmStatus.LEAD, follow_up="Спасибо!")
    clock.shift(timedelta(minutes=20))
    assert calls_sweep() == {f"{status}:redriven": 1}
    assert redriven["analyse_call"] == [call.pk]
    assert call_after_work(call_id=call.pk) == S.DONE  # what the re-driven task runs
    assert call_after_work(call_id=call.pk) == S.DONE  # twice is harmless

    assert Lead.objects.filter(call=call).count() <= 1
    assert calls_sweep() == {}


def test_the_sweeper_asks_twilio_over_its_rest_api(clock, redriven, settings, make_campaign, make_contact):
    with CarrierServer() as server:
        settings.TELEPHONY = {**settings.TELEPHONY, "TWILIO": {"ACCOUNT_SID": TWILIO_SID, "AUTH_TOKEN": TWILIO_TOKEN,
                                                               "FROM_NUMBER": "+15550001111", "API_URL": server.url}}
        call = _call_in(make_campaign(), make_contact(), S.RINGING, provider_call_id="CA" + "1" * 32)
        Call.objects.filter(pk=call.pk).update(provider="twilio")
        server.call_status[call.provider_call_id] = "no-answer"
        clock.shift(timedelta(minutes=10))
        assert calls_sweep() == {"ringing:carrier:no_answer": 1}
        assert [r.path for r in server.requests if r.method == "GET"] == [
            f"/2010-04-01/Accounts/{TWILIO_SID}/Calls/{call.provider_call_id}.json"]
    call.refresh_from_db()
    assert call.outcome == CallOutcome.NO_ANSWER


def test_work_held_by_a_killed_worker_comes_back_within_two_minutes(settings):
    """Broker settings: an unacknowledged message returns after the visibility timeout plus one restore sweep;
    no task waits (ETA, countdown, dispatch horizon) longer than that, or it would be handed out twice."""
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    back_within = options["visibility_timeout"] + options["unacked_restore_interval"] * options[
        "unacked_restore_throttle"]
    assert back_within <= 120
    longest_wait = max(tasks.MAX_COUNTDOWN_S, crm_tasks.SELF_RETRY_MAX_S, planning.DISPATCH_HORIZON.total_seconds(),
                       tasks.analyse_call.retry_backoff_max)
    assert longest_wait < options["visibility_timeout"]
    for task in (tasks.place_call, tasks.analyse_call, crm_tasks.deliver_outbox):  # idempotent: safe to redo
        assert task.acks_late and task.reject_on_worker_lost
    assert not settings.CELERY_TASK_ACKS_LATE  # only where a task says it is safe
    beat = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"calls.tasks.sweep_calls", "crm.tasks.drain_outbox"} <= beat
