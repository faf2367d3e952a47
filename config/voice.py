"""Voice providers and the audio cache built from Django settings (``settings.VOICE``, ``settings.REDIS_URL``).

``voice`` never imports Django, so this is the one place that reads the settings for it; consumers of
calls and training, and management commands, build their providers here::

    stt = stt_from_settings()                  # settings.VOICE["STT"]: {"PROVIDER": ..., "OPTIONS": {...}}
    tts = tts_from_settings(voice="ru")        # keyword overrides are merged into OPTIONS
    cache = audio_cache_from_settings()        # RedisAudioCache at REDIS_URL, TTL AUDIO_CACHE_TTL_S
    stt = shared_provider("stt")               # one instance per process, for live conversations
    llm = llm_config_from_settings()           # the dialog LLM's config, or None offline

``MediaDispatchMixin`` is for Channels media consumers (see its docstring).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

from django.conf import settings

from voice.registry import load_provider


def _vendor_keys() -> dict[str, str]:
    return {"openai": settings.OPENAI_API_KEY, "elevenlabs": settings.ELEVENLABS.get("API_KEY", "")}


def _block(kind: str, voice_settings: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    block = (voice_settings if voice_settings is not None else settings.VOICE)[kind]
    name, options = block["PROVIDER"], dict(block.get("OPTIONS") or {})
    # A vendor's key comes from its own variable (OPENAI_API_KEY, ELEVENLABS_API_KEY) unless OPTIONS names one.
    if name in _vendor_keys() and not options.get("api_key"):
        options["api_key"] = _vendor_keys()[name]
    if name == "openai" and settings.OPENAI_BASE_URL and "base_url" not in options:
        options["base_url"] = settings.OPENAI_BASE_URL
    return name, options


def stt_from_settings(voice_settings: Mapping[str, Any] | None = None, **overrides: Any):
    """A new STT provider from ``VOICE["STT"]`` (or the given dict), options updated with ``overrides``."""
    name, options = _block("STT", voice_settings)
    return load_provider("stt", name, **{**options, **overrides})


def tts_from_settings(voice_settings: Mapping[str, Any] | None = None, **overrides: Any):
    """A new TTS provider from ``VOICE["TTS"]`` (or the given dict), options updated with ``overrides``."""
    name, options = _block("TTS", voice_settings)
    return load_provider("tts", name, **{**options, **overrides})


_shared: dict[tuple[str, str, str], Any] = {}
_shared_lock = threading.Lock()


def shared_provider(kind: str) -> Any:
    """The process-wide STT (``"stt"``) or TTS (``"tts"``) from ``settings.VOICE``: local models load once.

    Consumers of calls and training share these; the providers serialise their own model access.
    """
    name, options = _block(kind.upper(), None)
    key = (kind, name, json.dumps(options, sort_keys=True, default=str))
    with _shared_lock:
        if key not in _shared:
            _shared[key] = load_provider(kind, name, **options)
        return _shared[key]


def tts_for_language(language: str) -> Any:
    """The shared TTS that speaks ``language``: its ``VOICE["TTS_BY_LANGUAGE"]`` block if set, else ``VOICE["TTS"]``.

    eSpeak NG (the offline default) speaks Russian, English and Uzbek but not Tajik; a Tajik campaign
    needs a vendor voice configured for "tg" (``tts_language_problem`` says so before a call starts).
    """
    block = (settings.VOICE.get("TTS_BY_LANGUAGE") or {}).get(language)
    if not block:
        return shared_provider("tts")
    name, options = _block("TTS", {"TTS": block})
    key = ("tts", name, json.dumps(options, sort_keys=True, default=str))
    with _shared_lock:
        if key not in _shared:
            _shared[key] = load_provider("tts", name, **options)
        return _shared[key]


def tts_language_problem(language: str) -> str | None:
    """Why calls in ``language`` could not be spoken with the configured TTS, or None when they can."""
    if language == "auto" or (settings.VOICE.get("TTS_BY_LANGUAGE") or {}).get(language):
        return None
    if settings.VOICE["TTS"]["PROVIDER"] != "local":
        return None  # the cloud voices (ElevenLabs multilingual, OpenAI) read any of the script languages
    from voice.tts.local import LANGUAGE_VOICES

    if language in LANGUAGE_VOICES:
        return None
    return (f"eSpeak NG has no voice for «{language}»: set TTS_BY_LANGUAGE for it (e.g. ElevenLabs) "
            f"or a cloud TTS_PROVIDER")


def openai_llm_config() -> Any:
    """``dialogs.llm.LLMConfig`` from ``OPENAI_API_KEY``, ``OPENAI_CHAT_MODEL`` and ``OPENAI_BASE_URL``."""
    from dialogs.llm import LLMConfig

    return LLMConfig(api_key=settings.OPENAI_API_KEY, model=settings.OPENAI_CHAT_MODEL,
                     base_url=settings.OPENAI_BASE_URL)


def llm_config_from_settings() -> Any | None:
    """The live conversation's LLM config when ``DIALOG["RESPONDER"]`` is "openai" and a key is set, else None."""
    if settings.DIALOG.get("RESPONDER") != "openai" or not settings.OPENAI_API_KEY:
        return None
    return openai_llm_config()


def audio_cache_from_settings(url: str | None = None, *, ttl_s: int | None = None, client=None):
    """A ``RedisAudioCache`` at ``REDIS_URL`` with ``VOICE["AUDIO_CACHE_TTL_S"]``.

    The redis client binds to the event loop that first uses it: build one per loop (per process
    for daphne, per ``asyncio.run`` in a command) and close it with ``await cache.aclose()``.
    """
    from voice.cache import RedisAudioCache

    ttl = ttl_s if ttl_s is not None else settings.VOICE.get("AUDIO_CACHE_TTL_S")
    return RedisAudioCache(url or settings.REDIS_URL, ttl_s=ttl, client=client)


class MediaDispatchMixin:
    """Put before ``AsyncWebsocketConsumer`` in a media consumer's bases: 50 frames/s per call, no thread hop each.

    Channels' ``AsyncConsumer.dispatch`` awaits ``aclose_old_connections()`` before every message, a
    ``sync_to_async`` call on the one thread-sensitive executor. With 100 calls that is 5,000 thread
    round-trips a second through a single thread, queued behind the consumers' own database work:
    under ``manage.py media_load`` it was the largest cost in daphne and left inbound frames seconds
    behind. Media frames never touch the database directly (database work goes through
    ``database_sync_to_async``, which closes stale connections itself), so ``websocket.receive`` skips
    the hop; connect and disconnect keep it.
    """

    async def dispatch(self, message):
        if message["type"] == "websocket.receive":
            await self.websocket_receive(message)
            return
        await super().dispatch(message)
