"""The one error family every outside service (STT, TTS, LLM, telephony, CRM) maps its failures to."""

from __future__ import annotations

import importlib
from typing import Any


class ProviderError(Exception):
    """A vendor or local provider failed. ``retryable`` tells callers whether backing off may help."""

    retryable = False

    def __init__(self, message: str, *, provider: str = "", status: int | None = None,
                 retry_after_s: float | None = None):
        super().__init__(message)
        self.provider = provider
        self.status = status
        self.retry_after_s = retry_after_s  # the vendor said when to come back (a flood limit's retry_after)

    def __str__(self) -> str:  # keeps the provider name in logs and events
        base = super().__str__()
        return f"[{self.provider}] {base}" if self.provider else base


class ProviderConfigError(ProviderError):
    """Unknown provider name or option, or a missing key. Raised at start-up, never retried."""


class ProviderAuthError(ProviderError):
    """The vendor refused our credentials (401/403)."""


class ProviderTimeout(ProviderError):
    retryable = True


class ProviderUnavailable(ProviderError):
    """Network failure, 5xx or rate limit: worth retrying with backoff."""

    retryable = True


class ProviderBadResponse(ProviderError):
    """The vendor answered, but not with anything we can use (malformed payload, 4xx)."""


def error_for_status(status: int, message: str, *, provider: str) -> ProviderError:
    """The ``ProviderError`` an HTTP status from any vendor maps to: auth, timeout, retryable or bad response."""
    if status in (401, 403):
        return ProviderAuthError(message, provider=provider, status=status)
    if status == 408:
        return ProviderTimeout(message, provider=provider, status=status)
    if status in (409, 429) or status >= 500:
        return ProviderUnavailable(message, provider=provider, status=status)
    return ProviderBadResponse(message, provider=provider, status=status)


def transport_error(exc: BaseException, provider: str) -> ProviderError | None:
    """httpx/httpx2 errors raised while a streamed body is read (the SDKs only wrap the request)."""
    for module_name in ("httpx", "httpx2"):
        try:
            module: Any = importlib.import_module(module_name)
        except ImportError:
            continue
        if isinstance(exc, module.TimeoutException):
            return ProviderTimeout(f"timed out: {exc!r}", provider=provider)
        if isinstance(exc, module.TransportError):
            return ProviderUnavailable(f"connection failed: {exc!r}", provider=provider)
    return None
