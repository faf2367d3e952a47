"""HMAC-SHA256 signatures for carrier callbacks we define ourselves (the VoxEngine scenario's result reports)."""

from __future__ import annotations

import hashlib
import hmac
import math
import time

from django.core.cache import cache

SIGNATURE_HEADER = "X-Callback-Signature"
TIMESTAMP_HEADER = "X-Callback-Timestamp"
REPLAY_WINDOW_S = 300


def callback_signature(*, secret: str, timestamp: str, body: bytes) -> str:
    """hex(HMAC-SHA256(secret, "<timestamp>." + body)): the timestamp is signed so it cannot be replayed later."""
    message = timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def callback_verify(*, secret: str, timestamp: str, signature: str, body: bytes, now: float | None = None,
                    window_s: int = REPLAY_WINDOW_S) -> bool:
    if not secret or not timestamp or not signature:
        return False
    try:
        sent = float(timestamp)
    except ValueError:
        return False
    if not math.isfinite(sent):  # "nan" compares false with everything, so it passed the age check
        return False
    age = abs((now if now is not None else time.time()) - sent)
    if age > window_s:
        return False
    expected = callback_signature(secret=secret, timestamp=timestamp, body=body)
    return hmac.compare_digest(expected, signature.lower())


def callback_first_use(*, signature: str, window_s: int = REPLAY_WINDOW_S) -> bool:
    """Record a verified signature; False when it was seen before (a replay inside the freshness window).

    The store is the Redis cache: ``SET NX`` with a TTL a little longer than the window, after which
    the timestamp check refuses the request anyway.
    """
    return bool(cache.add(f"callback-seen:{signature.lower()}", 1, timeout=window_s * 2 + 60))
