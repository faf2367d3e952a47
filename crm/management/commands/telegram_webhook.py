"""Point the company's Telegram bot at this site: ``setWebhook`` with our URL and the secret token."""

from __future__ import annotations

import re

from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from calls.services import public_url
from crm import telegram
from integrations.errors import ProviderError

SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # what Telegram accepts as secret_token


class Command(BaseCommand):
    help = "Register this site's webhook (PUBLIC_BASE_URL + /telegram/webhook/) with the Telegram Bot API."

    def handle(self, *args, **options) -> None:
        secret = telegram.conf("WEBHOOK_SECRET")
        if not SECRET_TOKEN.match(secret or ""):
            raise CommandError("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        url = public_url(reverse("telegram_webhook"))
        try:
            telegram.BotAPI().set_webhook(url=url, secret_token=secret)
        except ProviderError as exc:
            raise CommandError(f"setWebhook failed: {exc}") from exc
        self.stdout.write(f"webhook set: {url}")
