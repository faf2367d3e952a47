"""The company's Telegram bot: Bot API calls (``sendMessage``, ``setWebhook``), t.me start links, and updates.

Follow-ups go to a contact's Telegram chat once the contact has opened the bot from the link in an SMS
(``https://t.me/<bot>?start=<token>``): Telegram then posts ``/start <token>`` to our webhook, which
binds the chat to the contact (``crm.services.telegram_chat_bind``). The token is the contact's id
with an HMAC of it (Telegram allows 64 characters of ``A-Z a-z 0-9 _ -``), so a link cannot be made
up for another contact. Webhook updates carry ``X-Telegram-Bot-Api-Secret-Token``, the
``secret_token`` given to ``setWebhook``.

The Bot API is reached through python-telegram-bot. Its errors map to the provider family: 429 (flood
control, with its ``retry_after``), timeouts and 5xx are retried, 401/404 (a wrong token) are auth
errors, 400 (chat not found) and 403 (the user blocked the bot) are final.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import re
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings
from django.utils.crypto import salted_hmac

from integrations.errors import (
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
    """The Bot API through python-telegram-bot's ``Bot`` (``sendMessage``, ``setWebhook``), for sync callers.

    The outbox delivers from worker threads, so each call runs the library's coroutine on its own short
    event loop. ``api_url`` points the library at another host (a local stand-in in tests).
    """

    def __init__(self, token: str = "", api_url: str = "", timeout_s: float | None = None):
        self.token = token or conf("BOT_TOKEN")
        if not self.token:
            raise ProviderConfigError("TELEGRAM_BOT_TOKEN is not set", provider=PROVIDER)
        self.api_url = (api_url or conf("API_URL") or "https://api.telegram.org").rstrip("/")
        self.timeout_s = float(timeout_s if timeout_s is not None else conf("TIMEOUT_S", 10.0))

    def call(self, method: str, action: Callable[[Any], Awaitable[Any]]) -> Any:
        """Run ``action(bot)`` on a fresh ``telegram.Bot``; its errors come back as the provider family."""
        from telegram import Bot  # noqa: PLC0415  python-telegram-bot (~0.4 s): loaded with the first Telegram call
        from telegram.error import TelegramError  # noqa: PLC0415  python-telegram-bot (~0.4 s): loaded with the first Telegram call
        from telegram.request import HTTPXRequest  # noqa: PLC0415  python-telegram-bot (~0.4 s): loaded with the first Telegram call

        async def run() -> Any:
            t = self.timeout_s
            request = HTTPXRequest(connection_pool_size=1, connect_timeout=t, read_timeout=t, write_timeout=t,
                                   pool_timeout=t)
            bot = Bot(self.token, base_url=f"{self.api_url}/bot", request=request)
            try:
                return await action(bot)
            finally:
                await request.shutdown()

        try:
            return asyncio.run(run())
        except TelegramError as exc:
            raise api_error(method, exc) from exc

    def send_message(self, *, chat_id: int | str, text: str) -> int:
        from telegram import LinkPreviewOptions  # noqa: PLC0415  python-telegram-bot (~0.4 s): loaded with the first Telegram call

        text = text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"
        message = self.call("sendMessage", lambda bot: bot.send_message(
            chat_id=chat_id, text=text, link_preview_options=LinkPreviewOptions(is_disabled=True)))
        return message.message_id

    def set_webhook(self, *, url: str, secret_token: str) -> bool:
        return bool(self.call("setWebhook", lambda bot: bot.set_webhook(
            url=url, secret_token=secret_token, allowed_updates=["message"])))


def api_error(method: str, exc: Exception) -> ProviderError:
    """python-telegram-bot's exceptions -> the provider family (what the outbox retries, and what is final)."""
    from telegram import error  # noqa: PLC0415  python-telegram-bot (~0.4 s): loaded with the first Telegram call

    def said(status: int | None = None) -> str:
        return f"{method}: {status} {exc}" if status else f"{method}: {exc}"

    if isinstance(exc, error.RetryAfter):  # 429 flood control: wait at least what Telegram says
        wait = exc.retry_after  # seconds today, a timedelta in a later major version: both work here
        return ProviderUnavailable(said(429), provider=PROVIDER, status=429, retry_after_s=float(
            wait.total_seconds() if hasattr(wait, "total_seconds") else wait))
    if isinstance(exc, error.TimedOut):
        return ProviderTimeout(said(), provider=PROVIDER)
    if isinstance(exc, error.InvalidToken | error.EndPointNotFound):  # a wrong or revoked bot token
        return ProviderAuthError(said(401), provider=PROVIDER, status=401)
    if isinstance(exc, error.Forbidden):  # the user blocked the bot: final
        return ProviderBadResponse(said(403), provider=PROVIDER, status=403)
    if isinstance(exc, error.BadRequest):  # chat not found, text empty or too long: final
        return ProviderBadResponse(said(400), provider=PROVIDER, status=400)
    if isinstance(exc, error.NetworkError):  # connection failures and 5xx (a proxy's 502, Telegram's 500)
        return ProviderUnavailable(said(), provider=PROVIDER)
    return ProviderBadResponse(said(), provider=PROVIDER)
