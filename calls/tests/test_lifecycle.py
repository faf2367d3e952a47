"""The call lifecycle: every legal transition, the illegal ones refused, events, timestamps, retries, dialling."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
import time_machine

from calls.models import Call, CallEvent, CallOutcome, DoNotCall, Turn
from calls.services.after_call import call_turn_add
from calls.services.dialing import call_place
from calls.services.lifecycle import TRANSITIONS, IllegalTransition, call_progress, call_transition
from calls.services.planning import campaign_concurrency, live_capacity
from config.voice import stt_max_conversations
from integrations.errors import ProviderBadResponse

S = Call.Status
pytestmark = pytest.mark.django_db


@pytest.fixture
def call(make_campaign, make_contact):
    campaign = make_campaign()
    return Call.objects.create(campaign=campaign, contact=make_contact())


def _walk(call_id: int, path: list[str], **data) -> Call:
    c = None
    for status in path:
        c = call_transition(call_id=call_id, to=status, **(data if status == S.ENDED else {}))
    return c


LEGAL_PATHS = [
    [S.DIALING, S.RINGING, S.IN_PROGRESS, S.ENDED, S.ANALYSING, S.FOLLOW_UP, S.CRM, S.DONE],
    [S.DIALING, S.IN_PROGRESS, S.ENDED, S.ANALYSING, S.DONE],
    [S.DIALING, S.ENDED],
    [S.DIALING, S.RINGING, S.ENDED],
    [S.DIALING, S.RINGING, S.CANCELED],
    [S.DIALING, S.CANCELED],
    [S.CANCELED],
    [S.DIALING, S.IN_PROGRESS, S.ENDED, S.ANALYSING, S.FOLLOW_UP, S.DONE],
]


@pytest.mark.parametrize("path", LEGAL_PATHS, ids=lambda p: "-".join(p))
def test_legal_paths_write_one_event_per_step(call, path):
    result = _walk(call.pk, path, outcome=CallOutcome.COMPLETED)
    events = list(CallEvent.objects.filter(call=call).values_list("from_status", "to_status"))
    assert result.status in (path[-1], S.DONE)  # unanswered calls go on to done by themselves
    assert events[: len(path)] == list(zip([S.QUEUED, *path[:-1]], path, strict=True))


def test_every_transition_in_the_table_is_accepted_and_every_other_refused(make_campaign, make_contact):
    campaign = make_campaign()
    reach = {  # a path from queued to each status
        S.QUEUED: [], S.DIALING: [S.DIALING], S.RINGING: [S.DIALING, S.RINGING],
        S.IN_PROGRESS: [S.DIALING, S.IN_PROGRESS], S.ENDED: [S.DIALING, S.IN_PROGRESS, S.ENDED],
        S.ANALYSING: [S.DIALING, S.IN_PROGRESS, S.ENDED, S.ANALYSING],
        S.FOLLOW_UP: [S.DIALING, S.IN_PROGRESS, S.ENDED, S.ANALYSING, S.FOLLOW_UP],
        S.CRM: [S.DIALING, S.IN_PROGRESS, S.ENDED, S.ANALYSING, S.FOLLOW_UP, S.CRM],
        S.DONE: [S.DIALING, S.IN_PROGRESS, S.ENDED, S.DONE], S.CANCELED: [S.CANCELED],
    }
    for source, targets in TRANSITIONS.items():
        for target in S:
            if target == source:
                continue
            c = Call.objects.create(campaign=campaign, contact=make_contact())
            _walk(c.pk, reach[source], outcome=CallOutcome.COMPLETED)
            if target in targets:
                assert call_transition(call_id=c.pk, to=target, outcome=CallOutcome.COMPLETED).status == target
            else:
                with pytest.raises(IllegalTransition):
                    call_transition(call_id=c.pk, to=target, outcome=CallOutcome.COMPLETED)
                assert Call.objects.get(pk=c.pk).status == source


def test_same_status_is_a_no_op(call):
    call_transition(call_id=call.pk, to=S.DIALING)
    call_transition(call_id=call.pk, to=S.DIALING)
    assert CallEvent.objects.filter(call=call).count() == 1


def test_timestamps_and_duration(call):
    _walk(call.pk, [S.DIALING, S.RINGING, S.IN_PROGRESS])
    c = call_transition(call_id=call.pk, to=S.ENDED, outcome=CallOutcome.COMPLETED)
    assert c.dialing_at and c.answered_at and c.ended_at
    assert c.duration_s is not None and c.duration_s >= 0
    assert c.outcome == CallOutcome.COMPLETED
    assert c.contact.__class__.objects.get(pk=c.contact_id).finished


def test_completed_call_is_sent_to_analysis_on_commit(call, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr("calls.tasks.analyse_call.delay", lambda call_id: sent.append(call_id))
    monkeypatch.setattr("calls.services.lifecycle.call_publish", lambda **kw: None)
    _walk(call.pk, [S.DIALING, S.IN_PROGRESS])
    with django_capture_on_commit_callbacks(execute=True):
        call_transition(call_id=call.pk, to=S.ENDED, outcome=CallOutcome.COMPLETED)
    assert sent == [call.pk]


def test_transition_publishes_to_call_and_campaign_groups(call, django_capture_on_commit_callbacks, monkeypatch):
    published = []
    monkeypatch.setattr("calls.services.lifecycle.call_publish", lambda **kw: published.append(kw))
    with django_capture_on_commit_callbacks(execute=True):
        call_transition(call_id=call.pk, to=S.DIALING)
    assert published[0]["call_id"] == call.pk and published[0]["payload"]["to"] == S.DIALING


@pytest.mark.parametrize("moscow_time,retry_today", [("12:00", True), ("04:00", True), ("23:30", False)])
def test_unanswered_call_is_done_and_retry_is_planned(make_campaign, make_contact, monkeypatch,
                                                      django_capture_on_commit_callbacks, moscow_time, retry_today):
    """A retry is queued for today, never before the callee's 08:00; after 21:00 the nightly run plans it."""

    hour, minute = map(int, moscow_time.split(":"))
    frozen = dt.datetime(2026, 12, 2, hour, minute, tzinfo=zoneinfo.ZoneInfo("Europe/Moscow"))
    with time_machine.travel(frozen, tick=False):
        campaign = make_campaign(retry_interval_minutes=0, window_start="00:00", window_end="23:59",
                                 max_attempts=2)
        contact = make_contact()
        c = Call.objects.create(campaign=campaign, contact=contact)
        monkeypatch.setattr("calls.services.lifecycle.call_publish", lambda **kw: None)
        monkeypatch.setattr("calls.services.planning.calls_dispatch_due", lambda **kw: 0)
        with django_capture_on_commit_callbacks(execute=True):
            _walk(c.pk, [S.DIALING, S.RINGING])
            ended = call_transition(call_id=c.pk, to=S.ENDED, outcome=CallOutcome.NO_ANSWER)
        assert Call.objects.get(pk=c.pk).status == S.DONE
        assert ended.disposition == Call.Disposition.NO_ANSWER
        retry = Call.objects.filter(contact=contact, attempt=2).first()
        if not retry_today:
            assert retry is None
            return
        assert retry is not None and retry.status == S.QUEUED
        local = retry.scheduled_for.astimezone(zoneinfo.ZoneInfo("Europe/Moscow"))
        assert local.date() == frozen.date() and dt.time(8) <= local.time() < dt.time(21)
        # the last allowed attempt ending unanswered finishes the contact
        with django_capture_on_commit_callbacks(execute=True):
            _walk(retry.pk, [S.DIALING])
            call_transition(call_id=retry.pk, to=S.ENDED, outcome=CallOutcome.BUSY)
        contact.refresh_from_db()
        assert contact.finished
        assert not Call.objects.filter(contact=contact, attempt=3).exists()


def test_late_carrier_report_is_recorded_not_applied(call):
    _walk(call.pk, [S.DIALING, S.IN_PROGRESS, S.ENDED], outcome=CallOutcome.COMPLETED)
    call_progress(call_id=call.pk, event="ringing")
    call_progress(call_id=call.pk, event="completed")
    assert Call.objects.get(pk=call.pk).status == S.ENDED
    assert CallEvent.objects.filter(call=call, kind="late_report").exists()


def test_place_claims_dials_and_respects_the_cap(make_campaign, make_contact, fake_telephony):
    campaign = make_campaign(max_concurrent_calls=1)
    first = Call.objects.create(campaign=campaign, contact=make_contact())
    second = Call.objects.create(campaign=campaign, contact=make_contact())
    r1 = call_place(call_id=first.pk)
    assert r1.status == "dialled" and r1.provider_call_id.startswith("fake-")
    assert Call.objects.get(pk=first.pk).status == S.DIALING
    assert fake_telephony.dialled[0].media_url.endswith(f"/ws/calls/{first.pk}/media/?token=" +
                                                        fake_telephony.dialled[0].media_token)
    waiting = call_place(call_id=second.pk)
    # one line for 120 s calls: ask again after the longest wait the broker allows, held by its task meanwhile
    assert waiting.status == "at_cap" and waiting.wait_s == 60.0
    assert Call.objects.get(pk=second.pk).status == S.QUEUED
    assert Call.objects.get(pk=second.pk).dispatched_at is not None
    assert call_place(call_id=first.pk).status == "skipped"  # idempotent
    assert len(fake_telephony.dialled) == 1


def test_place_refuses_dnc_and_fails_on_carrier_refusal(make_campaign, make_contact, fake_telephony):
    campaign = make_campaign()
    blocked = make_contact()
    DoNotCall.objects.create(phone=blocked.phone)
    c = Call.objects.create(campaign=campaign, contact=blocked)
    assert call_place(call_id=c.pk).status == "canceled"
    fake_telephony.fail = ProviderBadResponse("invalid number", provider="fake")
    c2 = Call.objects.create(campaign=campaign, contact=make_contact())
    assert call_place(call_id=c2.pk).status == "failed"
    c2.refresh_from_db()
    assert c2.status == S.DONE and c2.outcome == CallOutcome.FAILED and "invalid number" in c2.error


def test_turn_writes_are_idempotent_per_index_and_keep_fields_not_given(call):
    call_turn_add(call_id=call.pk, index=0, speaker="bot", text="Здравствуйте", stage="greeting", eou_ms=None,
                  voice_to_voice_ms=640, not_a_field="ignored")
    call_turn_add(call_id=call.pk, index=1, speaker="user", text="Да", intent="yes")
    # the same index again (a retried write): updated in place, what it does not say is kept
    call_turn_add(call_id=call.pk, index=0, speaker="bot", text="Здравствуйте!", interrupted=True)
    turns = list(Turn.objects.filter(call=call).order_by("index"))
    assert [(t.index, t.speaker, t.text) for t in turns] == [(0, "bot", "Здравствуйте!"), (1, "user", "Да")]
    assert turns[0].stage == "greeting" and turns[0].voice_to_voice_ms == 640 and turns[0].interrupted
    assert turns[0].eou_ms is None and turns[1].intent == "yes"


def test_stt_capacity_caps_live_calls_across_campaigns(make_campaign, make_contact, fake_telephony, settings):
    """A campaign's own cap of 5 never starts more conversations than the STT serves in time (here 2)."""
    settings.VOICE = {**settings.VOICE, "STT_ADMISSION": {**settings.VOICE["STT_ADMISSION"], "MAX_CONVERSATIONS": 2}}
    one, two = make_campaign(max_concurrent_calls=5), make_campaign(max_concurrent_calls=5)
    assert campaign_concurrency(campaign=one) == 2  # the planner spaces calls by the same figure
    calls = [Call.objects.create(campaign=c, contact=make_contact()) for c in (one, one, two)]
    assert [call_place(call_id=c.pk).status for c in calls] == ["dialled", "dialled", "at_cap"]
    call_transition(call_id=calls[0].pk, to=S.ENDED, outcome=CallOutcome.NO_ANSWER)
    assert call_place(call_id=calls[2].pk).status == "dialled"


def test_media_capacity_caps_live_calls_across_campaigns(make_campaign, make_contact, fake_telephony, settings):
    """The media processes carry so many streams in time (media_load measures it): no more calls are live than
    they carry together, whatever the campaigns' own caps; the rest wait in the queue."""
    settings.TELEPHONY = {**settings.TELEPHONY, "MEDIA_STREAMS_PER_PROCESS": 1, "MEDIA_PROCESSES": 2}
    settings.VOICE = {**settings.VOICE, "STT_ADMISSION": {**settings.VOICE["STT_ADMISSION"], "MAX_CONVERSATIONS": 9}}
    assert live_capacity() == 2  # the fewer of the media's 1 × 2 and the STT's 9
    one, two = make_campaign(max_concurrent_calls=5), make_campaign(max_concurrent_calls=5)
    assert campaign_concurrency(campaign=two) == 2
    calls = [Call.objects.create(campaign=c, contact=make_contact()) for c in (one, two, two)]
    assert [call_place(call_id=c.pk).status for c in calls] == ["dialled", "dialled", "at_cap"]
    call_transition(call_id=calls[0].pk, to=S.ENDED, outcome=CallOutcome.NO_ANSWER)
    assert call_place(call_id=calls[2].pk).status == "dialled"


def test_no_media_limit_unless_one_is_set(settings):
    settings.TELEPHONY = {**settings.TELEPHONY, "MEDIA_STREAMS_PER_PROCESS": 0, "MEDIA_PROCESSES": 4}
    settings.VOICE = {**settings.VOICE, "STT_ADMISSION": {**settings.VOICE["STT_ADMISSION"], "MAX_CONVERSATIONS": 7}}
    assert live_capacity() == 7  # the STT's alone
    settings.TELEPHONY = {**settings.TELEPHONY, "MEDIA_STREAMS_PER_PROCESS": 60}
    assert live_capacity() == 7  # 60 × 4 streams are more than the STT serves


def test_stt_capacity_is_derived_from_workers_and_speed(settings):
    block = {"WORKERS": 2, "MAX_QUEUE": 16, "SECONDS_PER_AUDIO_S": 0.4, "MAX_CONVERSATIONS": 0}
    settings.VOICE = {**settings.VOICE, "STT": {"PROVIDER": "openai", "OPTIONS": {}}, "STT_ADMISSION": block}
    assert stt_max_conversations() == 8  # 2 workers × 0.6 / (0.35 × 0.4)
    settings.VOICE = {**settings.VOICE, "STT_ADMISSION": {**block, "SECONDS_PER_AUDIO_S": 0}}
    assert stt_max_conversations() is None  # a remote STT of unknown speed: set STT_MAX_CONVERSATIONS
    settings.VOICE = {**settings.VOICE, "STT": {"PROVIDER": "local", "OPTIONS": {}}}
    assert stt_max_conversations() == 6  # the local model's measured default: 2 × 0.6 / (0.35 × 0.5)
