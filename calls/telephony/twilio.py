"""Twilio: the Calls API through the official SDK, ``<Connect><Stream>`` TwiML, signature-checked status callbacks.

A transfer updates the live call with new TwiML (``calls(sid).update(twiml=...)``): Twilio ends the media
stream and runs ``<Dial>`` to the number, or ``<Enqueue>`` into the operators' queue.

``api_url`` (``TWILIO_API_URL``) points the SDK at another host (``integrations.twilio_rest``).
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from twilio.request_validator import RequestValidator

from calls.telephony.base import DialRequest, DialResult, TelephonyProvider, TransferTarget
from integrations.errors import ProviderBadResponse, ProviderConfigError, ProviderError
from integrations.twilio_rest import provider_error, rest_client

STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]
# Twilio's CallStatus (and AnsweredBy) -> our provider-neutral progress words (calls.services.lifecycle.call_progress).
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


# <Say> voices by call language; Twilio has none for Uzbek or Tajik, whose text is read with its default voice
SAY_LANGUAGES = {"ru": "ru-RU", "en": "en-US"}


def voicemail_twiml(*, text: str, language: str) -> str:
    """The message left on an answering machine, then the hang-up (replaces the call's ``<Connect><Stream>``)."""
    lang = SAY_LANGUAGES.get(language)
    attr = f" language={quoteattr(lang)}" if lang else ""
    return f"<Response><Say{attr}>{escape(text)}</Say><Hangup/></Response>"


def amd_options(*, request: DialRequest, always: bool) -> dict:
    """Async answering-machine detection for a campaign that cares (``custom["voicemail"]``), or all calls
    (``machine_detection``): ``DetectMessageEnd`` when a message is to be left after the beep."""
    voicemail = request.custom.get("voicemail") or {}
    mode = voicemail.get("mode", "off")
    if mode != "off" and voicemail.get("carrier_amd", True):
        detection = "DetectMessageEnd" if mode == "leave_message" else "Enable"
    elif always:
        detection = "Enable"
    else:
        return {}
    options = {"machine_detection": detection, "async_amd": "true", "async_amd_status_callback_method": "POST"}
    if request.status_callback_url.endswith(f"/status/{request.call_id}/"):
        options["async_amd_status_callback"] = request.status_callback_url.replace(
            f"/status/{request.call_id}/", f"/amd/{request.call_id}/")
    return options


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
    plays_voicemail = True

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
        options = amd_options(request=request, always=self.machine_detection)
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

    def leave_voicemail(self, *, provider_call_id: str, text: str, language: str) -> None:
        try:
            self.client.calls(provider_call_id).update(twiml=voicemail_twiml(text=text, language=language))
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
        return RequestValidator(self.auth_token).validate(url, params, signature or "")


def twilio_progress(params: dict) -> str:
    """The progress word for a status callback; a call a machine answered ends as voicemail.

    Only the final report counts: with async AMD the call goes on while the machine's greeting
    plays, and the AMD callback (``calls.voicemail``) decides what happens meanwhile."""
    answered_by = str(params.get("AnsweredBy", ""))
    if params.get("CallStatus") == "completed" and (answered_by.startswith("machine") or answered_by == "fax"):
        return "voicemail"
    return CALL_STATUS.get(str(params.get("CallStatus", "")), "")
