"""The telephony contract: dial a number whose audio is streamed to our media WebSocket, hang up, transfer."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from integrations.errors import ProviderConfigError


@dataclass(frozen=True)
class DialRequest:
    """Everything a carrier needs to place one call.

    ``media_url`` is the call's WebSocket (with ``?token=`` for carriers that keep query strings);
    ``media_token`` also travels separately for carriers that drop them (Twilio's ``<Parameter>``).
    """

    call_id: int
    to: str
    caller_id: str
    media_url: str
    media_token: str
    status_callback_url: str
    language: str = "ru"
    custom: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DialResult:
    provider_call_id: str
    # where the running call takes commands, when the carrier gives one (Voximplant's media_session_access_url)
    control_url: str = ""


@dataclass(frozen=True)
class TransferTarget:
    """Where a live call goes when the bot hands it to a person: a number (E.164) or an operator queue."""

    to: str = ""
    queue: str = ""
    caller_id: str = ""  # the number the operator sees; empty = the carrier's default

    def __post_init__(self) -> None:
        if bool(self.to) == bool(self.queue):
            raise ValueError("a transfer goes to a number or to a queue, exactly one")

    @property
    def label(self) -> str:
        return self.to or f"queue:{self.queue}"


class TelephonyProvider(ABC):
    """One carrier. Subclasses map every failure to the ``integrations.errors.ProviderError`` family."""

    name = "base"
    media_protocol = "twilio"  # the wire protocol its media stream speaks (``voice.protocols``)
    token_in_url = True  # whether the media URL keeps its ``?token=`` query string
    plays_voicemail = False  # whether ``leave_voicemail`` can play a message into the call itself

    @abstractmethod
    def dial(self, *, request: DialRequest) -> DialResult: ...

    def call_state(self, *, provider_call_id: str) -> str | None:
        """Where the carrier says the call is, as a progress word (``ringing``, ``answered``, ``completed``,
        ``busy`` …), or None when this carrier cannot be asked. The sweeper asks before it ends a call."""
        return None

    def hangup(self, *, provider_call_id: str) -> None:
        """End a call from our side. Carriers whose call ends with the media socket need nothing."""

    def leave_voicemail(self, *, provider_call_id: str, text: str, language: str) -> None:
        """Say ``text`` into the call (an answering machine's greeting is over), then hang up.

        Only for carriers with ``plays_voicemail``; the others' message is spoken by our media path."""
        raise NotImplementedError(f"{self.name} cannot play a voicemail message itself")

    def transfer(self, *, provider_call_id: str, target: TransferTarget, control_url: str = "") -> None:
        """Take the callee off our media stream and connect them to ``target`` (a cold transfer)."""
        raise ProviderConfigError(f"{self.name} cannot transfer calls", provider=self.name)
