"""Pipeline events -> the conversation's turns: one assembler for a call and for a practice session.

``TurnAssembler.feed`` takes the pipeline's events in order and returns the lines that are complete,
as plain ``TurnRecord``s (text, timing on the conversation's clock, the responder's verdict, the
turn's latency figures). It stores nothing: the call's and the practice session's sinks write the
records to their own tables (``calls.consumers.CallEventSink``, ``training.live.TurnWriter``).

- A person's line waits for the answer of its turn (``BotTurnFinished``): the latency figures, the
  end of the utterance and the responder's verdict on it arrive before that. A line nobody answered
  (the bot was cut off, an operator took the call over) is given out before the next one, or at the
  end; a line the pipeline carried into the next utterance (it is the start of the next transcript)
  is not given twice.
- The responder's ``meta`` directive says what it made of the turn. A salesperson judges the
  person's line (``verdict_on_user``): its intent goes on that line, and on the answer as the intent
  it answered. A practice customer labels its own line: the intent goes on the answer only.
- The stage holds until a later ``meta`` or ``stage`` directive changes it.
- An answer the TTS could not voice at all (``BotTurnFinished.voiced`` False) is a line of what was
  heard, so none, by default. With ``keep_unvoiced`` (the trainer: the trainee must read what the
  customer said) it is the responder's words, marked ``voiced=False``; an interrupted answer always
  keeps only what was played.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from voice.events import (
    BotTurnFinished,
    ConversationEnded,
    DirectiveEvent,
    PipelineEvent,
    TurnMetrics,
    UserSpeechStarted,
    UserTranscript,
)

# a transcript of only these is noise (or what is left once a command was cut out of it)
_NOT_WORDS = " ,.!?;:-—"


class Speaker(StrEnum):
    USER = "user"
    BOT = "bot"


@dataclass(frozen=True)
class TurnRecord:
    """One line of a conversation; times are milliseconds from its start, ``None`` where unknown."""

    speaker: str
    text: str
    started_ms: int | None = None
    ended_ms: int | None = None
    interrupted: bool = False
    stage: str = ""
    intent: str = ""
    objection: str = ""
    eou_ms: float | None = None
    stt_ms: float | None = None
    ttft_ms: float | None = None
    tts_ttfb_ms: float | None = None
    voice_to_voice_ms: float | None = None
    stt_queue_wait_ms: float | None = None
    stt_missed: bool = False
    voiced: bool = True  # False: the bot's words that speech synthesis failed on (nobody heard them)


@dataclass
class _Open:
    """What is known of one turn (the person's line and the bot's answer to it) until both are out."""

    user_text: str = ""
    user_started_ms: int | None = None
    user_final_ms: int | None = None
    metrics: TurnMetrics | None = None
    bot_started_ms: int | None = None
    intent: str = ""
    objection: str = ""


class TurnAssembler:
    """``ms_at`` places an event's wall-clock time (``PipelineEvent.at``) on the conversation's clock."""

    def __init__(self, *, ms_at: Callable[[float], int], verdict_on_user: bool, keep_unvoiced: bool = False) -> None:
        self.ms_at = ms_at
        self.verdict_on_user = verdict_on_user
        self.keep_unvoiced = keep_unvoiced
        self.stage = ""
        self._open: dict[int, _Open] = {}
        self._speech_started_ms: int | None = None

    def feed(self, event: PipelineEvent) -> list[TurnRecord]:
        """The lines ``event`` completes, in the order they were said."""
        at = self.ms_at(event.at)
        if isinstance(event, UserSpeechStarted):
            self._speech_started_ms = at
        elif isinstance(event, UserTranscript) and event.final:
            text = event.text.strip()
            if not text.strip(_NOT_WORDS):
                return []
            out = self._unanswered_before(event.turn_index, carried_into=text)
            turn = self._turn(event.turn_index)
            turn.user_text = text
            turn.user_started_ms = self._speech_started_ms if self._speech_started_ms is not None else at
            turn.user_final_ms = at
            return out
        elif isinstance(event, TurnMetrics):
            turn = self._turn(event.turn_index)
            turn.metrics = event
            turn.bot_started_ms = at
        elif isinstance(event, DirectiveEvent) and event.kind in ("meta", "stage"):
            self._verdict(event)
        elif isinstance(event, BotTurnFinished):
            turn = self._open.pop(event.turn_index, None) or _Open()
            out = self._unanswered_before(event.turn_index)
            out += self._user_line(turn)
            text, voiced = event.text, True
            if self.keep_unvoiced and not event.voiced and not event.interrupted and event.full_text.strip():
                text, voiced = event.full_text, False
            if text.strip():
                started = turn.bot_started_ms
                if started is None:
                    started = self.ms_at(event.at - event.audio_ms / 1000)
                out.append(_record(Speaker.BOT, text, started_ms=started, ended_ms=at,
                                   interrupted=event.interrupted, stage=self.stage, intent=turn.intent,
                                   objection=turn.objection, metrics=turn.metrics, voiced=voiced))
            return out
        elif isinstance(event, ConversationEnded):
            return self.flush()
        return []

    def flush(self) -> list[TurnRecord]:
        """The lines still waiting for an answer (the conversation ended or dropped)."""
        out: list[TurnRecord] = []
        for index in sorted(self._open):
            out += self._user_line(self._open.pop(index))
        return out

    def _turn(self, index: int) -> _Open:
        return self._open.setdefault(index, _Open())

    def _verdict(self, event: DirectiveEvent) -> None:
        data = event.data
        if data.get("stage"):
            self.stage = str(data["stage"])
        if event.kind != "meta":
            return
        turn = self._turn(event.turn_index)
        intent = str(data.get("intent") or "")
        if intent:
            turn.intent = intent
        # a salesperson names the objection it handled; a practice customer's objection is its intent
        if "objection" in data:
            turn.objection = str(data.get("objection") or "")
        elif intent.startswith("objection"):
            turn.objection = intent

    def _unanswered_before(self, index: int, *, carried_into: str = "") -> list[TurnRecord]:
        """Lines of earlier turns that got no answer; one the pipeline carried into ``carried_into`` is dropped."""
        out: list[TurnRecord] = []
        for earlier in sorted(i for i in self._open if i < index):
            turn = self._open[earlier]
            if not turn.user_text:
                continue
            if not (carried_into and carried_into.startswith(turn.user_text)):
                out += self._user_line(turn)
            del self._open[earlier]
        return out

    def _user_line(self, turn: _Open) -> list[TurnRecord]:
        if not turn.user_text:
            return []
        ended = turn.user_final_ms
        m = turn.metrics
        if ended is not None and m is not None:
            # the final transcript comes after the end-of-utterance silence and the STT time
            ended -= int((m.eou_ms or 0) + (m.stt_ms or 0))
        record = _record(Speaker.USER, turn.user_text, started_ms=turn.user_started_ms, ended_ms=ended,
                         intent=turn.intent if self.verdict_on_user else "")
        turn.user_text = ""
        return [record]


def _record(speaker: Speaker, text: str, *, started_ms: int | None, ended_ms: int | None, interrupted: bool = False,
            stage: str = "", intent: str = "", objection: str = "", metrics: TurnMetrics | None = None,
            voiced: bool = True) -> TurnRecord:
    if started_ms is not None and ended_ms is not None and ended_ms < started_ms:
        ended_ms = started_ms
    m = metrics
    return TurnRecord(
        speaker=speaker, text=text, started_ms=started_ms, ended_ms=ended_ms, interrupted=interrupted,
        stage=stage, intent=intent, objection=objection,
        eou_ms=m.eou_ms if m else None, stt_ms=m.stt_ms if m else None, ttft_ms=m.ttft_ms if m else None,
        tts_ttfb_ms=m.tts_ttfb_ms if m else None, voice_to_voice_ms=m.voice_to_voice_ms if m else None,
        stt_queue_wait_ms=m.stt_queue_wait_ms if m else None, stt_missed=bool(m and m.stt_missed), voiced=voiced,
    )
