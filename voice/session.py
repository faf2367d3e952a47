"""``MediaSession``: one media WebSocket between a wire codec and a ``VoicePipeline``.

A Channels consumer (or a bench client) creates one per socket and forwards what it receives::

    session = MediaSession(TwilioCodec(), build_pipeline, send=send_frame, close=close_socket)
    await session.open()                  # on connect
    await session.on_text(text_data)      # on each text frame
    await session.on_bytes(bytes_data)    # on each binary frame
    await session.disconnected()          # on disconnect

Inbound audio is decoded (μ-law/A-law/PCM16), resampled to 16 kHz and fed to the pipeline; the
pipeline's 16 kHz frames are resampled to the wire rate, cut into 20 ms wire frames and encoded.
The session is the pipeline's ``AudioOutput`` (audio, marks, clear, end) and, for the browser, one
of its event sinks. A bad frame closes this socket with the codec's close code and a logged reason;
nothing is shared between sessions, so other streams never notice.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from voice import audio
from voice.events import PipelineEvent
from voice.pipeline import VoicePipeline
from voice.protocols.base import (
    CLOSE_NORMAL,
    Connected,
    Control,
    Dtmf,
    Mark,
    Media,
    ProtocolError,
    Start,
    Stop,
    WireCodec,
)

log = logging.getLogger(__name__)

Send = Callable[[str | bytes], Awaitable[None]]
Close = Callable[[int, str], Awaitable[None]]
PipelineFactory = Callable[[Start], "VoicePipeline | Awaitable[VoicePipeline]"]

_DECODERS = {"pcm16": lambda b: b, "mulaw": audio.ulaw_to_pcm16, "alaw": audio.alaw_to_pcm16}
_ENCODERS = {"pcm16": lambda b: b, "mulaw": audio.pcm16_to_ulaw, "alaw": audio.pcm16_to_alaw}


class AudioTap(Protocol):
    """Sees the conversation's audio as PCM16 16 kHz (e.g. to record the call) without decoding frames again."""

    def inbound(self, pcm16: bytes) -> None: ...

    def outbound(self, pcm16: bytes) -> None: ...

    def cleared(self) -> None: ...


class MediaSession:
    """Glue between one socket and one pipeline.

    ``pipeline`` is a ready ``VoicePipeline`` or a factory called with the ``Start`` message (sync
    or async), so a consumer can pick the script, voice and language from ``customParameters``.
    ``resample_quality`` is soxr's: ``LQ`` keeps the 8<->16 kHz filter delay near 25 ms.
    """

    def __init__(
        self,
        codec: WireCodec,
        pipeline: VoicePipeline | PipelineFactory,
        *,
        send: Send,
        close: Close | None = None,
        on_dtmf: Callable[[str], Awaitable[None]] | None = None,
        forward_events: bool | None = None,
        resample_quality: str = "LQ",
        session_id: str = "",
        tap: AudioTap | None = None,
    ):
        self.codec = codec
        self._factory = None if isinstance(pipeline, VoicePipeline) else pipeline
        self.pipeline: VoicePipeline | None = pipeline if isinstance(pipeline, VoicePipeline) else None
        self._send = send
        self._close = close
        self._on_dtmf = on_dtmf
        self.forward_events = codec.forwards_events if forward_events is None else forward_events
        self.resample_quality = resample_quality
        self.session_id = session_id
        self.tap = tap
        self.start_info: Start | None = None
        self.closed = False
        self.close_code: int | None = None
        self.close_reason = ""
        self.frames_in = 0
        self.frames_out = 0
        self._in_resampler: audio.StreamResampler | None = None
        self._out_resampler: audio.StreamResampler | None = None
        self._out_splitter: audio.FrameSplitter | None = None
        self._decode = _DECODERS["pcm16"]
        self._encode = _ENCODERS["pcm16"]

    # --- AudioOutput for the pipeline ---

    @property
    def supports_marks(self) -> bool:
        return self.codec.supports_marks

    async def send_audio(self, pcm16: bytes) -> None:
        if self.closed or self._out_resampler is None:
            return
        if self.tap is not None:
            self.tap.outbound(pcm16)
        wire = self._out_resampler.process(pcm16)
        await self._send_wire_frames(self._out_splitter.push(wire))

    async def send_mark(self, name: str) -> None:
        if self.closed or self._out_resampler is None:
            return
        # the sentence's last samples sit in the resampler and splitter: out with them before the mark
        tail = self._out_resampler.flush()
        await self._send_wire_frames(self._out_splitter.push(tail) + self._out_splitter.flush(pad=True))
        frame = self.codec.encode_mark(name)
        if frame is not None:
            await self._send(frame)

    async def clear(self) -> None:
        if self.closed:
            return
        if self._out_resampler is not None:
            self._out_resampler.reset()
            self._out_splitter.reset()
        if self.tap is not None:
            self.tap.cleared()
        frame = self.codec.encode_clear()
        if frame is not None:
            await self._send(frame)

    async def end(self) -> None:
        """The conversation is over (responder's ``end``): closing the stream hangs the call up."""
        await self.close(CLOSE_NORMAL, "conversation ended")

    # --- EventSink (browser) ---

    async def emit(self, event: PipelineEvent) -> None:
        if self.closed or not self.forward_events:
            return
        frame = self.codec.encode_event(event.to_dict())
        if frame is not None:
            await self._send(frame)

    # --- inbound ---

    async def open(self) -> None:
        """Call on connect. Codecs that need no ``start`` (the browser) start the pipeline here."""
        if self.codec.started:
            await self._start(Start(encoding=self.codec.encoding, sample_rate=self.codec.sample_rate))

    async def on_text(self, text: str) -> None:
        await self._handle(lambda: self.codec.decode_text(text))

    async def on_bytes(self, data: bytes) -> None:
        await self._handle(lambda: self.codec.decode_bytes(data))

    async def disconnected(self, code: int | None = None) -> None:
        """The socket went away (hang-up, network): stop the pipeline, send nothing more."""
        self.closed = True
        if self.pipeline is not None:
            await self.pipeline.close(reason="hangup")

    async def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        self.close_code, self.close_reason = code, reason
        if self.pipeline is not None:
            await self.pipeline.close(reason="closed" if code == CLOSE_NORMAL else "protocol_error")
        if self._close is not None:
            try:
                await self._close(code, reason)
            except Exception:
                log.exception("session %s: closing the socket failed", self.session_id)

    async def _handle(self, decode: Callable[[], Any]) -> None:
        if self.closed:
            return
        try:
            message = decode()
            await self._dispatch(message)
        except ProtocolError as exc:
            log.warning("session %s (%s): closing with %s: %s", self.session_id, self.codec.name,
                        exc.close_code, exc.reason)
            await self.close(exc.close_code, exc.reason)

    async def _dispatch(self, message: Any) -> None:
        if isinstance(message, Media):
            if self.pipeline is None or self._in_resampler is None:
                return
            if message.track not in ("inbound", "inbound_track"):
                return  # only the caller's voice goes to the VAD
            self.frames_in += 1
            pcm = self._in_resampler.process(self._decode(message.payload))
            if pcm:
                if self.tap is not None:
                    self.tap.inbound(pcm)
                await self.pipeline.feed(pcm)
        elif isinstance(message, Mark):
            if self.pipeline is not None:
                self.pipeline.on_mark(message.name)
        elif isinstance(message, Start):
            await self._start(message)
        elif isinstance(message, Stop):
            if self.pipeline is not None:
                await self.pipeline.close(reason="hangup")
            await self.close(CLOSE_NORMAL, "stream stopped")
        elif isinstance(message, Dtmf):
            if self._on_dtmf is not None:
                await self._on_dtmf(message.digit)
        elif isinstance(message, Control):
            if message.name in ("end", "stop") and self.pipeline is not None:
                await self.pipeline.close(reason="user_end")
                await self.close(CLOSE_NORMAL, "ended by user")
        elif isinstance(message, Connected):
            pass

    async def _start(self, start: Start) -> None:
        self.start_info = start
        rate, encoding = start.sample_rate, start.encoding
        self._decode, self._encode = _DECODERS[encoding], _ENCODERS[encoding]
        self._in_resampler = audio.StreamResampler(rate, audio.SAMPLE_RATE, quality=self.resample_quality)
        self._out_resampler = audio.StreamResampler(audio.SAMPLE_RATE, rate, quality=self.resample_quality)
        self._out_splitter = audio.FrameSplitter(audio.frame_bytes(rate, self.codec.frame_ms))
        if self.pipeline is None:
            built = self._factory(start)
            self.pipeline = await built if inspect.isawaitable(built) else built
        if self.pipeline.output is None:
            self.pipeline.output = self
        if self.forward_events:
            self.pipeline.add_sink(self)
        for frame in self.codec.preamble():
            await self._send(frame)
        await self.pipeline.start()

    async def _send_wire_frames(self, frames: list[bytes]) -> None:
        for frame in frames:
            self.frames_out += 1
            await self._send(self.codec.encode_audio(self._encode(frame)))
