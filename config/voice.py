"""Voice providers and the audio cache built from Django settings (``settings.VOICE``, ``settings.REDIS_URL``).

``voice`` never imports Django, so this is the one place that reads the settings for it; consumers of
calls and training, and management commands, build their providers here::

    stt = stt_from_settings()                  # settings.VOICE["STT"]: {"PROVIDER": ..., "OPTIONS": {...}}
    tts = tts_from_settings(voice="ru")        # keyword overrides are merged into OPTIONS
    cache = audio_cache_from_settings()        # RedisAudioCache at REDIS_URL, TTL AUDIO_CACHE_TTL_S
    cache = audio_cache_for_loop()             # the running loop's shared cache for live pipelines (or None)
    stt = shared_provider("stt")               # one instance per process, for live conversations
    llm = llm_config_from_settings()           # the dialog LLM's config, or None offline
"""

from __future__ import annotations

import asyncio
import json
import threading
import weakref
from collections.abc import Mapping
from typing import Any

import redis.asyncio as redis_asyncio
from django.conf import settings
from django.utils.translation import gettext

from dialogs.llm import LLMConfig
from integrations.registry import load_provider
from voice.cache import MemoryAudioCache, RedisAudioCache, TieredAudioCache
from voice.stt.admission import AdmittedSTT, STTAdmission, conversations_served
from voice.tts.local import LANGUAGE_VOICES

# Seconds of Whisper base (int8, greedy) work per second of speech on the project's 2-core machine class,
# one worker: the planning default when STT_SECONDS_PER_AUDIO_S is unset (call_load prints the measured one).
LOCAL_WHISPER_SECONDS_PER_AUDIO_S = 0.5


def _vendor_keys() -> dict[str, str]:
    return {"openai": settings.OPENAI_API_KEY, "elevenlabs": settings.ELEVENLABS.get("API_KEY", "")}


def _block(kind: str, voice_settings: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    block = (voice_settings if voice_settings is not None else settings.VOICE)[kind]
    name, options = block["PROVIDER"], dict(block.get("OPTIONS") or {})
    # Speech recognition may run as its own OpenAI-compatible service (docker-compose's `stt` profile)
    # while the dialog uses OpenAI itself: STT_BASE_URL points only the STT there, and the OpenAI key
    # is not sent to it (a self-hosted server asks for none; the SDK needs some value).
    self_hosted_stt = kind == "STT" and name == "openai" and bool(settings.STT_BASE_URL)
    if self_hosted_stt:
        options.setdefault("base_url", settings.STT_BASE_URL)
        options.setdefault("api_key", "self-hosted")
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
    admission = settings.VOICE.get("STT_ADMISSION") or {}
    if kind == "stt" and name == "local" and "max_concurrency" not in options:
        options["max_concurrency"] = int(admission.get("WORKERS") or 1)  # the model's threads = the workers
    def build() -> Any:
        provider = load_provider(kind, name, **options)
        if kind == "stt":
            provider = AdmittedSTT(provider, stt_admission_from_settings(name, options))
        return provider

    return _shared_instance(kind, name, options, build)


def _shared_instance(kind: str, name: str, options: Mapping[str, Any], build: Any) -> Any:
    """One instance per (kind, name, options) in the process (a provider, the audio cache's near tier), built once
    even when many calls start at once."""
    key = (kind, name, json.dumps(options, sort_keys=True, default=str))
    with _shared_lock:
        if key not in _shared:
            _shared[key] = build()
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
    return _shared_instance("tts", name, options, lambda: load_provider("tts", name, **options))


def tts_language_problem(language: str) -> str | None:
    """Why calls in ``language`` could not be spoken with the configured TTS, or None when they can."""
    if language == "auto" or (settings.VOICE.get("TTS_BY_LANGUAGE") or {}).get(language):
        return None
    if settings.VOICE["TTS"]["PROVIDER"] != "local":
        return None  # the cloud voices (ElevenLabs multilingual, OpenAI) read any of the script languages
    if language in LANGUAGE_VOICES:
        return None
    return gettext("eSpeak NG has no voice for «%(language)s»: set TTS_BY_LANGUAGE for it (e.g. ElevenLabs) "
                   "or a cloud TTS_PROVIDER.") % {"language": language}


def stt_admission_from_settings(name: str | None = None, options: Mapping[str, Any] | None = None) -> STTAdmission:
    """The admission line in front of the process's STT: ``VOICE["STT_ADMISSION"]`` (``STT_WORKERS`` ...)."""
    if name is None:
        name, options = _block("STT", None)
    block = settings.VOICE.get("STT_ADMISSION") or {}
    workers = int((options or {}).get("max_concurrency") or block.get("WORKERS") or 1)
    return STTAdmission(workers=workers, max_queue=int(block.get("MAX_QUEUE", 16)),
                        seconds_per_audio_s=_stt_rate(name))


def _stt_rate(name: str) -> float | None:
    block = settings.VOICE.get("STT_ADMISSION") or {}
    rate = float(block.get("SECONDS_PER_AUDIO_S") or 0)
    if rate > 0:
        return rate
    # the bundled Whisper base (int8, one worker) on this project's 2-core class; call_load measures it
    return LOCAL_WHISPER_SECONDS_PER_AUDIO_S if name == "local" else None


def stt_max_conversations() -> int | None:
    """Live conversations the STT serves in time, for the campaign planner and dispatcher; None: no limit known.

    ``STT_MAX_CONVERSATIONS`` when set (the whole deployment: all STT workers of all processes);
    otherwise derived from ``STT_WORKERS`` and the seconds of work per second of audio
    (``STT_SECONDS_PER_AUDIO_S``, a measured default for the local model; unknown for a remote STT).
    """
    block = settings.VOICE.get("STT_ADMISSION") or {}
    configured = int(block.get("MAX_CONVERSATIONS") or 0)
    if configured > 0:
        return configured
    name, options = _block("STT", None)
    workers = int(options.get("max_concurrency") or block.get("WORKERS") or 1)
    return conversations_served(workers, _stt_rate(name))


def openai_llm_config() -> Any:
    """``dialogs.llm.LLMConfig`` from ``OPENAI_API_KEY``, ``OPENAI_CHAT_MODEL`` and ``OPENAI_BASE_URL``."""
    return LLMConfig(api_key=settings.OPENAI_API_KEY, model=settings.OPENAI_CHAT_MODEL,
                     base_url=settings.OPENAI_BASE_URL)


def llm_config_from_settings() -> Any | None:
    """The live conversation's LLM config when ``DIALOG["RESPONDER"]`` is "openai" and a key is set, else None."""
    if settings.DIALOG.get("RESPONDER") != "openai" or not settings.OPENAI_API_KEY:
        return None
    return openai_llm_config()


def audio_cache_from_settings(url: str | None = None, *, ttl_s: int | None = None, client=None,
                              timeout_s: float = 0.25):
    """A ``RedisAudioCache`` at ``REDIS_URL`` with ``VOICE["AUDIO_CACHE_TTL_S"]``.

    ``timeout_s`` bounds each read: a live turn gives up on the cache after 0.25 s and synthesises;
    offline commands (``warm_audio_cache``) can afford to wait. The redis client binds to the event
    loop that first uses it: build one per loop (per process for daphne, per ``asyncio.run`` in a
    command) and close it with ``await cache.aclose()``.
    """
    ttl = ttl_s if ttl_s is not None else settings.VOICE.get("AUDIO_CACHE_TTL_S")
    return RedisAudioCache(url or settings.REDIS_URL, ttl_s=ttl, client=client, timeout_s=timeout_s)


_loop_caches: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


_loop_redis: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def redis_for_loop():
    """An asyncio Redis client (``REDIS_URL``) for the running loop: live sockets' small Redis work stays
    on the event loop instead of queueing on Django's one database thread (the async cache API's path).

    Its pool holds at most ``LOOP_REDIS_MAX_CONNECTIONS`` and a command waits for a free one: a hundred calls
    starting at once would otherwise open a connection each (a socket and a handshake on the event loop)
    for commands that take a fraction of a millisecond.
    """
    def build():
        pool = redis_asyncio.BlockingConnectionPool.from_url(
            settings.REDIS_URL, max_connections=settings.LOOP_REDIS_MAX_CONNECTIONS, timeout=10,
            driver_info=settings.REDIS_DRIVER_INFO)
        return redis_asyncio.Redis(connection_pool=pool)

    return for_loop(_loop_redis, build)


def for_loop(store: weakref.WeakKeyDictionary, build: Any) -> Any:
    """The running event loop's own instance from ``store``, built on first use (asyncio clients are per loop)."""
    loop = asyncio.get_running_loop()
    value = store.get(loop)
    if value is None:
        value = store[loop] = build()
    return value


def audio_cache_for_loop():
    """The audio cache live conversations on the running event loop share, or None when switched off.

    Calls and practice sessions read it before synthesising a sentence (the script's fixed phrases,
    warmed by ``warm_audio_cache``, start at once) and store what they synthesise. The process's own
    LRU (``LIVE_AUDIO_CACHE_MB``, entries trusted ``LIVE_AUDIO_CACHE_MAX_AGE_S``) sits in front of Redis,
    so a phrase every call says crosses the network once per process. One Redis client per loop:
    redis-py's asyncio clients belong to the loop that first used them.
    """
    if not settings.VOICE.get("LIVE_AUDIO_CACHE", True):
        return None
    return for_loop(_loop_caches, lambda: TieredAudioCache(
        _process_audio_cache(), audio_cache_from_settings(client=redis_for_loop())))


def _process_audio_cache():
    """The process-wide near tier of the live audio cache (plain memory: every loop of the process may share it)."""
    options = {"max_items": 4096,
               "max_bytes": int(float(settings.VOICE.get("LIVE_AUDIO_CACHE_MB", 64)) * 1024 * 1024),
               "max_age_s": float(settings.VOICE.get("LIVE_AUDIO_CACHE_MAX_AGE_S", 600))}
    return _shared_instance("audio-cache", "memory", options, lambda: MemoryAudioCache(**options))


def media_guard_options(*, pace: float = 1.0) -> dict[str, float]:
    """``MediaSession``'s real-time guard from ``settings.VOICE`` (``pace``: a rehearsal's speed-up)."""
    return {"realtime_slack_s": float(settings.VOICE.get("MEDIA_REALTIME_SLACK_S", 5.0)),
            "max_speed": float(settings.VOICE.get("MEDIA_MAX_SPEED", 1.0)) * max(1.0, pace)}
