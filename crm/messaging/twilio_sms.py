"""SMS through Twilio's Messages API with the official SDK (the account the telephony provider uses).

Creating a Message is not idempotent at Twilio (no idempotency key; its docs warn that a retried POST may
send twice), while reading is. So a retry after a lost answer first reads the Messages list for this
recipient and sender and takes a message with our body created since the outbox row as the one sent. The
list is filtered by ``To`` and ``From`` only: ``DateSent`` is empty until Twilio has handed a message on, so
a date filter would miss exactly the just-queued message a lost answer leaves behind; the creation time is
checked here instead.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from crm.messaging.base import MessagingProvider
from integrations.errors import ProviderBadResponse, ProviderConfigError
from integrations.twilio_rest import provider_error, rest_client

MAX_BODY_CHARS = 1600  # Twilio refuses longer message bodies
LOOKUP_LIMIT = 50  # the newest messages to this number from ours: a lost answer is minutes old, not pages
CLOCK_SKEW = timedelta(minutes=5)  # between our clock and Twilio's dateCreated


class TwilioSms(MessagingProvider):
    name = "twilio_sms"

    def __init__(self, account_sid: str = "", auth_token: str = "", from_number: str = "", api_url: str = "",
                 timeout_s: float = 10.0):
        if not (account_sid and auth_token and from_number):
            raise ProviderConfigError("TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and MESSAGING_FROM_NUMBER (or "
                                      "TWILIO_FROM_NUMBER) are required for SMS", provider=self.name)
        self.client = rest_client(account_sid=account_sid, auth_token=auth_token, api_url=api_url, timeout_s=timeout_s)
        self.from_number = from_number

    def send(self, *, to: str, text: str, resume: bool = False, since: datetime | None = None) -> str:
        body = text if len(text) <= MAX_BODY_CHARS else text[: MAX_BODY_CHARS - 1] + "…"
        if resume:
            sid = self.already_sent(to=to, body=body, since=since)
            if sid:
                return sid
        try:
            message = self.client.messages.create(to=to, from_=self.from_number, body=body)
        except Exception as exc:
            raise provider_error(exc, provider=self.name) from exc
        if not getattr(message, "sid", None):
            raise ProviderBadResponse("Messages API answered without a sid", provider=self.name)
        return message.sid

    def already_sent(self, *, to: str, body: str, since: datetime | None) -> str:
        """The sid of an outbound message with ``body`` to ``to`` from our number created since ``since``, or "".

        A failed look-up raises (retryable as the vendor's error says): sending blind could send twice.
        """
        try:
            messages = self.client.messages.list(to=to, from_=self.from_number, limit=LOOKUP_LIMIT)
        except Exception as exc:
            raise provider_error(exc, provider=self.name) from exc
        earliest = since - CLOCK_SKEW if since else None
        for message in messages:
            created = getattr(message, "date_created", None)
            if (message.body == body and str(message.direction or "").startswith("outbound")
                    and (earliest is None or (created is not None and created >= earliest))):
                return message.sid
        return ""
