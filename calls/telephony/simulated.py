"""The simulated carrier: a callee persona that answers on our own media WebSocket, speaking Twilio Media Streams.

Offline default, so any campaign can be rehearsed. ``dial`` draws the outcome from the campaign's
shares (``Campaign.simulation``, seeded per call and attempt) and returns at once; the call then
plays out on a background event loop in this process:

- ``no_answer`` / ``busy``: it rings, then the carrier reports the outcome.
- ``voicemail``: an answering machine (``VoicemailCallee``) connects like a callee, plays its greeting
  (eSpeak) and a 1 kHz beep, then records until the bot hangs up or its recording time is over. Our
  own detector in the media path (``calls.voicemail``) notices it as on any carrier.
- ``ask_human`` (a share, default 0, outside the outcomes): an answering callee's first words ask for a
  person («Соедините меня с менеджером»), so a rehearsal exercises the transfer; ``transfer`` records it.
- ``answer``: a ``dialogs.personas.PersonaResponder`` customer connects to the call's media URL
  (``connected``, ``start`` with the token in ``customParameters``, then 20 ms μ-law ``media``
  frames, silence included, as a phone line sends them), echoes the bot's marks, and answers with
  real eSpeak audio through ``voice.tts``.

How the callee understands the bot is ``callee_stt``:

- ``local``: real audio both ways; the bot's speech is transcribed with the local Whisper model.
- ``transcript`` (default): an out-of-band shortcut for rehearsals: the callee takes the bot's
  words from the call's live channel-layer group (the same ``bot_turn`` events the operators see)
  once the bot's audio has stopped. The bot still hears the callee through audio and its own STT,
  so the salesperson's side is exactly what a real call runs. Whisper on both sides costs about a
  second of CPU per utterance, which on two cores makes a 20-contact rehearsal several times slower.

``pace_speed`` (>1) plays both sides faster than real time; the media consumer paces the bot the
same way for simulated calls.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import json
import logging
import random
import threading
import time
import uuid
from typing import Any

import numpy as np
import websockets
from asgiref.sync import sync_to_async
from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers
from django.db import close_old_connections

from calls.events import call_group
from calls.listen import keep_watching, want_to_watch
from calls.services.lifecycle import call_progress
from calls.telephony.base import DialRequest, DialResult, TelephonyProvider, TransferTarget
from dialogs.personas import DEFAULT_PERSONAS, PersonaResponder
from integrations.errors import ProviderConfigError
from integrations.registry import load_provider
from voice.audio import pcm16_to_ulaw, ulaw_to_pcm16
from voice.responder import ConversationState, Directive

log = logging.getLogger(__name__)

DEFAULT_SHARES = {"answer": 0.6, "no_answer": 0.2, "busy": 0.1, "voicemail": 0.1}
FRAME_BYTES = 160  # 20 ms of μ-law at 8 kHz
SILENCE = b"\xff" * FRAME_BYTES
CALLEE_STT = ("transcript", "local", "fake")
# what a simulated callee says when it wants a person (``simulation["ask_human"]``), per call language
ASK_HUMAN = {"ru": "Соедините меня с менеджером, пожалуйста.", "en": "Can I talk to a real person, please?",
             "uz": "Menejer bilan bog'lang, iltimos.", "tg": "Маро бо менеҷер пайваст кунед."}


def pick_outcome(shares: dict[str, float], *, seed: Any, number: str, attempt: int) -> str:
    """The dial's outcome, the same for a seed, a number and an attempt (database ids differ between runs)."""
    rng = random.Random(f"{seed}:{number}:{attempt}")
    names = [n for n in ("answer", "no_answer", "busy", "voicemail") if shares.get(n, 0) > 0]
    if not names:
        return "answer"
    return rng.choices(names, weights=[float(shares[n]) for n in names])[0]


class _Carrier:
    """One background event loop per process, where simulated calls live."""

    _instance: _Carrier | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.active: set[int] = set()
        self.thread = threading.Thread(target=self.loop.run_forever, name="simulated-carrier", daemon=True)
        self.thread.start()

    @classmethod
    def get(cls) -> _Carrier:
        with cls._lock:
            if cls._instance is None:
                cls._instance = _Carrier()
            return cls._instance

    def submit(self, call_id: int, coro) -> None:
        self.active.add(call_id)
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        future.add_done_callback(lambda f: self._done(call_id, f))

    def _done(self, call_id: int, future) -> None:
        self.active.discard(call_id)
        if not future.cancelled() and future.exception() is not None:
            log.error("simulated call %s crashed", call_id, exc_info=future.exception())


async def _report(call_id: int, event: str) -> None:
    def apply() -> None:
        try:
            call_progress(call_id=call_id, event=event)
        finally:
            close_old_connections()

    await sync_to_async(apply, thread_sensitive=False)()


class SimulatedTelephony(TelephonyProvider):
    name = "simulated"
    media_protocol = "twilio"
    token_in_url = False  # like Twilio: the token travels in the start message
    # transfers this process's simulated carrier took (provider call id, target), latest last: the
    # "operator" side of a rehearsal; the callee leaves our media socket when the bot closes it
    transfers: collections.deque[tuple[str, TransferTarget]] = collections.deque(maxlen=1000)

    def __init__(self, shares: dict[str, float] | None = None, seed: int = 0, pace_speed: float = 1.0,
                 ring_s: float = 2.0, callee_stt: str = "transcript", callee_tts: str = "local",
                 max_call_s: float = 240.0, persona: str = ""):
        if callee_stt not in CALLEE_STT:
            raise ProviderConfigError(f"callee_stt must be one of {CALLEE_STT}", provider=self.name)
        self.shares = {**DEFAULT_SHARES, **(shares or {})}
        self.seed, self.pace_speed, self.ring_s = seed, max(0.1, float(pace_speed)), ring_s
        self.callee_stt, self.max_call_s, self.persona = callee_stt, max_call_s, persona
        self.callee_tts = callee_tts

    def dial(self, *, request: DialRequest) -> DialResult:
        simulation = dict(request.custom.get("simulation") or {})
        shares = {k: float(v) for k, v in {**self.shares, **simulation}.items() if k in DEFAULT_SHARES}
        seed = simulation.get("seed", self.seed)
        outcome = pick_outcome(shares, seed=seed, number=request.to, attempt=request.custom.get("attempt", 1))
        asks = random.Random(f"{seed}:{request.to}:ask_human").random() < float(simulation.get("ask_human", 0))
        kind = VoicemailCallee if outcome == "voicemail" else SimulatedCallee
        callee = kind(request=request, seed=f"{seed}:{request.to}", pace_speed=self.pace_speed,
                      stt_mode=self.callee_stt, max_call_s=self.max_call_s, persona_key=self.persona,
                      tts_name=self.callee_tts, ask_human=asks)
        _Carrier.get().submit(request.call_id, self._play(request.call_id, outcome, callee))
        return DialResult(provider_call_id=f"sim-{uuid.uuid4().hex[:16]}")

    def transfer(self, *, provider_call_id: str, target: TransferTarget, control_url: str = "") -> None:
        log.info("simulated call %s transferred to %s", provider_call_id, target.label)
        SimulatedTelephony.transfers.append((provider_call_id, target))

    async def _play(self, call_id: int, outcome: str, callee: SimulatedCallee) -> None:
        await asyncio.sleep(0.2 / self.pace_speed)
        await _report(call_id, "ringing")
        await asyncio.sleep(self.ring_s / self.pace_speed)
        if outcome not in ("answer", "voicemail"):
            await _report(call_id, outcome)
            return
        try:
            await callee.run()
        except Exception as exc:  # the line dropped: the carrier says the call failed
            log.warning("simulated callee of call %s: %s", call_id, exc)
            await _report(call_id, "failed")


class SimulatedCallee:
    """The customer's phone: a Twilio Media Streams client with a persona behind it."""

    def __init__(self, *, request: DialRequest, seed: str, pace_speed: float, stt_mode: str, max_call_s: float,
                 persona_key: str = "", tts_name: str = "local", bot_silence_ms: int = 900,
                 ask_human: bool = False):
        self.request = request
        self.seed = seed
        self.tick_s = 0.02 / pace_speed
        self.stt_mode = stt_mode
        self.max_frames = int(max_call_s / 0.02)
        self.persona_key = persona_key
        self.tts_name = tts_name
        self.silence_frames = bot_silence_ms // 20
        self.language = request.language
        self.heard = bytearray()  # the bot's current turn, μ-law
        self.quiet = 0  # frames since the bot's audio stopped
        self.speech: list[bytes] = []  # our next frames to send
        self.bot_texts: asyncio.Queue[str] = asyncio.Queue()
        self.transcript: list[tuple[str, str]] = []
        self.hang_up_after_speaking = False
        self.ask_human = ask_human  # the first answer asks for a person (the bot should transfer)

    def _responder(self):
        rng = random.Random(self.seed)
        keys = sorted(DEFAULT_PERSONAS)
        persona = DEFAULT_PERSONAS.get(self.persona_key) or DEFAULT_PERSONAS[rng.choice(keys)]
        return PersonaResponder(persona, seed=rng.randrange(1 << 30))

    async def run(self) -> None:
        self.responder = self._responder()
        self.state = ConversationState(language=self.language)
        self.tts = _tts(self.tts_name)
        listener = None
        if self.stt_mode == "transcript":
            watching = asyncio.Event()
            listener = asyncio.create_task(self._listen_out_of_band(watching))
            # in the call's group before the media socket starts, so its «media.ready» finds us
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watching.wait(), timeout=10)
        stream_sid = "MZ" + uuid.uuid4().hex
        try:
            async with websockets.connect(self.request.media_url, max_size=None, open_timeout=10) as ws:
                await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
                await ws.send(json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": stream_sid, "start": {
                    "streamSid": stream_sid, "callSid": f"SIM{self.request.call_id}", "accountSid": "ACsimulated",
                    "tracks": ["inbound"], "customParameters": {"token": self.request.media_token},
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))
                receiver = asyncio.create_task(self._receive(ws, stream_sid))
                try:
                    await self._speak_loop(ws, stream_sid, receiver)
                except websockets.ConnectionClosed:
                    pass  # the bot hung up: the media consumer ends the call
                finally:
                    receiver.cancel()
        finally:
            if listener is not None:
                listener.cancel()

    async def _receive(self, ws, stream_sid: str) -> None:
        async for raw in ws:
            message = json.loads(raw)
            event = message.get("event")
            if event == "media":
                self.heard += base64.b64decode(message["media"]["payload"])
                self.quiet = 0
            elif event == "mark":  # we "play" audio as it arrives, so a mark is reached at once
                await ws.send(json.dumps({"event": "mark", "streamSid": stream_sid, "mark": message["mark"]}))
            elif event == "clear":
                pass

    @staticmethod
    async def _send_media(ws, stream_sid: str, chunk: int, frame: bytes) -> None:
        """One 20 ms μ-law frame of the callee's voice, as Twilio Media Streams sends it."""
        await ws.send(json.dumps({"event": "media", "streamSid": stream_sid, "media": {
            "track": "inbound", "chunk": str(chunk), "timestamp": str(chunk * 20),
            "payload": base64.b64encode(frame).decode()}}))

    async def _speak_loop(self, ws, stream_sid: str, receiver: asyncio.Task) -> None:
        chunk = 0
        next_at = time.monotonic()
        thinking: asyncio.Task | None = None
        for _ in range(self.max_frames):
            if receiver.done():
                return  # the bot hung up
            frame = self.speech.pop(0) if self.speech else SILENCE
            chunk += 1
            await self._send_media(ws, stream_sid, chunk, frame)
            if not self.speech and self.hang_up_after_speaking and thinking is None:
                await ws.send(json.dumps({"event": "stop", "streamSid": stream_sid, "stop": {}}))
                await ws.close()
                return
            if self.heard:
                self.quiet += 1
                if self.quiet >= self.silence_frames and thinking is None:
                    heard, self.heard = bytes(self.heard), bytearray()
                    thinking = asyncio.create_task(self._answer(heard))
            if thinking is not None and thinking.done():
                thinking.result()
                thinking = None
            next_at += self.tick_s
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def _understand(self, heard: bytes) -> str:
        if self.stt_mode == "transcript":
            texts = []
            try:  # the bot_turn event is published when the bot's audio has been sent, i.e. about now
                async with asyncio.timeout(5):
                    texts.append(await self.bot_texts.get())
                while not self.bot_texts.empty():
                    texts.append(self.bot_texts.get_nowait())
            except TimeoutError:
                pass
            return " ".join(texts)
        if self.stt_mode == "fake":
            return ""

        stt = _shared("stt-local", lambda: load_provider("stt", "local"))
        result = await stt.transcribe(ulaw_to_pcm16(heard), sample_rate=8000, language=self.language)
        return result.text

    async def _answer(self, heard: bytes) -> None:
        text = await self._understand(heard)
        log.debug("simulated callee of call %s heard %r", self.request.call_id, text)
        self.transcript.append(("bot", text))
        self.state.history.append(("bot", text))
        reply = ""
        if self.ask_human:
            self.ask_human = False
            reply = ASK_HUMAN.get(self.language, ASK_HUMAN["ru"])
        else:
            async for out in self.responder.respond(text, self.state):
                if isinstance(out, Directive):
                    if out.kind == "end":
                        self.hang_up_after_speaking = True
                else:
                    reply += out
        if not reply.strip():
            return
        self.transcript.append(("user", reply))
        self.state.history.append(("user", reply))
        pcm = bytearray()
        async for chunk in self.tts.synthesize(reply, language=self.language, sample_rate=8000):
            pcm += chunk
        wire = pcm16_to_ulaw(bytes(pcm))
        frames = [wire[i:i + FRAME_BYTES].ljust(FRAME_BYTES, b"\xff") for i in range(0, len(wire), FRAME_BYTES)]
        self.speech.extend(frames + [SILENCE] * 5)

    async def _listen_out_of_band(self, watching: asyncio.Event) -> None:
        # A layer of our own: a Redis layer receives on one event loop only, and daphne's loop uses the shared one.
        layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        channel = await layer.new_channel()
        call_id = self.request.call_id
        await layer.group_add(call_group(call_id), channel)
        watching.set()
        # the media socket publishes the bot's lines only to watchers: the callee watches like an operator's page
        heartbeat = asyncio.create_task(keep_watching(layer, call_id, channel))
        try:
            while True:
                message = await layer.receive(channel)
                if message.get("type") == "media.ready":
                    await want_to_watch(layer, call_id, channel)
                    continue
                event = (message.get("payload") or {}).get("event") or {}
                if event.get("type") == "bot_turn" and event.get("text"):
                    await self.bot_texts.put(event["text"])
        finally:
            heartbeat.cancel()
            await layer.group_discard(call_group(call_id), channel)


VOICEMAIL_GREETINGS = {
    "ru": "Здравствуйте, вы позвонили по номеру {phone}. Сейчас я не могу ответить. Оставьте, пожалуйста, "
          "сообщение после сигнала.",
    "en": "Hello, you have reached {phone}. I cannot take your call right now. Please leave a message after "
          "the tone.",
}


class VoicemailCallee(SimulatedCallee):
    """An answering machine on the line: its greeting, a beep, then it records (``recorded``) what it hears."""

    record_s = 20.0  # the box's recording time after the beep
    beep_hz, beep_s = 1000.0, 0.5

    def _responder(self):
        return None

    async def _greeting(self) -> list[bytes]:
        text = VOICEMAIL_GREETINGS.get(self.language, VOICEMAIL_GREETINGS["en"]).format(
            phone=" ".join(self.request.to[-4:]))
        language = self.language if self.language in VOICEMAIL_GREETINGS else "en"
        pcm = bytearray()
        async for chunk in self.tts.synthesize(text, language=language, sample_rate=8000):
            pcm += chunk
        t = np.arange(int(self.beep_s * 8000)) / 8000
        beep = (np.sin(2 * np.pi * self.beep_hz * t) * 12000).astype("<i2").tobytes()
        wire = pcm16_to_ulaw(bytes(pcm)) + SILENCE * 20 + pcm16_to_ulaw(beep)
        return [wire[i:i + FRAME_BYTES].ljust(FRAME_BYTES, b"\xff") for i in range(0, len(wire), FRAME_BYTES)]

    recorded = b""

    async def _speak_loop(self, ws, stream_sid: str, receiver: asyncio.Task) -> None:
        try:
            await self._play_and_record(ws, stream_sid, receiver)
        finally:  # the bot hanging up closes the socket under us
            self.recorded = bytes(self.heard)
            while not self.bot_texts.empty():
                self.transcript.append(("bot", self.bot_texts.get_nowait()))

    async def _play_and_record(self, ws, stream_sid: str, receiver: asyncio.Task) -> None:
        self.speech = await self._greeting()
        greeting_frames = len(self.speech)
        chunk = 0
        next_at = time.monotonic()
        for _ in range(min(self.max_frames, greeting_frames + int(self.record_s / 0.02))):
            if receiver.done():
                break  # the bot hung up
            frame = self.speech.pop(0) if self.speech else SILENCE
            if chunk == greeting_frames:
                self.heard = bytearray()  # the recording starts at the beep's end
            chunk += 1
            await self._send_media(ws, stream_sid, chunk, frame)
            next_at += self.tick_s
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        else:  # the recording time is over: the machine hangs up
            await ws.send(json.dumps({"event": "stop", "streamSid": stream_sid, "stop": {}}))
            await ws.close()


_SHARED: dict[str, Any] = {}


def _shared(key: str, factory):
    if key not in _SHARED:
        _SHARED[key] = factory()
    return _SHARED[key]


def _tts(name: str):
    # The callee needs real audio for the bot's STT: the local eSpeak voice unless configured otherwise.
    return _shared(f"tts-{name}", lambda: load_provider("tts", name))
