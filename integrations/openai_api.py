"""The one OpenAI transport of the house: clients and the mapping of every SDK failure to the ProviderError family.

Speech (``voice.stt.openai``, ``voice.tts.openai``), the salesperson and customer models (through
``dialogs.llm``), the analysis and the coaching scorer all reach OpenAI (or an OpenAI-compatible
server: a self-hosted faster-whisper, a test stand-in) through here, so a status code means the same
thing everywhere: ``integrations.errors.error_for_status`` decides (408 a timeout; 409, 429 and 5xx
retryable; 401/403 auth; other 4xx final).
"""

from __future__ import annotations

import asyncio
from typing import Any

from integrations.errors import (
    ProviderBadResponse,
    ProviderConfigError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    error_for_status,
    transport_error,
)

PROVIDER = "openai"


def map_openai_error(exc: BaseException, provider: str = PROVIDER) -> ProviderError:
    """One place that turns the ``openai`` SDK's exceptions (and timeouts around its calls) into ProviderErrors."""
    import openai  # noqa: PLC0415  openai SDK (~1 s): loaded on first use; dialogs.llm imports this module at start-up

    if isinstance(exc, ProviderError):
        return exc
    # before APIConnectionError (APITimeoutError is a subclass); asyncio's timeouts around a stream count too
    if isinstance(exc, asyncio.TimeoutError | TimeoutError | openai.APITimeoutError):
        return ProviderTimeout(f"timed out: {exc}", provider=provider)
    if isinstance(exc, openai.APIConnectionError):
        return ProviderUnavailable(f"connection failed: {exc}", provider=provider)
    if isinstance(exc, openai.APIStatusError):
        return error_for_status(exc.status_code, f"HTTP {exc.status_code}: {exc.message}", provider=provider)
    if isinstance(exc, openai.APIResponseValidationError):
        return ProviderBadResponse(f"unexpected response: {exc}", provider=provider)
    mapped = transport_error(exc, provider)
    if mapped is not None:
        return mapped
    return ProviderBadResponse(f"{type(exc).__name__}: {exc}", provider=provider)


def openai_client(api_key: str, *, base_url: str | None, timeout_s: float, max_retries: int = 0,
                  provider: str = PROVIDER, required_key: bool = True) -> Any:
    """An ``AsyncOpenAI`` client. Retries are off by default: in a live call a quick fallback beats a silent backoff.

    ``required_key`` False lets a keyless OpenAI-compatible server (a self-hosted Whisper, a test
    stand-in) be reached with a placeholder key.
    """
    if not api_key and required_key:
        raise ProviderConfigError("an OpenAI API key is required", provider=provider)
    from openai import AsyncOpenAI  # noqa: PLC0415  openai SDK (~1 s): loaded on first use; dialogs.llm imports this module at start-up

    return AsyncOpenAI(api_key=api_key or "sk-none", base_url=base_url, timeout=timeout_s, max_retries=max_retries)


def openai_sync_client(api_key: str, *, base_url: str | None, timeout_s: float, max_retries: int = 0) -> Any:
    """A blocking ``OpenAI`` client, for work outside an event loop (the coaching scorer in a worker)."""
    from openai import OpenAI  # noqa: PLC0415  openai SDK (~1 s): loaded on first use; dialogs.llm imports this module at start-up

    return OpenAI(api_key=api_key or "sk-none", base_url=base_url, timeout=timeout_s, max_retries=max_retries)
