"""Development: the follow-up message goes to the log instead of a phone."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from crm.messaging.base import MessagingProvider

log = logging.getLogger(__name__)


class ConsoleMessaging(MessagingProvider):
    name = "console"

    def send(self, *, to: str, text: str, resume: bool = False, since: datetime | None = None) -> str:
        log.info("follow-up to %s via console: %s", to, text)
        return f"console-{uuid.uuid4().hex[:12]}"
