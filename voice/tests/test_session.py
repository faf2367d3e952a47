"""MediaSession: wire frames in, pipeline, wire frames out, for Twilio, Voximplant and the browser."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from voice import audio
from voice.bench.fakes import ScriptedResponder
from voice.events import BotTurnFinished, ConversationEnded, Interruption, ListSink
from voice.pipeline import PipelineConfig, VoicePipeline
from voice.protocols.browser import BrowserCodec
from voice.protocols.twilio import TwilioCodec
from voice.protocols.voximplant import VoximplantCodec
from voice.responder import Directive
from voice.session import MediaSession
from voice.stt.fake import FakeSTT
from voice.tests.signals import voiced
from voice.tests.test_pipeline import wait_for
from voice.tests.test_protocols import twilio_start
from voice.tts.fake import FakeTTS

pytestmark = pytest.mark.asyncio
SPEED = 10.0


class Wire:
    """The socket side: what the session sent and how it closed."""

    def __init__(self):
        self.sent: list[str | bytes] = []
        self.closed: tuple[int, str] | None = None

    async def send(self, frame):
        self.sent.append(frame)

    async def close(self, code, reason):
        self.closed = (code, reason)

    def json(self, event: str | None = None) -> list[dict]:
        out = [json.loads(f) for f in self.sent if isinstance(f, str)]
        # Twilio/Voximplant name a message in "event", the browser in "type"
        return [m for m in out if event is None or event in (m.get("type"), m.get("event"))]


def make_pipeline(sink: ListSink, *, replies=("Здравствуйте! Чем могу помочь?",), opening=None, **cfg) -> VoicePipeline:
    cfg.setdefault("pace_speed", SPEED)
    return VoicePipeline(
        stt=FakeSTT(default="алло"),
        tts=FakeTTS(ms_per_char=30),
        responder=ScriptedResponder(list(replies), opening=opening),
        sink=sink,
        config=PipelineConfig(mark_grace_ms=200, **cfg),
    )


async def send_twilio_audio(session: MediaSession, pcm16k: bytes) -> None:
    ulaw = audio.pcm16_to_ulaw(audio.resample(pcm16k, 16000, 8000))
    for i in range(0, len(ulaw), 160):
        payload = base64.b64encode(ulaw[i : i + 160]).decode()
        await session.on_text(json.dumps({"event": "media", "media": {"track": "inbound", "payload": payload}}))
        await asyncio.sleep(0.02 / SPEED)


async def test_twilio_session_end_to_end():
    wire, sink = Wire(), ListSink()
    starts = []

    def factory(start):
        starts.append(start)
        return make_pipeline(sink)

    session = MediaSession(TwilioCodec(), factory, send=wire.send, close=wire.close)
    await session.open()
    await session.on_text('{"event":"connected","protocol":"Call","version":"1.0.0"}')
    await session.on_text(twilio_start())
    assert starts[0].custom_parameters["call_id"] == "42"
    await send_twilio_audio(session, voiced(600) + audio.silence(800))
    await wait_for(lambda: wire.json("mark"))
    # echo the marks like Twilio does once played
    for mark in wire.json("mark"):
        await session.on_text(json.dumps({"event": "mark", "streamSid": "MZ123", "mark": mark["mark"]}))
    await wait_for(lambda: sink.of(BotTurnFinished))
    media = wire.json("media")
    assert media and all(m["streamSid"] == "MZ123" for m in media)
    payloads = [base64.b64decode(m["media"]["payload"]) for m in media]
    assert all(len(p) == 160 for p in payloads)  # 20 ms of μ-law at 8 kHz
    # the bot's audio survives the 16k -> 8k -> μ-law trip: a 220 Hz tone, about as long as synthesised
    pcm = audio.ulaw_to_pcm16(b"".join(payloads))
    assert audio.duration_ms(pcm, 8000) == pytest.approx(len("Здравствуйте! Чем могу помочь?") * 30, abs=60)
    assert audio.dbfs(pcm) > -20
    assert [m["mark"]["name"] for m in wire.json("mark")] == ["t0s0", "t0s1"]
    # a mark comes after all of its sentence's audio
    kinds = [json.loads(f)["event"] for f in wire.sent]
    first_mark = kinds.index("mark")
    assert first_mark > 0 and kinds[first_mark - 1] == "media"
    await session.on_text('{"event":"stop","streamSid":"MZ123","stop":{}}')
    assert wire.closed == (1000, "stream stopped")
    assert sink.of(ConversationEnded)[0].reason == "hangup"


async def test_twilio_barge_in_sends_clear():
    wire, sink = Wire(), ListSink()
    long_opening = "Добрый день! Я звоню из компании Ромашка по поводу вашей заявки на подключение интернета."
    session = MediaSession(TwilioCodec(), make_pipeline(sink, opening=long_opening, bot_speaks_first=True),
                           send=wire.send, close=wire.close)
    await session.on_text(twilio_start())
    await wait_for(lambda: len(wire.json("media")) > 60)
    await send_twilio_audio(session, voiced(400))
    await wait_for(lambda: wire.json("clear"))
    assert wire.json("clear") == [{"event": "clear", "streamSid": "MZ123"}]
    assert sink.of(Interruption)
    sent_after_clear = len(wire.sent)
    await asyncio.sleep(0.05)
    assert not [f for f in wire.sent[sent_after_clear:] if json.loads(f)["event"] == "media"]
    await session.disconnected()


async def test_bad_frame_closes_only_its_own_session():
    wire_a, wire_b, sink_a, sink_b = Wire(), Wire(), ListSink(), ListSink()
    a = MediaSession(TwilioCodec(), make_pipeline(sink_a), send=wire_a.send, close=wire_a.close, session_id="a")
    b = MediaSession(TwilioCodec(), make_pipeline(sink_b), send=wire_b.send, close=wire_b.close, session_id="b")
    await a.on_text(twilio_start())
    await b.on_text(twilio_start())

    async def talk():
        await send_twilio_audio(b, voiced(600) + audio.silence(800))

    talking = asyncio.create_task(talk())
    await asyncio.sleep(0.02)
    await a.on_text('{"event":"media","media":{"payload":"%%%"}}')
    assert wire_a.closed == (4007, "twilio: media payload is not base64")
    assert a.pipeline.closed and sink_a.of(ConversationEnded)[0].reason == "protocol_error"
    await a.on_text(twilio_start())  # frames after the close are ignored
    await talking
    await wait_for(lambda: sink_b.of(BotTurnFinished))
    assert wire_b.closed is None and wire_b.json("media")
    await b.disconnected()


async def test_media_before_start_closes_with_4409():
    wire = Wire()
    session = MediaSession(TwilioCodec(), lambda start: make_pipeline(ListSink()), send=wire.send, close=wire.close)
    await session.on_text(json.dumps({"event": "media", "media": {"payload": "AAAA"}}))
    assert wire.closed == (4409, "twilio: media before start")
    assert session.pipeline is None


async def test_browser_session_forwards_events_and_pcm():
    wire, sink = Wire(), ListSink()
    session = MediaSession(BrowserCodec(), make_pipeline(sink), send=wire.send, close=wire.close)
    await session.open()
    pcm = voiced(600) + audio.silence(800)
    for i in range(0, len(pcm), 1280):  # 40 ms chunks, as a browser worklet might send
        await session.on_bytes(pcm[i : i + 1280])
        await asyncio.sleep(0.04 / SPEED)
    await wait_for(lambda: sink.of(BotTurnFinished))
    binary = [f for f in wire.sent if isinstance(f, bytes)]
    assert binary and all(len(f) == audio.FRAME_BYTES for f in binary)
    events = [m["event"]["type"] for m in wire.json("event")]
    assert "state" in events and "user_transcript" in events and "metrics" in events
    await session.on_text('{"type":"end"}')
    assert wire.closed == (1000, "ended by user")
    assert sink.of(ConversationEnded)[0].reason == "user_end"


async def test_voximplant_pcm16_session_and_end_directive():
    wire, sink = Wire(), ListSink()
    pipeline = make_pipeline(sink, replies=[["Всего доброго!", Directive(kind="end")]])
    session = MediaSession(VoximplantCodec(), pipeline, send=wire.send, close=wire.close)
    await session.on_text('{"event":"start","start":{"mediaFormat":{"encoding":"PCM16","sampleRate":16000}}}')
    assert wire.json("start")  # our outgoing stream announced its format
    pcm = voiced(600) + audio.silence(800)
    for i in range(0, len(pcm), 640):
        chunk = base64.b64encode(pcm[i : i + 640]).decode()
        await session.on_text(json.dumps({"event": "media", "media": {"payload": chunk}}))
        await asyncio.sleep(0.02 / SPEED)
    await wait_for(lambda: wire.closed is not None)
    assert wire.closed == (1000, "conversation ended")
    media = wire.json("media")
    assert media and all(len(base64.b64decode(m["media"]["payload"])) == 640 for m in media)
    assert sink.of(BotTurnFinished)[0].text == "Всего доброго!"


async def test_audio_tap_sees_both_sides_decoded_and_the_clear():
    class Tap:
        def __init__(self):
            self.inbound_bytes = self.outbound_bytes = self.clears = 0
            self.rate = None

        def begin(self, sample_rate):
            self.rate = sample_rate

        def inbound(self, pcm16):
            self.inbound_bytes += len(pcm16)

        def outbound(self, pcm16):
            self.outbound_bytes += len(pcm16)

        def cleared(self):
            self.clears += 1

    wire, sink, tap = Wire(), ListSink(), Tap()
    session = MediaSession(
        TwilioCodec(), lambda start: make_pipeline(sink, opening="Добрый день!", bot_speaks_first=True),
        send=wire.send, close=wire.close, tap=tap,
    )
    await session.open()
    await session.on_text(twilio_start())
    await send_twilio_audio(session, audio.silence(400))
    # both sides at the wire's rate: what the callee sent, decoded (400 ms of 8 kHz PCM16, nothing held back) ...
    assert tap.rate == 8000
    assert tap.inbound_bytes == 6400
    await wait_for(lambda: tap.outbound_bytes > 0)
    # ... and the bot's speech as sent, before G.711: whole 20 ms frames of 8 kHz PCM16
    assert tap.outbound_bytes % 320 == 0
    await session.clear()
    assert tap.clears == 1
    await session.close()
