"""What every media-stream codec shares: decoded message types, limits and ``ProtocolError`` close codes.

A codec turns one WebSocket frame into one message and back; it does no I/O, so the same code
serves the Channels consumers, the bench clients and the tests. A bad frame raises
``ProtocolError`` with the WebSocket close code the session closes that one stream with.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

import orjson

# Applications may only send 1000 or 3000-4999 (ASGI servers refuse RFC 6455's 1003/1007/1009 and
# leave the socket open), so each of those gets a 4xxx twin with the same last digits.
CLOSE_NORMAL = 1000
CLOSE_UNSUPPORTED_DATA = 4003  # a binary frame on a text protocol, or the reverse (RFC 6455: 1003)
CLOSE_INVALID_PAYLOAD = 4007  # not JSON, not base64, odd-length PCM16 (1007)
CLOSE_POLICY = 4008  # (1008)
CLOSE_TOO_BIG = 4009  # frame or decoded payload over the limit (1009)
CLOSE_TOO_FAST = 4408  # media arriving faster than real time (a flood)
CLOSE_BAD_MESSAGE = 4400  # no event name, or a required field missing
CLOSE_UNSUPPORTED_FORMAT = 4415  # a media format we cannot decode
CLOSE_OUT_OF_ORDER = 4409  # media before start, a second start


class ProtocolError(Exception):
    def __init__(self, close_code: int, reason: str):
        super().__init__(f"{close_code}: {reason}")
        self.close_code = close_code
        # WebSocket close reasons are limited to 123 bytes of UTF-8
        self.reason = reason.encode()[:123].decode(errors="ignore")


@dataclass
class Connected:
    protocol: str = ""
    version: str = ""


@dataclass
class Start:
    stream_id: str = ""
    call_id: str = ""
    encoding: str = "pcm16"  # pcm16 | mulaw | alaw
    sample_rate: int = 16000
    custom_parameters: dict[str, Any] = field(default_factory=dict)
    tracks: list[str] = field(default_factory=list)


@dataclass
class Media:
    payload: bytes  # audio in the negotiated wire encoding, not yet decoded
    track: str = "inbound"
    chunk: int | None = None
    timestamp_ms: int | None = None


@dataclass
class Mark:
    name: str


@dataclass
class Dtmf:
    digit: str


@dataclass
class Stop:
    reason: str = ""


@dataclass
class Control:
    """A protocol-specific control message (the browser's ``end`` button, ``ping``)."""

    name: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class UnknownEvent:
    """A well-formed message whose event the codec does not know: a carrier's newer protocol version (carriers
    add events, as Twilio added ``dtmf``). Taken and ignored, so a live call does not end over it."""

    event: str


InboundMessage = Connected | Start | Media | Mark | Dtmf | Stop | Control | UnknownEvent

ENCODINGS = ("pcm16", "mulaw", "alaw")


class WireCodec:
    """Base of the three codecs. ``started`` turns True on ``start`` (the browser starts at once)."""

    name = "base"
    supports_marks = False
    forwards_events = False  # the browser shows pipeline events; telephony peers do not want them
    max_frame_bytes = 64 * 1024
    max_payload_bytes = 32 * 1024  # decoded audio per message: ~1 s of 16 kHz PCM16
    frame_ms = 20

    def __init__(self) -> None:
        self.started = False
        self.stopped = False
        self.encoding = "pcm16"
        self.sample_rate = 16000
        self.stream_id = ""

    def decode_text(self, text: str) -> InboundMessage:
        raise ProtocolError(CLOSE_UNSUPPORTED_DATA, f"{self.name}: text frames are not accepted")

    def decode_bytes(self, data: bytes) -> InboundMessage:
        raise ProtocolError(CLOSE_UNSUPPORTED_DATA, f"{self.name}: binary frames are not accepted")

    def encode_audio(self, payload: bytes) -> str | bytes:
        raise NotImplementedError

    def preamble(self) -> list[str | bytes]:
        """Frames to send before our first outgoing audio (Voximplant's ``start``)."""
        return []

    def encode_mark(self, name: str) -> str | bytes | None:
        return None

    def encode_clear(self) -> str | bytes | None:
        return None

    def encode_event(self, event: dict[str, Any]) -> str | bytes | None:
        return None

    # --- helpers for JSON codecs ---

    def _load_json(self, text: str) -> dict[str, Any]:
        if len(text) > self.max_frame_bytes:
            raise ProtocolError(CLOSE_TOO_BIG, f"{self.name}: frame of {len(text)} bytes over {self.max_frame_bytes}")
        try:
            data = orjson.loads(text)  # 50 messages a second per call: the C parser
        except (ValueError, TypeError) as exc:
            raise ProtocolError(CLOSE_INVALID_PAYLOAD, f"{self.name}: frame is not JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise ProtocolError(CLOSE_INVALID_PAYLOAD, f"{self.name}: frame is not a JSON object")
        return data

    def _b64(self, value: Any) -> bytes:
        if not isinstance(value, str) or not value:
            raise ProtocolError(CLOSE_BAD_MESSAGE, f"{self.name}: media without a payload")
        if len(value) > self.max_payload_bytes * 4 // 3 + 4:
            raise ProtocolError(CLOSE_TOO_BIG, f"{self.name}: media payload over {self.max_payload_bytes} bytes")
        try:
            # strict, in C (b64decode's validate=True runs a regular expression over every payload first)
            return binascii.a2b_base64(value, strict_mode=True)
        except (binascii.Error, ValueError) as exc:
            raise ProtocolError(CLOSE_INVALID_PAYLOAD, f"{self.name}: media payload is not base64") from exc

    def _unknown(self, event: Any) -> UnknownEvent:
        """A message the codec has no case for: ignored when it names an event, refused when it names none."""
        if not isinstance(event, str) or not event:
            raise ProtocolError(CLOSE_BAD_MESSAGE, f"{self.name}: message without an event name")
        return UnknownEvent(event=event[:40])

    def _section(self, data: dict[str, Any], key: str) -> dict[str, Any]:
        section = data.get(key)
        if not isinstance(section, dict):
            raise ProtocolError(CLOSE_BAD_MESSAGE, f"{self.name}: {data.get('event')!r} message without {key!r}")
        return section

    def _require_started(self) -> None:
        if not self.started:
            raise ProtocolError(CLOSE_OUT_OF_ORDER, f"{self.name}: media before start")

    def _media(self, data: dict[str, Any]) -> Media:
        """A ``media`` message: Twilio's and Voximplant's share the shape (payload, track, chunk, timestamp)."""
        self._require_started()
        media = self._section(data, "media")
        return Media(
            payload=self._b64(media.get("payload")),
            track=str(media.get("track") or "inbound"),
            chunk=as_int(media.get("chunk")),
            timestamp_ms=as_int(media.get("timestamp")),
        )


def as_int(value: Any) -> int | None:
    """A number a wire message may carry as a string, or None when it is not one."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def b64encode(payload: bytes) -> str:
    return base64.b64encode(payload).decode("ascii")


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def normalize_encoding(value: str) -> str | None:
    """Vendors spell formats many ways: ``audio/x-mulaw``, ``ULAW``, ``PCMU``, ``PCM16_8KHZ``, ``L16``."""
    v = str(value).lower()
    if any(t in v for t in ("mulaw", "ulaw", "pcmu", "g711u")):
        return "mulaw"
    if any(t in v for t in ("alaw", "pcma", "g711a")):
        return "alaw"
    if any(t in v for t in ("pcm16", "l16", "linear16", "pcm", "s16")):
        return "pcm16"
    return None
