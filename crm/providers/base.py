"""The CRM contract: push a lead (with its timeline note and an optional callback task), get the CRM's id back."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class LeadPayload:
    title: str
    external_id: str = ""  # our idempotency key: stored on the CRM's record so a retry finds it
    name: str = ""
    company: str = ""
    phone: str = ""
    email: str = ""
    comments: str = ""
    interest: int | None = None
    summary: str = ""
    transcript_url: str = ""
    recording_url: str = ""
    callback_when: str = ""  # a callback the callee asked for, as they said it
    callback_at: str = ""  # ISO 8601 with offset when it could be read as a time
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LeadPayload:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


class CRMProvider(ABC):
    name = "base"

    @abstractmethod
    def lead_push(self, *, lead: LeadPayload, resume: bool = False) -> str:
        """Create the lead once; return the CRM's id for it. Errors are ``integrations.errors.ProviderError``s.

        ``resume`` says an earlier attempt may have reached the CRM (its answer was lost): look for the
        record by ``lead.external_id`` first and only add what is missing.
        """
