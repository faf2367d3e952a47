"""The messaging contract: send one text to one phone number, get the vendor's message id back."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime


class MessagingProvider(ABC):
    name = "base"

    @abstractmethod
    def send(self, *, to: str, text: str, resume: bool = False, since: datetime | None = None) -> str:
        """Send ``text`` to ``to`` (E.164); return the vendor's id. Errors are ``integrations.errors.ProviderError``s.

        ``resume``: an earlier attempt may have reached the vendor (its answer was lost: a timeout, a 5xx, a
        dropped connection, a worker killed mid-request). A vendor without idempotency keys first looks for
        the message it may already hold (created since ``since``) and returns that one's id instead of sending
        a second copy."""
