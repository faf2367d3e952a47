"""Choosing a call's script language from what speech recognition heard (campaigns with language ``auto``)."""

from __future__ import annotations

from collections.abc import Collection

# Whisper names Tajik speech Persian quite often (Tajik is Persian in Cyrillic letters), and short
# Uzbek phrases now and then Turkish, Kazakh or Turkmen; these count for the script language.
RELATED = {"fa": "tg", "tg": "tg", "uz": "uz", "tr": "uz", "tk": "uz", "kk": "uz", "ru": "ru", "uk": "ru",
           "be": "ru", "en": "en"}


def pick_language(detected: str, *, candidates: Collection[str], current: str) -> str:
    """The script language to continue in after the recogniser reported ``detected`` (an ISO 639-1 code).

    A language the campaign has a script for wins; a close relative of one (``RELATED``) counts for
    it; anything else keeps the current language, so an odd guess on a short «алло» changes nothing.
    """
    detected = (detected or "").lower().split("-")[0]
    if detected in candidates:
        return detected
    related = RELATED.get(detected)
    if related and related in candidates:
        return related
    return current
