"""Writes of the trainer: one function per session state change (validate, write, audit row, publish).

Nothing else changes ``TrainingSession.status``. Each state change appends a ``SessionEvent`` and,
once the transaction commits, tells the session's channel-layer group (``session_group``), which
the live page and the review page listen to.
"""

from __future__ import annotations

import io
import logging
import wave
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from config.live_events import group_send
from config.metrics import record_turn_metrics
from training.llm_scoring import llm_score
from training.models import (
    Assignment,
    Certification,
    Scenario,
    Score,
    Scorecard,
    ScorecardCheck,
    SessionEvent,
    SessionTurn,
    Trainee,
    TrainingSession,
)
from training.scoring import DEFAULT_SCORECARD, Line, ScoreResult, score_transcript
from training.selectors import assignment_attempt_for, scorecard_for, scorecard_spec
from voice.turns import TurnRecord  # the lines the live session assembles; imports and tests build them too

log = logging.getLogger(__name__)

Status = TrainingSession.Status

END_PHRASES = {"ru": "Завершить", "en": "finish session"}
# Where each status may go. ENDED -> ACTIVE is not allowed: a finished session is never resumed.
TRANSITIONS: dict[str, set[str]] = {
    Status.CREATED: {Status.ACTIVE, Status.ENDED},
    Status.ACTIVE: {Status.ENDED},
    Status.ENDED: {Status.SCORING},
    Status.SCORING: {Status.SCORED, Status.FAILED},
    Status.FAILED: {Status.SCORING},
    Status.SCORED: {Status.SCORING},  # a manager may ask for a re-score
}


class TransitionError(ValueError):
    """The session is not in a state that allows this change."""


def session_group(session_id: int) -> str:
    return f"training.session.{session_id}"


def end_phrase_for(*, session: TrainingSession) -> str:
    phrase = session.scenario.end_phrase if session.scenario_id and session.scenario else ""
    return phrase or END_PHRASES.get(session.language, END_PHRASES["en"])


def _publish(session_id: int, payload: dict[str, Any]) -> None:
    """Tell the pages after commit; a channel-layer hiccup must never undo a saved state change."""
    transaction.on_commit(lambda: group_send([session_group(session_id)], {"type": "session.update", **payload}))


def _change_status(*, session: TrainingSession, to: str, event: str, data: dict[str, Any] | None = None,
                   fields: Iterable[str] = ()) -> TrainingSession:
    if to not in TRANSITIONS.get(session.status, set()):
        raise TransitionError(f"session {session.pk}: {session.status} -> {to} is not allowed")
    previous = session.status
    session.status = to
    session.save(update_fields=["status", *fields])
    SessionEvent.objects.create(session=session, kind=event, data={"from": previous, "to": to, **(data or {})})
    _publish(session.pk, {"event": event, "status": to, "session_id": session.pk})
    return session


def _locked(session_id: int) -> TrainingSession:
    return TrainingSession.objects.select_for_update(of=("self",)).select_related("scenario").get(pk=session_id)


# --- creating and running ------------------------------------------------------------------------


@transaction.atomic
def session_create(
    *,
    trainee: Trainee,
    scenario: Scenario | None = None,
    product_description: str = "",
    persona: str = "",
    difficulty: str = "",
    voice: str = "",
    language: str = "",
) -> TrainingSession:
    """A new session from a scenario (its values are the defaults) or from a custom product description."""
    if scenario is None and not product_description.strip():
        raise ValueError("a session needs a scenario or a product description")
    session = TrainingSession.objects.create(
        trainee=trainee,
        scenario=scenario,
        language=language or (scenario.language if scenario else "ru"),
        product_description=product_description.strip() or (scenario.product_description if scenario else ""),
        persona=persona or (scenario.persona if scenario else "sergey_medium"),
        difficulty=difficulty or (scenario.difficulty if scenario else "medium"),
        voice=voice or (scenario.voice if scenario else ""),
    )
    SessionEvent.objects.create(session=session, kind="created", data={"scenario": scenario.pk if scenario else None})
    return session


@transaction.atomic
def session_start(*, session_id: int) -> TrainingSession:
    """The trainee connected. Reconnecting to an active session (after a dropped connection) is fine."""
    session = _locked(session_id)
    if session.status == Status.ACTIVE:
        SessionEvent.objects.create(session=session, kind="reconnected")
        return session
    session.started_at = timezone.now()
    return _change_status(session=session, to=Status.ACTIVE, event="started", fields=["started_at"])


@transaction.atomic
def session_disconnect(*, session_id: int, code: int | None = None, reason: str = "") -> TrainingSession:
    """The socket went away without an end (or was closed for a bad frame, with ``reason``): the session
    stays active, to be resumed or ended later, and the event log says why the socket closed."""
    session = TrainingSession.objects.get(pk=session_id)
    data: dict = {"code": code, **({"reason": reason} if reason else {})}
    SessionEvent.objects.create(session=session, kind="disconnected", data=data)
    _publish(session.pk, {"event": "disconnected", "status": session.status, "session_id": session.pk})
    return session


@transaction.atomic
def session_turn_add(*, session_id: int, turn: TurnRecord) -> SessionTurn:
    """Append one utterance with its timing and latency; the index is the next free one."""
    session = _locked(session_id)
    last = session.turns.aggregate(m=Max("index"))["m"]
    next_index = 0 if last is None else last + 1
    row = SessionTurn.objects.create(
        session=session,
        index=next_index,
        speaker=turn.speaker,
        text=turn.text[:10000],
        started_ms=_ms_field(turn.started_ms),
        ended_ms=_ms_field(turn.ended_ms),
        interrupted=turn.interrupted,
        stage=turn.stage[:64],
        intent=turn.intent[:64],
        objection=turn.objection[:64],
        eou_ms=turn.eou_ms,
        stt_ms=turn.stt_ms,
        ttft_ms=turn.ttft_ms,
        tts_ttfb_ms=turn.tts_ttfb_ms,
        voice_to_voice_ms=turn.voice_to_voice_ms,
        stt_queue_wait_ms=turn.stt_queue_wait_ms,
        stt_missed=turn.stt_missed,
        voiced=turn.voiced,
    )
    record_turn_metrics(asdict(turn), channel="training")
    return row


def _ms_field(value: int | float | None) -> int | None:
    return None if value is None else max(0, int(value))


def wav_bytes(*, pcm16: bytes, sample_rate: int = 16000, channels: int = 1) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm16)
    return buf.getvalue()


@transaction.atomic
def session_audio_save(*, session_id: int, wav: bytes) -> TrainingSession:
    """Store the recording (replacing an earlier part: a reconnect records the whole session again)."""
    session = _locked(session_id)
    if session.audio:
        session.audio.delete(save=False)
    session.audio.save(f"session-{session.pk}.wav", ContentFile(wav), save=False)
    session.save(update_fields=["audio"])
    SessionEvent.objects.create(session=session, kind="audio_saved", data={"bytes": len(wav)})
    return session


@transaction.atomic
def session_end(*, session_id: int, reason: str) -> TrainingSession:
    """End the conversation (button, end phrase, the customer hung up, a manager) and queue the review.

    Ending an already ended session is a no-op, so the button and the end phrase may race.
    """
    session = _locked(session_id)
    if session.status not in (Status.CREATED, Status.ACTIVE):
        return session
    session.ended_at = timezone.now()
    session.end_reason = reason[:32]
    _change_status(session=session, to=Status.ENDED, event="ended", data={"reason": reason},
                   fields=["ended_at", "end_reason"])
    from training.tasks import score_session  # noqa: PLC0415  cycle: training.tasks imports training.services

    score_session.delay_on_commit(session.pk)
    return session


@transaction.atomic
def session_transcript_import(
    *, session_id: int, turns: Sequence[TurnRecord], reason: str = "external"
) -> TrainingSession:
    """A conversation held elsewhere (ElevenLabs agent): store its transcript once, then end the session."""
    session = _locked(session_id)
    if session.status not in (Status.CREATED, Status.ACTIVE):
        raise TransitionError(f"session {session.pk} is {session.status}; its transcript is already in")
    session.turns.all().delete()
    for turn in turns:
        session_turn_add(session_id=session.pk, turn=turn)
    SessionEvent.objects.create(session=session, kind="transcript_imported", data={"turns": len(turns)})
    if session.status == Status.CREATED:
        session.started_at = timezone.now()
        session.save(update_fields=["started_at"])
    return session_end(session_id=session.pk, reason=reason)


@transaction.atomic
def session_elevenlabs_transcript_import(*, session_id: int, turns: Sequence[TurnRecord]) -> TrainingSession:
    """The page's transcript of a conversation with the ElevenLabs agent: taken once, for a live session of that mode.

    The trainee writes this transcript, so it is accepted only where no other record of the
    conversation exists: a session of a scenario in ElevenLabs mode whose conversation started
    (the signed URL was handed out) and has not ended.
    """
    session = _locked(session_id)
    scenario = session.scenario
    if scenario is None or scenario.mode != Scenario.Mode.ELEVENLABS:
        raise TransitionError(f"session {session.pk} is not an ElevenLabs conversation: its transcript is its own")
    if session.status != Status.ACTIVE:
        raise TransitionError(f"session {session.pk} is {session.status}: only a live conversation's transcript "
                              "is taken, once")
    return session_transcript_import(session_id=session.pk, turns=turns, reason="elevenlabs")


# --- review --------------------------------------------------------------------------------------


@transaction.atomic
def session_rescore(*, session_id: int, by: Any = None) -> TrainingSession:
    """A manager asks for the review again (scoring failed, or the rubric or the advice model changed).

    The old score stays on the page until the new one replaces it; the page hears of it by push.
    """
    session = _locked(session_id)
    if session.status not in (Status.SCORED, Status.FAILED):
        raise TransitionError(f"session {session.pk} is {session.status}: only a scored or failed session is re-scored")
    _change_status(session=session, to=Status.SCORING, event="rescore_requested",
                   data={"by": getattr(by, "username", "") or ""})
    from training.tasks import score_session  # noqa: PLC0415  cycle: training.tasks imports training.services

    score_session.delay_on_commit(session.pk)
    return session


def session_lines(*, session: TrainingSession) -> list[Line]:
    return [
        Line(speaker=t.speaker, text=t.text, started_ms=t.started_ms, ended_ms=t.ended_ms,
             interrupted=t.interrupted, objection=t.objection)
        for t in session.turns.order_by("index")
    ]


@transaction.atomic
def session_scoring_start(*, session_id: int) -> TrainingSession:
    session = _locked(session_id)
    return _change_status(session=session, to=Status.SCORING, event="scoring")


@transaction.atomic
def session_score_save(*, session_id: int, result: ScoreResult, advice: Sequence[str]) -> Score:
    session = _locked(session_id)
    score, _ = Score.objects.update_or_create(
        session=session,
        defaults={
            "total": result.total,
            "rubric": result.rubric_dict(),
            "metrics": result.metrics_dict(),
            "advice": "\n".join(advice),
        },
    )
    _change_status(session=session, to=Status.SCORED, event="scored", data={"total": result.total})
    certification_award(session=session, total=result.total, scorecard_threshold=result.pass_threshold)
    return score


# --- assignments and certification ---------------------------------------------------------------


@transaction.atomic
def assignment_create(*, scenario: Scenario, due_at: Any, trainees: Sequence[Trainee] = (), team: str = "",
                      pass_threshold: int | None = None, max_attempts: int = 3, by: Any = None) -> Assignment:
    """Assign a scenario to trainees and/or a whole team, due by ``due_at``."""
    if not trainees and not team.strip():
        raise ValueError("an assignment needs trainees or a team")
    if max_attempts < 1:
        raise ValueError("an assignment needs at least one attempt")
    assignment = Assignment.objects.create(scenario=scenario, due_at=due_at, team=team.strip(),
                                           pass_threshold=pass_threshold, max_attempts=max_attempts,
                                           created_by=by if getattr(by, "pk", None) else None)
    assignment.trainees.set(trainees)
    return assignment


def certification_award(*, session: TrainingSession, total: int, scorecard_threshold: int) -> Certification | None:
    """Certify the trainee for the scenario when this session passed; once per trainee and scenario.

    A session that counts for an open assignment (within its attempts) passes at the assignment's
    threshold; any other session at the scorecard's.
    """
    if session.scenario_id is None:
        return None
    counted = assignment_attempt_for(session=session)
    threshold = counted.threshold if counted else scorecard_threshold
    if total < threshold:
        return None
    certification, created = Certification.objects.get_or_create(
        trainee_id=session.trainee_id, scenario_id=session.scenario_id,
        defaults={"session": session, "total": total, "certified_at": timezone.now(),
                  "assignment": counted.assignment if counted else None},
    )
    if created:
        SessionEvent.objects.create(session=session, kind="certified",
                                    data={"total": total, "threshold": threshold,
                                          "assignment": counted.assignment.pk if counted else None})
    return certification


@transaction.atomic
def session_scoring_fail(*, session_id: int, error: str) -> TrainingSession:
    session = _locked(session_id)
    return _change_status(session=session, to=Status.FAILED, event="scoring_failed", data={"error": error[:500]})


def session_score(*, session_id: int) -> Score | None:
    """Score an ended session: rubric and metrics, then advice (LLM when a key is set, else rules).

    Idempotent: a scored session is left alone; a session caught mid-scoring (a worker died, the
    task was redelivered) is scored again.
    """
    session = TrainingSession.objects.filter(pk=session_id).select_related("scenario").first()
    if session is None:
        log.warning("training session %s is gone; nothing to score", session_id)
        return None
    if session.status == Status.SCORED:
        return Score.objects.filter(session=session).first()
    if session.status not in (Status.ENDED, Status.SCORING, Status.FAILED):
        log.info("training session %s is %s; not scoring yet", session_id, session.status)
        return None
    if session.status != Status.SCORING:
        session_scoring_start(session_id=session_id)
    try:
        lines = session_lines(session=session)
        spec = scorecard_spec(scorecard=scorecard_for(scenario=session.scenario))
        result = score_transcript(lines=lines, language=session.language, scorecard=spec,
                                  end_phrase=end_phrase_for(session=session))
        if settings.OPENAI_API_KEY:
            by_model, why_not = llm_score(lines=lines, offline=result, scorecard=spec,
                                          product=session.product_description)
            if by_model is not None:
                result = by_model
            else:
                result.fallback_reason = why_not[:300]
        return session_score_save(session_id=session_id, result=result, advice=result.advice)
    except Exception as exc:
        log.exception("training session %s: scoring failed", session_id)
        session_scoring_fail(session_id=session_id, error=f"{type(exc).__name__}: {exc}")
        raise


# --- scorecards ----------------------------------------------------------------------------------


@transaction.atomic
def scorecard_default_ensure() -> Scorecard:
    """The default scorecard, created from the shipped rubric when there is none (idempotent).

    The data migration creates it on a new database; this puts it back where tables were emptied.
    """
    card = Scorecard.objects.filter(is_default=True).first()
    if card is not None:
        return card
    card = Scorecard.objects.create(name=DEFAULT_SCORECARD.name, pass_threshold=DEFAULT_SCORECARD.pass_threshold,
                                    is_default=True)
    order = 0
    for stage in DEFAULT_SCORECARD.stages:
        for check in stage.checks:
            order += 10
            ScorecardCheck.objects.create(scorecard=card, stage=stage.title, label=check.label,
                                          description=check.description, points=check.points, rule=check.rule,
                                          order=order)
    return card
