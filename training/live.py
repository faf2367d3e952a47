"""The parts of a live practice session that the consumer wires together.

- ``build_pipeline``: one ``VoicePipeline`` per session, with the AI customer (``PersonaResponder``)
  as the responder and STT/TTS from ``settings.VOICE``; the scenario's language picks the STT
  language, the TTS voice and the persona's phrases.
- ``SessionRecorder``: the trainee's microphone and the customer's voice mixed on one timeline.
- ``TurnWriter``: an event sink that stores the session's lines (``voice.turns`` assembles them:
  text, timing, latency); behind a ``BackgroundSink``, off the audio path.
- ``EndPhraseSink``: notices the end phrase in a final transcript (fuzzy) and asks to finish.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from config.voice import audio_cache_for_loop, llm_config_from_settings, shared_provider
from dialogs.personas import DEFAULT_PERSONAS, PersonaResponder
from training.scoring import end_phrase_matches, end_phrase_strip
from training.services import session_turn_add
from voice.audio import SAMPLE_RATE, mix
from voice.events import DirectiveEvent, PipelineEvent, UserTranscript
from voice.pipeline import PipelineConfig, VoicePipeline
from voice.turns import TurnAssembler, TurnRecord
from voice.vad import VADConfig

log = logging.getLogger(__name__)

MAX_RECORDING_S = 60 * 60
# Partial transcripts re-run STT on the growing utterance; every this many ms of speech.
PARTIAL_INTERVAL_MS = int(getattr(settings, "TRAINING_PARTIAL_INTERVAL_MS", 1200))
# People pause mid-thought longer than callers answering a bot; a longer silence ends a turn.
END_SILENCE_MS = int(getattr(settings, "TRAINING_END_SILENCE_MS", 700))


CUSTOMER_NOT_HEARD = {
    "ru": "Простите, связь плохая, я вас не расслышал. Скажите, пожалуйста, другими словами?",
    "en": "Sorry, the line is bad and I didn't catch that. Could you put it another way?",
}


@dataclass(frozen=True)
class SessionSetup:
    """What the consumer reads from the database once, so the pipeline needs no ORM."""

    session_id: int
    language: str
    persona: str
    persona_description: str
    difficulty: str
    voice: str
    product_description: str
    end_phrase: str


# --- providers and the pipeline ------------------------------------------------------------------

def persona_for(*, setup: SessionSetup) -> Any:
    """The named persona, or the language's default customer, set to the session's difficulty and language."""
    base = DEFAULT_PERSONAS.get(setup.persona)
    if base is None or base.language != setup.language:
        fallback = "john_en" if setup.language == "en" else "sergey_medium"
        base = DEFAULT_PERSONAS[fallback] if base is None or setup.persona not in DEFAULT_PERSONAS else base
    changes: dict[str, Any] = {"language": setup.language}
    if setup.difficulty in ("easy", "medium", "hard"):
        changes["difficulty"] = setup.difficulty
    if setup.persona_description:
        changes["description"] = setup.persona_description
    return dataclasses.replace(base, **changes)


def responder_for(*, setup: SessionSetup) -> Any:
    return PersonaResponder(
        persona_for(setup=setup), seed=setup.session_id, llm=llm_config_from_settings(),
        product=setup.product_description,
    )


def build_pipeline(*, setup: SessionSetup, stt: Any = None, tts: Any = None, responder: Any = None,
                   config: PipelineConfig | None = None) -> VoicePipeline:
    config = config or PipelineConfig(
        language=setup.language,
        voice=setup.voice,
        bot_speaks_first=True,  # the customer picks up the phone: «Алло?»
        partial_interval_ms=PARTIAL_INTERVAL_MS,
        vad=VADConfig(end_silence_ms=END_SILENCE_MS),
        # the practice customer's own words when recognition fails twice (the defaults are a salesperson's)
        not_heard_phrases=dict(CUSTOMER_NOT_HEARD),
        # the end phrase is a command the trainee must be heard saying: the recogniser expects it
        stt_prompt=f"{setup.end_phrase}." if setup.end_phrase else "",
        history_keeps_unvoiced=True,  # its words are shown when its voice fails: it must remember saying them
    )
    return VoicePipeline(
        stt=stt or shared_provider("stt"),
        tts=tts or shared_provider("tts"),
        responder=responder or responder_for(setup=setup),
        cache=audio_cache_for_loop(),
        config=config,
    )


# --- recording -----------------------------------------------------------------------------------


class SessionRecorder:
    """Both voices on one 16 kHz timeline, placed by arrival time, mixed into one WAV at the end.

    The session's ``voice.session.AudioTap``: ``MediaSession`` hands it the trainee's decoded frames,
    the customer's frames as they are sent, and the clear of a barge-in. The trainee's frames arrive in
    real time; the customer's frames leave paced in real time, so the wall clock places both. A gap (a
    backgrounded tab) becomes silence rather than drift.
    """

    def __init__(self, *, prefix: bytes = b"", clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.prefix = prefix  # an earlier part of the session (before a reconnect)
        self.t0 = clock()
        self._user: list[tuple[int, bytes]] = []
        self._bot: list[tuple[int, bytes]] = []
        self._user_end = 0
        self._bot_end = 0
        self.max_samples = MAX_RECORDING_S * SAMPLE_RATE

    def elapsed_ms(self) -> int:
        return int((self.clock() - self.t0) * 1000) + len(self.prefix) // 2 * 1000 // SAMPLE_RATE

    def _place(self, track: list[tuple[int, bytes]], end: int, pcm16: bytes) -> int:
        samples = len(pcm16) // 2
        now = int((self.clock() - self.t0) * SAMPLE_RATE)
        start = max(end, now - samples)
        if start + samples > self.max_samples or not samples:
            return end
        track.append((start, pcm16[: samples * 2]))
        return start + samples

    # voice.session.AudioTap

    def begin(self, sample_rate: int) -> None:
        if sample_rate != SAMPLE_RATE:  # the browser's socket is 16 kHz PCM16 both ways
            raise ValueError(f"the practice recording is {SAMPLE_RATE} Hz, not {sample_rate}")

    def inbound(self, pcm16: bytes) -> None:
        self._user_end = self._place(self._user, self._user_end, pcm16)

    def outbound(self, pcm16: bytes) -> None:
        self._bot_end = self._place(self._bot, max(self._bot_end, int((self.clock() - self.t0) * SAMPLE_RATE)), pcm16)

    def cleared(self) -> None:
        """Playback was cleared (barge-in): audio sent ahead of real time was never heard."""
        now = int((self.clock() - self.t0) * SAMPLE_RATE)
        kept = []
        for start, pcm in self._bot:
            if start >= now:
                continue
            if start + len(pcm) // 2 > now:
                pcm = pcm[: (now - start) * 2]
            kept.append((start, pcm))
        self._bot = kept
        self._bot_end = min(self._bot_end, now)

    @property
    def empty(self) -> bool:
        return not self._user and not self._bot

    def mixed_pcm16(self) -> bytes:
        return self.prefix + mix([*self._user, *self._bot], max(self._user_end, self._bot_end))


# --- events -> stored turns ----------------------------------------------------------------------


class TurnWriter:
    """An event sink that stores each line of the session as it completes (``voice.turns.TurnAssembler``).

    The consumer wraps it in ``voice.events.BackgroundSink``, so the database writes run off the audio
    path. The trainee's utterance is written together with the customer's answer to it (or on
    ``aclose``), because the latency figures arrive with the answer. The end phrase is a command, not
    part of the conversation: it is cut out of the trainee's lines (what was said before it is kept).
    """

    def __init__(self, *, session_id: int, clock_ms: Callable[[], int], end_phrase: str = ""):
        self.session_id = session_id
        self.clock_ms = clock_ms
        self.end_phrase = end_phrase
        # the customer's ``meta`` labels its own line; a line its voice failed on is kept (the trainee read it)
        self.turns = TurnAssembler(ms_at=self._ms_at, verdict_on_user=False, keep_unvoiced=True)
        self.written = 0

    def _ms_at(self, at: float) -> int:
        # on the session clock when the event happened, not when the background queue reached it
        return self.clock_ms() - max(0, int((time.time() - at) * 1000))

    async def emit(self, event: PipelineEvent) -> None:
        if isinstance(event, UserTranscript) and event.final and self.end_phrase:
            event = dataclasses.replace(event, text=end_phrase_strip(text=event.text, phrase=self.end_phrase))
        elif isinstance(event, DirectiveEvent) and event.data.get("speaker") == "trainee":
            return  # the customer's verdict on the trainee's words (they asked to end): not a line's label
        for record in self.turns.feed(event):
            await self._write(record)

    async def aclose(self) -> None:
        """Write the utterances still waiting for an answer (the session ended or dropped)."""
        for record in self.turns.flush():
            await self._write(record)

    async def _write(self, record: TurnRecord) -> None:
        await database_sync_to_async(session_turn_add)(session_id=self.session_id, turn=record)
        self.written += 1


class EndPhraseSink:
    """Calls ``on_end`` (once) when a final transcript contains the end phrase."""

    def __init__(self, *, phrase: str, on_end: Callable[[], Awaitable[None]]):
        self.phrase = phrase
        self.on_end = on_end
        self.fired = False
        self._task: asyncio.Task | None = None

    def matches(self, text: str) -> bool:
        return end_phrase_matches(text=text, phrase=self.phrase)

    async def emit(self, event: PipelineEvent) -> None:
        if self.fired or not isinstance(event, UserTranscript) or not event.final:
            return
        if self.matches(event.text):
            self.fired = True
            # not awaited here: finishing closes the pipeline, which cancels the task emitting this event
            self._task = asyncio.create_task(self.on_end(), name="training-end-phrase")
