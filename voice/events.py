"""The one event sink of the pipeline: mind states, transcripts, interruptions, metrics and errors.

Every event is a dataclass whose ``to_dict()`` is JSON-ready and carries a ``type`` field, so the
browser UI, the channel layer and the database writer all read the same shape.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

log = logging.getLogger(__name__)


class MindState(enum.StrEnum):
    IDLE = "IDLE"
    LISTENING = "LISTENING"
    ANALYZING_SPEECH = "ANALYZING_SPEECH"
    CHECKING_CACHE = "CHECKING_CACHE"
    ROUTING_TO_LLM = "ROUTING_TO_LLM"
    GENERATING_SPEECH = "GENERATING_SPEECH"
    SPEAKING = "SPEAKING"


@dataclass
class PipelineEvent:
    type: ClassVar[str] = "event"
    at: float = field(default_factory=time.time, kw_only=True)  # wall clock, for ordering in storage

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, enum.Enum):
                data[key] = value.value
        return {"type": self.type, **data}


@dataclass
class StateChanged(PipelineEvent):
    type: ClassVar[str] = "state"
    state: MindState
    previous: MindState | None = None


@dataclass
class UserSpeechStarted(PipelineEvent):
    type: ClassVar[str] = "user_speech_started"


@dataclass
class UserTranscript(PipelineEvent):
    type: ClassVar[str] = "user_transcript"
    text: str
    final: bool
    turn_index: int = 0
    speculative: bool = False  # the final came from a transcription started at a short silence
    recognised: bool = True  # False: the person spoke but no transcript came (text is empty)


@dataclass
class BotTextChunk(PipelineEvent):
    type: ClassVar[str] = "bot_text"
    text: str
    turn_index: int = 0


@dataclass
class BotTurnFinished(PipelineEvent):
    """``text`` is what the far end actually heard; ``full_text`` what the responder produced.

    ``voiced`` is False when speech synthesis failed before any of the answer's words were played: the far
    end heard none of ``full_text`` (``text`` is empty, or only the fallback apology if that could be voiced).
    """

    type: ClassVar[str] = "bot_turn"
    text: str
    full_text: str
    turn_index: int = 0
    interrupted: bool = False
    audio_ms: float = 0.0
    voiced: bool = True


@dataclass
class Interruption(PipelineEvent):
    type: ClassVar[str] = "interruption"
    played_text: str
    full_text: str
    turn_index: int = 0


@dataclass
class DirectiveEvent(PipelineEvent):
    """A responder ``Directive`` other than text (slot, stage, callback, meta, end), passed on as is."""

    type: ClassVar[str] = "directive"
    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    turn_index: int = 0


@dataclass
class TurnMetrics(PipelineEvent):
    """Milliseconds; ``None`` where a step did not happen (no STT on the opening line, no audio)."""

    type: ClassVar[str] = "metrics"
    turn_index: int = 0
    eou_ms: float | None = None
    stt_ms: float | None = None
    ttft_ms: float | None = None
    tts_ttfb_ms: float | None = None
    voice_to_voice_ms: float | None = None
    cache_hit: bool = False
    speculative_stt: bool = False
    stt_queue_wait_ms: float | None = None  # waiting for an STT worker (voice.stt.admission)
    stt_start_ms: float | None = None  # end of speech -> the transcription used started (speculative: early)
    stt_work_ms: float | None = None  # the transcription itself, queue wait excluded (speculative: before the EOU)
    stt_late: bool = False  # the transcript came after stt_timeout_s (the holding phrase was due)
    stt_missed: bool = False  # the person's words could not be recognised at all


@dataclass
class ErrorEvent(PipelineEvent):
    type: ClassVar[str] = "error"
    provider: str
    message: str
    stage: str = ""  # stt | responder | tts | cache | transport
    retryable: bool = False


class ConversationEndReason(enum.StrEnum):
    """Why the pipeline's conversation ended (``ConversationEnded.reason``, ``VoicePipeline.end_reason``)."""

    DIRECTIVE = "directive"  # the responder's ``end``
    TRANSFER = "transfer"  # the responder handed the call to a person
    MAX_DURATION = "max_duration"  # the call's limits (``CallLimits``)
    MAX_SILENCES = "max_silences"
    VOICEMAIL = "voicemail"  # an answering machine: the message was left, or the call hung up
    HANGUP = "hangup"  # the far end went away
    CLOSED = "closed"  # the transport closed the stream normally
    PROTOCOL_ERROR = "protocol_error"  # the transport closed it on a bad frame
    USER_END = "user_end"  # the browser's ``end`` control


@dataclass
class ConversationEnded(PipelineEvent):
    type: ClassVar[str] = "end"
    reason: ConversationEndReason = ConversationEndReason.DIRECTIVE


@runtime_checkable
class EventSink(Protocol):
    async def emit(self, event: PipelineEvent) -> None: ...


class ListSink:
    """Keeps every event; for tests and benchmarks."""

    def __init__(self) -> None:
        self.events: list[PipelineEvent] = []

    async def emit(self, event: PipelineEvent) -> None:
        self.events.append(event)

    def of(self, cls: type[PipelineEvent]) -> list[Any]:
        return [e for e in self.events if isinstance(e, cls)]

    def types(self) -> list[str]:
        return [e.type for e in self.events]


class QueueSink:
    """Decouples slow readers (channel layer, database) from the audio path.

    The queue is bounded; when a reader falls behind, the oldest event is dropped and counted rather
    than blocking the pipeline.
    """

    def __init__(self, maxsize: int = 1000) -> None:
        self.queue: asyncio.Queue[PipelineEvent] = asyncio.Queue(maxsize)
        self.dropped = 0

    async def emit(self, event: PipelineEvent) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    async def get(self) -> PipelineEvent:
        return await self.queue.get()

    def drain(self) -> list[PipelineEvent]:
        out = []
        while not self.queue.empty():
            out.append(self.queue.get_nowait())
        return out


class BackgroundSink:
    """Forwards events to a slow sink (database, channel layer) from its own task: in order, none dropped.

    ``emit`` returns at once, so a database write never holds up the audio path; ``aclose`` waits
    until everything queued so far has been forwarded, then calls the inner sink's own ``aclose``
    if it has one (call it before acting on the stored result).
    """

    _STOP = object()

    def __init__(self, inner: EventSink) -> None:
        self.inner = inner
        self.queue: asyncio.Queue = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self._inner_closed = False

    async def emit(self, event: PipelineEvent) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._forward())
        self.queue.put_nowait(event)

    async def _forward(self) -> None:
        while (event := await self.queue.get()) is not self._STOP:
            try:
                await self.inner.emit(event)
            except Exception:  # one failed write must not stop the ones after it
                log.exception("event sink %s failed on %s", type(self.inner).__name__, type(event).__name__)

    async def aclose(self) -> None:
        """Drain and close; safe to call twice. A caller cancelled meanwhile does not stop the drain."""
        task, self._task = self._task, None
        if task is not None:
            self.queue.put_nowait(self._STOP)
            await asyncio.shield(task)
        closer = getattr(self.inner, "aclose", None)
        if closer is not None and not self._inner_closed:
            self._inner_closed = True
            try:
                await closer()
            except Exception:
                log.exception("event sink %s failed to close", type(self.inner).__name__)


class FanOutSink:
    """Sends each event to several sinks; one failing sink is logged and never stops the others."""

    def __init__(self, sinks: Iterable[EventSink] = ()) -> None:
        self.sinks: list[EventSink] = list(sinks)

    def add(self, sink: EventSink) -> None:
        self.sinks.append(sink)

    async def emit(self, event: PipelineEvent) -> None:
        for sink in self.sinks:
            try:
                await sink.emit(event)
            except Exception:
                log.exception("event sink %r failed on %s", sink, event.type)
