"""The asyncio turn pipeline: 20 ms frames in, VAD -> STT -> Responder -> TTS -> paced frames out.

One ``VoicePipeline`` serves one conversation. The transport (``voice.session.MediaSession`` or a
bench client) feeds it PCM16 16 kHz frames with ``feed()``, acknowledges marks with ``on_mark()``
and receives audio, marks, clears and the hang-up through an ``AudioOutput``. Everything the
pipeline does is reported through one ``EventSink``.

Design notes:

- ``feed()`` only runs the VAD (microseconds) and starts tasks; STT, the responder and TTS run in
  tasks so the receive loop, and other calls on the same event loop, never wait on them.
- Output goes through one pacer task that releases a frame every 20 ms against absolute monotonic
  deadlines (no drift), keeping ``lead_ms`` of audio queued at the far end so it never runs dry. Its
  queue carries typed frames: ``AudioFrames`` (a batch of a sentence's 20 ms frames, as the TTS or the
  cache delivered them), ``MarkFrame`` (a sentence is all queued) and ``TurnDone`` (the turn is all
  queued), each naming its turn.
- Barge-in clears the far end first (the latency a caller hears), then cancels the responder and
  TTS, and records only the text that was played: sentences whose mark came back (or, without
  marks, whose audio had time to play) plus the words of the current sentence in proportion to
  the time it played.
- Any provider failure becomes an ``ErrorEvent`` and the configured fallback phrase; every wait on
  a provider is bounded. A turn whose answer the TTS could not voice at all ends with
  ``BotTurnFinished.voiced`` False (its words stay in ``full_text``).
- Late speech recognition degrades instead of looping: a transcript later than ``stt_timeout_s``
  gets one holding phrase («Секунду…») and is used when it comes (up to ``stt_give_up_s``); words
  said meanwhile are carried, each utterance transcribed on its own; a turn not recognised at all
  asks to repeat once, and a second miss in a row says ``not_heard`` instead. Fixed phrases are
  emitted as ``BotTextChunk`` like any line.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from integrations.errors import ProviderError, ProviderTimeout
from voice.audio import FRAME_BYTES, FRAME_MS, SAMPLE_RATE, FrameSplitter, frame_bytes
from voice.cache import AudioCache
from voice.events import (
    BotTextChunk,
    BotTurnFinished,
    ConversationEnded,
    ConversationEndReason,
    DirectiveEvent,
    ErrorEvent,
    EventSink,
    FanOutSink,
    Interruption,
    MindState,
    PipelineEvent,
    StateChanged,
    TurnMetrics,
    UserSpeechStarted,
    UserTranscript,
)
from voice.flights import SentenceFlight, SentenceFlights, shared_flights
from voice.responder import ConversationState, Directive, Responder
from voice.stt.base import STTProvider, Transcript
from voice.text import SentenceSplitter
from voice.tts.base import TTSProvider
from voice.vad import EndOfUtterance, Endpointer, SpeculativeEnd, SpeechResumed, SpeechStart, VADConfig

log = logging.getLogger(__name__)
CLOSE_WAIT_S = 2.0  # how long close() waits for the conversation's cancelled tasks

# past the estimated end of playback by this much, audio has been heard even if its mark echo is late
PLAYED_MARGIN_S = 0.25

DEFAULT_FALLBACKS = {
    "ru": "Извините, повторите, пожалуйста.",
    "en": "Sorry, could you say that again, please?",
}
# Said once when a transcript is late (the transcription goes on and its text is used when it comes).
DEFAULT_HOLDING = {"ru": "Секунду…", "en": "One moment…"}
# After a second miss in a row the bot stops asking to repeat and changes course.
DEFAULT_NOT_HEARD = {
    "ru": "Простите, вас плохо слышно. Давайте я перезвоню чуть позже или пришлю информацию сообщением?",
    "en": "Sorry, the line is bad. Shall I call you back a little later, or send the details in a message?",
}


@dataclass
class CallLimits:
    """Limits of one conversation (seed 004: at most 5 minutes, at most 3 silences), each ended politely.

    ``silence_s``: how long the line may stay quiet (nobody speaks, the bot has finished) before the bot
    asks ``silence_prompt``; the ``max_silences``-th silence ends the call with ``silence_end``.
    ``max_duration_s``: past it, the bot says ``duration_end`` at the next pause and hangs up.
    Times are in real seconds (scaled by the pipeline's ``pace_speed`` in rehearsals).
    """

    max_duration_s: float | None = None
    silence_s: float | None = None
    max_silences: int = 3
    silence_prompt: str = ""
    silence_end: str = ""
    duration_end: str = ""


@dataclass
class PipelineConfig:
    language: str = "ru"
    voice: str = ""
    # words the recogniser should expect (the script's names, products, cities; the trainer's end phrase)
    stt_prompt: str = ""
    # the rate fed to ``feed()`` (the VAD and STT run on it): a telephony stream's 8 kHz is kept as is,
    # so no frame is resampled on the way in; ``MediaSession`` sets it from the stream's format
    input_rate: int = SAMPLE_RATE
    vad: VADConfig = field(default_factory=VADConfig)
    bot_speaks_first: bool = False
    barge_in: bool = True
    barge_in_min_speech_ms: int = 0  # extra voiced time past the VAD's speech start; 0 = at speech start
    speculative_stt: bool = True
    speculative_max_work_ratio: float = 1.0  # no speculative STT when the STT is slower than this (s per s of audio)
    partial_interval_ms: int = 0  # periodic STT while the user speaks; 0 = off (only for fast STT)
    # a transcript later than this is late: the holding phrase is said and the transcription goes on
    stt_timeout_s: float = 3.0
    stt_give_up_s: float = 30.0  # the whole wait for one transcript (queue + work); then it is a miss
    responder_first_chunk_timeout_s: float = 8.0
    responder_chunk_timeout_s: float = 8.0
    tts_timeout_s: float = 8.0  # to the first chunk and between chunks of one sentence
    tts_lookahead_ms: int = 1500  # synthesise the next sentence only when less audio than this is queued
    fallback_phrases: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_FALLBACKS))
    holding_phrases: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_HOLDING))
    not_heard_phrases: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_NOT_HEARD))
    lead_ms: int = 80  # audio kept queued at the far end ahead of real time
    pace_speed: float = 1.0  # 1 = real time; >1 faster (tests); 0 = no pacing at all
    mark_grace_ms: int = 1500  # how long past the estimated playback end we wait for the last mark
    limits: CallLimits | None = None
    cache_writes: bool = True  # store synthesised sentences, so repeated phrases start at once
    # a turn the TTS could not voice at all stays in the responder's history with its words: the far end read
    # them (the trainer shows them as text); on a call nobody heard them, so they are left out
    history_keeps_unvoiced: bool = False
    cache_ttl_s: int | None = None
    sentence_min_chars: int = 12
    sentence_max_chars: int = 220

    def fallback(self, language: str) -> str:
        return self.fallback_phrases.get(language) or self.fallback_phrases.get("en") or ""

    def phrase(self, kind: str, language: str) -> str:
        """A service phrase: ``fallback`` (repeat, please), ``holding`` (one moment) or ``not_heard``."""
        phrases = {"fallback": self.fallback_phrases, "holding": self.holding_phrases,
                   "not_heard": self.not_heard_phrases}[kind]
        return phrases.get(language) or phrases.get("en") or ""

    def use_script_phrases(self, script_map: dict | None) -> PipelineConfig:
        """Take the script's ``phrases.holding`` / ``phrases.not_heard`` (first of each) for its language."""
        phrases = (script_map or {}).get("phrases") or {}
        for kind, target in (("holding", self.holding_phrases), ("not_heard", self.not_heard_phrases)):
            value = phrases.get(kind)
            text = value[0] if isinstance(value, list) and value else value
            if isinstance(text, str) and text.strip():
                target[self.language] = text.strip()
        return self


# --- language switching (issue 14, auto-language; the policy lives in calls.language) ----------------


@dataclass
class LanguageSwitch:
    """The call goes on in ``language``: applied between turns, before the responder answers."""

    language: str
    responder: Responder | None = None  # the script (and classifier) of that language
    tts: TTSProvider | None = None  # a TTS that speaks it
    voice: str | None = None  # its voice on that TTS ("" = the TTS's own voice for the language)
    stt_prompt: str | None = None  # that script's words as recognition hints
    script_map: dict | None = None  # its «holding» / «not heard» phrases


class LanguageWatch(Protocol):
    """Decides the language a call runs in from what the recogniser heard (``calls.language.LanguageWatch``)."""

    def stt_language(self, current: str) -> str | None:
        """The hint for the next transcription; None lets the recogniser detect the language."""

    async def heard(self, transcript: Transcript, *, current: str, state: ConversationState) -> LanguageSwitch | None:
        """A caller's turn was recognised: a switch to apply before answering it, or None."""


# --- end language switching ------------------------------------------------------------------------


class FrameEncoder(Protocol):
    """One sentence's PCM16 16 kHz audio in, 20 ms output frames out (``flush`` pads the last one)."""

    def push(self, pcm16: bytes) -> list: ...

    def flush(self) -> list: ...


@runtime_checkable
class AudioOutput(Protocol):
    """What the pipeline needs from a transport. ``supports_marks``: the far end echoes marks once played.

    A transport may also offer ``frame_encoder()`` (a new ``FrameEncoder`` per sentence) and
    ``send_frame(frame)``: the pipeline then encodes each sentence's audio in bulk as it is queued
    (resampling and G.711 per chunk, not per frame) and the pacer only sends what is ready. Without
    them, the pacer hands 20 ms PCM16 16 kHz frames to ``send_audio``.
    """

    supports_marks: bool

    async def send_audio(self, pcm16: bytes) -> None: ...

    async def send_mark(self, name: str) -> None: ...

    async def clear(self) -> None: ...

    async def end(self) -> None: ...


@dataclass
class _Sentence:
    text: str
    mark: str
    play_start: float | None = None  # monotonic estimate of when the far end starts playing it
    play_end: float | None = None
    complete: bool = False  # every frame of it has been sent
    acked: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class _BotTurn:
    index: int
    audio: bytes = b""  # the user's utterance (kept so a turn cancelled before speaking can carry it)
    user_text: str | None = None
    last_voiced_at: float | None = None
    metrics: TurnMetrics = field(default_factory=TurnMetrics)
    sentences: list[_Sentence] = field(default_factory=list)
    full_text: str = ""
    first_audio_at: float | None = None
    play_end: float = 0.0
    audio_frames: int = 0
    cancelled: bool = False
    end_requested: bool = False
    transfer: dict | None = None  # the responder handed the call to a person: where to (a ``transfer`` directive)
    sent_all: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task | None = None
    history_added: bool = False
    unvoiced: bool = False  # the TTS failed before any of the answer's words were out (``BotTurnFinished.voiced``)
    # the user's words of this turn, in order: texts carried from a cut-off turn and STT tasks (each
    # utterance transcribed on its own, never fused into a growing chunk)
    stt_pending: list = field(default_factory=list)


# --- what the pacer queue carries (frames, as Pipecat names them) -----------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class AudioFrames:
    """20 ms frames of ``sentence`` for the wire, in order (each what the output's encoder made of it).

    One queue item per batch the flight delivers (a cached sentence is one batch), not one per frame: the
    calls of a campaign greet together, and their sentences' frames were tens of thousands of queue puts in
    the same moment, a stall of every call on the process.
    """

    turn: _BotTurn
    frames: Sequence[object]
    sentence: _Sentence


@dataclass(frozen=True, slots=True, eq=False)
class MarkFrame:
    """Every frame of ``sentence`` is queued before this: the far end echoes the mark once it has played them."""

    turn: _BotTurn
    sentence: _Sentence


@dataclass(frozen=True, slots=True, eq=False)
class TurnDone:
    """Everything of ``turn`` is queued before this: once the pacer reaches it, the turn is all sent."""

    turn: _BotTurn


PacerFrame = AudioFrames | MarkFrame | TurnDone


class VoicePipeline:
    def __init__(
        self,
        *,
        stt: STTProvider,
        tts: TTSProvider,
        responder: Responder,
        output: AudioOutput | None = None,
        sink: EventSink | None = None,
        cache: AudioCache | None = None,
        config: PipelineConfig | None = None,
        state: ConversationState | None = None,
        clock: Callable[[], float] = time.monotonic,
        language_watch: LanguageWatch | None = None,
    ):
        self.stt = stt
        self.language_watch = language_watch  # campaigns in «auto»: may switch the call's language
        self.tts = tts
        self.responder = responder
        self.output = output
        self.sink = FanOutSink([sink] if sink is not None else [])
        self.cache = cache
        # sentences being synthesised now: shared with every conversation on the same audio cache
        self._flights = shared_flights(cache) if cache is not None else SentenceFlights()
        self._wire_format: tuple = ("pcm16", SAMPLE_RATE)
        self.config = config or PipelineConfig()
        self.state = state or ConversationState(language=self.config.language)
        self.clock = clock
        self.mind = MindState.IDLE
        self.endpointer = Endpointer(self.config.vad, sample_rate=self.config.input_rate)
        self._splitter = FrameSplitter(frame_bytes(self.config.input_rate))
        self._encoder: Callable[[], FrameEncoder] = lambda: FrameSplitter(FRAME_BYTES)
        self._send_frame: Callable[[object], Awaitable[None]] | None = None
        # (stream ms, monotonic arrival) of recent frames, to date the last voiced sample in real time
        self._arrivals: collections.deque[tuple[float, float]] = collections.deque(
            maxlen=max(200, (self.config.vad.end_silence_ms + 2000) // FRAME_MS)
        )
        self._out_q: asyncio.Queue[PacerFrame] = asyncio.Queue()
        self._queued_frames = 0  # audio frames in the pacer's queue and its current batch, not yet sent
        self._pacer_task: asyncio.Task | None = None
        self._play_clock = 0.0
        speed = self.config.pace_speed
        self._frame_s = FRAME_MS / 1000 / speed if speed > 0 else 0.0
        self._lead_s = self.config.lead_ms / 1000 / speed if speed > 0 else 0.0
        self._transport_failures = 0  # sends the output refused (see the pacer)
        self._turn: _BotTurn | None = None
        self._marks: dict[str, _Sentence] = {}
        self._speculative: asyncio.Task | None = None
        self._partial: asyncio.Task | None = None
        self._last_partial_ms = 0.0
        self._speech_start_ms: float | None = None
        self._barge_in_pending = False
        self._carry: list[str | asyncio.Task] = []  # unanswered words of a cut-off turn, for the next one
        self._stt_tasks: set[asyncio.Task] = set()
        # when each transcription was started (weak: a dropped guess leaves nothing behind)
        self._stt_started: weakref.WeakKeyDictionary[asyncio.Task, float] = weakref.WeakKeyDictionary()
        self._stt_misses = 0  # turns in a row whose words could not be recognised at all
        self._held_last = False  # the previous turn already said the holding phrase
        self._background: set[asyncio.Task] = set()
        self._watchdog_task: asyncio.Task | None = None
        self._silences = 0
        # why the pipeline ended the conversation (None: it has not, or the far end did)
        self.end_reason: ConversationEndReason | None = None
        self.transfer: dict | None = None  # set when the conversation ended by handing the call to a person
        self.held = False  # an answering machine answered: the bot neither talks nor answers (``hold``)
        self._held_stop: asyncio.Task | None = None
        self.started = False
        self.closed = False
        self.ended = False
        self.bot_muted = False  # an operator has taken the call over (calls.listen): the bot neither answers nor speaks

    # --- lifecycle --------------------------------------------------------------------------------

    def add_sink(self, sink: EventSink) -> None:
        self.sink.add(sink)

    def set_input_rate(self, sample_rate: int) -> None:
        """Feed audio at ``sample_rate`` (8 or 16 kHz) instead; only before ``start()``."""
        if self.started:
            raise RuntimeError("the input rate is fixed once the pipeline has started")
        self.config.input_rate = sample_rate
        self.endpointer = Endpointer(self.config.vad, sample_rate=sample_rate)
        self._splitter = FrameSplitter(frame_bytes(sample_rate))

    async def start(self) -> None:
        """Start the pacer; speak the opening line when the bot speaks first."""
        if self.started:
            return
        if self.output is None:
            raise RuntimeError("VoicePipeline needs an output before start()")
        self.started = True
        if callable(getattr(self.output, "frame_encoder", None)) and callable(getattr(self.output, "send_frame", None)):
            self._encoder, self._send_frame = self.output.frame_encoder, self.output.send_frame
            # frames are shared between conversations only when their wire formats say they are the same bytes
            self._wire_format = getattr(self.output, "wire_format", None) or ("output", id(self.output))
        else:
            self._encoder, self._send_frame = (lambda: FrameSplitter(FRAME_BYTES)), self.output.send_audio
        self._play_clock = self.clock()
        self._pacer_task = asyncio.create_task(self._pacer(), name="voice-pacer")
        if self.config.limits is not None:
            self._watchdog_task = asyncio.create_task(self._watchdog(self.config.limits), name="voice-limits")
        await self._set_mind(MindState.LISTENING)
        if self.config.bot_speaks_first:
            turn = self._new_turn()
            turn.task = asyncio.create_task(self._bot_turn(turn, user_text=""), name="voice-opening")

    async def close(self, reason: ConversationEndReason = ConversationEndReason.CLOSED) -> None:
        """Stop everything (the far end hung up or the socket closed). Safe to call twice."""
        if self.closed:
            return
        self.closed = True
        turn = self._turn
        if turn is not None:
            self._cancel_turn(turn)
            self._turn = None
        current = asyncio.current_task()
        stopping = [task for task in (self._speculative, self._partial, self._pacer_task, self._watchdog_task,
                                      *self._background, *self._stt_tasks)
                    if task is not None and not task.done() and task is not current]
        for task in stopping:
            task.cancel()
        if stopping:
            # when close() returns nothing of this conversation runs on (a provider that ignores
            # cancellation is not waited for beyond the bound, but it is named in the log)
            _, pending = await asyncio.wait(stopping, timeout=CLOSE_WAIT_S)
            if pending:
                log.warning("pipeline closed with %d task(s) still stopping: %s", len(pending),
                            sorted(t.get_name() for t in pending))
        if not self.ended:
            self.ended = True
            self.state.ended = True
            await self._emit(ConversationEnded(reason=reason))
        await self._set_mind(MindState.IDLE)

    # --- input ------------------------------------------------------------------------------------

    async def feed(self, pcm16: bytes) -> None:
        """PCM16 mono 16 kHz audio in any chunk size; cut into 20 ms frames here."""
        if self.closed or self.ended or self.bot_muted:
            return
        for frame in self._splitter.push(pcm16):
            await self._feed_frame(frame)

    async def _feed_frame(self, frame: bytes) -> None:
        events = self.endpointer.process(frame)
        now = self.clock()
        self._arrivals.append((self.endpointer.now_ms, now))
        for event in events:
            if isinstance(event, SpeechStart):
                await self._on_speech_start(event)
            elif isinstance(event, SpeculativeEnd):
                self._on_speculative_end(event)
            elif isinstance(event, SpeechResumed):
                self._drop_speculative()
            elif isinstance(event, EndOfUtterance):
                await self._on_end_of_utterance(event, now)
        if self.endpointer.in_speech:
            if self._barge_in_pending and self._speech_start_ms is not None:
                if self.endpointer.now_ms - self._speech_start_ms >= self.config.barge_in_min_speech_ms:
                    self._barge_in_pending = False
                    await self.barge_in()
            self._maybe_partial()

    def on_mark(self, name: str) -> None:
        """The far end played everything up to mark ``name``."""
        sentence = self._marks.pop(name, None)
        if sentence is not None:
            sentence.acked.set()

    async def _on_speech_start(self, event: SpeechStart) -> None:
        self._silences = 0  # the caller is there: silences count anew
        self._speech_start_ms = event.at_ms
        self._last_partial_ms = self.endpointer.now_ms
        await self._emit(UserSpeechStarted())
        if self._turn is not None and self.config.barge_in:
            self._barge_in_pending = True
            if self.endpointer.now_ms - event.at_ms >= self.config.barge_in_min_speech_ms:
                self._barge_in_pending = False
                await self.barge_in()
        if self._turn is None:
            await self._set_mind(MindState.LISTENING)

    def _on_speculative_end(self, event: SpeculativeEnd) -> None:
        if not self.config.speculative_stt:
            return
        self._drop_speculative()
        if self._stt_busy() or self._stt_too_slow_to_guess():
            return  # a guess that may be thrown away would only delay real turns
        self._speculative = self._start_stt(event.audio, name="voice-stt-speculative")
        self._speculative.add_done_callback(self._hint_from_task)

    def _stt_busy(self) -> bool:
        admission = getattr(self.stt, "admission", None)
        return admission is not None and admission.running >= admission.workers

    def _stt_too_slow_to_guess(self) -> bool:
        """A speculative transcription saves the rest of the end silence (~300 ms); a dropped one (the person
        went on) keeps a worker busy for its whole run, and the real transcription waits behind it. When
        the STT needs more than ``speculative_max_work_ratio`` seconds per second of audio (a loaded or
        slow machine), a miss costs seconds: no guessing then."""
        admission = getattr(self.stt, "admission", None)
        rate = admission.measured_rate if admission is not None else None
        return rate is not None and rate > self.config.speculative_max_work_ratio

    def _drop_speculative(self) -> None:
        if self._speculative is not None and not self._speculative.done():
            self._speculative.cancel()
        self._speculative = None

    def _hint_from_task(self, task: asyncio.Task) -> None:
        """A transcript that reads like a finished sentence shortens the end-of-utterance silence."""
        if task.cancelled() or task.exception() is not None:
            return
        if self.endpointer.in_speech:
            self.endpointer.hint(task.result().text)

    def _maybe_partial(self) -> None:
        interval = self.config.partial_interval_ms
        if interval <= 0 or (self._partial is not None and not self._partial.done()):
            return
        if self._stt_busy():
            return  # the STT is busy with final transcripts (its own or other calls'): no partials now
        if self.endpointer.now_ms - self._last_partial_ms < interval:
            return
        self._last_partial_ms = self.endpointer.now_ms
        self._partial = asyncio.create_task(self._run_partial(self.endpointer.utterance), name="voice-stt-partial")

    async def _run_partial(self, audio: bytes) -> None:
        try:
            transcript = await self._transcribe(audio)
        except Exception as exc:  # a failed partial costs nothing: the final transcription still runs
            log.debug("partial transcription failed: %s", exc)
            return
        if transcript.text and self.endpointer.in_speech:
            self.endpointer.hint(transcript.text)
            await self._emit(UserTranscript(text=transcript.text, final=False, turn_index=self.state.turn_index))

    async def _on_end_of_utterance(self, event: EndOfUtterance, decided_at: float) -> None:
        if self.held:
            return  # a machine's greeting is not a line to answer
        self._barge_in_pending = False
        self._speech_start_ms = None
        if self._partial is not None and not self._partial.done():
            self._partial.cancel()
        speculative, self._speculative = self._speculative, None
        stt = speculative if speculative is not None else self._start_stt(event.audio)
        if self._turn is not None:
            # a turn that was not interrupted (barge-in off) finishes first; these words join the next turn
            self._carry.append(stt)
            return
        turn = self._new_turn()
        turn.audio = event.audio
        turn.stt_pending, self._carry = [*self._carry, stt], []
        turn.metrics.speculative_stt = speculative is not None
        turn.last_voiced_at = self._arrival_of(event.last_voiced_ms)
        turn.metrics.eou_ms = _ms(decided_at - turn.last_voiced_at) if turn.last_voiced_at is not None else None
        stt_started = self._stt_started.pop(stt, None)
        if stt_started is not None and turn.last_voiced_at is not None:
            # end of speech -> start of the transcription used: the speculative silence, or the EOU
            turn.metrics.stt_start_ms = _ms(stt_started - turn.last_voiced_at)
        turn.task = asyncio.create_task(self._user_turn(turn), name="voice-turn")

    def _arrival_of(self, stream_ms: float) -> float | None:
        for at_ms, arrived in reversed(self._arrivals):
            if at_ms <= stream_ms:
                return arrived
        return self._arrivals[0][1] if self._arrivals else None

    # --- a turn -----------------------------------------------------------------------------------

    def _new_turn(self) -> _BotTurn:
        turn = _BotTurn(index=self.state.turn_index)
        turn.metrics.turn_index = turn.index
        self._turn = turn
        return turn

    async def _transcribe(self, audio: bytes) -> Transcript:
        # the whole wait (admission queue + work) is bounded, but well past stt_timeout_s: a late
        # transcript is still the person's words, and the turn uses it when it comes
        async with asyncio.timeout(self.config.stt_give_up_s):
            language = (self.language_watch.stt_language(self.state.language) if self.language_watch is not None
                        else self.state.language)
            return await self.stt.transcribe(audio, sample_rate=self.config.input_rate, language=language,
                                             prompt=self.config.stt_prompt or None)

    def _start_stt(self, audio: bytes, *, name: str = "voice-stt") -> asyncio.Task:
        """A transcription that outlives the turn waiting on it (a barge-in carries it to the next turn)."""
        task = asyncio.create_task(self._transcribe(audio), name=name)
        self._stt_started[task] = self.clock()
        self._stt_tasks.add(task)
        task.add_done_callback(self._stt_tasks.discard)
        return task

    async def _user_turn(self, turn: _BotTurn) -> None:
        await self._set_mind(MindState.ANALYZING_SPEECH)
        started = self.clock()
        tasks = [p for p in turn.stt_pending if isinstance(p, asyncio.Task)]
        hold: asyncio.Task | None = None
        try:
            if tasks:
                # asyncio.wait never cancels what it waits on: a cancelled turn leaves the transcriptions running
                _, late = await asyncio.wait(tasks, timeout=self.config.stt_timeout_s)
                if late:
                    turn.metrics.stt_late = True
                    if not self._held_last:
                        hold = await self._say_holding(turn)
                    await asyncio.wait(tasks)  # each is bounded by stt_give_up_s
            self._held_last = hold is not None
            turn.metrics.stt_ms = _ms(self.clock() - started)
            if hold is not None:
                await hold  # its frames go out before anything else of this turn
        except asyncio.CancelledError:
            if hold is not None:
                hold.cancel()
            raise
        texts: list[str] = []
        heard: list[Transcript] = []
        failures: list[BaseException] = []
        for item in turn.stt_pending:
            if isinstance(item, str):
                texts.append(item)
            elif item.cancelled():
                failures.append(ProviderTimeout("transcription cancelled", provider=self.stt.name))
            elif item.exception() is not None:
                failures.append(item.exception())
            else:
                transcript: Transcript = item.result()
                if item is tasks[-1]:
                    turn.metrics.stt_queue_wait_ms = round(transcript.queue_wait_ms, 2)
                    turn.metrics.stt_work_ms = round(transcript.elapsed_ms, 2)
                if transcript.text.strip():
                    texts.append(transcript.text.strip())
                    heard.append(transcript)
        for exc in failures:
            await self._provider_error(exc, stage="stt", provider=self.stt.name)
        text = " ".join(texts)
        if failures and not text:
            # nothing of it could be recognised: ask once, then change course instead of asking again
            self._stt_misses += 1
            turn.metrics.stt_missed = True
            await self._emit(UserTranscript(text="", final=True, turn_index=turn.index, recognised=False))
            kind = "fallback" if self._stt_misses == 1 else "not_heard"
            await self._bot_turn(turn, user_text=None, fixed_text=self.config.phrase(kind, self.state.language))
            return
        if not text:
            # noise or a breath: nothing to answer (the holding phrase, if said, still ends as a turn)
            if turn.sentences:
                await self._complete(turn)
            else:
                await self._finish_turn(turn, emit=False)
            return
        self._stt_misses = 0
        if self.language_watch is not None and heard:
            await self._watch_language(max(heard, key=lambda t: len(t.text)))
        turn.user_text = text
        await self._emit(
            UserTranscript(text=text, final=True, turn_index=turn.index, speculative=turn.metrics.speculative_stt)
        )
        await self._bot_turn(turn, user_text=text)

    async def _watch_language(self, transcript: Transcript) -> None:
        """Between the caller's words and the answer: switch script, hint, voice and phrases at once."""
        switch = await self.language_watch.heard(transcript, current=self.state.language, state=self.state)
        if switch is None or switch.language == self.state.language:
            return
        previous, self.state.language = self.state.language, switch.language
        self.config.language = switch.language
        if switch.responder is not None:
            self.responder = switch.responder
        if switch.tts is not None:
            self.tts = switch.tts
        if switch.voice is not None:
            self.config.voice = switch.voice
        if switch.stt_prompt is not None:
            self.config.stt_prompt = switch.stt_prompt
        if switch.script_map is not None:
            self.config.use_script_phrases(switch.script_map)
        await self._emit(DirectiveEvent(kind="language", turn_index=self.state.turn_index, data={
            "from": previous, "to": switch.language, "detected": transcript.language,
            "probability": transcript.language_probability}))

    async def _say_holding(self, turn: _BotTurn) -> asyncio.Task | None:
        """«Секунду…»: shown in the transcript and spoken while the late transcription goes on."""
        text = self.config.phrase("holding", self.state.language)
        if not text:
            return None
        turn.full_text = f"{turn.full_text} {text}".strip()
        await self._emit(BotTextChunk(text=text, turn_index=turn.index))
        return asyncio.create_task(self._speak_sentence(turn, text, len(turn.sentences)), name="voice-holding")

    async def _bot_turn(self, turn: _BotTurn, *, user_text: str | None, fixed_text: str | None = None) -> None:
        """Run the responder (or speak ``fixed_text``) and the speaker side by side, then wait for playback."""
        sentences: asyncio.Queue[str | None] = asyncio.Queue()
        speaker = asyncio.create_task(self._speaker(turn, sentences), name="voice-speaker")
        try:
            if fixed_text is not None:
                # a fixed phrase is a line like any other: the live transcript shows it
                turn.full_text = f"{turn.full_text} {fixed_text}".strip()
                await self._emit(BotTextChunk(text=fixed_text, turn_index=turn.index))
                await sentences.put(fixed_text)
            else:
                await self._run_responder(turn, user_text or "", sentences)
        except asyncio.CancelledError:
            speaker.cancel()
            raise
        finally:
            sentences.put_nowait(None)
        try:
            await speaker
        except asyncio.CancelledError:
            speaker.cancel()
            raise
        await self._complete(turn)

    async def _complete(self, turn: _BotTurn) -> None:
        """Everything of the turn is queued: wait until it has been sent and played, then finish it."""
        await self._out_q.put(TurnDone(turn))
        await turn.sent_all.wait()
        await self._wait_played(turn)
        await self._finish_turn(turn)

    async def _run_responder(self, turn: _BotTurn, user_text: str, sentences: asyncio.Queue) -> None:
        if user_text:
            self.state.history.append(("user", user_text))
            turn.history_added = True
        await self._set_mind(MindState.ROUTING_TO_LLM)
        splitter = SentenceSplitter(min_chars=self.config.sentence_min_chars, max_chars=self.config.sentence_max_chars)
        started = self.clock()
        stream: AsyncIterator = self.responder.respond(user_text, self.state).__aiter__()
        first = True
        try:
            while True:
                cfg = self.config
                timeout = cfg.responder_first_chunk_timeout_s if first else cfg.responder_chunk_timeout_s
                try:
                    async with asyncio.timeout(timeout):
                        item = await stream.__anext__()
                except StopAsyncIteration:
                    break
                except TimeoutError as exc:
                    raise ProviderTimeout(f"no text for {timeout}s", provider=_name(self.responder)) from exc
                if isinstance(item, Directive):
                    if item.kind == "end":
                        turn.end_requested = True
                    elif item.kind == "transfer":
                        turn.transfer = dict(item.data)
                    await self._emit(DirectiveEvent(kind=item.kind, data=dict(item.data), turn_index=turn.index))
                    continue
                if not item:
                    continue
                if first:
                    first = False
                    turn.metrics.ttft_ms = _ms(self.clock() - started)
                turn.full_text += item
                await self._emit(BotTextChunk(text=item, turn_index=turn.index))
                for sentence in splitter.push(item):
                    await sentences.put(sentence)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            for sentence in splitter.flush():  # say what we have, then the apology
                await sentences.put(sentence)
            await self._provider_error(exc, stage="responder", provider=_name(self.responder))
            await sentences.put(self.config.fallback(self.state.language))
            return
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()
        for sentence in splitter.flush():
            await sentences.put(sentence)

    async def _speaker(self, turn: _BotTurn, sentences: asyncio.Queue) -> None:
        start = index = len(turn.sentences)  # after a holding phrase, so marks stay unique
        while (text := await sentences.get()) is not None:
            ok = await self._speak_sentence(turn, text, index)
            index += 1
            if not ok:
                # a failed sentence with none of its audio out is not kept: nothing of the answer was voiced
                turn.unvoiced = len(turn.sentences) == start
                fallback = self.config.fallback(self.state.language)
                if fallback and text != fallback:
                    await self._emit(BotTextChunk(text=fallback, turn_index=turn.index))
                    await self._speak_sentence(turn, fallback, index)
                    index += 1
                # drain the rest: after a TTS failure the remainder of this answer is not spoken
                while await sentences.get() is not None:
                    pass
                return

    async def _speak_sentence(self, turn: _BotTurn, text: str, index: int) -> bool:
        """Queue one sentence's frames and its mark; False when TTS failed.

        The frames come from a ``SentenceFlight`` (``voice.flights``): conversations of this process that say
        the same sentence in the same wire format at the same moment share one cache read, one synthesis and
        one encoding.
        """
        # synthesise ahead of playback, but not so far that a barge-in wastes a vendor's audio
        while self._frame_s and self._queued_frames * FRAME_MS > self.config.tts_lookahead_ms:
            await asyncio.sleep(self._frame_s * 5)
        sentence = _Sentence(text=text, mark=f"t{turn.index}s{index}")
        speaking = turn.first_audio_at is not None
        first_sentence = not turn.sentences
        voice, language = self.config.voice, self.state.language
        key = self.tts.cache_key(text, voice=voice, language=language, sample_rate=SAMPLE_RATE)
        started = self.clock()
        turn.sentences.append(sentence)
        if self.cache is not None and not speaking:
            await self._set_mind(MindState.CHECKING_CACHE)

        async def produce(flight: SentenceFlight) -> None:
            await self._produce_sentence(flight, key, text, voice=voice, language=language)

        got_audio = False
        try:
            async with contextlib.aclosing(self._flights.follow((key, self._wire_format), produce,
                                                                clock=self.clock)) as frames_of:
                async for flight, frames in frames_of:
                    if not frames:  # joined: the cache answers first
                        if not await flight.cache_answered() and turn.first_audio_at is None:  # not speaking yet
                            await self._set_mind(MindState.GENERATING_SPEECH)
                        continue
                    if not got_audio and first_sentence:
                        turn.metrics.cache_hit = bool(flight.cached)
                        turn.metrics.tts_ttfb_ms = _ms(self.clock() - started)
                    got_audio = True
                    self._queued_frames += len(frames)
                    self._out_q.put_nowait(AudioFrames(turn, frames, sentence))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._provider_error(exc, stage="tts", provider=self.tts.name)
            if not got_audio:
                turn.sentences.remove(sentence)
                return False
            # part of the sentence is out (the flight completed its frames): close it with its mark so
            # played-text stays right
            await self._out_q.put(MarkFrame(turn, sentence))
            return False
        if not got_audio:
            turn.sentences.remove(sentence)
            return True
        await self._out_q.put(MarkFrame(turn, sentence))
        return True

    async def _produce_sentence(self, flight: SentenceFlight, key: str, text: str, *, voice: str,
                                language: str) -> None:
        """A flight's work: the cached audio, or the TTS's as it streams, encoded for the wire once."""
        encoder = self._encoder()
        audio: bytes | None = None
        if self.cache is not None:
            try:
                audio = await self.cache.get(key)
            except Exception as exc:
                log.warning("audio cache failed: %s", exc)
        flight.answer_cache(bool(audio))
        if audio:
            flight.add(encoder.push(audio) + encoder.flush())
            return
        collected: list[bytes] = []
        stream = self.tts.synthesize(text, voice=voice, language=language, sample_rate=SAMPLE_RATE)
        iterator = stream.__aiter__()
        try:
            while True:
                try:
                    async with asyncio.timeout(self.config.tts_timeout_s):
                        chunk = await iterator.__anext__()
                except StopAsyncIteration:
                    break
                except TimeoutError as exc:
                    raise ProviderTimeout(f"no audio for {self.config.tts_timeout_s}s", provider=self.tts.name) from exc
                if chunk:
                    collected.append(chunk)
                    flight.add(encoder.push(chunk))
        except Exception:
            if collected:
                flight.add(encoder.flush())  # the part that was synthesised ends on whole frames
            raise
        finally:
            closer = getattr(stream, "aclose", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()
        flight.add(encoder.flush())
        flight.finish()  # the followers have every frame: the cache write does not hold them up
        if collected and self.cache is not None and self.config.cache_writes:
            try:
                await self.cache.set(key, b"".join(collected), ttl_s=self.config.cache_ttl_s)
            except Exception as exc:
                log.warning("audio cache write failed: %s", exc)

    async def _wait_played(self, turn: _BotTurn) -> None:
        """Until the far end has played the turn: the estimated end, then (with marks) the last mark."""
        remaining = turn.play_end - self.clock()
        if remaining > 0:
            await asyncio.sleep(remaining)
        if self.output is not None and self.output.supports_marks and turn.sentences:
            last = turn.sentences[-1]
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.mark_grace_ms / 1000):
                    await last.acked.wait()

    async def _finish_turn(self, turn: _BotTurn, *, emit: bool = True) -> None:
        if self._turn is not turn:
            return
        self._turn = None
        if emit:
            self.state.turn_index = turn.index + 1
            if turn.first_audio_at is None:
                turn.metrics.at = time.time()
                await self._emit(turn.metrics)
            text = _spoken(turn)
            remembered = text
            if turn.unvoiced and self.config.history_keeps_unvoiced and turn.full_text:
                remembered = turn.full_text
            if remembered:
                self.state.history.append(("bot", remembered))
            await self._emit(
                BotTurnFinished(text=text, full_text=turn.full_text or text, turn_index=turn.index,
                                audio_ms=turn.audio_frames * FRAME_MS, voiced=not turn.unvoiced)
            )
        for sentence in turn.sentences:
            self._marks.pop(sentence.mark, None)
        if turn.end_requested:
            await self._end_conversation(turn)
            return
        await self._set_mind(MindState.LISTENING)
        if self._carry and not self.endpointer.in_speech and not self.closed:
            # words said while this turn could not be interrupted (barge-in off): answer them now
            follow = self._new_turn()
            follow.stt_pending, self._carry = self._carry, []
            follow.task = asyncio.create_task(self._user_turn(follow), name="voice-turn")

    async def _end_conversation(self, turn: _BotTurn | None = None) -> None:
        if turn is not None and turn.transfer is not None:
            # the transport hands the call over instead of hanging up (``transfer`` says where)
            self.transfer = turn.transfer
            self.end_reason = self.end_reason or ConversationEndReason.TRANSFER
        self.ended = True
        self.state.ended = True
        self.end_reason = self.end_reason or ConversationEndReason.DIRECTIVE
        await self._emit(ConversationEnded(reason=self.end_reason))
        await self._set_mind(MindState.IDLE)
        if self.output is not None:
            try:
                await self.output.end()
            except Exception:
                log.exception("transport failed to end the conversation")

    # --- limits -----------------------------------------------------------------------------------

    async def _watchdog(self, limits: CallLimits) -> None:
        """Ask a silent line whether anyone is there, and end it (or an overlong call) politely."""
        speed = self.config.pace_speed if self.config.pace_speed > 0 else 1.0
        started = quiet_since = self.clock()
        while not (self.closed or self.ended):
            await asyncio.sleep(0.1 / speed)
            now = self.clock()
            if self._turn is not None or self.endpointer.in_speech or self.bot_muted:
                quiet_since = now  # someone is talking: nothing to do until the line is quiet again
                continue
            if limits.max_duration_s and now - started >= limits.max_duration_s / speed:
                self._say(limits.duration_end, end_reason=ConversationEndReason.MAX_DURATION)
                return
            if limits.silence_s and now - quiet_since >= limits.silence_s / speed:
                self._silences += 1
                quiet_since = now
                if self._silences >= limits.max_silences:
                    self._say(limits.silence_end, end_reason=ConversationEndReason.MAX_SILENCES)
                    return
                self._say(limits.silence_prompt)

    def _say(self, text: str, *, end_reason: ConversationEndReason | None = None) -> None:
        """A bot turn of one fixed phrase (a limit's prompt or goodbye); with ``end_reason`` it ends the call."""
        turn = self._new_turn()
        if end_reason:
            self.end_reason = end_reason
            turn.end_requested = True
        turn.task = asyncio.create_task(self._bot_turn(turn, user_text=None, fixed_text=text), name="voice-limit")

    # --- an operator takes over (calls.listen) ----------------------------------------------------

    async def set_bot_muted(self, muted: bool) -> None:
        """Muted, the bot is cut off (its queued speech cleared at the far end) and hears nothing until
        unmuted; the operator speaks instead. Unmuted, it listens afresh: what was said meanwhile is not
        its turn to answer. The limits' clock waits while muted (no silence prompt over a person)."""
        if muted == self.bot_muted or self.closed:
            return
        self.bot_muted = muted
        if muted:
            if self._turn is not None:
                self._turn.end_requested = False  # a goodbye cut off by an operator does not end the call
                await self.barge_in()
            self._drop_speculative()
            if self._partial is not None and not self._partial.done():
                self._partial.cancel()
            self._carry = []
            await self._set_mind(MindState.IDLE)
            return
        self.endpointer = Endpointer(self.config.vad, sample_rate=self.config.input_rate)
        self._splitter = FrameSplitter(frame_bytes(self.config.input_rate))
        self._arrivals.clear()
        self._speech_start_ms, self._barge_in_pending = None, False
        self._play_clock = self.clock()
        await self._set_mind(MindState.LISTENING)

    # --- an answering machine ------------------------------------------------------------------------

    def hold(self) -> None:
        """An answering machine is talking: stop speaking (as if interrupted) and answer nothing more.

        Synchronous, so a detector reading the same frames can hold the bot before the next one is fed.
        ``leave_message`` ends the hold. Limits' silence prompts stop too.
        """
        if self.held or self.closed or self.ended:
            return
        self.held = True
        self.config.barge_in = False
        self._carry.clear()
        self._drop_speculative()
        if self._watchdog_task is not None:
            self._watchdog_task.cancel()
        self._held_stop = asyncio.create_task(self.barge_in(), name="voice-hold")

    async def leave_message(self, text: str, *,
                            end_reason: ConversationEndReason = ConversationEndReason.VOICEMAIL) -> None:
        """Say ``text`` without interruption (after the machine's beep), then end the call; no text: end now."""
        self.hold()
        if self._held_stop is not None:
            await self._held_stop
        if self.closed or self.ended or self.bot_muted:  # an operator holds the call (calls.listen): theirs to end
            return
        self.end_reason = end_reason
        if text:
            self._say(text, end_reason=end_reason)
        else:
            await self._end_conversation()

    # --- barge-in ---------------------------------------------------------------------------------

    async def barge_in(self) -> None:
        """The user speaks over the bot: clear the far end, cancel the turn, keep only what was heard."""
        turn = self._turn
        if turn is None:
            return
        now = self.clock()
        heard = turn.first_audio_at is not None
        if heard and turn.sent_all.is_set() and (
            turn.play_end + PLAYED_MARGIN_S <= now or self._played_text(turn, now) == _spoken(turn)
        ):
            # everything was played and we only waited for a late mark echo: a normal end, not an interruption
            self._cancel_turn(turn)
            self._turn = turn
            await self._finish_turn(turn)
            return
        self._cancel_turn(turn)
        self._turn = None
        if heard and self.output is not None:
            try:
                await self.output.clear()
            except Exception:
                log.exception("transport failed to clear playback")
        self._play_clock = self.clock()
        if heard:
            self.state.turn_index = turn.index + 1
            played = self._played_text(turn, now)
            if played:
                self.state.history.append(("bot", played))
            full = turn.full_text or " ".join(s.text for s in turn.sentences)
            await self._emit(Interruption(played_text=played, full_text=full, turn_index=turn.index))
            await self._emit(
                BotTurnFinished(text=played, full_text=full, turn_index=turn.index, interrupted=True,
                                audio_ms=turn.audio_frames * FRAME_MS, voiced=not turn.unvoiced)
            )
        if turn.user_text is None:
            # the user's words were not answered yet (still being transcribed, maybe behind a holding
            # phrase): they join the next utterance, each transcribed on its own
            self._carry.extend(p for p in turn.stt_pending if isinstance(p, str) or not p.done()
                               or (not p.cancelled() and p.exception() is None))
        elif not heard:
            # nothing was heard yet: the user is still talking, so this utterance joins the next one
            self._carry.append(turn.user_text)
            if turn.history_added and self.state.history and self.state.history[-1] == ("user", turn.user_text):
                self.state.history.pop()
        if turn.end_requested and heard:
            # the goodbye was cut off, but the responder asked to end: still end
            await self._end_conversation(turn)
            return
        await self._set_mind(MindState.LISTENING)

    def _cancel_turn(self, turn: _BotTurn) -> None:
        turn.cancelled = True
        # drop queued frames now; the pacer skips anything of a cancelled turn it already holds
        kept = []
        while not self._out_q.empty():
            item = self._out_q.get_nowait()
            if item.turn is not turn:
                kept.append(item)
            elif isinstance(item, AudioFrames):
                self._queued_frames -= len(item.frames)
        for item in kept:
            self._out_q.put_nowait(item)
        if turn.task is not None and not turn.task.done() and turn.task is not asyncio.current_task():
            turn.task.cancel()
            self._background.add(turn.task)
            turn.task.add_done_callback(self._background.discard)
        for sentence in turn.sentences:
            self._marks.pop(sentence.mark, None)

    def _played_text(self, turn: _BotTurn, now: float) -> str:
        marks = self.output is not None and self.output.supports_marks
        words: list[str] = []
        for sentence in turn.sentences:
            if sentence.play_start is None or sentence.play_start > now:
                break
            if marks:
                done = sentence.acked.is_set()
            else:
                done = sentence.complete and sentence.play_end is not None and sentence.play_end <= now
            if done:
                words.extend(sentence.text.split())
                continue
            # the sentence in progress: its words in proportion to the time it has played
            end = sentence.play_end if sentence.play_end is not None else turn.play_end
            span = max(end - sentence.play_start, 1e-6)
            share = min(max((now - sentence.play_start) / span, 0.0), 0.99)
            sentence_words = sentence.text.split()
            words.extend(sentence_words[: int(len(sentence_words) * share)])
            break
        return " ".join(words)

    # --- output pacing ----------------------------------------------------------------------------

    async def _pacer(self) -> None:
        while True:
            item = await self._out_q.get()
            turn = item.turn
            if isinstance(item, AudioFrames):
                taken = 0
                for frame in item.frames:
                    if turn.cancelled:
                        break
                    taken += 1
                    self._queued_frames -= 1
                    await self._pace_frame(turn, item.sentence, frame)
                self._queued_frames -= len(item.frames) - taken  # a cancelled turn's rest is never sent
                continue
            try:
                if turn.cancelled:
                    continue
                if isinstance(item, MarkFrame):
                    sentence = item.sentence
                    sentence.play_end = self._play_clock
                    sentence.complete = True
                    if self.output.supports_marks:
                        self._marks[sentence.mark] = sentence
                        await self.output.send_mark(sentence.mark)
                elif isinstance(item, TurnDone):
                    turn.sent_all.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                self._transport_failed()

    async def _pace_frame(self, turn: _BotTurn, sentence: _Sentence, frame: object) -> None:
        """Send one frame when it is due: ``lead_ms`` before the far end plays it."""
        try:
            now = self.clock()
            if self._play_clock < now:  # the far end ran dry (or this is a new burst): restart there
                self._play_clock = now
            send_at = self._play_clock - self._lead_s
            # a frame due within one frame time goes out now: the pacer wakes once per two frames
            # (the far end holds lead_ms .. lead_ms + one frame), half the timer wake-ups per call
            if send_at > now + self._frame_s:
                await asyncio.sleep(send_at - now)
                if turn.cancelled:
                    return
            if sentence.play_start is None:
                sentence.play_start = self._play_clock
            await self._send_frame(frame)
            self._play_clock += self._frame_s
            turn.play_end = sentence.play_end = self._play_clock
            turn.audio_frames += 1
            if turn.first_audio_at is None:
                await self._on_first_audio(turn)
        except asyncio.CancelledError:
            raise
        except Exception:
            self._transport_failed()

    def _transport_failed(self) -> None:
        # a transport that cannot send must not kill the pacer for the rest of the call; a peer that went
        # away fails every frame until the hang-up arrives, so only the first failure is logged
        self._transport_failures += 1
        if self._transport_failures == 1:
            log.exception("output transport failed (later failures of this conversation: debug)")
        else:
            log.debug("output transport failed again (%s)", self._transport_failures, exc_info=True)

    async def _on_first_audio(self, turn: _BotTurn) -> None:
        turn.first_audio_at = self.clock()
        if turn.last_voiced_at is not None:
            turn.metrics.voice_to_voice_ms = _ms(turn.first_audio_at - turn.last_voiced_at)
        await self._set_mind(MindState.SPEAKING)
        turn.metrics.at = time.time()
        await self._emit(turn.metrics)

    # --- events -----------------------------------------------------------------------------------

    async def _set_mind(self, state: MindState) -> None:
        if state is self.mind:
            return
        previous, self.mind = self.mind, state
        await self._emit(StateChanged(state=state, previous=previous))

    async def _emit(self, event: PipelineEvent) -> None:
        await self.sink.emit(event)

    async def _provider_error(self, exc: BaseException, *, stage: str, provider: str) -> None:
        if isinstance(exc, TimeoutError):
            exc = ProviderTimeout(f"{stage} timed out", provider=provider)
        name = getattr(exc, "provider", "") or provider
        retryable = bool(getattr(exc, "retryable", False))
        message = str(exc.args[0]) if isinstance(exc, ProviderError) and exc.args else f"{type(exc).__name__}: {exc}"
        log.warning("%s failed (%s): %s", stage, name, message)
        await self._emit(ErrorEvent(provider=name, message=message, stage=stage, retryable=retryable))


def _spoken(turn: _BotTurn) -> str:
    return " ".join(" ".join(s.text.split()) for s in turn.sentences)


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 2)


def _name(obj: object) -> str:
    return getattr(obj, "name", "") or type(obj).__name__
