"""A Twilio Media Streams load generator: N concurrent callers in real time against a media WebSocket.

Framework-free; ``manage.py media_load`` starts the server and calls ``run_load``. Each stream
behaves like Twilio's side of ``<Connect><Stream>``: ``connected``, ``start`` (with
``customParameters``), a ``media`` frame every 20 ms (μ-law 8 kHz, base64) carrying a synthetic
voice-like signal with speech bursts and pauses so the server's VAD ends turns and its bot
answers, ``mark`` echoes once the audio before a mark would have played (pending marks are echoed
at once on ``clear``, as Twilio does), and ``stop`` at the end.

Metrics (all times from the client's monotonic clock):

- ``frames_sent``: inbound ``media`` frames the client sent.
- ``frames_unsent``: frames a caller could not send: its socket was closed or never opened, or the
  server had stopped reading (``frames_backpressured``: more than ``BACKPRESSURE_BYTES`` unsent in
  the socket's buffer; the frame is dropped, as a carrier would, instead of stalling every caller).
- ``frames_received``: outbound ``media`` frames the client received.
- ``send_lag_*``: how late the client sent each frame vs. its 20 ms schedule. High values mean
  the *client* is overloaded, which must not be blamed on the server.
- ``lag_*`` (the headline): for each received bot frame, its lateness vs. the real-time playback
  schedule of its utterance (first frame's arrival + 20 ms per frame before it), counting only the
  part beyond the pacing lead, i.e. ``max(0, arrival - (first_arrival + k * 20 ms))``. A positive
  value is a moment the far end's buffer ran dry: an audible gap.
- ``jitter_*``: arrival vs. the time the server should have sent the frame (``k * 20 ms - lead``
  after the first, never before it), unclipped: the pacer's and transport's timing noise.
- ``client_v2v_*``: the end of a speech burst (send time of its last voiced frame) to the first
  bot frame after it, as the caller would hear it (includes the server's endpointing silence).
- ``late_frames``: received frames with ``lag > 0``.

An utterance starts at the first bot frame after the caller's speech burst ended, or after a
``clear``. Frame drops (inbound not consumed, outbound not received) need the server's own counts;
see ``media_load``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import WebSocketURI, parse_uri

from voice import audio

WIRE_RATE = 8000
FRAME_S = 0.02
FRAME_WIRE_BYTES = 160  # 20 ms of μ-law at 8 kHz
BACKPRESSURE_BYTES = 64 * 1024  # ~2 s of media messages unread by the server


@dataclass
class StreamTarget:
    url: str
    custom_parameters: dict[str, str] = field(default_factory=dict)
    call_sid: str = ""


def _voiced(ms: float, *, f0: float, seed: int) -> np.ndarray:
    """A glottal-like pulse train with vibrato and a syllable envelope: webrtcvad calls it speech."""
    n = int(WIRE_RATE * ms / 1000)
    t = np.arange(n) / WIRE_RATE
    pitch = f0 * (1 + 0.05 * np.sin(2 * np.pi * 3 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / WIRE_RATE
    sig = sum((1.0 / k) * np.sin(k * phase) for k in range(1, 20) if k * f0 < WIRE_RATE / 2)
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t) ** 2
    sig = sig * envelope + 0.01 * np.random.default_rng(seed).standard_normal(n)
    return sig / np.max(np.abs(sig)) * 0.3


# (speech ms, pause ms) of one 20 s cycle; pauses outlast the bot's short answers, mostly
CYCLE = ((1200, 2400), (900, 2200), (1600, 2600), (700, 2000), (1300, 2500), (1000, 2000))


@dataclass
class Pattern:
    payloads: list[str]  # base64 μ-law per 20 ms frame
    voiced: list[bool]  # the frame belongs to a speech burst
    burst_end: list[bool]  # the last voiced frame of a burst


def make_pattern(seed: int = 3) -> Pattern:
    rng = np.random.default_rng(seed)
    pieces: list[np.ndarray] = []
    flags: list[bool] = []
    for i, (speech_ms, pause_ms) in enumerate(CYCLE):
        speech = _voiced(speech_ms, f0=110 + 20 * (i % 4), seed=seed + i)
        pause = 0.0005 * rng.standard_normal(int(WIRE_RATE * pause_ms / 1000))
        pieces += [speech, pause]
        flags += [True] * (speech_ms // 20) + [False] * (pause_ms // 20)
    pcm = audio.array_to_pcm16(np.concatenate(pieces))
    ulaw = audio.pcm16_to_ulaw(pcm)
    payloads = [base64.b64encode(ulaw[i : i + FRAME_WIRE_BYTES]).decode()
                for i in range(0, len(ulaw) - FRAME_WIRE_BYTES + 1, FRAME_WIRE_BYTES)]
    flags = flags[: len(payloads)]
    ends = [f and (i + 1 == len(flags) or not flags[i + 1]) for i, f in enumerate(flags)]
    return Pattern(payloads, flags, ends)


def pct(values: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if len(values) else None


class Connection(asyncio.Protocol):
    """A WebSocket client on ``websockets``' Sans-I/O protocol with the least I/O around it.

    The load client shares the machine's cores with the servers it measures, so its cost per message is
    taken from the servers' budget. ``websockets``' asyncio client spends a lock, futures and a task
    wake-up on each message; here a send is one frame serialised and written at once, and each message
    received is handed to ``on_message`` from ``data_received``, with no task in between. The protocol
    (handshake, masking, framing, ping and close replies) is ``websockets``' own.
    """

    CLOSE_TIMEOUT_S = 5.0

    def __init__(self, wsuri: WebSocketURI, *, on_message, max_size: int = 2**20) -> None:
        self.protocol = ClientProtocol(wsuri, max_size=max_size)
        self.on_message = on_message  # (arrival time, text) for each text message
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future = asyncio.get_running_loop().create_future()
        self._fragments: list[bytes] = []
        self._close_timer: asyncio.TimerHandle | None = None

    @classmethod
    async def connect(cls, uri: str, *, on_message, open_timeout: float) -> Connection:
        wsuri = parse_uri(uri)
        loop = asyncio.get_running_loop()
        conn = cls(wsuri, on_message=on_message)
        try:
            async with asyncio.timeout(open_timeout):
                await loop.create_connection(lambda: conn, wsuri.host, wsuri.port)
                conn.protocol.send_request(conn.protocol.connect())
                conn._flush()
                await conn.opened
        except BaseException:
            if conn.transport is not None:  # refused or timed out: the socket is not left open
                conn.transport.abort()
            raise
        return conn

    @property
    def close_code(self) -> int | None:
        return self.protocol.close_code

    @property
    def close_reason(self) -> str:
        return self.protocol.close_reason or ""

    def send(self, text: str) -> None:
        """Sends one text message now; raises once the connection is closing or closed."""
        self.protocol.send_text(text.encode())
        self._flush()

    async def close(self) -> None:
        if self.protocol.state.name == "OPEN":
            self.protocol.send_close(1000)
            self._flush()
        await asyncio.shield(self.closed)

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.protocol.receive_data(data)
        self._handle_events()

    def eof_received(self) -> None:
        self.protocol.receive_eof()
        self._handle_events()

    def connection_lost(self, exc: Exception | None) -> None:
        self.protocol.receive_eof()  # the protocol learns the socket is gone (its close code says how)
        self._handle_events()
        if self._close_timer is not None:
            self._close_timer.cancel()
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(None)

    def _handle_events(self) -> None:
        now = time.monotonic()
        for event in self.protocol.events_received():
            if isinstance(event, Response):
                if self.opened.done():
                    continue
                if self.protocol.handshake_exc is not None:
                    self.opened.set_exception(self.protocol.handshake_exc)
                else:
                    self.opened.set_result(None)
            elif isinstance(event, Frame):
                self._on_frame(now, event)
        self._flush()

    def _on_frame(self, now: float, frame: Frame) -> None:
        if frame.opcode is Opcode.TEXT or (frame.opcode is Opcode.CONT and self._fragments):
            self._fragments.append(bytes(frame.data))
            if frame.fin:
                text = b"".join(self._fragments).decode()
                self._fragments.clear()
                self.on_message(now, text)

    def _flush(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        for data in self.protocol.data_to_send():
            if data:
                transport.write(data)
            elif transport.can_write_eof():
                transport.write_eof()
        if self.protocol.close_expected() and self._close_timer is None:
            # the peer closes the TCP connection once the close frames have crossed; if it does not, we do
            self._close_timer = asyncio.get_running_loop().call_later(self.CLOSE_TIMEOUT_S, transport.abort)


class TwilioStream:
    """One caller. The shared ticker calls ``send_frame``; ``receive`` runs as its own task."""

    def __init__(self, index: int, target: StreamTarget, pattern: Pattern, offset: int, *, lead_ms: float):
        self.index = index
        self.target = target
        self.pattern = pattern
        self.offset = offset
        self.lead_s = lead_ms / 1000
        self.stream_sid = f"MZ{index:032x}"
        self.call_sid = target.call_sid or f"CA{index:032x}"
        self.ws: Any = None
        self.seq = 0
        self.frames_sent = 0
        self.send_failures = 0
        self.frames_backpressured = 0
        self.frames_received = 0
        self.marks_received = 0
        self.marks_echoed = 0
        self.clears = 0
        self.send_lag_ms: list[float] = []
        self.lag_ms: list[float] = []
        self.jitter_ms: list[float] = []
        self.v2v_ms: list[float] = []
        self.error = ""
        self.closed_by_server: tuple[int | None, str] | None = None
        self._utt_start: float | None = None
        self._utt_k = 0
        self._reset = True
        self._burst_end_at: float | None = None
        self._play_end = 0.0
        self._pending_marks: list[tuple[str, asyncio.TimerHandle]] = []
        self.alive = False

    def _msg(self, event: str, **body: Any) -> str:
        self.seq += 1
        return json.dumps({"event": event, "sequenceNumber": str(self.seq), **body}, separators=(",", ":"))

    async def open(self, *, open_timeout: float) -> None:
        self.ws = await Connection.connect(self.target.url, on_message=self._on_message, open_timeout=open_timeout)
        self.alive = True
        self.ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        self.ws.send(self._msg("start", streamSid=self.stream_sid, start={
            "streamSid": self.stream_sid, "accountSid": "AC" + "0" * 32, "callSid": self.call_sid,
            "tracks": ["inbound"], "customParameters": dict(self.target.custom_parameters),
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        }))

    def send_frame(self, n: int, due: float) -> None:
        if not self.alive:
            return
        i = (self.offset + n) % len(self.pattern.payloads)
        self.seq += 1
        # formatted by hand: json.dumps for 5,000 frames a second would load the client, not the server
        msg = (f'{{"event":"media","sequenceNumber":"{self.seq}","media":{{"track":"inbound","chunk":"{n + 1}",'
               f'"timestamp":"{n * 20}","payload":"{self.pattern.payloads[i]}"}},"streamSid":"{self.stream_sid}"}}')
        now = time.monotonic()
        self.send_lag_ms.append((now - due) * 1000)
        transport = self.ws.transport
        if transport is not None and transport.get_write_buffer_size() > BACKPRESSURE_BYTES:
            # the server stopped reading: a carrier drops audio it cannot deliver rather than stall every
            # other call it carries, so this frame is lost (counted), and the ticker never blocks
            self.frames_backpressured += 1
            return
        try:
            self.ws.send(msg)
        except Exception as exc:  # the server closed on us: every later frame is lost too
            self.alive = False
            self.send_failures += 1
            self.error = self.error or f"send: {type(exc).__name__}: {exc}"
            return
        self.frames_sent += 1
        if self.pattern.burst_end[i]:
            self._burst_end_at = now
            self._reset = True

    async def receive(self) -> None:
        """Waits for the socket to close; its messages reach ``_on_message`` as they arrive.

        Cancelled (the run stopped waiting for the server's close), it records no error, and the connection's
        ``closed`` is left for ``Connection.close`` to wait on (shielded from the cancellation).
        """
        try:
            await asyncio.shield(self.ws.closed)
        finally:
            self.alive = False
            self.closed_by_server = (self.ws.close_code, self.ws.close_reason)
        if self.closed_by_server[0] not in (1000, 1001):
            self.error = self.error or f"receive: closed {self.closed_by_server[0]} {self.closed_by_server[1]}"

    def _on_message(self, now: float, raw: str) -> None:
        try:
            data = json.loads(raw)
            event = data.get("event")
            if event == "media":
                self._on_media(now, data["media"]["payload"])
            elif event == "mark":
                self.marks_received += 1
                name = data["mark"]["name"]
                # Twilio echoes a mark once everything sent before it has played
                delay = max(0.0, self._play_end - now)
                handle = asyncio.get_running_loop().call_later(delay, self._echo_mark, name)
                self._pending_marks.append((name, handle))
            elif event == "clear":
                self.clears += 1
                self._play_end = now
                self._reset = True
                for name, handle in self._pending_marks:
                    handle.cancel()
                    self._echo_mark(name)
                self._pending_marks.clear()
        except Exception as exc:
            self.error = self.error or f"receive: {type(exc).__name__}: {exc}"

    def _on_media(self, now: float, payload: str) -> None:
        self.frames_received += 1
        if self._reset or self._utt_start is None:
            if self._reset and self._burst_end_at is not None:
                self.v2v_ms.append((now - self._burst_end_at) * 1000)
                self._burst_end_at = None
            self._reset = False
            self._utt_start, self._utt_k = now, 0
        offset = self._utt_k * FRAME_S
        self.lag_ms.append(max(0.0, now - (self._utt_start + offset)) * 1000)
        self.jitter_ms.append((now - (self._utt_start + max(0.0, offset - self.lead_s))) * 1000)
        # a frame is 20 ms unless the server sent an odd size; base64 length tells without decoding
        samples = len(payload) * 3 // 4 - payload.count("=", -2)
        self._utt_k += samples / FRAME_WIRE_BYTES
        self._play_end = max(self._play_end, now) + samples / WIRE_RATE

    def _echo_mark(self, name: str) -> None:
        self._pending_marks = [(n, h) for n, h in self._pending_marks if n != name]
        if not self.alive:
            return
        self.marks_echoed += 1
        self._safe_send(self._msg("mark", streamSid=self.stream_sid, mark={"name": name}))

    def _safe_send(self, msg: str) -> None:
        try:
            self.ws.send(msg)
        except Exception:
            self.alive = False

    def stop(self) -> None:
        if self.alive:
            self._safe_send(self._msg("stop", streamSid=self.stream_sid, stop={
                "accountSid": "AC" + "0" * 32, "callSid": self.call_sid}))


async def _ticker(streams: list[TwilioStream], t0: float, frames: int) -> list[float]:
    """Sends frame n of every stream in the group at t0 + n * 20 ms; returns its own wake-up lateness."""
    lateness = []
    for n in range(frames):
        due = t0 + n * FRAME_S
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        lateness.append((time.monotonic() - due) * 1000)
        for stream in streams:
            stream.send_frame(n, due)
    return lateness


async def run_load(targets: Sequence[StreamTarget], *, seconds: float, lead_ms: float = 80, groups: int = 10,
                   seed: int = 5, connect_timeout_s: float = 20.0) -> dict[str, Any]:
    """Run every target for ``seconds`` of audio in real time and return client-side figures."""
    pattern = make_pattern()
    rng = random.Random(seed)
    streams = [TwilioStream(i, t, pattern, rng.randrange(len(pattern.payloads)), lead_ms=lead_ms)
               for i, t in enumerate(targets)]

    gate = asyncio.Semaphore(20)  # a real PBX does not open 100 sockets in the same millisecond either

    async def opened(stream: TwilioStream) -> None:
        async with gate:
            try:
                await stream.open(open_timeout=connect_timeout_s)
            except Exception as exc:
                stream.error = f"connect: {type(exc).__name__}: {exc}"

    started = time.monotonic()
    await asyncio.gather(*(opened(s) for s in streams))
    connect_s = time.monotonic() - started
    receivers = [asyncio.create_task(s.receive()) for s in streams if s.alive]
    frames = int(seconds / FRAME_S)
    t0 = time.monotonic() + 0.1
    groups = max(1, min(groups, len(streams)))
    # streams spread over phase groups: real calls do not all deliver a frame in the same millisecond
    tickers = [
        _ticker([s for s in streams if s.index % groups == g], t0 + g * FRAME_S / groups, frames)
        for g in range(groups)
    ]
    tick_lateness = [x for lat in await asyncio.gather(*tickers) for x in lat]
    # let the last bot frames in flight arrive, then hang up like Twilio does
    await asyncio.sleep(0.3)
    for s in streams:
        s.stop()
    _, pending = await asyncio.wait(receivers, timeout=10) if receivers else (set(), set())
    for task in pending:
        task.cancel()
    for s in streams:
        if s.ws is not None:
            with contextlib.suppress(Exception):  # already closed by the server, as it should be
                await asyncio.wait_for(s.ws.close(), 2)

    def all_of(name: str) -> list[float]:
        return [x for s in streams for x in getattr(s, name)]

    lag, jitter, send_lag, v2v = all_of("lag_ms"), all_of("jitter_ms"), all_of("send_lag_ms"), all_of("v2v_ms")
    return {
        "streams": len(streams),
        "streams_connected": sum(1 for s in streams if s.ws is not None),
        "streams_failed": sum(1 for s in streams if s.error),
        "seconds": seconds,
        "frames_sent": sum(s.frames_sent for s in streams),
        # frames a caller could not send (socket closed, never opened, or the server not reading): lost audio
        "frames_unsent": sum(frames - s.frames_sent for s in streams),
        "frames_backpressured": sum(s.frames_backpressured for s in streams),
        "frames_received": sum(s.frames_received for s in streams),
        "lag_p50_ms": pct(lag, 50),
        "lag_p99_ms": pct(lag, 99),
        "lag_max_ms": round(max(lag), 2) if lag else None,
        "late_frames": sum(1 for x in lag if x > 0),
        "jitter_p50_ms": pct(jitter, 50),
        "jitter_p99_ms": pct(jitter, 99),
        "send_lag_p50_ms": pct(send_lag, 50),
        "send_lag_p99_ms": pct(send_lag, 99),
        "send_lag_max_ms": round(max(send_lag), 2) if send_lag else None,
        "ticker_lateness_p99_ms": pct(tick_lateness, 99),
        "client_v2v_p50_ms": pct(v2v, 50),
        "client_v2v_p95_ms": pct(v2v, 95),
        "bot_utterances": len(v2v),
        "marks_received": sum(s.marks_received for s in streams),
        "marks_echoed": sum(s.marks_echoed for s in streams),
        "clears": sum(s.clears for s in streams),
        "connect_s": round(connect_s, 2),
        "errors": sorted({s.error for s in streams if s.error})[:5],
        "per_stream_frames_sent": {s.stream_sid: s.frames_sent for s in streams},
        "per_stream_frames_received": {s.stream_sid: s.frames_received for s in streams},
    }
