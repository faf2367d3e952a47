"""Wire protocols of the media WebSockets: pure encode/decode, no I/O (browser, Twilio, Voximplant)."""

from voice.protocols.base import (
    Connected,
    Control,
    Dtmf,
    InboundMessage,
    Mark,
    Media,
    ProtocolError,
    Start,
    Stop,
    UnknownEvent,
    WireCodec,
)
from voice.protocols.browser import BrowserCodec
from voice.protocols.twilio import TwilioCodec
from voice.protocols.voximplant import VoximplantCodec

__all__ = [
    "Connected", "Control", "Dtmf", "InboundMessage", "Mark", "Media", "ProtocolError", "Start", "Stop",
    "UnknownEvent", "WireCodec", "codec_for",
]


def codec_for(name: str, **options) -> WireCodec:
    """``browser`` | ``twilio`` | ``voximplant``."""
    if name == "browser":
        return BrowserCodec(**options)
    if name == "twilio":
        return TwilioCodec(**options)
    if name == "voximplant":
        return VoximplantCodec(**options)
    raise ValueError(f"unknown media protocol {name!r}")
