"""The Twilio REST client as both the telephony (Calls) and the messaging (SMS) providers use it.

``api_url`` (``TWILIO_API_URL``) points the SDK at another host, e.g. a local server in tests: the
real SDK code path runs, only the scheme and host of each request are rewritten by the HTTP client.
Every SDK or transport error maps to the ``integrations.errors.ProviderError`` family.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from integrations.errors import (
    ProviderBadResponse,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    error_for_status,
)


def rest_client(*, account_sid: str, auth_token: str, api_url: str = "", timeout_s: float = 10.0) -> Any:
    from twilio.http.http_client import TwilioHttpClient  # noqa: PLC0415  twilio SDK (~0.2 s): loaded with the first Twilio REST call
    from twilio.rest import Client  # noqa: PLC0415  twilio SDK (~0.2 s): loaded with the first Twilio REST call

    class RedirectingHttpClient(TwilioHttpClient):
        """Sends every request to ``api_url``'s scheme and host, keeping Twilio's paths and signatures."""

        def request(self, method, url, *args, **kwargs):
            if api_url:
                target, parts = urlsplit(api_url), urlsplit(url)
                url = urlunsplit((target.scheme, target.netloc, parts.path, parts.query, parts.fragment))
            return super().request(method, url, *args, **kwargs)

    return Client(account_sid, auth_token, http_client=RedirectingHttpClient(timeout=timeout_s))


def provider_error(exc: Exception, *, provider: str) -> ProviderError:
    """The ``ProviderError`` for whatever the SDK raised (HTTP status, timeout, network, anything else)."""
    from twilio.base.exceptions import TwilioRestException  # noqa: PLC0415  twilio SDK (~0.2 s): loaded with the first Twilio REST call

    if isinstance(exc, TwilioRestException):
        return error_for_status(exc.status, str(exc.msg), provider=provider)
    if isinstance(exc, requests.Timeout):
        return ProviderTimeout(str(exc), provider=provider)
    if isinstance(exc, requests.RequestException):
        return ProviderUnavailable(str(exc), provider=provider)
    return ProviderBadResponse(f"{type(exc).__name__}: {exc}", provider=provider)
