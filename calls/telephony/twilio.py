"""Twilio: the Calls API through the official SDK, ``<Connect><Stream>`` TwiML, signature-checked status callbacks.

A transfer updates the live call with new TwiML (``calls(sid).update(twiml=...)``): Twilio ends the media
stream and runs ``<Dial>`` to the number, or ``<Enqueue>`` into the operators' queue.

``api_url`` (``TWILIO_API_URL``) points the SDK at another host (``config.twilio_rest``).
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from calls.telephony.base import DialRequest, DialResult, TelephonyProvider, TransferTarget
from config.twilio_rest import provider_error, rest_client
from voice.errors import ProviderBadResponse, ProviderConfigError, ProviderError

STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]
# Twilio's CallStatus (and AnsweredBy) -> our provider-neutral progress words (calls.services.call_progress).
CALL_STATUS = {
    "queued": "", "initiated": "", "ringing": "ringing", "in-progress": "answered", "answered": "answered",
    "completed": "completed", "busy": "busy", "no-answer": "no_answer", "failed": "failed", "canceled": "canceled",
}


def stream_twiml(*, media_url: str, token: str, call_id: int) -> str:
    """``<Connect><Stream>``: Twilio drops query strings from stream URLs, so the token is a ``<Parameter>``."""
    return (
        "<Response><Connect>"
        f"<Stream url={quoteattr(media_url)}>"
        f"<Parameter name=\"token\" value={quoteattr(token)}/>"
        f"<Parameter name=\"call_id\" value=\"{int(call_id)}\"/>"
        "</Stream></Connect></Response>"
    )


def transfer_twiml(target: TransferTarget) -> str:
    """``<Dial>`` the person's number (showing ``caller_id`` when given), or ``<Enqueue>`` the callee for operators."""
    if target.queue:
        return f"<Response><Enqueue>{escape(target.queue)}</Enqueue></Response>"
    caller = f" callerId={quoteattr(target.caller_id)}" if target.caller_id else ""
    return f"<Response><Dial{caller}><Number>{escape(target.to)}</Number></Dial></Response>"


class TwilioTelephony(TelephonyProvider):
    name = "twilio"
    media_protocol = "twilio"
    token_in_url = False

    def __init__(self, account_sid: str = "", auth_token: str = "", from_number: str = "", api_url: str = "",
                 machine_detection: bool = False, timeout_s: float = 10.0):
        if not (account_sid and auth_token):
            raise ProviderConfigError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are required", provider=self.name)
        self.account_sid, self.auth_token, self.from_number = account_sid, auth_token, from_number
        self.api_url = api_url
        self.machine_detection = machine_detection
        self.timeout_s = timeout_s
        self._client = None

    @property
    def client(self):
        if self._client is None:
            self._client = rest_client(account_sid=self.account_sid, auth_token=self.auth_token,
                                       api_url=self.api_url, timeout_s=self.timeout_s)
        return self._client

    def _map_error(self, exc: Exception) -> ProviderError:
        return provider_error(exc, provider=self.name)

    def dial(self, *, request: DialRequest) -> DialResult:
        options = {}
        if self.machine_detection:
            options["machine_detection"] = "Enable"
        try:
            call = self.client.calls.create(
                to=request.to,
                from_=request.caller_id or self.from_number,
                twiml=stream_twiml(media_url=request.media_url, token=request.media_token, call_id=request.call_id),
                status_callback=request.status_callback_url,
                status_callback_event=STATUS_EVENTS,
                status_callback_method="POST",
                **options,
            )
        except Exception as exc:
            raise self._map_error(exc) from exc
        if not getattr(call, "sid", None):
            raise ProviderBadResponse("Calls API answered without a sid", provider=self.name)
        return DialResult(provider_call_id=call.sid)

    def hangup(self, *, provider_call_id: str) -> None:
        try:
            self.client.calls(provider_call_id).update(status="completed")
        except Exception as exc:
            raise self._map_error(exc) from exc

    def transfer(self, *, provider_call_id: str, target: TransferTarget, control_url: str = "") -> None:
        if target.to and not target.caller_id and self.from_number:
            target = TransferTarget(to=target.to, caller_id=self.from_number)
        try:
            self.client.calls(provider_call_id).update(twiml=transfer_twiml(target))
        except Exception as exc:
            raise self._map_error(exc) from exc

    def call_state(self, *, provider_call_id: str) -> str | None:
        try:
            call = self.client.calls(provider_call_id).fetch()
        except Exception as exc:
            raise self._map_error(exc) from exc
        return CALL_STATUS.get(str(call.status)) or None

    def validate_callback(self, *, url: str, params: dict, signature: str) -> bool:
        from twilio.request_validator import RequestValidator

        return RequestValidator(self.auth_token).validate(url, params, signature or "")


def twilio_progress(params: dict) -> str:
    """The progress word for a status callback; a machine that answered counts as voicemail."""
    if str(params.get("AnsweredBy", "")).startswith("machine"):
        return "voicemail"
    return CALL_STATUS.get(str(params.get("CallStatus", "")), "")
