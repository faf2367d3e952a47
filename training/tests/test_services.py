"""State changes of a session: transitions, audit rows, scoring (idempotent) and the transcript import."""

from __future__ import annotations

import pytest

from training import services
from training.models import Scenario, Score, SessionEvent, TrainingSession
from training.services import TransitionError, TurnRecord
from training.tasks import score_session

Status = TrainingSession.Status


def _talk(session_id: int) -> None:
    for speaker, text in [
        ("bot", "Hello?"),
        ("user", "Hello, my name is Anna from CargoLine. I'm calling about freight from China."),
        ("bot", "We already have a carrier."),
        ("user", "I understand. What matters most to you in delivery?"),
        ("bot", "Speed."),
        ("user", "You said speed: we deliver in 25 days, which means you save two weeks. Let's meet tomorrow at 11?"),
    ]:
        services.session_turn_add(session_id=session_id, turn=TurnRecord(speaker=speaker, text=text))


def test_lifecycle_writes_audit_rows_and_refuses_bad_transitions(trainee, scenario_en, session_of,
                                                                 django_capture_on_commit_callbacks):
    session = session_of(trainee, scenario_en)
    assert session.status == Status.CREATED and session.language == "en"
    services.session_start(session_id=session.pk)
    services.session_start(session_id=session.pk)  # a reconnect is fine
    _talk(session.pk)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.session_end(session_id=session.pk, reason="button")
    assert callbacks  # the score task and the publish wait for the commit
    session.refresh_from_db()
    assert session.status == Status.ENDED and session.end_reason == "button" and session.ended_at
    services.session_end(session_id=session.pk, reason="end_phrase")  # second end: no-op
    session.refresh_from_db()
    assert session.end_reason == "button"
    with pytest.raises(TransitionError):
        services.session_start(session_id=session.pk)
    kinds = list(SessionEvent.objects.filter(session=session).values_list("kind", flat=True))
    assert kinds == ["created", "started", "reconnected", "ended"]
    assert list(session.turns.values_list("index", flat=True)) == [0, 1, 2, 3, 4, 5]


def test_score_is_computed_once_and_idempotent(trainee, scenario_en, session_of):
    session = session_of(trainee, scenario_en)
    services.session_start(session_id=session.pk)
    _talk(session.pk)
    services.session_end(session_id=session.pk, reason="button")
    score = services.session_score(session_id=session.pk)
    assert score is not None and 0 < score.total <= 100
    assert {s["key"] for s in score.rubric["stages"]} == {
        "greeting", "discovery", "presentation", "objections", "closing"
    }
    assert score.metrics["objections_met"] == 1 and score.metrics["objections_handled"] == 1
    assert score.advice
    again = services.session_score(session_id=session.pk)  # a redelivered task
    assert again.pk == score.pk and Score.objects.count() == 1
    session.refresh_from_db()
    assert session.status == Status.SCORED
    assert services.session_score(session_id=999999) is None  # gone: logged, nothing raised


def test_active_session_is_not_scored(trainee, scenario_en, session_of):
    session = session_of(trainee, scenario_en)
    services.session_start(session_id=session.pk)
    assert services.session_score(session_id=session.pk) is None
    session.refresh_from_db()
    assert session.status == Status.ACTIVE


def test_transcript_import_ends_once(trainee, scenario_en, session_of):
    session = session_of(trainee, scenario_en)
    turns = [TurnRecord(speaker="bot", text="Hello?"), TurnRecord(speaker="user", text="Hi, this is Anna.")]
    services.session_transcript_import(session_id=session.pk, turns=turns, reason="elevenlabs")
    session.refresh_from_db()
    assert session.status == Status.ENDED and session.turns.count() == 2 and session.started_at
    with pytest.raises(TransitionError):
        services.session_transcript_import(session_id=session.pk, turns=turns)


def test_custom_session_needs_a_product(trainee):
    with pytest.raises(ValueError):
        services.session_create(trainee=trainee.trainee, product_description="  ")
    s = services.session_create(trainee=trainee.trainee, product_description="CRM for dentists, 30 days trial",
                                language="en", persona="john_en", difficulty="hard")
    assert (s.language, s.persona, s.difficulty, s.scenario) == ("en", "john_en", "hard", None)


def test_score_task_runs_on_a_real_worker(celery_worker_thread, make_user, transactional_db):
    user = make_user("tr-worker", "Trainee")
    scenario = Scenario.objects.create(title="W", language="en", product_description="Freight from China, fast.")
    session = services.session_create(trainee=user.trainee, scenario=scenario)
    services.session_start(session_id=session.pk)
    _talk(session.pk)
    services.session_end(session_id=session.pk, reason="button")  # dispatches on commit
    total = score_session.delay(session.pk).get(timeout=60)  # and once more, by hand: idempotent
    session.refresh_from_db()
    assert session.status == Status.SCORED and session.score.total == total
