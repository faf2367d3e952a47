"""``MediaSession``: one media WebSocket between a wire codec and a ``VoicePipeline``.

A Channels consumer (or a bench client) creates one per socket and forwards what it receives::

    session = MediaSession(TwilioCodec(), build_pipeline, send=send_frame, close=close_socket)
    await session.open()                  # on connect
    await session.on_text(text_data)      # on each text frame
    await session.on_bytes(bytes_data)    # on each binary frame
    await session.disconnected()          # on disconnect

Inbound audio is decoded (μ-law/A-law/PCM16) and fed to the pipeline at the wire's own rate when
the VAD runs at it (8 or 16 kHz: nothing is resampled per frame), else resampled to 16 kHz. Outbound,
each sentence's 16 kHz audio is resampled and G.711-encoded in bulk as the pipeline queues it
(``frame_encoder``); the pacer's 20 ms frames then only need their wire message. The session is the
pipeline's ``AudioOutput`` (audio, marks, clear, end) and, for the browser, one of its event sinks.

Guards on inbound media: audio arriving faster than real time (beyond ``realtime_slack_s``) closes
the stream with ``CLOSE_TOO_FAST``: a flood cannot fill memory or starve the other calls of the
process. A bad frame closes this socket with the codec's (4xxx) close code and a logged reason;
nothing is shared between sessions, so other streams never notice.
"""

from __future__ import annotations

import collections
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from voice import audio
from voice.events import ConversationEndReason, PipelineEvent
from voice.pipeline import VoicePipeline
from voice.protocols.base import (
    CLOSE_NORMAL,
    CLOSE_TOO_FAST,
    Connected,
    Control,
    Dtmf,
    Mark,
    Media,
    ProtocolError,
    Start,
    Stop,
    UnknownEvent,
    WireCodec,
)

log = logging.getLogger(__name__)

Send = Callable[[str | bytes], Awaitable[None]]
Close = Callable[[int, str], Awaitable[None]]
PipelineFactory = Callable[[Start], "VoicePipeline | Awaitable[VoicePipeline]"]

_DECODERS = {"pcm16": lambda b: b, "mulaw": audio.ulaw_to_pcm16, "alaw": audio.alaw_to_pcm16}
_ENCODERS = {"pcm16": lambda b: b, "mulaw": audio.pcm16_to_ulaw, "alaw": audio.pcm16_to_alaw}
_WIRE_BYTES_PER_SAMPLE = {"pcm16": 2, "mulaw": 1, "alaw": 1}
# rates the VAD runs at directly: the pipeline is fed the wire's own samples
_VAD_RATES = (8000, 16000)


class EndReason(StrEnum):
    """Why a session closed its socket with ``CLOSE_NORMAL``: the close reason the peer sees, and what callers match."""

    CONVERSATION_ENDED = "conversation ended"  # the responder ended it (an end phrase, a limit, a transfer)
    STREAM_STOPPED = "stream stopped"  # the carrier's ``stop``
    ENDED_BY_USER = "ended by user"  # the browser's ``end`` control


class AudioTap(Protocol):
    """Sees the conversation's audio as PCM16 (e.g. to record the call) without decoding frames again.

    ``begin`` names the rate of both directions (the wire's: 8 kHz on telephony) once the stream's
    format is known.
    """

    def begin(self, sample_rate: int) -> None: ...

    def inbound(self, pcm16: bytes) -> None: ...

    def outbound(self, pcm16: bytes) -> None: ...

    def cleared(self) -> None: ...


class WireFrameCache:
    """Whole sentences' wire frames by their 16 kHz audio, shared by the sessions of a process (LRU, bounded).

    A script's phrases come back from the audio cache as the same audio call after call; resampling and
    encoding them again for every call was about a tenth of a media process's CPU. A hit compares the
    audio itself, not only its hash, so a collision can never play the wrong phrase.
    """

    def __init__(self, max_bytes: int = 16 * 1024 * 1024, *, min_audio_bytes: int = 3200):
        self.max_bytes = max_bytes
        self.min_audio_bytes = min_audio_bytes  # shorter pushes are streaming chunks, not whole sentences
        self._entries: collections.OrderedDict[tuple, _WireEntry] = collections.OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple, pcm16: bytes) -> _WireEntry | None:
        entry = self._entries.get(key)
        if entry is None or entry.pcm16 != pcm16:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry

    def put(self, key: tuple, entry: _WireEntry) -> None:
        if entry.size > self.max_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old.size
        self._entries[key] = entry
        self._bytes += entry.size
        while self._bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= evicted.size

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0


@dataclass(frozen=True, slots=True)
class _WireEntry:
    pcm16: bytes  # the sentence's 16 kHz audio, compared on every hit
    pushed: tuple[tuple[bytes, bytes], ...]
    flushed: tuple[tuple[bytes, bytes], ...]

    @property
    def size(self) -> int:
        return len(self.pcm16) + sum(len(a) + len(b) for a, b in self.pushed + self.flushed)


WIRE_FRAMES = WireFrameCache()  # the process's: every session of every codec shares it (keys name the format)


class WireEncoder:
    """One sentence's 16 kHz audio -> 20 ms frames for the wire, in bulk as the pipeline queues it.

    A frame is ``(payload, pcm16)``: the payload in the wire encoding (μ-law, A-law or PCM16 at the
    wire rate) and its PCM16 for the session's tap. Only the per-frame message (base64, JSON) is
    left for send time, so codecs that number their messages keep them in send order.

    With a ``cache``, a sentence pushed whole (a cached phrase: one ``push`` then ``flush``) is looked up
    by its audio and ``wire_format`` (rate, encoding, quality) and encoded only the first time. A second
    ``push`` after a hit first runs the audio of the hit through the resampler, so the stream goes on
    exactly as if it had been encoded.
    """

    def __init__(self, rate: int, encode: Callable[[bytes], bytes], *, quality: str,
                 cache: WireFrameCache | None = None, wire_format: tuple = ()):
        self._resampler = None if rate == audio.SAMPLE_RATE else audio.StreamResampler(
            audio.SAMPLE_RATE, rate, quality=quality)
        self._frame_bytes = audio.frame_bytes(rate)
        self._frames = audio.FrameSplitter(self._frame_bytes)
        self._encode = encode
        self._cache = cache
        self._format = wire_format or (rate, quality, encode)
        self._pushes = 0
        self._miss: tuple[tuple, bytes, list] | None = None  # (key, audio, pushed): stored at flush if alone
        self._replay: tuple[bytes, _WireEntry] | None = None  # a hit not yet flushed

    def push(self, pcm16: bytes) -> list[tuple[bytes, bytes]]:
        self._pushes += 1
        # only ``bytes`` are looked up: the key hashes the audio, and a bytearray or memoryview has no hash
        if (self._pushes == 1 and self._cache is not None and type(pcm16) is bytes
                and len(pcm16) >= self._cache.min_audio_bytes):
            key = (self._format, len(pcm16), hash(pcm16))
            entry = self._cache.get(key, pcm16)
            if entry is not None:
                self._replay = (pcm16, entry)
                return list(entry.pushed)
            pushed = self._encode_push(pcm16)
            self._miss = (key, pcm16, pushed)
            return pushed
        self._miss = None  # streamed in several pieces: not one cached sentence
        if self._replay is not None:
            replayed, _ = self._replay
            self._replay = None
            self._encode_push(replayed)  # its frames went out from the cache; the filter state must follow
        return self._encode_push(pcm16)

    def flush(self) -> list[tuple[bytes, bytes]]:
        if self._replay is not None:
            _, entry = self._replay
            self._replay = None
            return list(entry.flushed)
        flushed = self._encode_flush()
        if self._miss is not None and self._cache is not None:
            key, pcm16, pushed = self._miss
            self._cache.put(key, _WireEntry(pcm16, tuple(pushed), tuple(flushed)))
        self._miss = None
        return flushed

    def _encode_push(self, pcm16: bytes) -> list[tuple[bytes, bytes]]:
        if self._resampler is not None:
            pcm16 = self._resampler.process(pcm16)
        return self._wire(self._frames.push(pcm16))

    def _encode_flush(self) -> list[tuple[bytes, bytes]]:
        tail = self._resampler.flush() if self._resampler is not None else b""
        return self._wire(self._frames.push(tail) + self._frames.flush(pad=True))

    def _wire(self, frames: list[bytes]) -> list[tuple[bytes, bytes]]:
        if not frames:
            return []
        encoded = self._encode(b"".join(frames))  # one table lookup for the whole chunk
        step = len(encoded) // len(frames)
        return [(encoded[i * step : (i + 1) * step], frame) for i, frame in enumerate(frames)]


class MediaSession:
    """Glue between one socket and one pipeline.

    ``pipeline`` is a ready ``VoicePipeline`` or a factory called with the ``Start`` message (sync
    or async), so a consumer can pick the script, voice and language from ``customParameters``.
    ``resample_quality`` is soxr's: ``LQ`` keeps the 8<->16 kHz filter delay near 25 ms.
    ``realtime_slack_s``: how far ahead of real time inbound audio may run (a carrier catching up
    after a network hiccup) before the stream is closed with ``CLOSE_TOO_FAST``; ``max_speed`` is
    the rate that counts as real time (1; a rehearsal's simulated callee runs at its pace).
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
        realtime_slack_s: float = 5.0,
        max_speed: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        wire_cache: WireFrameCache | None = WIRE_FRAMES,
    ):
        self.codec = codec
        self.wire_cache = wire_cache
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
        self._unknown_events: set[str] = set()
        self.realtime_slack_s = realtime_slack_s
        self.max_speed = max_speed  # a rehearsal's simulated callee speaks at its pace, faster than real time
        self.clock = clock
        self._in_resampler: audio.StreamResampler | None = None
        self._out_rate = audio.SAMPLE_RATE
        self._decode = _DECODERS["pcm16"]
        self._encode = _ENCODERS["pcm16"]
        self._encoding = "pcm16"
        self._in_bytes_per_s = 0
        self._in_bytes = 0
        self._in_t0: float | None = None

    # --- AudioOutput for the pipeline ---

    @property
    def supports_marks(self) -> bool:
        return self.codec.supports_marks

    @property
    def wire_format(self) -> tuple:
        """What the frames of ``frame_encoder`` depend on: sessions with equal formats get identical bytes."""
        return ("wire", self._out_rate, self._encoding, self.resample_quality)

    def frame_encoder(self) -> WireEncoder:
        return WireEncoder(self._out_rate, self._encode, quality=self.resample_quality, cache=self.wire_cache,
                           wire_format=self.wire_format)

    async def send_frame(self, frame: tuple[bytes, bytes]) -> None:
        if self.closed:
            return
        payload, pcm16 = frame
        if self.tap is not None:
            self.tap.outbound(pcm16)
        self.frames_out += 1
        await self._send(self.codec.encode_audio(payload))

    async def send_audio(self, pcm16: bytes) -> None:
        """Audio outside the pipeline's pacing (one-off prompts): encoded and sent at once."""
        encoder = self.frame_encoder()
        for frame in encoder.push(pcm16) + encoder.flush():
            await self.send_frame(frame)

    async def send_mark(self, name: str) -> None:
        if self.closed:
            return
        frame = self.codec.encode_mark(name)
        if frame is not None:
            await self._send(frame)

    async def clear(self) -> None:
        if self.closed:
            return
        if self.tap is not None:
            self.tap.cleared()
        frame = self.codec.encode_clear()
        if frame is not None:
            await self._send(frame)

    async def end(self) -> None:
        """The conversation is over (responder's ``end``): closing the stream hangs the call up."""
        await self.close(CLOSE_NORMAL, EndReason.CONVERSATION_ENDED)

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
            await self.pipeline.close(reason=ConversationEndReason.HANGUP)

    async def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        self.close_code, self.close_reason = code, reason
        if self.pipeline is not None:
            await self.pipeline.close(reason=ConversationEndReason.CLOSED if code == CLOSE_NORMAL
                                      else ConversationEndReason.PROTOCOL_ERROR)
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
            if self.pipeline is None or not self._in_bytes_per_s:
                return
            if message.track not in ("inbound", "inbound_track"):
                return  # only the caller's voice goes to the VAD
            self.frames_in += 1
            self._check_realtime(len(message.payload))
            pcm = self._decode(message.payload)
            if self.tap is not None:
                self.tap.inbound(pcm)
            if self._in_resampler is not None:
                pcm = self._in_resampler.process(pcm)
            if pcm:
                await self.pipeline.feed(pcm)
        elif isinstance(message, Mark):
            if self.pipeline is not None:
                self.pipeline.on_mark(message.name)
        elif isinstance(message, Start):
            await self._start(message)
        elif isinstance(message, Stop):
            if self.pipeline is not None:
                await self.pipeline.close(reason=ConversationEndReason.HANGUP)
            await self.close(CLOSE_NORMAL, EndReason.STREAM_STOPPED)
        elif isinstance(message, Dtmf):
            if self._on_dtmf is not None:
                await self._on_dtmf(message.digit)
        elif isinstance(message, Control):
            if message.name in ("end", "stop") and self.pipeline is not None:
                await self.pipeline.close(reason=ConversationEndReason.USER_END)
                await self.close(CLOSE_NORMAL, EndReason.ENDED_BY_USER)
        elif isinstance(message, UnknownEvent):
            if message.event not in self._unknown_events:  # said once per event name: it may come every frame
                self._unknown_events.add(message.event)
                log.info("session %s (%s): ignoring the unknown event %r", self.session_id, self.codec.name,
                         message.event)
        elif isinstance(message, Connected):
            pass

    def _check_realtime(self, payload_bytes: int) -> None:
        """Inbound audio may not outrun the wall clock by more than the slack (a flood, a replay)."""
        now = self.clock()
        if self._in_t0 is None:
            self._in_t0 = now
        self._in_bytes += payload_bytes
        ahead = self._in_bytes / self._in_bytes_per_s - (now - self._in_t0) * self.max_speed
        if ahead > self.realtime_slack_s:
            raise ProtocolError(CLOSE_TOO_FAST, f"{self.codec.name}: media {ahead:.1f}s ahead of real time")

    async def _start(self, start: Start) -> None:
        self.start_info = start
        rate, encoding = start.sample_rate, start.encoding
        self._decode, self._encode = _DECODERS[encoding], _ENCODERS[encoding]
        self._encoding = encoding
        self._out_rate = rate
        if self.pipeline is None:
            built = self._factory(start)
            self.pipeline = await built if inspect.isawaitable(built) else built
        if rate in _VAD_RATES and not self.pipeline.started:
            self.pipeline.set_input_rate(rate)  # the VAD and STT take the wire's samples as they are
        in_rate = self.pipeline.config.input_rate
        self._in_resampler = None if in_rate == rate else audio.StreamResampler(
            rate, in_rate, quality=self.resample_quality)
        if self.tap is not None:
            self.tap.begin(rate)  # both directions at the wire's rate
        self._in_bytes_per_s = rate * _WIRE_BYTES_PER_SAMPLE[encoding]
        if self.pipeline.output is None:
            self.pipeline.output = self
        if self.forward_events:
            self.pipeline.add_sink(self)
        for frame in self.codec.preamble():
            await self._send(frame)
        await self.pipeline.start()

