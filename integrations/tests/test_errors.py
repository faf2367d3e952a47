"""Every vendor's HTTP status maps to the same ProviderError subclass."""

import pytest

from integrations.errors import (
    ProviderAuthError,
    ProviderBadResponse,
    ProviderTimeout,
    ProviderUnavailable,
    error_for_status,
)


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (401, ProviderAuthError, False),
        (403, ProviderAuthError, False),
        (408, ProviderTimeout, True),
        (429, ProviderUnavailable, True),
        (503, ProviderUnavailable, True),
        (400, ProviderBadResponse, False),
        (422, ProviderBadResponse, False),
    ],
)
def test_error_for_status(status, kind, retryable):
    error = error_for_status(status, f"HTTP {status}", provider="vendor")
    assert type(error) is kind
    assert error.retryable is retryable and error.status == status
    assert str(error) == f"[vendor] HTTP {status}"
