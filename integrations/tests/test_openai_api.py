"""One OpenAI error mapping for speech, the salesperson model, the analysis and the scorer."""

from __future__ import annotations

import httpx
import openai
import pytest

from integrations.errors import ProviderAuthError, ProviderBadResponse, ProviderTimeout, ProviderUnavailable
from integrations.openai_api import map_openai_error


def _status_error(status: int) -> openai.APIStatusError:
    request = httpx.Request("POST", "http://openai.test/v1/chat/completions")
    response = httpx.Response(status, request=request, json={"error": {"message": "nope"}})
    return openai.OpenAI(api_key="sk-test", base_url="http://openai.test/v1")._make_status_error(
        "nope", body={"error": {"message": "nope"}}, response=response)


@pytest.mark.parametrize(("status", "family", "retryable"), [
    (401, ProviderAuthError, False), (403, ProviderAuthError, False),
    (408, ProviderTimeout, True), (409, ProviderUnavailable, True), (429, ProviderUnavailable, True),
    (500, ProviderUnavailable, True), (503, ProviderUnavailable, True),
    (400, ProviderBadResponse, False), (404, ProviderBadResponse, False), (422, ProviderBadResponse, False),
])
def test_a_status_means_the_same_for_every_caller(status, family, retryable):
    error = _status_error(status)
    assert isinstance(error, openai.APIStatusError) and error.status_code == status
    for provider in ("openai", "openai-stt", "openai-tts"):
        mapped = map_openai_error(error, provider)
        assert type(mapped) is family and mapped.retryable is retryable
        assert mapped.provider == provider and mapped.status == status


def test_timeouts_and_lost_connections_are_retryable():
    request = httpx.Request("POST", "http://openai.test/v1/audio/transcriptions")
    assert isinstance(map_openai_error(openai.APITimeoutError(request=request)), ProviderTimeout)
    assert isinstance(map_openai_error(TimeoutError()), ProviderTimeout)  # asyncio.timeout around a stream
    assert isinstance(map_openai_error(openai.APIConnectionError(request=request)), ProviderUnavailable)
    assert isinstance(map_openai_error(httpx.ReadTimeout("slow body", request=request)), ProviderTimeout)
    assert isinstance(map_openai_error(httpx.RemoteProtocolError("cut", request=request)), ProviderUnavailable)
    odd = map_openai_error(ValueError("what"))
    assert isinstance(odd, ProviderBadResponse) and not odd.retryable
