"""Every provider of the house, chosen by kind and name after django-anymail's backends:
``load_provider("stt", "local", **options)``.

One table for all kinds, so one file says which vendors exist: speech (``stt``, ``tts``, in ``voice``),
carriers (``telephony``, in ``calls``), the CRM copy of each lead (``crm``) and the follow-up message
(``messaging``). The apps build each provider's options from their settings and call ``load_provider``;
the table only names classes, so this module imports none of them.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from integrations.errors import ProviderConfigError

# kind -> name -> "module:Class"
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
    "telephony": {
        "simulated": "calls.telephony.simulated:SimulatedTelephony",
        "voximplant": "calls.telephony.voximplant:VoximplantTelephony",
        "twilio": "calls.telephony.twilio:TwilioTelephony",
        "fake": "calls.telephony.fake:FakeTelephony",
    },
    "crm": {
        "builtin": "crm.providers.builtin:BuiltinCRM",
        "bitrix24": "crm.providers.bitrix24:Bitrix24CRM",
    },
    "messaging": {
        "console": "crm.messaging.console:ConsoleMessaging",
        "twilio_sms": "crm.messaging.twilio_sms:TwilioSms",
        "telegram": "crm.messaging.telegram:TelegramMessaging",
    },
}


def provider_class(table: dict[str, str], kind: str, name: str) -> type:
    """The class ``table[name]`` names (its module imported), without building a provider: e.g. to read what
    wire protocol a carrier speaks."""
    if name not in table:
        raise ProviderConfigError(f"unknown {kind} provider {name!r}; choose one of {sorted(table)}")
    module_name, _, class_name = table[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def load(table: dict[str, str], kind: str, name: str, options: dict[str, Any] | None = None) -> Any:
    """Instantiate ``table[name]`` with ``options``; unknown names and options fail loudly."""
    options = dict(options or {})
    cls = provider_class(table, kind, name)
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
