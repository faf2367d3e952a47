"""WebSocket consumers of calls: the carrier's media stream (signed per-call token) and the operators' live feed.

The media consumer is thin: it checks the token, hands frames to a ``voice.session.MediaSession``
running the campaign script's salesperson, and reports what happened through ``calls.services``.
It is a bare ASGI endpoint (``voice.endpoint.WebSocketEndpoint``), not a Channels consumer: 50
frames a second per call go straight from the server's receive to the session (see that module).

One live media socket per call: the first socket that presents a valid token holds the call (a
Redis key, so it holds across processes) until it ends; a second one is refused with
``CLOSE_ALREADY_STREAMING``, so a leaked token cannot listen in or record the call twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
import weakref
from collections.abc import Callable
from typing import ClassVar
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from calls import services
from calls.db_batch import answered_batcher, context_batcher, turn_batcher
from calls.language import language_watch_for
from calls.listen import CallLive, keep_watching, want_to_watch
from calls.media_pressure import media_pressure
from calls.telephony import media_protocol
from calls.transfer import call_transfer, call_transfer_requested
from calls.voicemail import VoicemailWatcher
from config.voice import (
    audio_cache_for_loop,
    for_loop,
    llm_config_from_settings,
    media_guard_options,
    redis_for_loop,
    shared_provider,
    tts_for_language,
)
from config.websocket import DropSendsToGonePeer, PushOnlyFeed
from dialogs.classifier import get_classifier
from dialogs.responders import FlowResponder
from dialogs.salesperson import LLMResponder
from dialogs.scriptmap import call_limits
from voice.audio import mix, write_wav
from voice.endpoint import WebSocketEndpoint
from voice.events import (
    BackgroundSink,
    BotTurnFinished,
    ConversationEndReason,
    DirectiveEvent,
    PipelineEvent,
    StateChanged,
    TurnMetrics,
    UserTranscript,
)
from voice.pipeline import CallLimits, PipelineConfig, VoicePipeline
from voice.protocols import codec_for
from voice.protocols.base import CLOSE_NORMAL
from voice.session import EndReason, MediaSession
from voice.turns import TurnAssembler, TurnRecord

log = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401  # no token arrived in time
CLOSE_BAD_TOKEN = 4403  # wrong, expired or for another call
CLOSE_CALL_NOT_LIVE = 4409  # the call is over or unknown
CLOSE_ALREADY_STREAMING = 4429  # another socket already carries this call's media
AUTH_TIMEOUT_S = 10.0
# why a call's stream ended when the carrier closed it without saying (the call's log shows them in Russian)
STREAM_DROPPED = "stream dropped"  # gone mid-call with no ``stop``
CLOSED_BEFORE_START = "closed before start"  # let in, gone before any audio

def build_responder(ctx: services.CallMediaContext):
    config = llm_config_from_settings()
    if config is not None:
        return LLMResponder(ctx.script_map, ctx.variables, ctx.language, config=config)
    return FlowResponder(ctx.script_map, ctx.variables, ctx.language)


class CallRecorder:
    """A mono WAV of both sides at the wire's rate, laid out on the callee's frame clock (the carrier sends
    continuously). It holds at most ``max_s`` seconds (``CALL_RECORDING_MAX_S``); audio past that is not kept.
    """

    def __init__(self, *, max_s: float | None = None) -> None:
        self.rate = 16000
        self.max_s = float(max_s if max_s is not None else settings.TELEPHONY.get("RECORDING_MAX_S", 3600))
        self._cap = int(self.rate * 2 * self.max_s)
        self.callee = bytearray()
        self.bot = bytearray()
        self.truncated = False

    # voice.session.AudioTap: the session hands over audio it has already decoded
    def begin(self, sample_rate: int) -> None:
        self.rate = sample_rate
        self._cap = int(sample_rate * 2 * self.max_s)

    def inbound(self, pcm16: bytes) -> None:
        if len(self.callee) + len(pcm16) > self._cap:
            self.truncated = True
            return
        self.callee += pcm16

    def outbound(self, pcm16: bytes) -> None:
        if len(self.bot) < len(self.callee):  # the bot was silent until now
            self.bot += bytes(len(self.callee) - len(self.bot))
        if len(self.bot) + len(pcm16) > self._cap:
            self.truncated = True
            return
        self.bot += pcm16

    def cleared(self) -> None:
        # audio queued at the far end but never played is dropped from the recording too
        del self.bot[len(self.callee):]

    def wav(self) -> bytes:
        n = max(len(self.callee), len(self.bot)) // 2
        if n == 0:
            return b""
        return write_wav(None, mix([(0, bytes(self.callee)), (0, bytes(self.bot))], n), self.rate)


class CallEventSink:
    """Stores the call's lines with their latency figures (``voice.turns.TurnAssembler`` assembles them) and
    streams transcripts, mind states and the lines to the operators. Every line is stored once ``aclose`` returns.

    A caller's line carries the salesperson's verdict on it (the ``meta`` directive of the same turn, which
    comes after the transcript), so it is stored once its turn is answered, or when the call ends.

    ``watched`` says whether anyone shows the call live now (``calls.listen.CallLive.watched``): the events are
    published only then. Without it they always are.
    """

    def __init__(self, ctx: services.CallMediaContext, *, after: asyncio.Future | None = None,
                 watched: Callable[[], bool] | None = None):
        self.ctx = ctx
        self.after = after  # a write that must land first (the call's ``answered``)
        self.watched = watched
        self._state: StateChanged | None = None  # the bot's mind state now, and whether the watchers saw it
        self._state_published = False
        self.index = 0
        self._writes: list[asyncio.Future] = []  # the lines being stored
        self.t0 = time.time()
        self.turns = TurnAssembler(ms_at=self._ms, verdict_on_user=True)

    def _ms(self, at: float) -> int:
        return max(0, int((at - self.t0) * 1000))

    async def _add_turn(self, record: TurnRecord) -> None:
        if self.after is not None:
            after, self.after = self.after, None
            await after
        index = self.index
        self.index += 1
        fields = dataclasses.asdict(record)
        speaker, text = fields.pop("speaker"), fields.pop("text")
        # stored with the other calls' turns of this process (calls.db_batch), in the background: the live
        # events go on meanwhile, and ``aclose`` waits until every line is stored
        self._writes.append(asyncio.ensure_future(
            turn_batcher().add({"call_id": self.ctx.call_id, "index": index, "speaker": speaker, "text": text,
                                **fields})))

    async def aclose(self) -> None:
        for record in self.turns.flush():  # the call ended before the last line was answered
            await self._add_turn(record)
        writes, self._writes = self._writes, []
        for outcome in await asyncio.gather(*writes, return_exceptions=True):
            if isinstance(outcome, BaseException):
                log.error("call %s: a line was not stored", self.ctx.call_id, exc_info=outcome)

    async def emit(self, event: PipelineEvent) -> None:
        if isinstance(event, DirectiveEvent) and event.kind == "transfer":  # issue 14: transfer to a human
            await database_sync_to_async(call_transfer_requested)(call_id=self.ctx.call_id, target=event.data)
            return
        if isinstance(event, WatcherJoined):
            if self._state is not None and not self._state_published:
                await self._publish(self._state)  # the state came before anyone watched: shown now
            return
        for record in self.turns.feed(event):
            await self._add_turn(record)
        if isinstance(event, StateChanged):
            self._state, self._state_published = event, False
        if not _shown_live(event) or (self.watched is not None and not self.watched()):
            return
        await self._publish(event)

    async def _publish(self, event: PipelineEvent) -> None:
        if event is self._state:
            self._state_published = True
        payload = {"kind": "pipeline", "event": event.to_dict()}
        await services.call_publish_pipeline(call_id=self.ctx.call_id, campaign_id=self.ctx.campaign_id,
                                             payload=payload)


@dataclasses.dataclass
class WatcherJoined(PipelineEvent):
    """Someone opened the call's live view (``CallLive.on_watcher``): it is shown the bot's current mind state.

    Queued through the call's ``BackgroundSink`` like any event, so it can never overtake a newer state.
    """

    type: ClassVar[str] = "watcher_joined"


def _shown_live(event: PipelineEvent) -> bool:
    """What the operators' board shows: mind states, transcripts, the bot's lines, the verdicts and the latency."""
    if isinstance(event, BotTurnFinished):
        return bool(event.text)
    if isinstance(event, DirectiveEvent):
        return event.kind == "meta"
    return isinstance(event, StateChanged | UserTranscript | TurnMetrics)


def _media_lock_key(call_id: int) -> str:
    # the cache's prefix keeps keys of separate deployments (and test runs) on one Redis apart
    return f"{settings.CACHES['default'].get('KEY_PREFIX', '')}:calls:media-socket:{call_id}"


# The hold on a call's media expires unless its socket renews it: a crashed process frees its calls soon.
MEDIA_HOLD_TTL_S = 60
MEDIA_HOLD_RENEW_S = 20


class MediaHolds:
    """The media holds of the calls on one event loop, renewed together: one pipelined round trip every
    ``MEDIA_HOLD_RENEW_S`` for all of them.

    Each call used to renew its own on its own timer, so the calls of a campaign, which start together, renewed
    together: every 20 s, a burst of a command per call in the middle of their audio (in a 400-stream
    ``media_load`` run, the worst second of inbound lag, 20 s in).
    """

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.renewals = 0  # round trips made (a figure for tests)
        self._task: asyncio.Task | None = None

    def hold(self, key: str) -> None:
        self.keys.add(key)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._renew(), name="media-holds")

    def release(self, key: str) -> None:
        self.keys.discard(key)

    async def _renew(self) -> None:
        while self.keys:
            await asyncio.sleep(MEDIA_HOLD_RENEW_S)
            keys = sorted(self.keys)
            if not keys:
                return
            try:
                async with redis_for_loop().pipeline(transaction=False) as pipe:
                    for key in keys:
                        pipe.expire(key, MEDIA_HOLD_TTL_S)
                    await pipe.execute()
                self.renewals += 1
            except Exception:  # Redis away for a moment: the next renewal tries again, well inside the TTL
                log.warning("could not renew the media holds of %s calls", len(keys), exc_info=True)


_holds: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, MediaHolds] = weakref.WeakKeyDictionary()


def media_holds() -> MediaHolds:
    """The running event loop's media holds (one per media process in production)."""
    return for_loop(_holds, MediaHolds)


class MediaStreamConsumer(WebSocketEndpoint):
    """``ws/calls/<call_id>/media/``: authenticated by the call's signed token, never by Origin."""

    async def on_connect(self) -> None:
        self.call_id = int(self.scope["url_route"]["kwargs"]["call_id"])
        self.session = None
        self.ctx: services.CallMediaContext | None = None
        self.recorder = CallRecorder()
        self.live: CallLive | None = None  # listen-in and takeover (calls.listen)
        self.sink: BackgroundSink | None = None
        self.started_at: float | None = None
        self.finished = False
        self.end_reason = ""
        self._disconnect_code: int | None = None
        self.holds_call = False
        self._answered: asyncio.Future | None = None
        self._finishing: asyncio.Future | None = None
        self._auth_timer: asyncio.Task | None = None
        await self.accept()  # accepted first, so a refusal can carry a close code the carrier logs
        token = (parse_qs(self.scope.get("query_string", b"").decode()).get("token") or [""])[0]
        if token:
            await self._authenticate(token)
        else:  # Twilio: the token comes in the start message's customParameters
            self._auth_timer = asyncio.create_task(self._auth_deadline())

    async def _auth_deadline(self) -> None:
        await asyncio.sleep(AUTH_TIMEOUT_S)
        if self.session is None:
            await self._refuse(CLOSE_UNAUTHENTICATED, "no token")

    async def _refuse(self, code: int, reason: str) -> None:
        log.warning("media socket for call %s refused (%s): %s", self.call_id, code, reason)
        self.finished = True
        await self.close(code, reason)

    async def _authenticate(self, token: str) -> bool:
        if not services.call_media_token_valid(call_id=self.call_id, token=token):
            await self._refuse(CLOSE_BAD_TOKEN, "bad or expired token")
            return False
        # read with the contexts of the calls answered at the same moment (calls.db_batch): one query for them all
        self.ctx = await context_batcher().add(self.call_id)
        if self.ctx is None or self.ctx.status not in services.LIVE_FOR_MEDIA:
            await self._refuse(CLOSE_CALL_NOT_LIVE, f"call is {self.ctx.status if self.ctx else 'unknown'}")
            return False
        if not await redis_for_loop().set(_media_lock_key(self.call_id), str(self.scope.get("client") or ""),
                                          nx=True, ex=MEDIA_HOLD_TTL_S):
            await self._refuse(CLOSE_ALREADY_STREAMING, "another socket is streaming this call")
            return False
        self.holds_call = True
        holds = media_holds()
        holds.hold(_media_lock_key(self.call_id))  # renewed with the other calls of this process
        media_pressure().watch(lambda: len(holds.keys))  # the process's lateness, watched while it holds calls
        protocol = media_protocol(self.ctx.provider)
        tap = self.recorder
        if self.ctx.voicemail_mode != "off":  # issue 14: our answering-machine detector listens beside the recorder
            tap = VoicemailWatcher(call_id=self.call_id, inner=self.recorder,
                                   pipeline=lambda: self.session.pipeline if self.session is not None else None)
        self.live = CallLive(call_id=self.call_id, recorder=tap)  # listen-in and takeover around them (calls.listen)
        self.session = MediaSession(codec_for(protocol), self._build_pipeline, send=self.send_frame,
                                    close=self._close_socket, session_id=f"call-{self.call_id}", tap=self.live.mix,
                                    **media_guard_options(pace=self._pace()))
        await self.live.attach(self.session)
        await self.session.open()
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        return True

    def _pace(self) -> float:
        """A rehearsal's simulated callee may run faster than real time (its campaign's pace); carriers never do."""
        return self.ctx.pace_speed

    async def _build_pipeline(self, start):
        ctx = self.ctx
        limits = call_limits(ctx.script_map, ctx.variables)
        config = PipelineConfig(language=ctx.language, voice=ctx.voice, bot_speaks_first=True, pace_speed=self._pace(),
                                limits=CallLimits(max_duration_s=limits["max_call_s"], silence_s=limits["silence_s"],
                                                  max_silences=int(limits["max_silences"]),
                                                  silence_prompt=limits["silence_prompt"],
                                                  silence_end=limits["silence_end"], duration_end=limits["limit_end"]))
        config.use_script_phrases(ctx.script_map)  # «holding» / «not_heard» from the script when it has them
        config.stt_prompt = ctx.stt_prompt  # the script's names, products and cities as recognition hints
        # built off the event loop: the providers, and the script's intent classifier (~15 ms the first time a
        # process meets the script; a hundred calls of a new script arrive together)
        stt, tts, _ = await asyncio.to_thread(lambda: (shared_provider("stt"), tts_for_language(ctx.language),
                                                       get_classifier(ctx.language, ctx.script_map)))
        self.started_at = time.time()
        # The call is answered: written without holding up the conversation, with the other calls answered about
        # now (calls.db_batch: a campaign's calls start together), but before any of its turns and its end.
        self._answered = asyncio.ensure_future(answered_batcher().add(self.call_id))
        # Turns are written from the sink's own task: the audio path never waits on the database.
        self.sink = BackgroundSink(CallEventSink(ctx, after=self._answered, watched=self.live.watched))
        self.live.on_watcher = lambda: self.sink.emit(WatcherJoined())
        # issue 14 auto-language: a campaign in «auto» may switch script, hint and voice on the callee's words
        watch = language_watch_for(ctx, build_responder=build_responder)
        return VoicePipeline(stt=stt, tts=tts, responder=build_responder(ctx), sink=self.sink,
                             cache=audio_cache_for_loop(), config=config, language_watch=watch)

    async def on_text(self, text: str) -> None:
        if self.finished:
            return
        if self.session is None:
            if not await self._pre_auth(text):
                return
        await self.session.on_text(text)

    async def on_bytes(self, data: bytes) -> None:
        if self.finished:
            return
        if self.session is None:
            await self._refuse(CLOSE_UNAUTHENTICATED, "a binary frame before the token")
            return
        await self.session.on_bytes(data)

    async def _pre_auth(self, text: str) -> bool:
        """Before the token: ``connected`` is fine, ``start`` must carry it, anything else is refused."""
        try:
            message = json.loads(text or "")
        except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth: refused below
            message = {}
        event = message.get("event") if isinstance(message, dict) else None
        if event == "connected":
            return False
        if event == "start":
            start = message.get("start")
            params = (start.get("customParameters") if isinstance(start, dict) else None) or {}
            token = params.get("token", "") if isinstance(params, dict) else ""
            return await self._authenticate(str(token))
        await self._refuse(CLOSE_UNAUTHENTICATED, f"{str(event or 'a frame')[:40]} before the token")
        return False

    async def _close_socket(self, code: int, reason: str) -> None:
        # The flow's end directive (or a protocol error): hang up through the carrier, then close.
        if code == CLOSE_NORMAL and reason == EndReason.CONVERSATION_ENDED:
            pipeline = self.session.pipeline if self.session is not None else None
            if pipeline is not None and pipeline.transfer:  # issue 14: the callee goes to a person, not hung up
                ok = await database_sync_to_async(call_transfer, thread_sensitive=False)(
                    call_id=self.call_id, target=pipeline.transfer)
                reason = "transfer" if ok else "transfer failed"
            else:
                await database_sync_to_async(services.call_hangup, thread_sensitive=False)(call_id=self.call_id)
            if pipeline is not None and pipeline.end_reason in (ConversationEndReason.MAX_DURATION,
                                                                ConversationEndReason.MAX_SILENCES):
                reason = f"limit: {pipeline.end_reason}"  # the call log says which limit ended it
            elif pipeline is not None and pipeline.end_reason == ConversationEndReason.VOICEMAIL:
                reason = "voicemail"
        self.end_reason = reason
        await self.close(code, reason)
        await self._finish()

    async def on_disconnect(self, code: int) -> None:
        self._disconnect_code = code
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        if (not self.end_reason and self.started_at is not None and self.session is not None
                and not self.session.codec.stopped):
            # carriers send stop when the call ends; a stream that just went away dropped (network, the carrier)
            self.end_reason = STREAM_DROPPED
        if self.session is not None:
            await self.session.disconnected(code)
        await self._finish()

    async def _finish(self) -> None:
        """Store the call's end once; every caller (the hang-up, the disconnect) waits until it is stored."""
        if self.session is None:
            return
        if self._finishing is None:
            self.finished = True
            self._finishing = asyncio.ensure_future(self._store_end())
        await asyncio.shield(self._finishing)

    async def _store_end(self) -> None:
        try:
            if self.live is not None:
                self.live.stop_inbox()  # no new listening or takeover past the call's end
            if self.started_at is None:  # let in, but no audio ever came: the call's log says why
                await database_sync_to_async(services.call_media_not_started)(
                    call_id=self.call_id, reason=self.end_reason or CLOSED_BEFORE_START,
                    close_code=self._disconnect_code)
                return
            duration = round(time.time() - self.started_at, 2)
            if self._answered is not None:
                await self._answered
            if self.sink is not None:
                await self.sink.aclose()  # every turn is stored before the call is handed to analysis
            extra = {"end_reason": self.end_reason} if self.end_reason else {}
            if self.end_reason == STREAM_DROPPED:
                extra["close_code"] = self._disconnect_code
            if self.recorder.truncated:
                extra["recording_truncated_at_s"] = self.recorder.max_s
            await database_sync_to_async(services.call_progress)(call_id=self.call_id, event="completed",
                                                                 duration_s=duration, **extra)
            wav = await asyncio.to_thread(self.recorder.wav)
            await database_sync_to_async(services.call_recording_save)(call_id=self.call_id, wav=wav)
        finally:
            if self.holds_call:  # first, with no wait before it: a cancelled end still lets go of the call here
                media_holds().release(_media_lock_key(self.call_id))
            if self.live is not None:
                await self.live.detach()
            if self.holds_call:
                await redis_for_loop().delete(_media_lock_key(self.call_id))


class CallMonitorConsumer(DropSendsToGonePeer, PushOnlyFeed, AsyncJsonWebsocketConsumer):
    """``ws/calls/live/`` (the board) or ``ws/calls/<call_id>/live/``: events pushed by ``call_publish``."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not await database_sync_to_async(user.has_perm)(
            "calls.monitor_call"
        ):
            await self.close(code=4403)
            return
        call_id = self.scope["url_route"]["kwargs"].get("call_id")
        self.call_id = int(call_id) if call_id else None
        self.group = services.call_group(self.call_id) if self.call_id else services.BOARD_GROUP
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        # one call's page shows its live transcript: its media socket publishes the pipeline events while it is open
        self._watching = (asyncio.create_task(keep_watching(self.channel_layer, self.call_id, self.channel_name))
                          if self.call_id else None)

    async def disconnect(self, code: int) -> None:
        if getattr(self, "_watching", None) is not None:
            # no goodbye through the layer: the media socket forgets a watcher whose heartbeats stop (its TTL).
            # A consumer still awaiting the layer when a server shuts down is killed mid-receive, which left
            # channels_redis's receive bookkeeping half-done for the next server on that layer.
            self._watching.cancel()
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def media_ready(self, message: dict) -> None:
        """The call's media socket has just started: it learns of this page now, not at the next heartbeat."""
        if self.call_id:
            await want_to_watch(self.channel_layer, self.call_id, self.channel_name)

    async def call_event(self, message: dict) -> None:
        await self.send_json(message["payload"])
