"""Live listen-in and takeover of a call: its mixed audio to operators, an operator's microphone into the call.

Two ends meet through the channel layer, so the browser and the carrier's media socket may live in different
processes (the web tier and the media edge):

- ``CallLive`` rides on the carrier's media socket (``calls.consumers.MediaStreamConsumer``). Its ``LiveMix`` is
  the session's audio tap: it passes every frame to the recording and, only while someone listens, mixes the
  caller and the bot into 8 kHz PCM16 chunks of ``CHUNK_MS`` for the call's listen group. Nobody listening
  costs one truth test per frame. Its inbox (a channel of its own, in the call's media group) takes the
  listeners' heartbeats and the takeover: the bot is muted (``VoicePipeline.set_bot_muted``) and the
  operator's 16 kHz PCM16 is encoded to the carrier's format and sent as outbound media on the same socket.
- The same inbox keeps the call's watchers: pages showing its live transcript (``CallMonitorConsumer``) and a
  rehearsal's simulated callee. The media socket publishes the call's pipeline events (transcripts, mind states,
  the bot's lines) only while one is there: nobody watches most calls, and those events were a tenth of a media
  process's CPU. Watchers announce themselves with ``watch.want`` heartbeats (``keep_watching``); one not heard
  from for ``LISTENER_TTL_S`` is forgotten (a page says no goodbye through the layer).
- ``CallListenConsumer`` is the browser's socket, ``ws/calls/<call_id>/listen/``: operators and managers only
  (``calls.monitor_call``). Binary frames out are the mix; binary frames in are the operator's microphone
  while they hold the call; JSON in is ``{"action": "takeover"}`` / ``{"action": "handback"}``.

Listeners announce themselves every ``HEARTBEAT_S``; one not heard from for ``LISTENER_TTL_S`` is dropped, and
a takeover whose operator is not heard from for as long is handed back to the bot, so a browser or process
that dies never leaves a call muted. Every start and stop is written to the call's event log with the user.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer

from calls.events import call_group
from calls.selectors import call_exists
from calls.services.lifecycle import call_operator_event
from config.live_events import group_send_async
from config.websocket import DropSendsToGonePeer
from voice.audio import StreamResampler, mix

if TYPE_CHECKING:
    from voice.session import AudioTap, MediaSession

log = logging.getLogger(__name__)

CHUNK_MS = 160  # one message per listener this often: well under the 1 s the page may lag behind the call
LISTEN_RATE = 8000  # what the browser gets: telephone audio, whatever the wire's rate
LISTENER_TTL_S = 15.0
HEARTBEAT_S = 5.0
MAX_BOT_AHEAD_S = 3.0  # bot audio queued ahead of the caller's clock (a rehearsal runs fast): older is dropped
MAX_OPERATOR_CHUNK = 32000  # one second of 16 kHz PCM16 per browser frame at most
CLOSE_FORBIDDEN = 4403
CLOSE_NO_CALL = 4404


def media_group(call_id: int) -> str:
    """The group of the call's media socket (one member): listeners and takeovers talk to it here."""
    return f"call_{call_id}_media"


def listen_group(call_id: int) -> str:
    """The group of the browsers listening to the call: the mix and the takeover state go here."""
    return f"call_{call_id}_listen"


class LiveMix:
    """The media session's audio tap: forwards to ``inner`` (the recording), mixes for listeners only while any."""

    def __init__(self, inner: AudioTap, publish):
        self.inner = inner
        self._publish = publish  # called with each mixed chunk (bytes, PCM16 at LISTEN_RATE)
        self.listeners: dict[str, float] = {}  # channel name -> monotonic expiry
        self.operator_live = False  # outbound audio is the operator's then: they do not hear themselves back
        self.rate = 8000
        self._chunk = self.rate * 2 * CHUNK_MS // 1000
        self._in = bytearray()
        self._out = bytearray()
        self._down = None  # to LISTEN_RATE when the wire runs at another rate

    def begin(self, sample_rate: int) -> None:
        self.inner.begin(sample_rate)
        self.rate = sample_rate
        self._chunk = sample_rate * 2 * CHUNK_MS // 1000
        self._down = None if sample_rate == LISTEN_RATE else StreamResampler(sample_rate, LISTEN_RATE, quality="LQ")

    def inbound(self, pcm16: bytes) -> None:
        self.inner.inbound(pcm16)
        if not self.listeners:
            return
        self._in += pcm16
        if len(self._in) >= self._chunk:
            self._flush()

    def outbound(self, pcm16: bytes) -> None:
        self.inner.outbound(pcm16)
        if not self.listeners or self.operator_live:
            return
        self._out += pcm16
        cap = int(self.rate * 2 * MAX_BOT_AHEAD_S)
        if len(self._out) > cap:
            del self._out[: len(self._out) - cap]

    def cleared(self) -> None:
        self.inner.cleared()
        self._out.clear()  # queued at the far end, never played: the listeners do not hear it either

    def _flush(self) -> None:
        now = time.monotonic()
        for channel, expires in list(self.listeners.items()):
            if expires < now:
                del self.listeners[channel]
        n = len(self._in) // 2 * 2
        caller = bytes(self._in[:n])
        del self._in[:n]
        bot = bytes(self._out[: min(n, len(self._out) // 2 * 2)])
        del self._out[: len(bot)]
        if not self.listeners:
            self._in.clear()
            self._out.clear()
            return
        mixed = mix([(0, caller), (0, bot)], n // 2)
        self._publish(self._down.process(mixed) if self._down is not None else mixed)


class CallLive:
    """The media socket's end: publishes the mix while anyone listens, obeys takeovers from its inbox."""

    def __init__(self, *, call_id: int, recorder: AudioTap):
        self.call_id = call_id
        self.mix = LiveMix(recorder, self._publish_chunk)
        self.session: MediaSession | None = None
        self.channel = ""
        self.taken_by = ""  # the listener channel that holds the call
        self.taken_user: dict[str, Any] = {}
        self._seen: dict[str, float] = {}
        self.watchers: dict[str, float] = {}  # channel name -> monotonic expiry: who shows the live transcript
        self.on_watcher: Callable[[], Awaitable[None]] | None = None  # a watcher joined (the state is shown again)
        self._encoder = None
        self._inbox: asyncio.Task | None = None
        self._watch: asyncio.Task | None = None
        self._sends: set[asyncio.Task] = set()
        self._stopping: list[asyncio.Task] = []
        self.layer = get_channel_layer()

    async def attach(self, session: MediaSession) -> None:
        """The media socket holds the call: open the inbox (in the background: the call does not wait on it)."""
        self.session = session
        if self.layer is not None:
            self._inbox = asyncio.create_task(self._read_inbox(), name="call-live-inbox")

    def stop_inbox(self) -> None:
        """The call is ending: take no more listeners or takeovers (at once: nothing here is waited for)."""
        for task in (self._inbox, self._watch):
            if task is not None and not task.done():
                task.cancel()
                self._stopping.append(task)
        self._inbox = self._watch = None

    async def detach(self) -> None:
        """The call's media is over: close the inbox, hand back a held call, forget the listeners."""
        self.stop_inbox()
        tasks, self._stopping = self._stopping, []
        if self.taken_by:
            await self._hand_back(reason="call ended")
        if tasks:  # bounded: a channel-layer read that is slow to stop must not hold up the end of the call
            await asyncio.wait(tasks, timeout=2)
        if self.layer is not None and self.channel:
            with contextlib.suppress(Exception):
                await self.layer.group_discard(media_group(self.call_id), self.channel)
            self.channel = ""
        self.mix.listeners.clear()
        self.watchers.clear()

    def watched(self) -> bool:
        """Whether anyone shows the call's live transcript now (its pipeline events are worth publishing)."""
        if not self.watchers:
            return False
        now = time.monotonic()
        for channel, expires in list(self.watchers.items()):
            if expires < now:
                del self.watchers[channel]
        return bool(self.watchers)

    # --- out: the mix ---

    def _publish_chunk(self, pcm: bytes) -> None:
        task = asyncio.ensure_future(self._to_listeners({"type": "listen.audio", "pcm": pcm}))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def _to_listeners(self, message: dict[str, Any]) -> None:
        await self._to_groups([listen_group(self.call_id)], message)

    async def _to_groups(self, groups: list[str], message: dict[str, Any]) -> None:
        if self.layer is not None:  # best effort: a live page is a convenience, the call goes on without it
            await group_send_async(groups, message, layer=self.layer)

    # --- in: the inbox ---

    async def _read_inbox(self) -> None:
        try:
            await self._serve_inbox()
        except asyncio.CancelledError:
            raise
        except Exception:  # the channel layer failed: the call goes on, without listen-in
            log.warning("call %s: listen-in is unavailable", self.call_id, exc_info=True)

    async def _serve_inbox(self) -> None:
        # the default prefix: channels_redis serves every process-local channel of one prefix with one blocking
        # read; a second prefix would only be read between the first one's timeouts (every 5 s)
        self.channel = await self.layer.new_channel()
        await self.layer.group_add(media_group(self.call_id), self.channel)
        # pages already open (listeners and watchers) announce themselves at once
        await self._to_groups([listen_group(self.call_id), call_group(self.call_id)], {"type": "media.ready"})
        while True:
            message = await self.layer.receive(self.channel)
            try:
                await self.handle(message)
            except Exception:
                log.exception("call %s: live message %s failed", self.call_id, message.get("type"))

    async def handle(self, message: dict[str, Any]) -> None:
        kind, listener = message.get("type"), str(message.get("listener") or "")
        now = time.monotonic()
        if listener:
            self._seen[listener] = now
        if kind == "listen.want":
            self.mix.listeners[listener] = now + LISTENER_TTL_S
        elif kind == "listen.stop":
            self.mix.listeners.pop(listener, None)
            self._seen.pop(listener, None)
        elif kind == "watch.want":
            joined = listener not in self.watchers
            self.watchers[listener] = now + LISTENER_TTL_S
            if joined and self.on_watcher is not None:
                await self.on_watcher()
        elif kind == "takeover.start":
            await self._take_over(listener, message.get("user") or {})
        elif kind == "takeover.audio":
            if listener == self.taken_by and self._encoder is not None:
                for frame in self._encoder.push(bytes(message.get("pcm") or b"")):
                    await self.session.send_frame(frame)
        elif kind == "takeover.stop":
            if listener == self.taken_by:
                await self._hand_back(reason=str(message.get("reason") or "handed back"))

    async def _take_over(self, listener: str, user: dict[str, Any]) -> None:
        pipeline = self.session.pipeline if self.session is not None else None
        if self.taken_by and self.taken_by != listener:
            await self.layer.send(listener, {"type": "takeover.state", "active": False, "refused": "taken",
                                             "user": self.taken_user.get("name", "")})
            return
        if pipeline is None or pipeline.closed or pipeline.ended:
            await self.layer.send(listener, {"type": "takeover.state", "active": False, "refused": "not_live"})
            return
        if self.taken_by == listener:
            return
        self.taken_by, self.taken_user = listener, dict(user)
        self._watch = asyncio.create_task(self._watch_operator(), name="call-live-watch")  # only while held
        self.mix.operator_live = True
        await pipeline.set_bot_muted(True)
        self._encoder = self.session.frame_encoder()  # 16 kHz PCM16 -> the carrier's rate and encoding
        await database_sync_to_async(call_operator_event)(
            call_id=self.call_id, kind="takeover_started", user_id=user.get("id"), username=user.get("name", ""))
        await self._to_listeners({"type": "takeover.state", "active": True, "listener": listener,
                                  "user": user.get("name", "")})

    async def _hand_back(self, *, reason: str) -> None:
        listener, user = self.taken_by, self.taken_user
        self.taken_by, self.taken_user = "", {}
        if self._watch is not None and self._watch is not asyncio.current_task():
            self._watch.cancel()
        self._watch = None
        if self._encoder is not None and self.session is not None:
            for frame in self._encoder.flush():
                await self.session.send_frame(frame)
        self._encoder = None
        self.mix.operator_live = False
        pipeline = self.session.pipeline if self.session is not None else None
        if pipeline is not None:
            await pipeline.set_bot_muted(False)
        await database_sync_to_async(call_operator_event)(
            call_id=self.call_id, kind="takeover_ended", user_id=user.get("id"), username=user.get("name", ""),
            reason=reason)
        await self._to_listeners({"type": "takeover.state", "active": False, "listener": listener, "reason": reason})

    async def _watch_operator(self) -> None:
        """An operator whose browser or process is gone leaves no call muted: it goes back to the bot."""
        while self.taken_by:
            await asyncio.sleep(HEARTBEAT_S)
            if self.taken_by and time.monotonic() - self._seen.get(self.taken_by, 0.0) > LISTENER_TTL_S:
                await self._hand_back(reason="operator gone")
                return


async def want_to_watch(layer, call_id: int, channel: str) -> None:
    """Tell the call's media socket that ``channel`` shows its live transcript (for ``LISTENER_TTL_S``); best effort."""
    try:
        await layer.group_send(media_group(call_id), {"type": "watch.want", "listener": channel})
    except Exception:
        log.warning("call %s: watching the call failed", call_id, exc_info=True)


async def keep_watching(layer, call_id: int, channel: str) -> None:
    """A watcher's heartbeat (run it as a task while the transcript is shown); a media socket that starts later
    asks with ``media.ready``, which the watcher answers with ``want_to_watch``."""
    while True:
        await want_to_watch(layer, call_id, channel)
        await asyncio.sleep(HEARTBEAT_S)


class CallListenConsumer(DropSendsToGonePeer, AsyncWebsocketConsumer):
    """``ws/calls/<call_id>/listen/``: an operator's or manager's browser hears the call and may take it over."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not await database_sync_to_async(user.has_perm)(
            "calls.monitor_call"
        ):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        call_id = int(self.scope["url_route"]["kwargs"]["call_id"])
        if not await database_sync_to_async(call_exists)(call_id=call_id):
            await self.close(code=CLOSE_NO_CALL)
            return
        self.call_id = call_id
        self.user = {"id": user.pk, "name": user.get_username()}
        self.taking_over = False
        self.bad_audio_said = False
        await self.channel_layer.group_add(listen_group(call_id), self.channel_name)
        await self.accept()
        await self._log("listen_started")
        self._heartbeat = asyncio.create_task(self._beat())

    async def disconnect(self, code: int) -> None:
        if not hasattr(self, "call_id"):
            return
        self._heartbeat.cancel()
        if self.taking_over:
            await self._to_media({"type": "takeover.stop", "reason": "operator left"})
        await self._to_media({"type": "listen.stop"})
        await self.channel_layer.group_discard(listen_group(self.call_id), self.channel_name)
        await self._log("listen_stopped")

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if bytes_data is not None:
            if not self.taking_over:
                return  # the microphone's last chunks after a hand-back: nobody is on the line for them
            if 0 < len(bytes_data) <= MAX_OPERATOR_CHUNK and len(bytes_data) % 2 == 0:
                await self._to_media({"type": "takeover.audio", "pcm": bytes_data})
            elif not self.bad_audio_said:  # once: a page that sends bad chunks sends them 50 times a second
                self.bad_audio_said = True
                await self.send(text_data=json.dumps({"type": "error", "error": (
                    f"audio chunks are 16-bit PCM, 2 to {MAX_OPERATOR_CHUNK} bytes; got {len(bytes_data)}")}))
            return
        try:
            action = json.loads(text_data or "").get("action")
        except (ValueError, AttributeError, RecursionError):  # not JSON, not an object, nested past the parser
            action = None
        if action == "takeover":
            self.taking_over = True
            await self._to_media({"type": "takeover.start", "user": self.user})
        elif action == "handback" and self.taking_over:
            self.taking_over = False
            await self._to_media({"type": "takeover.stop", "reason": "handed back"})
        else:
            await self.send(text_data=json.dumps({"type": "error", "error": "unknown action"}))

    async def _beat(self) -> None:
        while True:
            await self._to_media({"type": "listen.want"})
            await asyncio.sleep(HEARTBEAT_S)

    async def _to_media(self, message: dict[str, Any]) -> None:
        try:
            await self.channel_layer.group_send(media_group(self.call_id), {**message, "listener": self.channel_name})
        except Exception:
            log.warning("call %s: %s to the media socket failed", self.call_id, message["type"], exc_info=True)

    async def _log(self, kind: str) -> None:
        await database_sync_to_async(call_operator_event)(
            call_id=self.call_id, kind=kind, user_id=self.user["id"], username=self.user["name"])

    # --- from the media socket ---

    async def listen_audio(self, message: dict[str, Any]) -> None:
        await self.send(bytes_data=message["pcm"])

    async def media_ready(self, message: dict[str, Any]) -> None:
        await self._to_media({"type": "listen.want"})

    async def takeover_state(self, message: dict[str, Any]) -> None:
        mine = message.get("listener") == self.channel_name or "listener" not in message
        if mine:
            self.taking_over = bool(message.get("active"))
        await self.send(text_data=json.dumps({
            "type": "takeover", "active": bool(message.get("active")), "mine": mine,
            "user": message.get("user", ""), "refused": message.get("refused", ""),
            "reason": message.get("reason", ""),
        }))
