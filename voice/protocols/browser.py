"""The trainer's browser socket: binary PCM16 16 kHz up; binary PCM16 16 kHz plus JSON control down.

Up: binary frames of PCM16 little-endian mono 16 kHz audio (any whole number of samples), and
JSON text controls: ``{"type": "mark", "name"}`` (the player echoes our marks once played),
``{"type": "end"}`` (the trainee pressed «Завершить»), ``{"type": "stop"}``, ``{"type": "ping"}``.
Down: binary audio frames, and JSON ``{"type": "clear"}``, ``{"type": "mark", "name"}`` and
``{"type": "event", "event": {...}}`` carrying pipeline events (mind state, transcripts).
"""

from __future__ import annotations

from typing import Any

from voice.protocols.base import (
    CLOSE_BAD_MESSAGE,
    CLOSE_INVALID_PAYLOAD,
    CLOSE_TOO_BIG,
    Control,
    InboundMessage,
    Mark,
    Media,
    ProtocolError,
    Stop,
    WireCodec,
    dumps,
)


class BrowserCodec(WireCodec):
    name = "browser"
    supports_marks = True
    forwards_events = True
    max_frame_bytes = 16 * 1024  # text controls are tiny
    max_payload_bytes = 64 * 1024  # 2 s of audio in one binary frame is already too much buffering

    def __init__(self) -> None:
        super().__init__()
        self.started = True  # nothing to negotiate: the page always sends 16 kHz PCM16

    def decode_bytes(self, data: bytes) -> InboundMessage:
        if len(data) > self.max_payload_bytes:
            raise ProtocolError(
                CLOSE_TOO_BIG, f"browser: audio frame of {len(data)} bytes over {self.max_payload_bytes}"
            )
        if len(data) % 2:
            raise ProtocolError(CLOSE_INVALID_PAYLOAD, "browser: audio frame with an odd byte count (not PCM16)")
        if self.stopped:
            raise ProtocolError(CLOSE_BAD_MESSAGE, "browser: audio after stop")
        return Media(payload=bytes(data))

    def decode_text(self, text: str) -> InboundMessage:
        data = self._load_json(text)
        kind = data.get("type")
        if kind == "mark":
            name = data.get("name")
            if not isinstance(name, str):
                raise ProtocolError(CLOSE_BAD_MESSAGE, "browser: mark without a name")
            return Mark(name=name)
        if kind == "stop":
            self.stopped = True
            return Stop(reason="stop")
        if kind in ("end", "ping", "start"):
            return Control(name=kind, data={k: v for k, v in data.items() if k != "type"})
        raise ProtocolError(CLOSE_BAD_MESSAGE, f"browser: unknown message type {str(kind)[:40]!r}")

    def encode_audio(self, payload: bytes) -> bytes:
        return payload

    def encode_mark(self, name: str) -> str:
        return dumps({"type": "mark", "name": name})

    def encode_clear(self) -> str:
        return dumps({"type": "clear"})

    def encode_event(self, event: dict[str, Any]) -> str:
        return dumps({"type": "event", "event": event})
