"""The CRM contract: push a lead (and an optional callback task), get the CRM's id back."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class LeadPayload:
    title: str
    name: str = ""
    company: str = ""
    phone: str = ""
    email: str = ""
    comments: str = ""
    interest: int | None = None
    callback_when: str = ""  # a callback the callee asked for, as they said it
    data: dict[str, Any] = field(default_factory=dict)


class CRMProvider(ABC):
    name = "base"

    @abstractmethod
    def lead_push(self, *, lead: LeadPayload) -> str:
        """Create the lead; return the CRM's id for it. Errors are ``voice.errors.ProviderError``s."""
