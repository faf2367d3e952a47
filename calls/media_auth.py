"""The carrier's way in to a call's media: signed per-call tokens and the public URLs a dial hands out.

The telephony routes have no Origin and no session (the carrier connects), so a token signed for
one call, with a limited age, is what admits the media socket.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing

MEDIA_TOKEN_SALT = "calls.media"  # noqa: S105 - a signing salt, not a secret


def call_media_token(*, call_id: int) -> str:
    return signing.TimestampSigner(salt=MEDIA_TOKEN_SALT).sign(str(call_id))


def call_media_token_valid(*, call_id: int, token: str) -> bool:
    max_age = settings.TELEPHONY.get("MEDIA_TOKEN_MAX_AGE_S", 3600)
    try:
        value = signing.TimestampSigner(salt=MEDIA_TOKEN_SALT).unsign(token or "", max_age=max_age)
    except signing.BadSignature:  # SignatureExpired is a BadSignature
        return False
    return value == str(call_id)


def call_media_url(*, call_id: int, with_token: bool = True, token: str | None = None) -> str:
    """The call's media socket URL; ``token`` is the one the dial also sends on its own (signed once: a token
    carries its signing second, so two signings may differ)."""
    base = settings.TELEPHONY["PUBLIC_BASE_URL"].rstrip("/")
    ws = "wss://" + base.removeprefix("https://") if base.startswith("https://") else "ws://" + base.removeprefix(
        "http://")
    url = f"{ws}/ws/calls/{call_id}/media/"
    return f"{url}?token={token or call_media_token(call_id=call_id)}" if with_token else url


def public_url(path: str) -> str:
    return settings.TELEPHONY["PUBLIC_BASE_URL"].rstrip("/") + path
