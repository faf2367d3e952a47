"""CRM providers: the built-in CRM (always the system of record) and Bitrix24, which gets a copy of each lead."""

from __future__ import annotations

from django.conf import settings

from crm.providers.base import CRMProvider, LeadPayload
from integrations.registry import PROVIDERS as REGISTRY
from integrations.registry import load_provider

PROVIDERS = REGISTRY["crm"]  # the names this kind offers (integrations.registry)

__all__ = ["CRMProvider", "LeadPayload", "get_crm"]


def get_crm(name: str | None = None) -> CRMProvider:
    name = name or settings.CRM["PROVIDER"]
    options = {}
    if name == "bitrix24":
        options = {"webhook_url": settings.CRM.get("BITRIX24_WEBHOOK_URL", ""),
                   **{k.lower(): v for k, v in (settings.CRM.get("BITRIX24") or {}).items()}}
    return load_provider("crm", name, **options)
