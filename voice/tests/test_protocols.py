"""Wire protocols: encode/decode of browser, Twilio and Voximplant frames, and bad-frame close codes."""

from __future__ import annotations

import base64
import json

import pytest

from voice.protocols import (
    Connected,
    Control,
    Dtmf,
    Mark,
    Media,
    ProtocolError,
    Start,
    Stop,
    UnknownEvent,
    codec_for,
)
from voice.protocols.browser import BrowserCodec
from voice.protocols.twilio import TwilioCodec
from voice.protocols.voximplant import VoximplantCodec

ULAW_20MS = bytes(range(160))


def twilio_start(**media_format) -> str:
    fmt = {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1, **media_format}
    return json.dumps({
        "event": "start", "sequenceNumber": "1", "streamSid": "MZ123",
        "start": {"accountSid": "AC1", "streamSid": "MZ123", "callSid": "CA456", "tracks": ["inbound"],
                  "customParameters": {"call_id": "42", "token": "t"}, "mediaFormat": fmt},
    })


def twilio_media(payload: bytes = ULAW_20MS, chunk: int = 1) -> str:
    return json.dumps({"event": "media", "sequenceNumber": "3", "streamSid": "MZ123",
                       "media": {"track": "inbound", "chunk": str(chunk), "timestamp": "20",
                                 "payload": base64.b64encode(payload).decode()}})


def test_twilio_decodes_a_full_stream():
    codec = TwilioCodec()
    assert codec.decode_text('{"event":"connected","protocol":"Call","version":"1.0.0"}') == Connected("Call", "1.0.0")
    start = codec.decode_text(twilio_start())
    assert start == Start(stream_id="MZ123", call_id="CA456", encoding="mulaw", sample_rate=8000,
                          custom_parameters={"call_id": "42", "token": "t"}, tracks=["inbound"])
    media = codec.decode_text(twilio_media())
    assert media == Media(payload=ULAW_20MS, track="inbound", chunk=1, timestamp_ms=20)
    assert codec.decode_text('{"event":"mark","streamSid":"MZ123","mark":{"name":"t0s1"}}') == Mark("t0s1")
    assert codec.decode_text('{"event":"dtmf","streamSid":"MZ123","dtmf":{"track":"inbound_track","digit":"5"}}') == \
        Dtmf("5")
    assert codec.decode_text('{"event":"stop","streamSid":"MZ123","stop":{"callSid":"CA456"}}') == Stop("stop")


def test_twilio_encodes_media_mark_clear_with_stream_sid():
    codec = TwilioCodec()
    codec.decode_text(twilio_start())
    media = json.loads(codec.encode_audio(ULAW_20MS))
    assert media == {"event": "media", "streamSid": "MZ123", "media": {"payload": base64.b64encode(ULAW_20MS).decode()}}
    assert json.loads(codec.encode_mark("t1s0")) == {"event": "mark", "streamSid": "MZ123", "mark": {"name": "t1s0"}}
    assert json.loads(codec.encode_clear()) == {"event": "clear", "streamSid": "MZ123"}


@pytest.mark.parametrize(
    ("frames", "code", "reason"),
    [
        (["not json"], 4007, "not JSON"),
        (["[1, 2]"], 4007, "not a JSON object"),
        (['{"streamSid":"MZ1"}'], 4400, "without an event name"),
        (['{"event":5}'], 4400, "without an event name"),
        ([twilio_media()], 4409, "media before start"),
        (["START", '{"event":"media","media":{"payload":"@@not base64@@"}}'], 4007, "not base64"),
        (["START", '{"event":"media","media":{}}'], 4400, "without a payload"),
        (["START", twilio_media(b"\x00" * 9000)], 4009, "over"),
        (["x" * 70000], 4009, "over"),
        ([twilio_start(sampleRate=16000)], 4415, "unsupported media format"),
        (["START", "START"], 4409, "second start"),
        (['{"event":"start","start":{}}'], 4400, "without streamSid"),
        (['{"event":"start","start":{"streamSid":"MZ1","tracks":5}}'], 4400, "tracks is not a list"),
        (['{"event":"start","start":{"streamSid":"MZ1","tracks":"inbound"}}'], 4400, "tracks is not a list"),
    ],
)
def test_twilio_bad_frames(frames, code, reason):
    codec = TwilioCodec()
    with pytest.raises(ProtocolError) as err:
        for frame in frames:
            codec.decode_text(twilio_start() if frame == "START" else frame)
    assert err.value.close_code == code
    assert reason in err.value.reason


def test_twilio_rejects_binary_frames():
    with pytest.raises(ProtocolError) as err:
        TwilioCodec().decode_bytes(b"\x00\x01")
    assert err.value.close_code == 4003


@pytest.mark.parametrize(
    ("fmt", "encoding", "rate"),
    [({"encoding": "PCM16", "sampleRate": 16000}, "pcm16", 16000),
     ({"encoding": "ULAW", "sampleRate": 8000}, "mulaw", 8000),
     ({"encoding": "PCM16_8KHZ"}, "pcm16", 8000),
     ({"encoding": "ALAW"}, "alaw", 8000)],
)
def test_voximplant_start_negotiates_format(fmt, encoding, rate):
    codec = VoximplantCodec()
    start = codec.decode_text(json.dumps({"event": "start", "sequenceNumber": 0,
                                          "start": {"mediaFormat": fmt, "customParameters": {"callId": "7"}}}))
    assert (start.encoding, start.sample_rate, start.call_id) == (encoding, rate, "7")
    assert (codec.encoding, codec.sample_rate) == (encoding, rate)


def test_voximplant_media_stop_and_restart():
    codec = VoximplantCodec()
    assert isinstance(codec.decode_text('{"event":"init"}'), Connected)
    codec.decode_text('{"event":"start","start":{"mediaFormat":{"encoding":"PCM16","sampleRate":16000}}}')
    pcm = b"\x01\x00" * 320
    payload = base64.b64encode(pcm).decode()
    media = codec.decode_text(json.dumps({"event": "media", "sequenceNumber": 1,
                                          "media": {"chunk": 1, "timestamp": 20, "payload": payload}}))
    assert media.payload == pcm and media.chunk == 1 and media.timestamp_ms == 20
    assert codec.decode_text('{"event":"stop","stop":{"mediaInfo":{"duration":1}}}') == Stop("stop")
    with pytest.raises(ProtocolError) as err:  # media of a stopped stream
        codec.decode_text(json.dumps({"event": "media", "media": {"payload": base64.b64encode(pcm).decode()}}))
    assert err.value.close_code == 4409
    codec.decode_text('{"event":"start","start":{"mediaFormat":{"encoding":"ULAW","sampleRate":8000}}}')
    assert codec.encoding == "mulaw"


def test_voximplant_encodes_start_then_media():
    codec = VoximplantCodec()
    codec.decode_text('{"event":"start","start":{"mediaFormat":{"encoding":"ULAW","sampleRate":8000}}}')
    pre = codec.preamble()
    assert [json.loads(p)["start"]["mediaFormat"] for p in pre] == [{"encoding": "ULAW", "sampleRate": 8000}]
    assert codec.preamble() == []
    first, second = json.loads(codec.encode_audio(ULAW_20MS)), json.loads(codec.encode_audio(ULAW_20MS))
    assert first["event"] == "media" and base64.b64decode(first["media"]["payload"]) == ULAW_20MS
    assert second["sequenceNumber"] == first["sequenceNumber"] + 1
    assert second["media"]["timestamp"] - first["media"]["timestamp"] == 20
    assert json.loads(codec.encode_clear())["event"] == "clear"
    assert codec.encode_mark("x") is None and not codec.supports_marks


def test_voximplant_pcm16_media_with_an_odd_byte_count_is_refused_and_mulaw_is_not():
    def start(encoding):
        return json.dumps({"event": "start", "start": {"mediaFormat": {"encoding": encoding}}})

    def media(n):
        return json.dumps({"event": "media", "media": {"payload": base64.b64encode(bytes(n)).decode()}})

    pcm = VoximplantCodec()
    pcm.decode_text(start("PCM16"))
    assert pcm.decode_text(media(640)).payload == bytes(640)
    with pytest.raises(ProtocolError) as err:
        pcm.decode_text(media(641))
    assert err.value.close_code == 4007 and "odd byte count" in err.value.reason
    ulaw = VoximplantCodec()
    ulaw.decode_text(start("ULAW"))
    assert len(ulaw.decode_text(media(161)).payload) == 161  # one byte a sample: any count is whole samples


@pytest.mark.parametrize(
    ("frame", "code"),
    [('{"event":"start","start":{"mediaFormat":{"encoding":"OPUS","sampleRate":48000}}}', 4415),
     ('{"event":"start","start":{}}', 4400),
     ('{"event":"media","media":{"payload":"AAAA"}}', 4409),
     ('{"tag":"x"}', 4400),
     ("{", 4007)],
)
def test_voximplant_bad_frames(frame, code):
    with pytest.raises(ProtocolError) as err:
        VoximplantCodec().decode_text(frame)
    assert err.value.close_code == code


def test_an_event_of_a_newer_protocol_version_is_taken_as_unknown_not_refused():
    """Carriers add events (Twilio added ``dtmf``): a live call must not end over one it does not know yet."""
    twilio = TwilioCodec()
    twilio.decode_text(twilio_start())
    assert twilio.decode_text('{"event":"transcription","streamSid":"MZ123","transcription":{}}') == \
        UnknownEvent("transcription")
    assert VoximplantCodec().decode_text('{"event":"dance"}') == UnknownEvent("dance")
    assert TwilioCodec().decode_text('{"event":"' + "x" * 500 + '"}') == UnknownEvent("x" * 40)  # kept short


def test_browser_protocol():
    codec = codec_for("browser")
    assert isinstance(codec, BrowserCodec) and codec.started
    assert codec.decode_bytes(b"\x01\x00" * 320) == Media(payload=b"\x01\x00" * 320)
    assert codec.decode_text('{"type":"mark","name":"t0s0"}') == Mark("t0s0")
    assert codec.decode_text('{"type":"end"}') == Control("end")
    assert codec.encode_audio(b"\x01\x02") == b"\x01\x02"
    assert json.loads(codec.encode_clear()) == {"type": "clear"}
    assert json.loads(codec.encode_mark("m")) == {"type": "mark", "name": "m"}
    assert json.loads(codec.encode_event({"type": "state", "state": "SPEAKING"})) == {
        "type": "event", "event": {"type": "state", "state": "SPEAKING"}}


@pytest.mark.parametrize(
    ("call", "code"),
    [(lambda c: c.decode_bytes(b"\x00" * 3), 4007),
     (lambda c: c.decode_bytes(b"\x00" * 70000), 4009),
     (lambda c: c.decode_text('{"type":"launch"}'), 4400),
     (lambda c: c.decode_text("nope"), 4007)],
)
def test_browser_bad_frames(call, code):
    with pytest.raises(ProtocolError) as err:
        call(BrowserCodec())
    assert err.value.close_code == code


def test_close_reason_fits_a_close_frame():
    assert len(ProtocolError(4400, "я" * 200).reason.encode()) <= 123
