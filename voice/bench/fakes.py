"""Test and benchmark doubles for the pipeline's other ends: a recording transport and a scripted responder.

The fake STT and TTS providers live with the providers (``voice.stt.fake``, ``voice.tts.fake``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Sequence

from voice.responder import ConversationState, Directive, ResponderOutput


class RecordingOutput:
    """An ``AudioOutput`` that keeps what it was sent, with monotonic send times.

    ``auto_ack_marks`` echoes each mark once its audio would have finished playing (the way Twilio
    does), measured from the send times of the frames before it.
    """

    def __init__(self, *, supports_marks: bool = True, auto_ack_marks: bool = True, clock=time.monotonic):
        self.supports_marks = supports_marks
        self.auto_ack_marks = auto_ack_marks
        self.clock = clock
        self.frames: list[bytes] = []
        self.frame_times: list[float] = []
        self.marks: list[str] = []
        self.clears: list[float] = []
        self.ended = False
        self.log: list[tuple[str, float]] = []  # ("audio" | "mark:<name>" | "clear" | "end", time)
        self.pipeline = None  # set by the test so auto-acks reach ``pipeline.on_mark``
        self._ack_tasks: set[asyncio.Task] = set()

    async def send_audio(self, pcm16: bytes) -> None:
        now = self.clock()
        self.frames.append(pcm16)
        self.frame_times.append(now)
        self.log.append(("audio", now))

    async def send_mark(self, name: str) -> None:
        self.marks.append(name)
        self.log.append((f"mark:{name}", self.clock()))
        if self.auto_ack_marks and self.pipeline is not None:
            # the far end plays frames back to back from the first one of the burst
            delay = max(0.0, self.frame_times[-1] + 0.02 - self.clock()) if self.frame_times else 0.0
            task = asyncio.create_task(self._ack(name, delay))
            self._ack_tasks.add(task)
            task.add_done_callback(self._ack_tasks.discard)

    async def _ack(self, name: str, delay: float) -> None:
        await asyncio.sleep(delay)
        self.pipeline.on_mark(name)

    async def clear(self) -> None:
        now = self.clock()
        self.clears.append(now)
        self.log.append(("clear", now))
        for task in list(self._ack_tasks):  # a cleared buffer echoes no more marks for that audio
            task.cancel()

    async def end(self) -> None:
        self.ended = True
        self.log.append(("end", self.clock()))

    @property
    def audio(self) -> bytes:
        return b"".join(self.frames)


class ScriptedResponder:
    """Replies in order from ``replies``; each reply is a string (streamed word by word) or a list of
    chunks and ``Directive`` objects. ``chunk_delay_s`` spaces the chunks like an LLM's tokens.
    Records every ``respond`` call as (text, history snapshot).
    """

    name = "scripted"

    def __init__(
        self,
        replies: Iterable[str | Sequence[ResponderOutput]] = (),
        *,
        opening: str | Sequence[ResponderOutput] | None = None,
        default: str = "",
        chunk_delay_s: float = 0.0,
        first_delay_s: float = 0.0,
        fail: Exception | None = None,
    ):
        self.replies = list(replies)
        self.opening = opening
        self.default = default
        self.chunk_delay_s = chunk_delay_s
        self.first_delay_s = first_delay_s
        self.fail = fail
        self.calls: list[tuple[str, list[tuple[str, str]]]] = []
        self.cancelled = 0

    async def respond(self, text: str, state: ConversationState) -> AsyncIterator[ResponderOutput]:
        self.calls.append((text, list(state.history)))
        if not text and self.opening is not None:
            reply = self.opening
        elif self.replies:
            reply = self.replies.pop(0)
        else:
            reply = self.default
        chunks: list[ResponderOutput] = _words(reply) if isinstance(reply, str) else list(reply)
        try:
            if self.first_delay_s:
                await asyncio.sleep(self.first_delay_s)
            if self.fail is not None:
                raise self.fail
            for index, chunk in enumerate(chunks):
                if index and self.chunk_delay_s:
                    await asyncio.sleep(self.chunk_delay_s)
                yield chunk
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


def _words(text: str) -> list[ResponderOutput]:
    parts = text.split(" ")
    return [p + (" " if i < len(parts) - 1 else "") for i, p in enumerate(parts)]


def end_directive() -> Directive:
    return Directive(kind="end")
