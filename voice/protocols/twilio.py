"""Twilio Media Streams (bidirectional, ``<Connect><Stream>``): μ-law 8 kHz base64 in JSON text frames.

In: ``connected``, ``start`` (streamSid, callSid, customParameters, mediaFormat), ``media``
(track, chunk, timestamp, payload), ``mark`` (echo of ours once played), ``dtmf``, ``stop``.
Out: ``media``, ``mark`` and ``clear``, each with the ``streamSid``.
"""

from __future__ import annotations

import json

from voice.protocols.base import (
    CLOSE_BAD_MESSAGE,
    CLOSE_OUT_OF_ORDER,
    CLOSE_UNSUPPORTED_FORMAT,
    Connected,
    Dtmf,
    InboundMessage,
    Mark,
    ProtocolError,
    Start,
    Stop,
    WireCodec,
    as_int,
    b64encode,
    dumps,
    normalize_encoding,
)


class TwilioCodec(WireCodec):
    name = "twilio"
    supports_marks = True
    max_payload_bytes = 8000  # 1 s of μ-law; Twilio sends 20 ms (160 bytes)

    def __init__(self) -> None:
        super().__init__()
        self.encoding = "mulaw"
        self.sample_rate = 8000
        self.call_id = ""
        self._sid_json = '""'

    def decode_text(self, text: str) -> InboundMessage:
        data = self._load_json(text)
        event = data.get("event")
        if event == "media":
            return self._media(data)
        if event == "connected":
            return Connected(protocol=str(data.get("protocol", "")), version=str(data.get("version", "")))
        if event == "start":
            if self.started:
                raise ProtocolError(CLOSE_OUT_OF_ORDER, "twilio: second start on one stream")
            start = self._section(data, "start")
            stream_sid = start.get("streamSid") or data.get("streamSid")
            if not stream_sid:
                raise ProtocolError(CLOSE_BAD_MESSAGE, "twilio: start without streamSid")
            fmt = start.get("mediaFormat") or {}
            encoding = normalize_encoding(fmt.get("encoding", "audio/x-mulaw")) if isinstance(fmt, dict) else None
            rate = as_int(fmt.get("sampleRate", 8000)) if isinstance(fmt, dict) else None
            if encoding != "mulaw" or rate != 8000:
                raise ProtocolError(CLOSE_UNSUPPORTED_FORMAT, f"twilio: unsupported media format {fmt!r}")
            params = start.get("customParameters") or {}
            tracks = start.get("tracks") or []
            if not isinstance(tracks, list):
                raise ProtocolError(CLOSE_BAD_MESSAGE, f"twilio: start whose tracks is not a list: {str(tracks)[:40]}")
            self.started = True
            self.stream_id = str(stream_sid)
            self._sid_json = json.dumps(self.stream_id)
            self.call_id = str(start.get("callSid", ""))
            return Start(
                stream_id=self.stream_id,
                call_id=self.call_id,
                encoding=encoding,
                sample_rate=rate,
                custom_parameters=dict(params) if isinstance(params, dict) else {},
                tracks=[str(track) for track in tracks],
            )
        if event == "mark":
            name = self._section(data, "mark").get("name")
            if not isinstance(name, str):
                raise ProtocolError(CLOSE_BAD_MESSAGE, "twilio: mark without a name")
            return Mark(name=name)
        if event == "dtmf":
            return Dtmf(digit=str(self._section(data, "dtmf").get("digit", "")))
        if event == "stop":
            self.stopped = True
            return Stop(reason="stop")
        return self._unknown(event)

    def encode_audio(self, payload: bytes) -> str:
        # 50 messages a second per call: formatted directly (the sid is JSON-quoted once, at start)
        return f'{{"event":"media","streamSid":{self._sid_json},"media":{{"payload":"{b64encode(payload)}"}}}}'

    def encode_mark(self, name: str) -> str:
        return dumps({"event": "mark", "streamSid": self.stream_id, "mark": {"name": name}})

    def encode_clear(self) -> str:
        return dumps({"event": "clear", "streamSid": self.stream_id})
