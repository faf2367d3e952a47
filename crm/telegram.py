"""The company's Telegram bot: Bot API calls (``sendMessage``, ``setWebhook``), t.me start links, and updates.

Follow-ups go to a contact's Telegram chat once the contact has opened the bot from the link in an SMS
(``https://t.me/<bot>?start=<token>``): Telegram then posts ``/start <token>`` to our webhook, which
binds the chat to the contact (``crm.services.telegram_chat_bind``). The token is the contact's id
with an HMAC of it (Telegram allows 64 characters of ``A-Z a-z 0-9 _ -``), so a link cannot be made
up for another contact. Webhook updates carry ``X-Telegram-Bot-Api-Secret-Token``, the
``secret_token`` given to ``setWebhook``.

Errors map to the provider family: Telegram answers ``{"ok": false, "error_code", "description",
"parameters": {"retry_after"}}``; 429 (flood control, with its ``retry_after``) and 5xx are retried,
401/404 (a wrong token) are configuration errors, 400 (chat not found) and 403 (the user blocked the
bot) are final.
"""

from __future__ import annotations

import base64
import hmac
import re
from typing import Any

import httpx
from django.conf import settings
from django.utils.crypto import salted_hmac

from voice.errors import (
    ProviderAuthError,
    ProviderBadResponse,
    ProviderConfigError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
)

PROVIDER = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name, not a secret)
MAX_TEXT = 4096  # sendMessage's limit, after entity parsing
_TOKEN = re.compile(r"^c(\d{1,18})-([A-Za-z0-9_-]{22})$")


def conf(name: str, default: Any = "") -> Any:
    return (getattr(settings, "TELEGRAM", None) or {}).get(name, default)


def bot_configured() -> bool:
    """A bot token and its username: messages can be sent and links to the bot built."""
    return bool(conf("BOT_TOKEN") and conf("BOT_USERNAME"))


# --- start links ------------------------------------------------------------------------------------


def _signature(contact_id: int) -> str:
    digest = salted_hmac("crm.telegram.start", str(contact_id), algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:22]


def start_token(contact_id: int) -> str:
    return f"c{contact_id}-{_signature(contact_id)}"


def contact_id_for_token(token: str) -> int | None:
    """The contact a start token was made for, or None for a token we did not sign."""
    match = _TOKEN.match(token or "")
    if match is None:
        return None
    contact_id = int(match.group(1))
    return contact_id if hmac.compare_digest(match.group(2), _signature(contact_id)) else None


def start_link(contact_id: int) -> str:
    return f"https://t.me/{conf('BOT_USERNAME').lstrip('@')}?start={start_token(contact_id)}"


def start_payload(update: dict[str, Any]) -> tuple[int, str] | None:
    """(chat id, start token) of a private chat's ``/start <token>`` message, else None."""
    message = update.get("message") if isinstance(update, dict) else None
    if not isinstance(message, dict):
        return None
    chat, text = message.get("chat"), message.get("text")
    if not isinstance(chat, dict) or chat.get("type") != "private" or not isinstance(text, str):
        return None
    command, _, token = text.strip().partition(" ")
    if command.split("@")[0] != "/start" or not isinstance(chat.get("id"), int):
        return None
    return chat["id"], token.strip()


def secret_matches(header: str | None) -> bool:
    """The webhook's secret header, checked in constant time; no secret configured refuses everything."""
    expected = conf("WEBHOOK_SECRET")
    return bool(expected) and hmac.compare_digest((header or "").encode(), expected.encode())


# --- the Bot API ------------------------------------------------------------------------------------


class BotAPI:
    """``POST <API_URL>/bot<token>/<method>`` with a JSON body; answers ``{"ok": true, "result": …}``."""

    def __init__(self, token: str = "", api_url: str = "", timeout_s: float | None = None):
        self.token = token or conf("BOT_TOKEN")
        if not self.token:
            raise ProviderConfigError("TELEGRAM_BOT_TOKEN is not set", provider=PROVIDER)
        self.api_url = (api_url or conf("API_URL") or "https://api.telegram.org").rstrip("/")
        self.timeout_s = float(timeout_s if timeout_s is not None else conf("TIMEOUT_S", 10.0))

    def call(self, method: str, payload: dict[str, Any]) -> Any:
        try:
            response = httpx.post(f"{self.api_url}/bot{self.token}/{method}", json=payload, timeout=self.timeout_s)
        except httpx.TimeoutException as exc:
            raise ProviderTimeout(f"{method}: timed out", provider=PROVIDER) from exc
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"{method}: {exc}", provider=PROVIDER) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            if response.status_code >= 500:
                raise ProviderUnavailable(f"{method}: HTTP {response.status_code}", provider=PROVIDER,
                                          status=response.status_code)
            raise ProviderBadResponse(f"{method}: HTTP {response.status_code}, not a Bot API answer",
                                      provider=PROVIDER, status=response.status_code)
        if body.get("ok") is True:
            return body.get("result")
        raise api_error(method, body, response.status_code)

    def send_message(self, *, chat_id: int | str, text: str) -> int:
        text = text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"
        result = self.call("sendMessage", {"chat_id": chat_id, "text": text, "link_preview_options":
                                           {"is_disabled": True}})
        if not isinstance(result, dict) or not isinstance(result.get("message_id"), int):
            raise ProviderBadResponse("sendMessage answered without a message_id", provider=PROVIDER)
        return result["message_id"]

    def set_webhook(self, *, url: str, secret_token: str) -> bool:
        return bool(self.call("setWebhook", {"url": url, "secret_token": secret_token,
                                             "allowed_updates": ["message"]}))


def api_error(method: str, body: dict[str, Any], status: int) -> ProviderError:
    code = body.get("error_code") if isinstance(body.get("error_code"), int) else status
    message = f"{method}: {code} {body.get('description') or ''}".strip()
    parameters = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
    if code == 429:
        retry_after = parameters.get("retry_after")
        return ProviderUnavailable(message, provider=PROVIDER, status=code,
                                   retry_after_s=float(retry_after) if isinstance(retry_after, int | float) else None)
    if code >= 500:
        return ProviderUnavailable(message, provider=PROVIDER, status=code)
    if code in (401, 404):  # a wrong or revoked bot token
        return ProviderAuthError(message, provider=PROVIDER, status=code)
    return ProviderBadResponse(message, provider=PROVIDER, status=code)  # 400 chat not found, 403 blocked
