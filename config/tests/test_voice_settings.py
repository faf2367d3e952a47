"""Provider settings: each vendor's key comes from its own variable."""

import json
import os
import subprocess
import sys

from config.voice import _block, stt_from_settings


def test_vendor_keys_reach_the_voice_providers(settings):
    settings.OPENAI_API_KEY = "sk-test-openai"
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    settings.ELEVENLABS = {**settings.ELEVENLABS, "API_KEY": "el-test"}
    voice = {"STT": {"PROVIDER": "openai", "OPTIONS": {}}, "TTS": {"PROVIDER": "elevenlabs", "OPTIONS": {}}}
    stt = stt_from_settings(voice)  # the real SDK client is built with them
    assert stt.client.api_key == "sk-test-openai" and str(stt.client.base_url).startswith("http://127.0.0.1:9/v1")
    assert _block("TTS", voice) == ("elevenlabs", {"api_key": "el-test"})
    voice["TTS"]["OPTIONS"] = {"api_key": "explicit", "voice_id": "v1"}
    assert _block("TTS", voice) == ("elevenlabs", {"api_key": "explicit", "voice_id": "v1"})
    assert _block("STT", {"STT": {"PROVIDER": "local", "OPTIONS": {}}}) == ("local", {})


def test_a_self_hosted_stt_server_gets_the_stt_and_never_the_openai_key(settings):
    settings.OPENAI_API_KEY = "sk-real-openai"
    settings.OPENAI_BASE_URL = None
    settings.STT_BASE_URL = "http://stt:8000/v1"
    voice = {"STT": {"PROVIDER": "openai", "OPTIONS": {"model": "Systran/faster-whisper-base"}},
             "TTS": {"PROVIDER": "openai", "OPTIONS": {}}}
    stt = stt_from_settings(voice)
    assert str(stt.client.base_url).startswith("http://stt:8000/v1")
    assert stt.client.api_key == "self-hosted"
    # the dialog's and the TTS's OpenAI stay on OpenAI, with the real key
    assert _block("TTS", voice) == ("openai", {"api_key": "sk-real-openai"})


def _settings_dialog(**env):
    """``DIALOG`` as a fresh process reads it from the environment (the settings module runs at import)."""
    code = ("import django, json; django.setup(); from django.conf import settings; "
            "print(json.dumps(settings.DIALOG))")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DIALOG_")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings.local", **env})
    return done.returncode, (json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else done.stderr)


def test_an_openai_key_alone_switches_neither_dialog_nor_analysis():
    assert _settings_dialog(OPENAI_API_KEY="sk-for-speech-only") == (0, {"RESPONDER": "flow", "ANALYSIS": "offline"})
    assert _settings_dialog(OPENAI_API_KEY="sk-x", DIALOG_RESPONDER="openai", DIALOG_ANALYSIS="openai") == (
        0, {"RESPONDER": "openai", "ANALYSIS": "openai"})
    code, err = _settings_dialog(DIALOG_ANALYSIS="gpt")
    assert code != 0 and "DIALOG_ANALYSIS='gpt': use one of offline, openai" in err
