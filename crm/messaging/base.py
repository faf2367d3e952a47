"""The messaging contract: send one text to one phone number, get the vendor's message id back."""

from __future__ import annotations

from abc import ABC, abstractmethod


class MessagingProvider(ABC):
    name = "base"

    @abstractmethod
    def send(self, *, to: str, text: str) -> str:
        """Send ``text`` to ``to`` (E.164); return the vendor's id. Errors are ``voice.errors.ProviderError``s."""
