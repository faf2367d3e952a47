"""WebSocket consumers of the trainer: the live conversation and the review page's updates.

``LiveSessionConsumer`` (``ws/training/<id>/``) is thin: it checks that the socket belongs to the
session's trainee, hands frames to a ``MediaSession`` around the session's pipeline, records the
audio, and calls ``training.services`` for every state change. ``ReviewConsumer``
(``ws/training/<id>/review/``) forwards the session's channel-layer group to the review page, so
the score appears when it is ready, with no polling.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import reverse

from config.voice import media_guard_options, shared_provider
from config.websocket import DropSendsToGonePeer, PushOnlyFeed
from integrations.errors import ProviderError
from training import services
from training.live import EndPhraseSink, SessionRecorder, SessionSetup, TurnWriter, build_pipeline
from training.models import TrainingSession
from training.selectors import sessions_visible_to
from training.services import wav_bytes
from voice.audio import read_wav
from voice.events import BackgroundSink
from voice.protocols.base import CLOSE_NORMAL
from voice.protocols.browser import BrowserCodec
from voice.session import EndReason, MediaSession

log = logging.getLogger(__name__)

CLOSE_FORBIDDEN = 4403  # not this user's session, or not logged in
CLOSE_GONE = 4410  # the session has ended; there is nothing to join
CLOSE_PROVIDERS_UNAVAILABLE = 4503  # the STT/TTS/LLM could not be set up (a missing key, an unknown provider)

# MediaSession's close reasons -> the session's end_reason
END_REASONS = {EndReason.ENDED_BY_USER: "button", EndReason.STREAM_STOPPED: "button",
               EndReason.CONVERSATION_ENDED: "customer_ended"}


def _setup_for(*, user: Any, session_id: int) -> SessionSetup | str:
    """The session's setup when ``user`` is its trainee and it can still be joined; else why not."""
    if not getattr(user, "is_authenticated", False):
        return "forbidden"
    session = (
        TrainingSession.objects.select_related("scenario").filter(pk=session_id, trainee__user=user).first()
    )
    if session is None:
        return "forbidden"
    if session.status not in (TrainingSession.Status.CREATED, TrainingSession.Status.ACTIVE):
        return "gone"
    scenario = session.scenario
    return SessionSetup(
        session_id=session.pk,
        language=session.language,
        persona=session.persona,
        persona_description=scenario.persona_description if scenario else "",
        difficulty=session.difficulty,
        voice=session.voice,
        product_description=session.product_description,
        end_phrase=services.end_phrase_for(session=session),
    )


def _earlier_audio(*, session_id: int) -> bytes:
    """The recording of this session so far (a reconnect continues it), as PCM16."""
    session = TrainingSession.objects.get(pk=session_id)
    if not session.audio:
        return b""
    try:
        with session.audio.open("rb") as f:
            pcm, _ = read_wav(f.read())
        return pcm
    except Exception:
        log.warning("training session %s: earlier recording unreadable; starting afresh", session_id)
        return b""


class LiveSessionConsumer(AsyncWebsocketConsumer):
    media: MediaSession | None = None

    async def connect(self) -> None:
        self.session_id = int(self.scope["url_route"]["kwargs"]["session_id"])
        self.finishing = False
        self.tasks: set[asyncio.Task] = set()
        setup = await database_sync_to_async(_setup_for)(user=self.scope.get("user"), session_id=self.session_id)
        if isinstance(setup, str):
            await self.close(code=CLOSE_FORBIDDEN if setup == "forbidden" else CLOSE_GONE)
            return
        self.setup = setup
        try:
            # the process's shared providers are built off the event loop, as a call's are: the first session of a
            # process builds them (a vendor's client, the local models' wrappers), and the other sessions' audio
            # must not wait for that; the pipeline then finds them built
            await asyncio.to_thread(lambda: (shared_provider("stt"), shared_provider("tts")))
            pipeline = build_pipeline(setup=setup)
        except ProviderError as exc:
            await self._providers_unavailable(exc)
            return
        await database_sync_to_async(services.session_start)(session_id=self.session_id)
        prefix = await database_sync_to_async(_earlier_audio)(session_id=self.session_id)
        self.recorder = SessionRecorder(prefix=prefix)
        self.end_sink = EndPhraseSink(phrase=setup.end_phrase, on_end=self._end_phrase_heard)
        self.writer = BackgroundSink(TurnWriter(session_id=self.session_id, clock_ms=self.recorder.elapsed_ms,
                                                end_phrase=setup.end_phrase))
        pipeline.add_sink(self.end_sink)
        pipeline.add_sink(self.writer)
        self.media = MediaSession(BrowserCodec(), pipeline, send=self._send_frame, close=self._media_closed,
                                  session_id=str(self.session_id), tap=self.recorder, **media_guard_options())
        await self.accept()
        await self.channel_layer.group_add(services.session_group(self.session_id), self.channel_name)
        await self.send(text_data=json.dumps({
            "type": "ready", "session_id": self.session_id, "language": setup.language,
            "end_phrase": setup.end_phrase,
        }))
        await self.media.open()

    async def _providers_unavailable(self, exc: ProviderError) -> None:
        """No practice without speech: the page says so (and why, in the session's log) instead of going silent.

        A provider that fails later, mid-conversation, reaches the page as the pipeline's ``error`` event.
        """
        log.warning("training session %s: voice providers unavailable: %s", self.session_id, exc)
        reason = "voice services unavailable"
        await self.accept()
        await self.send(text_data=json.dumps({"type": "error", "code": CLOSE_PROVIDERS_UNAVAILABLE, "reason": reason,
                                              "provider": exc.provider}))
        await database_sync_to_async(services.session_disconnect)(
            session_id=self.session_id, code=CLOSE_PROVIDERS_UNAVAILABLE, reason=str(exc))
        await self.close(code=CLOSE_PROVIDERS_UNAVAILABLE, reason=reason)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.media is None or self.finishing:
            return
        if bytes_data is not None:
            await self.media.on_bytes(bytes_data)
        elif text_data is not None:
            await self.media.on_text(text_data)

    async def disconnect(self, code: int) -> None:
        if self.media is None:
            return  # refused in connect
        await self.channel_layer.group_discard(services.session_group(self.session_id), self.channel_name)
        if self.finishing:
            return
        # the page went away without ending: keep the session (active) and everything said so far
        self.finishing = True
        await self.media.disconnected(code)
        await self._store_progress()
        await database_sync_to_async(services.session_disconnect)(session_id=self.session_id, code=code)

    async def session_update(self, message: dict[str, Any]) -> None:
        """The session's group: e.g. ended from another tab; the page learns of it here."""
        await self.send(text_data=json.dumps({"type": "session", **{k: v for k, v in message.items() if k != "type"}}))

    # --- the pipeline's side ---

    async def _send_frame(self, frame: str | bytes) -> None:
        # the recording hears both directions and the clear through its tap (``SessionRecorder``)
        if isinstance(frame, bytes):
            await self.send(bytes_data=frame)
        else:
            await self.send(text_data=frame)

    async def _media_closed(self, code: int, reason: str) -> None:
        # called from inside the pipeline's own task, which closing cancels: finish in a task of our own
        self._spawn(self._finish(code=code, reason=END_REASONS.get(reason, reason)))

    async def _end_phrase_heard(self) -> None:
        await self._finish(code=CLOSE_NORMAL, reason="end_phrase")

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _store_progress(self) -> None:
        await self.writer.aclose()
        if not self.recorder.empty:
            wav = wav_bytes(pcm16=self.recorder.mixed_pcm16())
            await database_sync_to_async(services.session_audio_save)(session_id=self.session_id, wav=wav)

    async def _finish(self, *, code: int, reason: str) -> None:
        """End (normal close) or drop (protocol error) the conversation: store it, then close the socket."""
        if self.finishing:
            return
        self.finishing = True
        if self.media is not None and not self.media.closed:
            await self.media.close(code, reason)
        await self._store_progress()
        if code == CLOSE_NORMAL:
            await database_sync_to_async(services.session_end)(session_id=self.session_id, reason=reason)
            review = reverse("training:session_detail", args=[self.session_id])
            await self._safe_send({"type": "ended", "reason": reason, "review_url": review})
        else:
            # a malformed frame or a flood: the socket closes with the codec's 4xxx code and the reason is
            # logged on the session, which stays active so the trainee can reconnect and go on
            await database_sync_to_async(services.session_disconnect)(session_id=self.session_id, code=code,
                                                                      reason=reason)
            await self._safe_send({"type": "error", "code": code, "reason": reason})
        await self.close(code=code, reason=reason)

    async def _safe_send(self, payload: dict[str, Any]) -> None:
        try:
            await self.send(text_data=json.dumps(payload, ensure_ascii=False))
        except Exception:
            log.debug("training session %s: socket already gone", self.session_id)


def _review_access(*, user: Any, session_id: int) -> str | None:
    """The session's status when ``user`` may see it (its trainee, or a manager); else ``None``."""
    session = sessions_visible_to(user=user).filter(pk=session_id).first()
    return session.status if session is not None else None


class ReviewConsumer(DropSendsToGonePeer, PushOnlyFeed, AsyncWebsocketConsumer):
    """Pushes the session's state changes to its review page; the page fetches the ready review then."""

    joined = False

    async def connect(self) -> None:
        self.session_id = int(self.scope["url_route"]["kwargs"]["session_id"])
        user = self.scope.get("user")
        status = await database_sync_to_async(_review_access)(user=user, session_id=self.session_id)
        if status is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.accept()
        await self.channel_layer.group_add(services.session_group(self.session_id), self.channel_name)
        self.joined = True
        # the score may have landed between the page render and this socket: say so at once
        await self.send(text_data=json.dumps({"type": "session", "status": status, "session_id": self.session_id}))

    async def disconnect(self, code: int) -> None:
        if self.joined:
            await self.channel_layer.group_discard(services.session_group(self.session_id), self.channel_name)

    async def session_update(self, message: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps({"type": "session", **{k: v for k, v in message.items() if k != "type"}}))
