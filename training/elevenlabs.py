"""ElevenLabs Conversational AI: the server asks for a signed WebSocket URL; the browser talks to the agent.

``GET {BASE_URL}/v1/convai/conversation/get-signed-url?agent_id=...`` with the ``xi-api-key`` header
answers ``{"signed_url": "wss://..."}``. The key never reaches the browser. Failures map to the
``integrations.errors.ProviderError`` family.
"""

from __future__ import annotations

import httpx
from django.conf import settings

from integrations.errors import ProviderBadResponse, ProviderConfigError, ProviderUnavailable, error_for_status

PROVIDER = "elevenlabs-convai"
SIGNED_URL_PATH = "/v1/convai/conversation/get-signed-url"


def signed_url(*, agent_id: str, timeout_s: float = 10.0, transport: httpx.BaseTransport | None = None) -> str:
    config = settings.ELEVENLABS
    if not config.get("API_KEY"):
        raise ProviderConfigError("ELEVENLABS_API_KEY is not set", provider=PROVIDER)
    if not agent_id:
        raise ProviderConfigError("the scenario has no ElevenLabs agent id", provider=PROVIDER)
    url = config.get("BASE_URL", "https://api.elevenlabs.io").rstrip("/") + SIGNED_URL_PATH
    try:
        with httpx.Client(timeout=timeout_s, transport=transport) as client:
            response = client.get(url, params={"agent_id": agent_id}, headers={"xi-api-key": config["API_KEY"]})
    except httpx.TimeoutException as exc:
        raise ProviderUnavailable(f"timed out: {exc}", provider=PROVIDER) from exc
    except httpx.HTTPError as exc:
        raise ProviderUnavailable(f"network error: {exc}", provider=PROVIDER) from exc
    if response.status_code != 200:
        raise error_for_status(response.status_code, f"HTTP {response.status_code}: {response.text[:200]}",
                               provider=PROVIDER)
    try:
        value = response.json().get("signed_url")
    except ValueError as exc:
        raise ProviderBadResponse("the answer is not JSON", provider=PROVIDER) from exc
    if not isinstance(value, str) or not value.startswith(("wss://", "ws://")):
        raise ProviderBadResponse("no signed_url in the answer", provider=PROVIDER)
    return value
