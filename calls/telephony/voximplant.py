"""Voximplant: ``StartScenarios`` over the Management HTTP API launches the VoxEngine scenario that dials.

The scenario (``voxengine/outbound.js``) gets the numbers, our public base URL, the call id and its
media token in ``script_custom_data``, builds the media WebSocket and result callback URLs from
them, sends the call audio to the WebSocket with ``sendMediaTo``, plays back what comes in, and
reports the result to the callback signed with ``VOXIMPLANT_CALLBACK_SECRET``. (The pipeline's
language comes from the campaign on our side, so it does not travel.)

A transfer is a command to the running scenario: an HTTP POST of ``{"command": "transfer", ...}`` to the
session's ``media_session_access_url`` (from ``StartScenarios``; Voximplant delivers it to the scenario
as ``AppEvents.HttpRequest``). The scenario dials the person with ``VoxEngine.callPSTN`` (or queues the
callee for operators with ``VoxEngine.enqueueACDRequest``), bridges the two with
``VoxEngine.sendMediaBetween`` and stops streaming to us; its answer is the response body.

``VoxEngine.customData()`` keeps at most 200 bytes, which two full signed URLs exceed; so only the
parts travel, and ``custom_data`` checks both that the URLs the scenario will build are the ones
Django serves and that the whole fits.
"""

from __future__ import annotations

import json
import re

import httpx

from calls.telephony.base import DialRequest, DialResult, TelephonyProvider, TransferTarget
from integrations.errors import (
    ProviderAuthError,
    ProviderBadResponse,
    ProviderConfigError,
    ProviderTimeout,
    ProviderUnavailable,
    error_for_status,
)

# Management API error codes that mean "your credentials are wrong" (Voximplant answers HTTP 200 with an error).
AUTH_ERROR_CODES = {100, 101, 102, 103, 104}
CUSTOM_DATA_MAX_BYTES = 200  # VoxEngine.customData(): "Maximum size is 200 bytes"
# where outbound.js's callUrls() puts the call's media socket and its result callback under the base URL
MEDIA_PATH = "/ws/calls/{call}/media/?token={token}"
RESULT_PATH = "/calls/telephony/voximplant/status/{call}/"


def custom_data(request: DialRequest) -> str:
    """``script_custom_data`` for one call: the parts the scenario builds its two URLs from."""
    suffix = RESULT_PATH.format(call=request.call_id)
    if not request.status_callback_url.endswith(suffix):
        raise ProviderConfigError(f"the result callback {request.status_callback_url!r} does not end in {suffix!r}, "
                                  "where the VoxEngine scenario sends it", provider=VoximplantTelephony.name)
    base = request.status_callback_url[: -len(suffix)]
    media = re.sub(r"^http", "ws", base) + MEDIA_PATH.format(call=request.call_id, token=request.media_token)
    if request.media_url != media:
        raise ProviderConfigError(f"the media socket {request.media_url!r} is not {media!r}, where the VoxEngine "
                                  "scenario connects", provider=VoximplantTelephony.name)
    parts = {"to": request.to, "from": request.caller_id, "call": request.call_id, "t": request.media_token, "b": base}
    voicemail = request.custom.get("voicemail") or {}
    if voicemail.get("mode", "off") != "off" and voicemail.get("carrier_amd", True):
        parts["a"] = 1  # the scenario runs VoxEngine's AMD module and reports its verdict (event "amd")
    data = json.dumps(parts, separators=(",", ":"), ensure_ascii=False)
    size = len(data.encode())
    if size > CUSTOM_DATA_MAX_BYTES:
        raise ProviderConfigError(f"script_custom_data is {size} bytes and VoxEngine keeps {CUSTOM_DATA_MAX_BYTES}: "
                                  "use a shorter PUBLIC_BASE_URL", provider=VoximplantTelephony.name)
    return data


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
        payload = self._request("StartScenarios", {
            "rule_id": str(self.rule_id),
            "script_custom_data": custom_data(request),
        })
        session_id = payload.get("call_session_history_id") or payload.get("media_session_access_url")
        if not session_id:
            raise ProviderBadResponse("StartScenarios: no session id in the answer", provider=self.name)
        control = payload.get("media_session_access_secure_url") or payload.get("media_session_access_url") or ""
        return DialResult(provider_call_id=str(session_id), control_url=str(control))

    def transfer(self, *, provider_call_id: str, target: TransferTarget, control_url: str = "") -> None:
        """Tell the running scenario to bridge the callee to ``target`` (``AppEvents.HttpRequest``)."""
        if not control_url:
            raise ProviderConfigError("this call has no media_session_access_url to send the transfer to",
                                      provider=self.name)
        command = {"command": "transfer", "to": target.to, "queue": target.queue, "caller_id": target.caller_id}
        try:
            response = httpx.post(control_url, json=command, timeout=self.timeout_s)
        except httpx.TimeoutException as exc:
            raise ProviderTimeout(f"transfer: {exc}", provider=self.name) from exc
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"transfer: {exc}", provider=self.name) from exc
        if response.status_code >= 400:
            raise error_for_status(response.status_code, f"transfer: HTTP {response.status_code}", provider=self.name)
        try:
            answer = response.json()
        except ValueError as exc:
            raise ProviderBadResponse("transfer: the scenario did not answer JSON", provider=self.name,
                                      status=response.status_code) from exc
        if not isinstance(answer, dict) or answer.get("ok") is not True:
            error = answer.get("error") if isinstance(answer, dict) else answer
            raise ProviderBadResponse(f"transfer refused by the scenario: {str(error)[:200]}", provider=self.name,
                                      status=response.status_code)
