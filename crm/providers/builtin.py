"""The built-in CRM: leads already live in ``crm.models``; pushing is a no-op that returns the local id."""

from __future__ import annotations

from crm.providers.base import CRMProvider, LeadPayload


class BuiltinCRM(CRMProvider):
    name = "builtin"

    def lead_push(self, *, lead: LeadPayload, resume: bool = False) -> str:
        return str(lead.data.get("lead_id", ""))
