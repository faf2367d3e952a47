"""HMAC-SHA256 signatures for carrier callbacks we define ourselves (the VoxEngine scenario's result reports)."""

from __future__ import annotations

import hashlib
import hmac
import time

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
        age = abs((now if now is not None else time.time()) - float(timestamp))
    except ValueError:
        return False
    if age > window_s:
        return False
    expected = callback_signature(secret=secret, timestamp=timestamp, body=body)
    return hmac.compare_digest(expected, signature.lower())
