"""Pages and endpoints: who may see what, the start form's errors, the review, audio and ElevenLabs mode."""

from __future__ import annotations

import json

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse

from integrations.errors import ProviderAuthError, ProviderConfigError, ProviderUnavailable
from training import services
from training.elevenlabs import signed_url
from training.models import Scenario, Score, SessionEvent, TrainingSession
from training.services import TurnRecord
from training.tasks import score_session
from training.tests.convai_server import API_KEY, ConvaiStandIn

Status = TrainingSession.Status


@pytest.fixture
def client_of(client):
    def login(user):
        client.force_login(user)
        return client

    return login


def _scored(user, scenario):
    session = services.session_create(trainee=user.trainee, scenario=scenario)
    services.session_transcript_import(session_id=session.pk, turns=[
        TurnRecord(speaker="bot", text="Алло."),
        TurnRecord(speaker="user", text="Здравствуйте, меня зовут Анна. Как вы сейчас возите грузы?"),
    ])
    services.session_score(session_id=session.pk)
    session.refresh_from_db()  # a full save of the stale object would put its status back to "created"
    session.audio.save("s.wav", ContentFile(services.wav_bytes(pcm16=b"\0\0" * 160)))
    return session


def test_home_shows_scenarios_history_and_chart(client_of, trainee, scenario_ru):
    _scored(trainee, scenario_ru)
    _scored(trainee, scenario_ru)
    page = client_of(trainee).get(reverse("training:home"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Грузы из Китая" in html and 'id="progress-chart"' in html and "<polyline" in html


def test_other_trainee_gets_404_everywhere(client_of, trainee, other_trainee, scenario_ru):
    session = _scored(trainee, scenario_ru)
    open_one = services.session_create(trainee=trainee.trainee, scenario=scenario_ru)
    c = client_of(other_trainee)
    for name, pk in [("session_detail", session.pk), ("session_review", session.pk), ("session_audio", session.pk),
                     ("session_live", open_one.pk)]:
        assert c.get(reverse(f"training:{name}", args=[pk])).status_code == 404, name
    assert c.post(reverse("training:session_end", args=[open_one.pk])).status_code == 404
    assert c.post(reverse("training:session_transcript", args=[open_one.pk]), data="{}",
                  content_type="application/json").status_code == 404
    assert c.post(reverse("training:elevenlabs_signed_url", args=[open_one.pk])).status_code == 404
    open_one.refresh_from_db()
    assert open_one.status == Status.CREATED


def test_owner_and_manager_see_review_and_audio(client_of, trainee, manager, scenario_ru):
    session = _scored(trainee, scenario_ru)
    c = client_of(trainee)
    page = c.get(reverse("training:session_detail", args=[session.pk])).content.decode()
    assert 'id="score-total"' in page and 'id="metrics"' in page and 'id="recording"' in page
    audio = c.get(reverse("training:session_audio", args=[session.pk]))
    assert audio.status_code == 200 and audio["Content-Type"] == "audio/wav"
    review = c.get(reverse("training:session_review", args=[session.pk]), HTTP_HX_REQUEST="true")
    assert review.status_code == 200 and b'id="review"' in review.content and b"<html" not in review.content
    m = client_of(manager)
    assert m.get(reverse("training:session_detail", args=[session.pk])).status_code == 200
    assert m.get(reverse("training:session_audio", args=[session.pk])).status_code == 200
    assert m.get(reverse("training:session_start")).status_code == 403  # managers do not practise


def test_start_form_errors_and_success(client_of, trainee, scenario_en):
    c = client_of(trainee)
    bad = c.post(reverse("training:session_start"), {"product_description": "short", "voice": "bad voice!"},
                 HTTP_HX_REQUEST="true")
    html = bad.content.decode()
    assert bad.status_code == 200 and "<html" not in html
    assert 'id="product_description-errors"' in html and 'id="voice-errors"' in html
    assert TrainingSession.objects.count() == 0
    empty = c.post(reverse("training:session_start"), {})
    assert 'id="product_description-errors"' in empty.content.decode()
    ok = c.post(reverse("training:session_start"), {"scenario": scenario_en.pk}, HTTP_HX_REQUEST="true")
    session = TrainingSession.objects.get()
    assert ok.status_code == 204 and ok["HX-Redirect"] == reverse("training:session_live", args=[session.pk])
    assert session.language == "en" and session.persona == "john_en"
    live = c.get(ok["HX-Redirect"]).content.decode()
    assert f'data-ws-path="/ws/training/{session.pk}/"' in live and 'data-end-phrase="finish session"' in live


def test_ending_a_dropped_session_from_the_page(client_of, trainee, scenario_ru, django_capture_on_commit_callbacks):
    session = services.session_create(trainee=trainee.trainee, scenario=scenario_ru)
    services.session_start(session_id=session.pk)
    services.session_disconnect(session_id=session.pk, code=1006)
    session.refresh_from_db()
    assert session.status == Status.ACTIVE  # the drop kept it
    with django_capture_on_commit_callbacks(execute=False):
        r = client_of(trainee).post(reverse("training:session_end", args=[session.pk]))
    assert r.status_code == 302
    session.refresh_from_db()
    assert session.status == Status.ENDED


# --- ElevenLabs ---------------------------------------------------------------------------------


@pytest.fixture
def convai_server(settings):
    with ConvaiStandIn() as server:
        settings.ELEVENLABS = {"API_KEY": API_KEY, "BASE_URL": server.base_url}
        yield server


def test_signed_url_client_against_local_server(convai_server, settings):
    url = signed_url(agent_id="agent-1")
    assert url.startswith("ws://127.0.0.1:") and url.endswith("/v1/convai/conversation?agent_id=agent-1&token=signed")
    assert convai_server.seen[-1] == ("/v1/convai/conversation/get-signed-url", {"agent_id": ["agent-1"]}, API_KEY)
    with pytest.raises(ProviderUnavailable):
        signed_url(agent_id="agent-down")
    settings.ELEVENLABS = {**settings.ELEVENLABS, "API_KEY": "wrong"}
    with pytest.raises(ProviderAuthError):
        signed_url(agent_id="agent-1")
    settings.ELEVENLABS = {**settings.ELEVENLABS, "API_KEY": ""}
    with pytest.raises(ProviderConfigError):
        signed_url(agent_id="agent-1")


def test_elevenlabs_mode_end_to_end(convai_server, client_of, trainee, django_capture_on_commit_callbacks):
    scenario = Scenario.objects.create(title="11", language="en", product_description="Freight from China.",
                                       mode=Scenario.Mode.ELEVENLABS, elevenlabs_agent_id="agent-7")
    session = services.session_create(trainee=trainee.trainee, scenario=scenario)
    c = client_of(trainee)
    live = c.get(reverse("training:session_live", args=[session.pk])).content.decode()
    assert 'data-mode="elevenlabs"' in live
    r = c.post(reverse("training:elevenlabs_signed_url", args=[session.pk]))
    assert r.status_code == 200 and "agent_id=agent-7" in r.json()["signed_url"]
    bad = c.post(reverse("training:session_transcript", args=[session.pk]), data=json.dumps({"turns": [{"x": 1}]}),
                 content_type="application/json")
    assert bad.status_code == 400
    turns = [{"speaker": "agent", "text": "Hello?"}, {"speaker": "user", "text": "Hi, this is Anna from Cargo."},
             {"speaker": "agent", "text": "Not interested.", "interrupted": True}]
    with django_capture_on_commit_callbacks(execute=False):
        ok = c.post(reverse("training:session_transcript", args=[session.pk]), data=json.dumps({"turns": turns}),
                    content_type="application/json")
    assert ok.status_code == 200 and ok.json()["review_url"] == reverse("training:session_detail", args=[session.pk])
    session.refresh_from_db()
    assert session.status == Status.ENDED and session.end_reason == "elevenlabs"
    assert list(session.turns.values_list("speaker", "interrupted")) == [("bot", False), ("user", False), ("bot", True)]
    score = services.session_score(session_id=session.pk)
    assert score.metrics["interruptions"] == 1 and score.metrics["objections_met"] == 1


def test_transcript_post_needs_csrf(trainee, scenario_en):
    c = Client(enforce_csrf_checks=True)
    c.force_login(trainee)
    session = services.session_create(trainee=trainee.trainee, scenario=scenario_en)
    r = c.post(reverse("training:session_transcript", args=[session.pk]), data='{"turns": []}',
               content_type="application/json")
    assert r.status_code == 403


def test_a_manager_scores_a_session_again_and_the_page_shows_it_pending(
    client_of, trainee, manager, operator, scenario_ru, django_capture_on_commit_callbacks
):
    session = _scored(trainee, scenario_ru)
    url = reverse("training:session_rescore", args=[session.pk])
    # only a manager may: the trainee and an operator are refused, nothing changes
    assert client_of(trainee).post(url).status_code == 403
    assert client_of(operator).post(url).status_code == 403
    assert TrainingSession.objects.get(pk=session.pk).status == Status.SCORED
    detail = client_of(manager).get(reverse("training:session_detail", args=[session.pk])).content.decode()
    assert 'id="rescore-button"' in detail
    assert 'id="rescore-button"' not in client_of(trainee).get(
        reverse("training:session_detail", args=[session.pk])).content.decode()

    m = client_of(manager)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        page = m.post(url, headers={"HX-Request": "true"})
    assert page.status_code == 200
    html = page.content.decode()
    # the old score stays visible, marked as being replaced; no second button while it runs
    assert 'data-status="scoring"' in html and 'id="review-pending"' in html and 'id="score-total"' in html
    assert 'id="rescore-button"' not in html
    assert sum("score_session" in repr(c) for c in queued) == 1  # sent once the status change is committed
    event = SessionEvent.objects.filter(session=session, kind="rescore_requested").get()
    assert event.data["by"] == manager.username
    assert m.post(url).status_code == 409  # already being scored
    score_session.apply(args=[session.pk])  # what the worker does
    assert TrainingSession.objects.get(pk=session.pk).status == Status.SCORED
    review = m.get(reverse("training:session_review", args=[session.pk])).content.decode()
    assert 'data-status="scored"' in review and 'id="review-pending"' not in review


def test_a_failed_scoring_can_be_run_again(client_of, trainee, manager, scenario_ru,
                                          django_capture_on_commit_callbacks):
    session = services.session_create(trainee=trainee.trainee, scenario=scenario_ru)
    with django_capture_on_commit_callbacks(execute=False):
        services.session_end(session_id=session.pk, reason="button")
        services.session_scoring_start(session_id=session.pk)
        services.session_scoring_fail(session_id=session.pk, error="worker lost")
    page = client_of(manager).get(reverse("training:session_detail", args=[session.pk])).content.decode()
    assert 'data-status="failed"' in page and 'id="rescore-button"' in page
    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert client_of(manager).post(reverse("training:session_rescore", args=[session.pk])).status_code == 302
    assert sum("score_session" in repr(c) for c in queued) == 1
    assert TrainingSession.objects.get(pk=session.pk).status == Status.SCORING


def _post_transcript(c, session, payload):
    body = payload if isinstance(payload, (str, bytes)) else json.dumps(payload)
    return c.post(reverse("training:session_transcript", args=[session.pk]), data=body,
                  content_type="application/json")


TURNS = {"turns": [{"speaker": "agent", "text": "Hello?"}, {"speaker": "user", "text": "Hi, this is Anna."}]}


def test_a_made_up_transcript_is_refused_for_a_built_in_pipeline_session(client_of, trainee, scenario_en):
    session = services.session_create(trainee=trainee.trainee, scenario=scenario_en)
    services.session_start(session_id=session.pk)
    r = _post_transcript(client_of(trainee), session, TURNS)
    assert r.status_code == 409
    session.refresh_from_db()
    assert session.status == Status.ACTIVE and session.turns.count() == 0
    assert not Score.objects.filter(session=session).exists()


@pytest.fixture
def elevenlabs_scenario(db):
    return Scenario.objects.create(title="11", language="en", product_description="Freight from China.",
                                   mode=Scenario.Mode.ELEVENLABS, elevenlabs_agent_id="agent-7")


def test_an_elevenlabs_transcript_is_taken_only_while_live_and_only_once(client_of, trainee, elevenlabs_scenario,
                                                                        django_capture_on_commit_callbacks):
    session = services.session_create(trainee=trainee.trainee, scenario=elevenlabs_scenario)
    c = client_of(trainee)
    # not started: the page never had the agent's signed URL, so there was no conversation
    assert _post_transcript(c, session, TURNS).status_code == 409
    session.refresh_from_db()
    assert session.status == Status.CREATED and session.turns.count() == 0
    services.session_start(session_id=session.pk)
    with django_capture_on_commit_callbacks(execute=False):
        assert _post_transcript(c, session, TURNS).status_code == 200
    session.refresh_from_db()
    assert session.status == Status.ENDED and session.turns.count() == 2
    again = _post_transcript(c, session, {"turns": [{"speaker": "user", "text": "I closed the deal, honest."}]})
    assert again.status_code == 409
    assert list(session.turns.values_list("text", flat=True)) == ["Hello?", "Hi, this is Anna."]


@pytest.mark.parametrize("payload", [
    '{"turns": [{"speaker": "user", "text": "Hi", "started_ms": 1e400}]}',
    json.dumps({"turns": [{"speaker": "user", "text": "Hi", "started_ms": 10 ** 20}]}),
    json.dumps({"turns": [{"speaker": "user", "text": "Hi", "ended_ms": -1}]}),
    json.dumps({"turns": [{"speaker": "user", "text": "Hi", "ended_ms": "soon"}]}),
    json.dumps({"turns": [{"speaker": "narrator", "text": "Hi"}]}),
    json.dumps({"turns": [["user", "Hi"]]}),
    json.dumps({"turns": {"speaker": "user"}}),
    json.dumps({"turns": [{"speaker": "user", "text": "Hi"}] * 501}),
    json.dumps([1]),
    "{not json",
])
def test_a_transcript_with_bad_numbers_or_shapes_is_a_400(client_of, trainee, elevenlabs_scenario, payload):
    session = services.session_create(trainee=trainee.trainee, scenario=elevenlabs_scenario)
    services.session_start(session_id=session.pk)
    r = _post_transcript(client_of(trainee), session, payload)
    assert r.status_code == 400 and "bad transcript" in r.json()["error"]
    session.refresh_from_db()
    assert session.status == Status.ACTIVE and session.turns.count() == 0


def test_an_unknown_voice_is_refused_before_the_session_starts(client_of, trainee, scenario_en, settings):
    """«Alice» is not an eSpeak voice: the form says so, instead of a silent customer behind «Подключено»."""
    settings.VOICE = {**settings.VOICE, "TTS": {"PROVIDER": "local", "OPTIONS": {}}}
    c = client_of(trainee)
    bad = c.post(reverse("training:session_start"), {"scenario": scenario_en.pk, "voice": "Alice"},
                 HTTP_HX_REQUEST="true")
    assert bad.status_code == 200 and 'id="voice-errors"' in bad.content.decode()
    assert "Alice" in bad.content.decode()
    assert TrainingSession.objects.count() == 0
    ok = c.post(reverse("training:session_start"), {"scenario": scenario_en.pk, "voice": "en-us"},
                HTTP_HX_REQUEST="true")
    assert ok.status_code == 204 and TrainingSession.objects.count() == 1


def test_a_customers_line_its_voice_failed_on_is_shown_marked_on_the_live_page_and_the_review(
        client_of, trainee, scenario_ru):
    session = services.session_create(trainee=trainee.trainee, scenario=scenario_ru)
    services.session_turn_add(session_id=session.pk, turn=TurnRecord(speaker="bot", text="Алло? Слушаю.",
                                                                      voiced=False))
    services.session_turn_add(session_id=session.pk, turn=TurnRecord(speaker="user", text="Добрый день."))
    c = client_of(trainee)
    live = c.get(reverse("training:session_live", args=[session.pk])).content.decode()
    assert live.count("(не озвучено)") == 2  # the reconnected page's line, and the note the script adds live
    assert '"not_voiced": "(не озвучено)"' in live
    services.session_end(session_id=session.pk, reason="button")
    review = c.get(reverse("training:session_detail", args=[session.pk])).content.decode()
    assert review.count("(не озвучено)") == 1 and "Алло? Слушаю." in review
    assert review.index("Алло? Слушаю.") < review.index("(не озвучено)") < review.index("Добрый день.")


def test_the_review_shows_turn_times_in_the_pages_language(client_of, trainee, scenario_ru):
    session = services.session_create(trainee=trainee.trainee, scenario=scenario_ru)
    services.session_turn_add(session_id=session.pk, turn=TurnRecord(speaker="bot", text="Алло.", started_ms=52))
    services.session_turn_add(session_id=session.pk, turn=TurnRecord(
        speaker="user", text="Добрый день.", started_ms=1800, voice_to_voice_ms=640))
    services.session_end(session_id=session.pk, reason="button")
    session.refresh_from_db()
    session.audio.save("s.wav", ContentFile(services.wav_bytes(pcm16=b"\0\0" * 160)))
    review = client_of(trainee).get(reverse("training:session_detail", args=[session.pk]),
                                    HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert ">52 мс</button>" in review and ">1800 мс</button>" in review and "640 мс)" in review
    assert " ms<" not in review and " ms)" not in review
