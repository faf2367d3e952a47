"""Choose a provider by name, after django-anymail's backends: ``load_provider("stt", "local", **options)``."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from voice.errors import ProviderConfigError

# kind -> name -> "module:Class". Other packages (calls, crm) keep their own tables and reuse load().
PROVIDERS: dict[str, dict[str, str]] = {
    "stt": {
        "local": "voice.stt.local:LocalWhisperSTT",
        "openai": "voice.stt.openai:OpenAISTT",
        "fake": "voice.stt.fake:FakeSTT",
    },
    "tts": {
        "local": "voice.tts.local:EspeakTTS",
        "elevenlabs": "voice.tts.elevenlabs:ElevenLabsTTS",
        "openai": "voice.tts.openai:OpenAITTS",
        "fake": "voice.tts.fake:FakeTTS",
    },
}


def load(table: dict[str, str], kind: str, name: str, options: dict[str, Any] | None = None) -> Any:
    """Instantiate ``table[name]`` with ``options``; unknown names and options fail loudly."""
    options = dict(options or {})
    if name not in table:
        raise ProviderConfigError(f"unknown {kind} provider {name!r}; choose one of {sorted(table)}")
    module_name, _, class_name = table[name].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    params = inspect.signature(cls.__init__).parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    unknown = set(options) - set(params) if not accepts_any else set()
    if unknown:
        raise ProviderConfigError(f"unknown option(s) {sorted(unknown)} for {kind} provider {name!r}")
    return cls(**options)


def load_provider(kind: str, name: str, **options: Any) -> Any:
    if kind not in PROVIDERS:
        raise ProviderConfigError(f"unknown provider kind {kind!r}")
    return load(PROVIDERS[kind], kind, name, options)
