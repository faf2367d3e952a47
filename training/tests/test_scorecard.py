"""Scorecards as data, the cases the issue saw go wrong, the OpenAI review (local server, real SDK),
assignments and certification (frozen time)."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
import time_machine
from django.core.exceptions import ValidationError

from dialogs.tests.openai_server import OpenAIServer, error, json_reply
from training import services
from training.llm_scoring import llm_score
from training.models import Certification, Scenario, Scorecard, ScorecardCheck, Trainee
from training.scoring import (
    ADVICE,
    DEFAULT_SCORECARD,
    Line,
    _norm,
    end_phrase_matches,
    end_phrase_strip,
    score_transcript,
)
from training.selectors import assignments_for_trainee, assignments_overview, scorecard_for, scorecard_spec
from training.services import TurnRecord, scorecard_default_ensure

U, B = "user", "bot"


def _checks(result) -> dict[str, bool | None]:
    return {c.key: c.passed for s in result.stages for c in s.checks}


def _quotes_in(advice: list[str]) -> list[str]:
    return [_norm(q) for tip in advice for q in re.findall(r"[«“]([^«»“”]{12,})[»”]", tip)]


# --- the offline scorer on the issue's cases -----------------------------------------------------

ISSUE_CALL = [
    Line(B, "Hello, speaking."),
    Line(U, "Hi, this is Anna from Cargo Line. We ship freight from China to Europe in 18 days. "
            "Could I ask how you move your cargo today?"),
    Line(B, "We ship furniture from Foshan, about two containers a month, and the delays are a pain."),
    Line(U, "We are very good, we are the best company in the market."),
    Line(B, "We already have a carrier."),
    Line(U, "We are the best."),
    Line(U, "Okay, thank you, finish session."),
]


def test_the_reason_for_the_call_counts_when_said_as_what_we_do_and_a_question():
    lines = [Line(B, "Hello?"), Line(U, "We ship freight from China to Europe in 18 days. "
                                        "Could I ask how you move your cargo today?")]
    assert _checks(score_transcript(lines=lines, language="en"))["states_purpose"] is True
    ru = [Line(B, "Алло."), Line(U, "Мы доставляем грузы из Китая за 18 дней. Как вы сейчас возите товар?")]
    assert _checks(score_transcript(lines=ru, language="ru"))["states_purpose"] is True
    # a bare claim with no question about the customer's business is not a reason for the call
    bare = [Line(B, "Hello?"), Line(U, "Um, so, we sell logistics services.")]
    assert _checks(score_transcript(lines=bare, language="en"))["states_purpose"] is False


def test_tie_to_needs_quotes_what_the_customer_said_about_needs_not_the_greeting():
    r = score_transcript(lines=ISSUE_CALL, language="en", end_phrase="finish session")
    assert _checks(r)["tied_to_needs"] is False
    tie = next(a for a in r.advice if a.startswith("Tie the offer"))
    assert "two containers a month" in tie and "Hello, speaking" not in tie
    # and when the trainee takes up those words, it passes, proven by that line
    better = [*ISSUE_CALL[:3], Line(U, "Two containers a month from Foshan: we cut the delays to 18 days.")]
    r2 = score_transcript(lines=better, language="en")
    tied = next(c for s in r2.stages for c in s.checks if c.key == "tied_to_needs")
    assert tied.passed is True and tied.quote.startswith("Two containers a month")


def test_nothing_said_before_the_end_phrase_is_lost():
    r = score_transcript(lines=ISSUE_CALL, language="en", end_phrase="finish session")
    assert _checks(r)["polite_close"] is True  # «Okay, thank you» counts: Closed politely ✔
    closing = next(c for s in r.stages for c in s.checks if c.key == "polite_close")
    assert closing.quote == "Okay, thank you"
    assert all("finish session" not in a.lower() for a in r.advice)
    assert end_phrase_strip(text="Okay, thank you, finish session.", phrase="finish session") == "Okay, thank you"
    assert end_phrase_strip(text="Спасибо, до свидания. Завершить", phrase="Завершить") == "Спасибо, до свидания."
    assert end_phrase_strip(text="Finish session", phrase="finish session") == ""
    assert end_phrase_strip(text="Let's discuss the price", phrase="finish session") == "Let's discuss the price"
    # a line that was only the end phrase is not a trainee line at all
    only = score_transcript(lines=[*ISSUE_CALL[:6], Line(U, "Finish session.")], language="en",
                            end_phrase="finish session")
    assert only.metrics.trainee_words == score_transcript(lines=ISSUE_CALL[:6], language="en").metrics.trainee_words
    assert end_phrase_matches(text="Okay, thank you, finish session.", phrase="finish session")


def test_each_tip_quotes_a_line_and_no_quote_repeats_in_a_review():
    # the 42/100 shape of the issue: one long line and little else, so every check would quote it
    lines = [
        Line(B, "Алло, слушаю."),
        Line(U, "Здравствуйте, у нас доставка из Китая, мы лучшие на рынке, работаем давно, всё быстро."),
        Line(B, "Дорого, если честно."),
        Line(U, "Да нет, у нас нормально."),
        Line(B, "Ну ладно. До свидания."),
        Line(U, "Хорошо."),
    ]
    r = score_transcript(lines=lines, language="ru", end_phrase="Завершить")
    failed = [c for s in r.stages for c in s.checks if c.passed is False]
    assert len(failed) >= 8 and len(r.advice) >= 8
    quotes = _quotes_in(r.advice)
    assert quotes and len(quotes) == len(set(quotes)), r.advice
    # the tips that quote, quote words that were said
    said = {_norm(ln.text) for ln in lines}
    examples = {_norm(q) for lead, _ in ADVICE["ru"].values() for q in re.findall(r"«([^«»]+)»", lead)}
    assert all(any(q in s for s in said) or q in examples for q in quotes), r.advice
    en = score_transcript(lines=ISSUE_CALL, language="en", end_phrase="finish session")
    quotes = _quotes_in(en.advice)
    assert len(quotes) == len(set(quotes)), en.advice


def test_objection_reply_is_quoted_in_the_objection_tip():
    r = score_transcript(lines=ISSUE_CALL, language="en", end_phrase="finish session")
    ack = next(a for a in r.advice if a.startswith("Acknowledge"))
    assert "We are the best." in ack
    handled = next(a for a in r.advice if a.startswith("Handle the objection"))
    assert "We already have a carrier." in handled


def test_default_scorecard_points_and_pass_mark():
    assert [s.key for s in DEFAULT_SCORECARD.stages] == ["greeting", "discovery", "presentation", "objections",
                                                          "closing"]
    r = score_transcript(lines=ISSUE_CALL, language="en", end_phrase="finish session")
    applicable = [c for s in r.stages for c in s.checks if c.passed is not None]
    earned = sum(c.points for c in applicable if c.passed)
    assert r.total == round(100 * earned / sum(c.points for c in applicable))
    assert r.passed is (r.total >= 70)
    assert r.rubric_dict()["pass_threshold"] == 70


# --- scorecards in the database -----------------------------------------------------------------


@pytest.mark.django_db
def test_the_shipped_rubric_is_the_default_scorecard_and_edits_change_the_review():
    card = scorecard_default_ensure()  # made by the data migration (a transactional test may have emptied it)
    assert scorecard_default_ensure() == card and Scorecard.objects.filter(is_default=True).count() == 1
    spec = scorecard_spec(scorecard=card)
    assert [(s.key, [c.key for c in s.checks]) for s in spec.stages] == [
        (s.key, [c.key for c in s.checks]) for s in DEFAULT_SCORECARD.stages]
    assert card.checks.get(rule="states_purpose").label == "Stated the reason for the call"  # source text

    scenario = Scenario.objects.create(title="S", language="en", product_description="Freight")
    own = Scorecard.objects.create(name="Insurance push", pass_threshold=50)
    ScorecardCheck.objects.create(scorecard=own, stage="Offer", label="Mentioned insurance",
                                  description="Says the cargo is insured.", points=10, rule="phrases",
                                  phrases="insurance, insured")
    ScorecardCheck.objects.create(scorecard=own, stage="Offer", label="Greeted the customer", points=5,
                                  rule="greets")
    scenario.scorecard = own
    scenario.save()
    spec = scorecard_spec(scorecard=scorecard_for(scenario=scenario))
    assert spec.pass_threshold == 50 and [c.label for c in spec.stages[0].checks] == [
        "Mentioned insurance", "Greeted the customer"]
    r = score_transcript(lines=[Line(U, "Hello! Every container is insured."), Line(B, "Good.")], language="en",
                         scorecard=spec)
    assert _checks(r) == {spec.stages[0].checks[0].key: True, "greets": True} and r.total == 100 and r.passed
    r = score_transcript(lines=[Line(U, "Good morning."), Line(B, "Yes?")], language="en", scorecard=spec)
    assert r.total == 33  # 5 of 15 points
    assert any("Mentioned insurance" in a and "Says the cargo is insured." in a for a in r.advice)


@pytest.mark.django_db
def test_a_phrases_check_without_phrases_is_refused_with_a_clear_error():
    check = ScorecardCheck(scorecard=Scorecard.objects.create(name="Mine"), stage="X", label="Y", rule="phrases")
    with pytest.raises(ValidationError) as err:
        check.full_clean()
    assert "phrases" in err.value.message_dict


@pytest.mark.django_db
def test_a_review_shows_its_labels_in_the_viewers_language(client, trainee, scenario_en, session_of):
    session = session_of(trainee, scenario_en)
    services.session_transcript_import(session_id=session.pk, turns=[
        TurnRecord(speaker="bot", text="Hello?"), TurnRecord(speaker="user", text="Hello, we ship goods."),
    ])
    services.session_score(session_id=session.pk)
    stored = session.score.rubric["stages"][0]
    assert stored["title"] == "Greeting and introduction"  # stored as source text
    client.force_login(trainee)
    ru = client.get(f"/training/sessions/{session.pk}/", HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "Приветствие и представление" in ru and "Назвал цель звонка" in ru
    assert "Greeting and introduction" not in ru
    client.cookies["django_language"] = "en"
    en = client.get(f"/training/sessions/{session.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Greeting and introduction" in en and "Stated the reason for the call" in en


# --- the OpenAI review (local OpenAI-protocol server, the real SDK) ------------------------------


def _model_answer(lines, **over):
    checks = [
        {"key": c.key, "passed": c.key in ("greets", "introduces", "states_purpose", "polite_close"),
         "quote": "Hi, this is Anna from Cargo Line." if c.key in ("greets", "introduces", "states_purpose")
         else ("Okay, thank you" if c.key == "polite_close" else "")}
        for s in DEFAULT_SCORECARD.stages for c in s.checks
    ]
    tips = [
        {"tip": "Take up the customer's words about the delays.", "quote": "the delays are a pain"},
        {"tip": "Acknowledge before answering.", "quote": "We are the best."},
        {"tip": "Say what the customer gains.", "quote": "We are the best."},  # the same quote again
    ]
    data = {"checks": checks, "tips": tips}
    data.update(over)
    return json.dumps(data)


@pytest.fixture
def openai_server(settings):
    with OpenAIServer() as server:
        settings.OPENAI_API_KEY = "sk-test"
        settings.OPENAI_BASE_URL = server.base_url
        settings.OPENAI_CHAT_MODEL = "gpt-test"
        yield server


def test_openai_review_takes_each_verdict_and_its_line_and_quotes_once(openai_server):
    offline = score_transcript(lines=ISSUE_CALL, language="en", end_phrase="finish session")
    lines = [ln if ln.text != "Okay, thank you, finish session." else Line(U, "Okay, thank you") for ln in ISSUE_CALL]
    openai_server.push(json_reply(_model_answer(lines)))
    result, why = llm_score(lines=lines, offline=offline, scorecard=DEFAULT_SCORECARD, product="Freight")
    assert why == "" and result is not None and result.scorer == "openai"
    checks = {c.key: c for s in result.stages for c in s.checks}
    assert checks["greets"].passed and checks["greets"].quote == "Hi, this is Anna from Cargo Line."
    assert checks["concrete"].passed is False  # the model's verdict, not the rules'
    assert checks["answered_all"].passed is False
    assert result.advice[1] == "Acknowledge before answering. “We are the best.”"
    assert result.advice[2] == "Say what the customer gains."  # the repeated quote is dropped
    request = openai_server.requests[0]
    schema = request["response_format"]["json_schema"]
    assert request["response_format"]["type"] == "json_schema" and schema["strict"] is True
    assert set(schema["schema"]["properties"]["checks"]["items"]["properties"]["key"]["enum"]) == set(checks)
    assert "Could I ask how you move your cargo today?" in request["messages"][1]["content"]


@pytest.mark.parametrize("bad", [
    "not json at all",
    json.dumps({"checks": [{"key": "greets", "passed": "yes", "quote": ""}], "tips": []}),  # schema
    "QUOTE_NEVER_SAID",
    "MISSING_CHECK",
])
def test_invalid_model_output_is_retried_then_the_offline_review_stands(openai_server, bad):
    if bad == "QUOTE_NEVER_SAID":
        bad = _model_answer(ISSUE_CALL, tips=[{"tip": "x", "quote": "We guarantee the lowest price in Europe"}])
    elif bad == "MISSING_CHECK":
        data = json.loads(_model_answer(ISSUE_CALL))
        data["checks"] = data["checks"][1:]
        bad = json.dumps(data)
    offline = score_transcript(lines=ISSUE_CALL, language="en", end_phrase="finish session")
    openai_server.push(json_reply(bad))
    result, why = llm_score(lines=ISSUE_CALL, offline=offline, scorecard=DEFAULT_SCORECARD)
    assert result is None and why.startswith("malformed model output")
    assert len(openai_server.requests) == 2  # asked once more


@pytest.mark.django_db
def test_session_scoring_falls_back_to_the_offline_scorer_when_openai_fails(openai_server, trainee, scenario_en,
                                                                            session_of):
    openai_server.push(error(500, "down"))
    session = session_of(trainee, scenario_en)
    services.session_transcript_import(session_id=session.pk, turns=[
        TurnRecord(speaker=ln.speaker, text=ln.text) for ln in ISSUE_CALL])
    score = services.session_score(session_id=session.pk)
    assert score.rubric["scorer"] == "offline" and "InternalServerError" in score.rubric["fallback_reason"]
    offline = score_transcript(lines=ISSUE_CALL, language="en", end_phrase="finish session")
    assert score.total == offline.total and score.advice.splitlines() == offline.advice
    assert openai_server.requests  # it was asked


@pytest.mark.django_db
def test_session_scoring_uses_the_model_review_when_valid(openai_server, trainee, scenario_en, session_of):
    openai_server.push(json_reply(_model_answer(ISSUE_CALL)))
    session = session_of(trainee, scenario_en)
    services.session_transcript_import(session_id=session.pk, turns=[
        TurnRecord(speaker=ln.speaker, text=ln.text) for ln in ISSUE_CALL])
    score = services.session_score(session_id=session.pk)
    assert score.rubric["scorer"] == "openai"
    assert score.advice.splitlines()[0] == "Take up the customer's words about the delays. “the delays are a pain”"


# --- assignments and certification ---------------------------------------------------------------



def _good_call():
    return [TurnRecord(speaker=s, text=t) for s, t in [
        ("bot", "Hello?"),
        ("user", "Hello, my name is Anna from CargoLine. I'm calling about freight from China."),
        ("bot", "We already have a carrier."),
        ("user", "I understand. What matters most to you in delivery?"),
        ("bot", "Speed, we ship furniture from Foshan every month."),
        ("user", "You said speed: furniture from Foshan in 25 days, which means you save two weeks. "
                 "Let's meet tomorrow at 11? Thank you!"),
    ]]


def _poor_call():
    return [TurnRecord(speaker="bot", text="Hello?"), TurnRecord(speaker="user", text="We sell logistics.")]


def _practise(trainee_user, scenario, turns):
    session = services.session_create(trainee=trainee_user.trainee, scenario=scenario)
    services.session_transcript_import(session_id=session.pk, turns=turns)
    services.session_score(session_id=session.pk)
    session.refresh_from_db()
    return session


@pytest.mark.django_db
def test_assignment_to_a_team_passing_certifies_and_the_manager_sees_who_is_overdue(
        make_user, scenario_en, client):
    anna, boris, carl = (make_user(n, "Trainee") for n in ("anna", "boris", "carl"))
    Trainee.objects.filter(user__in=[anna, boris]).update(team="Moscow")
    for user in (anna, boris):
        user.trainee.refresh_from_db()
    boss = make_user("boss", "Manager")
    start = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False):
        a = services.assignment_create(scenario=scenario_en, team="Moscow", trainees=[carl.trainee],
                                       due_at=start + dt.timedelta(days=3), pass_threshold=60, max_attempts=2,
                                       by=boss)
        assert [p.assignment for p in assignments_for_trainee(trainee=anna.trainee)] == [a]
    with time_machine.travel(start + dt.timedelta(days=1), tick=False):
        first = _practise(anna, scenario_en, _poor_call())
        assert first.score.total < 60 and not Certification.objects.exists()
        passed = _practise(anna, scenario_en, _good_call())
        assert passed.score.total >= 60
        cert = Certification.objects.get(trainee=anna.trainee, scenario=scenario_en)
        assert cert.session == passed and cert.assignment == a and cert.total == passed.score.total
        _practise(carl, scenario_en, _poor_call())
        _practise(carl, scenario_en, _poor_call())  # two attempts, both below the mark: none left
        assert assignments_for_trainee(trainee=anna.trainee) == []  # passed: no longer open
    with time_machine.travel(start + dt.timedelta(days=4), tick=False):
        (_, rows), = assignments_overview()
        status = {p.trainee.user.username: p.status for p in rows}
        assert status == {"anna": "passed", "boris": "overdue", "carl": "failed"}
        client.force_login(boss)
        page = client.get("/training/", HTTP_ACCEPT_LANGUAGE="ru").content.decode()
        assert 'data-trainee="boris" data-status="overdue"' in page and "Просрочено" in page
        assert 'data-trainee="anna" data-status="passed"' in page
        client.force_login(boris)
        page = client.get("/training/", HTTP_ACCEPT_LANGUAGE="ru").content.decode()
        assert 'id="my-assignments"' in page and scenario_en.title in page and "Просрочено" in page


@pytest.mark.django_db
def test_a_third_attempt_beyond_the_limit_does_not_count_for_the_assignment(make_user, scenario_en):
    ann = make_user("ann", "Trainee")
    start = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False):
        a = services.assignment_create(scenario=scenario_en, trainees=[ann.trainee], due_at=start + dt.timedelta(1),
                                       pass_threshold=99, max_attempts=1)
    with time_machine.travel(start + dt.timedelta(hours=1), tick=False):
        _practise(ann, scenario_en, _poor_call())
        good = _practise(ann, scenario_en, _good_call())  # beyond the one attempt: the scorecard's mark applies
    cert = Certification.objects.get(trainee=ann.trainee)
    assert cert.session == good and cert.assignment is None and a.certifications.count() == 0
    with pytest.raises(ValueError):
        services.assignment_create(scenario=scenario_en, due_at=start)  # nobody assigned
