"""Bitrix24 over an inbound REST webhook: ``<webhook>/crm.lead.add.json`` with ``fields``; ``result`` is the id."""

from __future__ import annotations

import httpx

from crm.providers.base import CRMProvider, LeadPayload
from voice.errors import (
    ProviderAuthError,
    ProviderBadResponse,
    ProviderConfigError,
    ProviderTimeout,
    ProviderUnavailable,
)


class Bitrix24CRM(CRMProvider):
    name = "bitrix24"

    def __init__(self, webhook_url: str = "", timeout_s: float = 10.0):
        if not webhook_url:
            raise ProviderConfigError("BITRIX24_WEBHOOK_URL is required", provider=self.name)
        self.webhook_url = webhook_url.rstrip("/")
        self.timeout_s = timeout_s

    def lead_push(self, *, lead: LeadPayload) -> str:
        fields = {"TITLE": lead.title, "NAME": lead.name, "COMPANY_TITLE": lead.company,
                  "COMMENTS": lead.comments, "SOURCE_ID": "CALL", "OPENED": "Y"}
        if lead.phone:
            fields["PHONE"] = [{"VALUE": lead.phone, "VALUE_TYPE": "WORK"}]
        if lead.email:
            fields["EMAIL"] = [{"VALUE": lead.email, "VALUE_TYPE": "WORK"}]
        try:
            response = httpx.post(f"{self.webhook_url}/crm.lead.add.json",
                                  json={"fields": fields, "params": {"REGISTER_SONET_EVENT": "Y"}},
                                  timeout=self.timeout_s)
        except httpx.TimeoutException as exc:
            raise ProviderTimeout(str(exc), provider=self.name) from exc
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(str(exc), provider=self.name) from exc
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        if response.status_code in (401, 403) or payload.get("error") in ("INVALID_CREDENTIALS", "insufficient_scope"):
            raise ProviderAuthError(str(payload.get("error_description", response.status_code)), provider=self.name,
                                    status=response.status_code)
        if response.status_code == 503 or response.status_code >= 500 or payload.get("error") == "QUERY_LIMIT_EXCEEDED":
            raise ProviderUnavailable(str(payload.get("error", response.status_code)), provider=self.name,
                                      status=response.status_code)
        if "error" in payload or response.status_code >= 400 or "result" not in payload:
            raise ProviderBadResponse(f"{payload.get('error')}: {payload.get('error_description', '')}",
                                      provider=self.name, status=response.status_code)
        return str(payload["result"])
