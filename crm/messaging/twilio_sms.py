"""SMS through Twilio's Messages API with the official SDK (the account the telephony provider uses)."""

from __future__ import annotations

from config.twilio_rest import provider_error, rest_client
from crm.messaging.base import MessagingProvider
from voice.errors import ProviderBadResponse, ProviderConfigError

MAX_BODY_CHARS = 1600  # Twilio refuses longer message bodies


class TwilioSms(MessagingProvider):
    name = "twilio_sms"

    def __init__(self, account_sid: str = "", auth_token: str = "", from_number: str = "", api_url: str = "",
                 timeout_s: float = 10.0):
        if not (account_sid and auth_token and from_number):
            raise ProviderConfigError("TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and MESSAGING_FROM_NUMBER (or "
                                      "TWILIO_FROM_NUMBER) are required for SMS", provider=self.name)
        self.client = rest_client(account_sid=account_sid, auth_token=auth_token, api_url=api_url, timeout_s=timeout_s)
        self.from_number = from_number

    def send(self, *, to: str, text: str) -> str:
        body = text if len(text) <= MAX_BODY_CHARS else text[: MAX_BODY_CHARS - 1] + "…"
        try:
            message = self.client.messages.create(to=to, from_=self.from_number, body=body)
        except Exception as exc:
            raise provider_error(exc, provider=self.name) from exc
        if not getattr(message, "sid", None):
            raise ProviderBadResponse("Messages API answered without a sid", provider=self.name)
        return message.sid
