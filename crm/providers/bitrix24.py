"""Bitrix24 over an inbound REST webhook, through the universal ``crm.item.*`` methods (``crm.lead.add`` is deprecated).

One lead (or a contact + deal, where the portal works with deals) per call, created with a single ``batch``
request: the item, a timeline comment (summary, transcript and recording links) and, when the callee asked
for one, a callback task with a deadline. Every record carries our external id (``originatorId`` +
``originId``) and the phone number, so a retry after a lost answer finds the first copy instead of adding a
second one, and a person can find duplicates. Requests share one Redis token bucket per portal (Bitrix24
allows 2 requests/s with bursts of 50 on most plans); a 503 ``QUERY_LIMIT_EXCEEDED`` empties it.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from crm.providers.base import CRMProvider, LeadPayload
from crm.ratelimit import RateLimited, TokenBucket
from integrations.errors import (
    ProviderAuthError,
    ProviderBadResponse,
    ProviderConfigError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
)

ENTITY_LEAD, ENTITY_DEAL, ENTITY_CONTACT = 1, 2, 3
ORIGINATOR = "voice-sales"
AUTH_ERRORS = {"INVALID_CREDENTIALS", "NO_AUTH_FOUND", "insufficient_scope", "expired_token", "invalid_token",
               "ACCESS_DENIED", "WRONG_AUTH_TYPE", "authorization_error"}
RETRYABLE_ERRORS = {"QUERY_LIMIT_EXCEEDED", "INTERNAL_SERVER_ERROR", "OPERATION_TIME_LIMIT", "PORTAL_DELETED_TEMP"}


def php_params(params: dict[str, Any]) -> list[tuple[str, str]]:
    """Flatten nested params the way PHP's ``http_build_query`` does: ``fields[fm][0][value]=…``."""
    out: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}[{k}]" if prefix else str(k), v)
        elif isinstance(value, list | tuple):
            for i, v in enumerate(value):
                walk(f"{prefix}[{i}]", v)
        elif value is None:
            out.append((prefix, ""))
        elif isinstance(value, bool):
            out.append((prefix, "Y" if value else "N"))
        else:
            out.append((prefix, str(value)))

    walk("", params)
    return out


def batch_command(method: str, params: dict[str, Any]) -> str:
    """One ``batch`` command: ``method?query``, encoded once more inside the batch (``$result[...]`` macros too)."""
    return f"{method}?{urlencode(php_params(params))}"


def _error(code: str, description: str, status: int | None) -> ProviderError:
    message = f"{code}: {description}".strip(": ")
    if code in AUTH_ERRORS or status in (401, 403):
        return ProviderAuthError(message, provider="bitrix24", status=status)
    if code in RETRYABLE_ERRORS or (status is not None and status >= 500):
        return ProviderUnavailable(message, provider="bitrix24", status=status)
    return ProviderBadResponse(message, provider="bitrix24", status=status)


class Bitrix24CRM(CRMProvider):
    name = "bitrix24"

    def __init__(self, webhook_url: str = "", entity: str = "lead", responsible_id: int = 1,
                 timeout_s: float = 10.0, rate_per_s: float = 2.0, burst: int = 50, max_wait_s: float = 20.0,
                 client: httpx.Client | None = None):
        if not webhook_url:
            raise ProviderConfigError("BITRIX24_WEBHOOK_URL is required", provider=self.name)
        if entity not in ("lead", "deal"):
            raise ProviderConfigError(f"BITRIX24_ENTITY must be 'lead' or 'deal', not {entity!r}", provider=self.name)
        self.webhook_url = webhook_url.rstrip("/")
        self.entity, self.responsible_id = entity, int(responsible_id)
        self.timeout_s, self.max_wait_s = timeout_s, max_wait_s
        parts = urlsplit(self.webhook_url)
        portal = hashlib.sha256(f"{parts.netloc}{parts.path}".encode()).hexdigest()[:16]
        self.bucket = TokenBucket(f"bitrix24:{portal}", rate_per_s=rate_per_s, burst=burst) if rate_per_s else None
        self.client = client or httpx.Client(timeout=timeout_s)

    # --- the wire --------------------------------------------------------------------------------------------

    def call(self, method: str, params: dict[str, Any]) -> Any:
        """POST one REST method; return its ``result`` or raise the mapped ``ProviderError``."""
        if self.bucket is not None:
            try:
                self.bucket.take(max_wait_s=self.max_wait_s)
            except RateLimited as exc:
                raise ProviderUnavailable(str(exc), provider=self.name) from exc
        try:
            response = self.client.post(f"{self.webhook_url}/{method}.json", json=params, timeout=self.timeout_s)
        except httpx.TimeoutException as exc:
            raise ProviderTimeout(f"{method}: {exc or 'timed out'}", provider=self.name) from exc
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"{method}: {exc}", provider=self.name) from exc
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        if not isinstance(payload, dict):
            payload = {}
        code = str(payload.get("error") or "")
        if response.status_code == 503 or code == "QUERY_LIMIT_EXCEEDED":
            if self.bucket is not None:
                self.bucket.drain()
            raise ProviderUnavailable(f"{code or 'HTTP 503'}: {payload.get('error_description', '')}",
                                      provider=self.name, status=response.status_code)
        if code or response.status_code >= 400:
            raise _error(code or f"HTTP {response.status_code}", str(payload.get("error_description", "")),
                         response.status_code)
        if "result" not in payload:
            raise ProviderBadResponse(f"{method}: answer without a result", provider=self.name,
                                      status=response.status_code)
        return payload["result"]

    def batch(self, commands: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, Any]:
        """Run commands in one request (``halt=1``); a failed command raises its error, the others' results stay."""
        answer = self.call("batch", {"halt": 1, "cmd": {k: batch_command(m, p) for k, (m, p) in commands.items()}})
        results = answer.get("result") if isinstance(answer, dict) else None
        errors = answer.get("result_error") if isinstance(answer, dict) else None
        results = results if isinstance(results, dict) else {}
        errors = errors if isinstance(errors, dict) else {}
        for key, err in errors.items():
            err = err if isinstance(err, dict) else {"error": str(err)}
            exc = _error(str(err.get("error", "")), str(err.get("error_description", "")), None)
            exc.args = (f"{key}: {exc.args[0]}",)
            raise exc
        missing = [k for k in commands if k not in results]
        if missing:
            raise ProviderUnavailable(f"batch stopped before {missing}", provider=self.name)
        return results

    # --- the lead --------------------------------------------------------------------------------------------

    def _origin(self, lead: LeadPayload) -> dict[str, str]:
        return {"originatorId": ORIGINATOR, "originId": lead.external_id}

    def _comms(self, lead: LeadPayload) -> list[dict[str, str]]:
        comms = []
        if lead.phone:
            comms.append({"typeId": "PHONE", "valueType": "WORK", "value": lead.phone})
        if lead.email:
            comms.append({"typeId": "EMAIL", "valueType": "WORK", "value": lead.email})
        return comms

    def _note(self, lead: LeadPayload) -> str:
        lines = [lead.summary or lead.comments or lead.title]
        if lead.interest is not None:
            lines.append(f"Интерес: {lead.interest}/100")
        if lead.callback_when or lead.callback_at:
            lines.append(f"Перезвонить: {lead.callback_when or lead.callback_at}")
        if lead.transcript_url:
            lines.append(f"Расшифровка: {lead.transcript_url}")
        if lead.recording_url:
            lines.append(f"Запись: {lead.recording_url}")
        lines.append(f"ID: {lead.external_id}")
        return "\n".join(lines)

    def _find(self, lead: LeadPayload) -> dict[str, int]:
        """What an earlier attempt already created: the contact, the lead or deal, its comment and task."""
        flt = {"filter": {"=originatorId": ORIGINATOR, "=originId": lead.external_id}, "select": ["id"]}
        main_type = ENTITY_DEAL if self.entity == "deal" else ENTITY_LEAD
        commands = {"main": ("crm.item.list", {"entityTypeId": main_type, **flt})}
        if self.entity == "deal":
            commands["contact"] = ("crm.item.list", {"entityTypeId": ENTITY_CONTACT, **flt})
        found: dict[str, int] = {}
        for key, result in self.batch(commands).items():
            items = (result or {}).get("items") if isinstance(result, dict) else None
            if items:
                found[key] = int(items[0]["id"])
        if "main" in found:
            entity_type = self.entity
            prefix = "D" if self.entity == "deal" else "L"
            existing = self.batch({
                "note": ("crm.timeline.comment.list", {"filter": {"ENTITY_ID": found["main"],
                                                                  "ENTITY_TYPE": entity_type},
                                                       "select": ["ID", "COMMENT"]}),
                "task": ("tasks.task.list", {"filter": {"UF_CRM_TASK": f"{prefix}_{found['main']}"},
                                             "select": ["ID", "DESCRIPTION"]}),
            })
            marker = f"ID: {lead.external_id}"
            notes = existing.get("note") or []
            if any(marker in str(n.get("COMMENT", "")) for n in notes if isinstance(n, dict)):
                found["note"] = 1
            tasks = existing.get("task") or {}
            tasks = tasks.get("tasks", []) if isinstance(tasks, dict) else tasks
            if any(marker in str(t.get("description", t.get("DESCRIPTION", ""))) for t in tasks if isinstance(t, dict)):
                found["task"] = 1
        return found

    def lead_push(self, *, lead: LeadPayload, resume: bool = False) -> str:
        if not lead.external_id:
            raise ProviderBadResponse("a lead needs our external id", provider=self.name)
        found = self._find(lead) if resume else {}
        origin, comms = self._origin(lead), self._comms(lead)
        commands: dict[str, tuple[str, dict[str, Any]]] = {}
        if self.entity == "deal":
            if "contact" not in found:
                commands["contact"] = ("crm.item.add", {"entityTypeId": ENTITY_CONTACT, "fields": {
                    "name": lead.name or lead.company or lead.phone, "companyTitle": lead.company, "fm": comms,
                    "sourceId": "CALL", "opened": "Y", **origin}})
            contact_ref = found.get("contact") or "$result[contact][item][id]"
            main_fields = {"title": lead.title, "contactIds": [contact_ref], "sourceId": "CALL",
                           "comments": lead.comments, "opened": "Y", **origin}
            main_type, entity_type, prefix = ENTITY_DEAL, "deal", "D"
        else:
            main_fields = {"title": lead.title, "name": lead.name, "companyTitle": lead.company,
                           "comments": lead.comments, "sourceId": "CALL", "sourceDescription": lead.external_id,
                           "opened": "Y", "fm": comms, **origin}
            main_type, entity_type, prefix = ENTITY_LEAD, "lead", "L"
        if "main" not in found:
            commands["main"] = ("crm.item.add", {"entityTypeId": main_type, "fields": main_fields})
        main_ref = found.get("main") or "$result[main][item][id]"
        if "note" not in found:
            commands["note"] = ("crm.timeline.comment.add", {"fields": {
                "ENTITY_ID": main_ref, "ENTITY_TYPE": entity_type, "COMMENT": self._note(lead)}})
        if lead.callback_at and "task" not in found:
            commands["task"] = ("tasks.task.add", {"fields": {
                "TITLE": f"Перезвонить: {lead.title}"[:255], "RESPONSIBLE_ID": self.responsible_id,
                "DEADLINE": lead.callback_at, "UF_CRM_TASK": [f"{prefix}_{main_ref}"],
                "DESCRIPTION": f"{lead.callback_when}\n{lead.phone}\nID: {lead.external_id}"}})
        results = self.batch(commands) if commands else {}
        main_id = found.get("main") or results["main"]["item"]["id"]
        return str(main_id)
