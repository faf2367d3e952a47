"""Voximplant: ``StartScenarios`` over the Management HTTP API launches the VoxEngine scenario that dials.

The scenario (``voxengine/outbound.js``) gets the call's signed media WebSocket URL and our callback
URL in ``script_custom_data``, sends the call audio to the WebSocket with ``sendMediaTo``, plays back
what comes in, and reports the result to the callback signed with ``VOXIMPLANT_CALLBACK_SECRET``.
"""

from __future__ import annotations

import json

import httpx

from calls.telephony.base import DialRequest, DialResult, TelephonyProvider
from voice.errors import (
    ProviderAuthError,
    ProviderBadResponse,
    ProviderConfigError,
    ProviderTimeout,
    ProviderUnavailable,
    error_for_status,
)

# Management API error codes that mean "your credentials are wrong" (Voximplant answers HTTP 200 with an error).
AUTH_ERROR_CODES = {100, 101, 102, 103, 104}


class VoximplantTelephony(TelephonyProvider):
    name = "voximplant"
    media_protocol = "voximplant"
    token_in_url = True

    def __init__(self, account_id: str = "", api_key: str = "", rule_id: str = "", callback_secret: str = "",
                 api_url: str = "https://api.voximplant.com/platform_api", timeout_s: float = 10.0):
        if not (account_id and api_key and rule_id):
            raise ProviderConfigError("VOXIMPLANT_ACCOUNT_ID, _API_KEY and _RULE_ID are required", provider=self.name)
        self.account_id, self.api_key, self.rule_id = account_id, api_key, rule_id
        self.callback_secret = callback_secret
        self.api_url = api_url.rstrip("/")
        self.timeout_s = timeout_s

    def _request(self, method: str, params: dict[str, str]) -> dict:
        data = {"account_id": self.account_id, "api_key": self.api_key, **params}
        try:
            response = httpx.post(f"{self.api_url}/{method}", data=data, timeout=self.timeout_s)
        except httpx.TimeoutException as exc:
            raise ProviderTimeout(f"{method}: {exc}", provider=self.name) from exc
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"{method}: {exc}", provider=self.name) from exc
        if response.status_code in (401, 403, 429) or response.status_code >= 500:
            raise error_for_status(response.status_code, f"{method}: HTTP {response.status_code}", provider=self.name)
        try:
            payload = response.json()
        except ValueError as exc:
            raise ProviderBadResponse(f"{method}: not JSON", provider=self.name, status=response.status_code) from exc
        error = payload.get("error") if isinstance(payload, dict) else None
        if error:
            code, msg = error.get("code"), error.get("msg", "")
            cls = ProviderAuthError if code in AUTH_ERROR_CODES else ProviderBadResponse
            raise cls(f"{method}: error {code}: {msg}", provider=self.name, status=response.status_code)
        if not isinstance(payload, dict) or payload.get("result") != 1:
            raise ProviderBadResponse(f"{method}: unexpected answer {str(payload)[:200]}", provider=self.name)
        return payload

    def dial(self, *, request: DialRequest) -> DialResult:
        # Short keys: the scenario reads them with VoxEngine.customData(), which has a size limit.
        custom = {"to": request.to, "from": request.caller_id, "media": request.media_url,
                  "cb": request.status_callback_url, "call": request.call_id, "lang": request.language}
        payload = self._request("StartScenarios", {
            "rule_id": str(self.rule_id),
            "script_custom_data": json.dumps(custom, separators=(",", ":")),
        })
        session_id = payload.get("call_session_history_id") or payload.get("media_session_access_url")
        if not session_id:
            raise ProviderBadResponse("StartScenarios: no session id in the answer", provider=self.name)
        return DialResult(provider_call_id=str(session_id))
