"""The contract between the pipeline and whatever decides what the bot says (``dialogs`` implements it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable


@dataclass(frozen=True)
class Directive:
    """A non-text instruction a responder yields among its text chunks.

    kind: ``end`` (finish the conversation after the current speech), ``slot`` (a value was
    collected: data = {"name", "value"}), ``stage`` (data = {"stage"}), ``callback``
    (data = {"when"}), ``meta`` (stage/intent/objection labels for the current turn), ``transfer``
    (hand the call to a person after the current speech, instead of hanging up: data = {"to"} or
    {"queue"}, and "reason"; an ``end`` follows it).
    """

    kind: Literal["end", "slot", "stage", "callback", "meta", "transfer"]
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class ConversationState:
    """Owned by the pipeline, passed to every ``respond`` call. ``data`` belongs to the responder."""

    language: str = "ru"
    history: list[tuple[str, str]] = field(default_factory=list)  # ("user" | "bot", text)
    turn_index: int = 0
    data: dict[str, Any] = field(default_factory=dict)
    ended: bool = False


ResponderOutput = str | Directive


@runtime_checkable
class Responder(Protocol):
    """``respond("")`` asks for the opening line when the bot speaks first.

    Implementations yield text chunks as soon as they have them (streaming), interleaved with
    ``Directive`` objects. They must tolerate being cancelled mid-stream (barge-in).
    """

    def respond(self, text: str, state: ConversationState) -> AsyncIterator[ResponderOutput]: ...
