"""A stand-in media server for ``media_load`` and its tests: Twilio Media Streams over ``MediaSession``.

Served by daphne as ``config.media_bench:application`` at ``ws/bench/media/``, with fake STT and
TTS and an instant scripted responder, so the load test measures the media path (protocol, codecs,
resampling, VAD, pipeline, pacing, Channels and daphne) and nothing else. It is used only when the
project's own telephony media route is not there yet.

``real_application`` is the project's own ASGI app (``config.asgi``) with the same counting hooks,
for runs against the real telephony consumer.

When ``VOICE_BENCH_STATS`` names a file, ``MediaSession`` is wrapped (in this process only) so each
stream appends one JSON line there when it ends: inbound frames consumed, outbound frames sent, and
how late the session handled inbound frames (``inbound_lag``: arrival vs. the stream's 20 ms
schedule from its earliest frame), and, on the real route, the process's backpressure so far
(``calls.media_pressure``: seconds it told the dispatcher to hold new calls, and its worst lateness then).
Nothing of this touches production code paths.
"""

from __future__ import annotations

import json
import os
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
django.setup()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from voice.bench.fakes import ScriptedResponder  # noqa: E402
from voice.endpoint import WebSocketEndpoint  # noqa: E402
from voice.pipeline import PipelineConfig, VoicePipeline  # noqa: E402
from voice.protocols.base import Start  # noqa: E402
from voice.protocols.twilio import TwilioCodec  # noqa: E402
from voice.session import MediaSession  # noqa: E402
from voice.stt.fake import FakeSTT  # noqa: E402
from voice.tts.fake import FakeTTS  # noqa: E402

STATS_PATH = os.environ.get("VOICE_BENCH_STATS", "")


def _write_stats(session: MediaSession) -> None:
    if getattr(session, "_bench_written", False):
        return
    session._bench_written = True
    lags = sorted(getattr(session, "_bench_lags", []))
    line = json.dumps({
        "stream": session.codec.stream_id,
        "process": os.getpid(),
        **_pressure_so_far(),
        "frames_in": session.frames_in,
        "frames_out": session.frames_out,
        "inbound_lag_p99_ms": round(lags[int(0.99 * (len(lags) - 1))] * 1000, 2) if lags else None,
        "inbound_lag_max_ms": round(lags[-1] * 1000, 2) if lags else None,
        "inbound_lag_by_s": _by_second(getattr(session, "_bench_lags", [])),
    })
    fd = os.open(STATS_PATH, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())  # one small write per line: appends never interleave
    finally:
        os.close(fd)


def _pressure_so_far() -> dict:
    """This process's backpressure so far, where a call started its probe (the real route; not the stand-in)."""
    from calls.media_pressure import started_pressure  # noqa: PLC0415  the real route's module

    pressure = started_pressure()
    if pressure is None:
        return {}
    return {"busy_s": pressure.reports, "busy_worst_ms": round(pressure.worst_ms, 1)}


def _by_second(lags: list[float]) -> list[float]:
    """The worst inbound lag (ms) in each second of the stream (50 frames), in stream order."""
    return [round(max(lags[i:i + 50]) * 1000, 1) for i in range(0, len(lags), 50)]


def install_stats_hooks() -> None:
    """Count per stream inside ``MediaSession`` itself, so the real consumer is measured unchanged."""
    if not STATS_PATH or getattr(MediaSession, "_bench_hooked", False):
        return
    MediaSession._bench_hooked = True
    on_text, close, disconnected = MediaSession.on_text, MediaSession.close, MediaSession.disconnected

    async def counted_on_text(self, text: str) -> None:
        if text.startswith('{"event":"media"'):
            # earliest (arrival - n * 20 ms) is the schedule's origin; anything above it is backlog
            n = getattr(self, "_bench_n", 0)
            origin = time.monotonic() - n * 0.02
            self._bench_n = n + 1
            base = getattr(self, "_bench_base", None)
            if base is None or origin < base:
                self._bench_base = base = origin
            self.__dict__.setdefault("_bench_lags", []).append(origin - base)
        await on_text(self, text)

    async def counted_close(self, code: int = 1000, reason: str = "") -> None:
        await close(self, code, reason)
        _write_stats(self)

    async def counted_disconnected(self, code: int | None = None) -> None:
        await disconnected(self, code)
        _write_stats(self)

    MediaSession.on_text = counted_on_text
    MediaSession.close = counted_close
    MediaSession.disconnected = counted_disconnected


install_stats_hooks()
REPLY = {"ru": "Хорошо, понял вас.", "en": "Okay, got it, thanks."}


def build_pipeline(start: Start) -> VoicePipeline:
    language = start.custom_parameters.get("language", "ru")
    return VoicePipeline(
        stt=FakeSTT(default="да"),
        tts=FakeTTS(ms_per_char=60),
        responder=ScriptedResponder(default=REPLY.get(language, REPLY["en"])),
        config=PipelineConfig(language=language),
    )


class BenchMediaConsumer(WebSocketEndpoint):
    """The same bare endpoint as the real media route, without the database, the channel layer or tokens."""

    async def on_connect(self) -> None:
        await self.accept()
        self.session = MediaSession(TwilioCodec(), build_pipeline, send=self.send_frame, close=self.close)
        await self.session.open()

    async def on_text(self, text: str) -> None:
        await self.session.on_text(text)

    async def on_bytes(self, data: bytes) -> None:
        await self.session.on_bytes(data)

    async def on_disconnect(self, code: int) -> None:
        await self.session.disconnected(code)


application = ProtocolTypeRouter({
    "websocket": URLRouter([path("ws/bench/media/", BenchMediaConsumer.as_asgi())]),
})


def __getattr__(name: str):
    # the project's app is built only when asked for: it imports every app's consumers
    if name == "real_application":
        from django.conf import settings  # noqa: PLC0415  built only when asked; voice.bench reaching into Django (allowed for bench)

        # Reads on this Redis time out at 5 s, exactly channels_redis's BZPOPMIN wait, so every consumer
        # with a channel layer died with a TimeoutError after ~5 s; a longer socket timeout, here only.
        layer = settings.CHANNEL_LAYERS.get("default", {})
        if layer.get("BACKEND", "").startswith("channels_redis"):
            layer["CONFIG"]["hosts"] = [
                {"address": h, "socket_timeout": 30} if isinstance(h, str) else h for h in layer["CONFIG"]["hosts"]
            ]
        from config.asgi import application as real  # noqa: PLC0415  built only when asked: importing config.asgi loads every app

        return real
    raise AttributeError(name)
