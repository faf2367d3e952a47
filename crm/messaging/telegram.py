"""The follow-up as a message from the company's Telegram bot to a chat the contact opened (``crm.telegram``)."""

from __future__ import annotations

from crm.messaging.base import MessagingProvider
from crm.telegram import BotAPI


class TelegramMessaging(MessagingProvider):
    name = "telegram"

    def __init__(self, bot_token: str = "", api_url: str = "", timeout_s: float | None = None):
        self.bot = BotAPI(token=bot_token, api_url=api_url, timeout_s=timeout_s)

    def send(self, *, to: str, text: str) -> str:
        """``to`` is the Telegram chat id bound to the contact; returns Telegram's message id."""
        return str(self.bot.send_message(chat_id=int(to) if to.lstrip("-").isdigit() else to, text=text))
