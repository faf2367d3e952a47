"""Provider settings: each vendor's key comes from its own variable."""


def test_vendor_keys_reach_the_voice_providers(settings):
    from config.voice import _block, stt_from_settings

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
