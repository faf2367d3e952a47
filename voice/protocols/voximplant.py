"""Voximplant media stream over WebSocket (``call.sendMediaTo(webSocket)``), JSON text frames.

In: ``start`` (``start.mediaFormat.encoding`` / ``sampleRate`` as negotiated by the scenario, e.g.
PCM16 at 16 kHz or μ-law at 8 kHz, plus ``customParameters`` and an optional ``tag``), ``media``
(``media.payload`` base64, ``chunk``, ``timestamp``) and ``stop``. Voximplant may open with an
``init`` message, taken like Twilio's ``connected``.

Out: the same shapes: one ``start`` announcing our format before the first audio, then ``media``.
Voximplant echoes no marks, so the pipeline estimates played text from time. ``clear`` is a
``{"event": "clear"}`` text message our VoxEngine scenario answers by clearing its media buffer.
"""

from __future__ import annotations

import re
from typing import Any

from voice.protocols.base import (
    CLOSE_BAD_MESSAGE,
    CLOSE_INVALID_PAYLOAD,
    CLOSE_OUT_OF_ORDER,
    CLOSE_UNSUPPORTED_FORMAT,
    Connected,
    InboundMessage,
    ProtocolError,
    Start,
    Stop,
    WireCodec,
    as_int,
    b64encode,
    dumps,
    normalize_encoding,
)

_RATE_IN_NAME = re.compile(r"(\d+)\s*khz", re.IGNORECASE)
SUPPORTED = {("pcm16", 8000), ("pcm16", 16000), ("mulaw", 8000), ("alaw", 8000)}


class VoximplantCodec(WireCodec):
    name = "voximplant"
    supports_marks = False

    def __init__(self, *, tag: str | None = None) -> None:
        super().__init__()
        self.tag = tag
        self._sequence = 0
        self._out_started = False
        self._out_chunk = 0
        self.custom_parameters: dict[str, Any] = {}

    def decode_text(self, text: str) -> InboundMessage:
        data = self._load_json(text)
        event = data.get("event")
        if event == "media":
            media = self._media(data)
            if self.encoding == "pcm16" and len(media.payload) % 2:
                # half a sample would shift every later one by a byte: noise to the VAD, the STT and the recording
                raise ProtocolError(CLOSE_INVALID_PAYLOAD, "voximplant: PCM16 media with an odd byte count")
            return media
        if event == "start":
            if self.started:
                raise ProtocolError(CLOSE_OUT_OF_ORDER, "voximplant: second start before stop")
            start = self._section(data, "start")
            fmt = start.get("mediaFormat")
            if not isinstance(fmt, dict) or "encoding" not in fmt:
                raise ProtocolError(CLOSE_BAD_MESSAGE, "voximplant: start without mediaFormat.encoding")
            encoding = normalize_encoding(fmt["encoding"])
            rate = as_int(fmt.get("sampleRate"))
            if rate is None:
                found = _RATE_IN_NAME.search(str(fmt["encoding"]))
                rate = int(found.group(1)) * 1000 if found else (8000 if encoding != "pcm16" else 16000)
            if (encoding, rate) not in SUPPORTED:
                raise ProtocolError(CLOSE_UNSUPPORTED_FORMAT, f"voximplant: unsupported media format {fmt!r}")
            params = start.get("customParameters") or {}
            self.started = True
            self.stopped = False
            self.encoding, self.sample_rate = encoding, rate
            self.tag = start.get("tag", self.tag)
            self.custom_parameters = dict(params) if isinstance(params, dict) else {}
            self.stream_id = str(self.tag or "")
            return Start(
                stream_id=self.stream_id,
                call_id=str(self.custom_parameters.get("callId", self.custom_parameters.get("call_id", ""))),
                encoding=encoding,
                sample_rate=rate,
                custom_parameters=self.custom_parameters,
            )
        if event == "stop":
            # a stream may start again after stop (Voximplant allows several in one socket)
            self.started = False
            self.stopped = True
            return Stop(reason="stop")
        if event in ("init", "connected"):
            return Connected(protocol="voximplant")
        return self._unknown(event)

    def _next_sequence(self) -> int:
        seq = self._sequence
        self._sequence += 1
        return seq

    def encode_start(self) -> str:
        media_format = {"encoding": self._wire_encoding_name(), "sampleRate": self.sample_rate}
        start: dict[str, Any] = {"mediaFormat": media_format}
        if self.tag:
            start["tag"] = self.tag
        return dumps({"event": "start", "sequenceNumber": self._next_sequence(), "start": start})

    def _wire_encoding_name(self) -> str:
        return {"pcm16": "PCM16", "mulaw": "ULAW", "alaw": "ALAW"}[self.encoding]

    def encode_audio(self, payload: bytes) -> str:
        media: dict[str, Any] = {
            "chunk": self._out_chunk,
            "timestamp": self._out_chunk * self.frame_ms,
            "payload": b64encode(payload),
        }
        if self.tag:
            media["tag"] = self.tag
        self._out_chunk += 1
        return dumps({"event": "media", "sequenceNumber": self._next_sequence(), "media": media})

    def preamble(self) -> list[str | bytes]:
        """Our outgoing stream opens with a ``start`` announcing its format, once."""
        if self._out_started:
            return []
        self._out_started = True
        return [self.encode_start()]

    def encode_clear(self) -> str:
        return dumps({"event": "clear", "sequenceNumber": self._next_sequence()})
