"""The follow-up as a message from the company's Telegram bot to a chat the contact opened (``crm.telegram``)."""

from __future__ import annotations

from datetime import datetime

from crm.messaging.base import MessagingProvider
from crm.telegram import BotAPI


class TelegramMessaging(MessagingProvider):
    name = "telegram"

    def __init__(self, bot_token: str = "", api_url: str = "", timeout_s: float | None = None):
        self.bot = BotAPI(token=bot_token, api_url=api_url, timeout_s=timeout_s)

    def send(self, *, to: str, text: str, resume: bool = False, since: datetime | None = None) -> str:
        """``to`` is the Telegram chat id bound to the contact; returns Telegram's message id.

        ``resume`` changes nothing: the Bot API cannot list the messages a bot has sent."""
        return str(self.bot.send_message(chat_id=int(to) if to.lstrip("-").isdigit() else to, text=text))
