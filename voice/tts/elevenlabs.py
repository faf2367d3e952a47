"""ElevenLabs streaming speech through the official ``elevenlabs`` SDK, asking for PCM that needs no transcoding."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
from elevenlabs import VoiceSettings
from elevenlabs.client import AsyncElevenLabs
from elevenlabs.core.api_error import ApiError

from integrations.errors import ProviderConfigError, ProviderError, error_for_status, transport_error
from voice.audio import SampleAligner, ulaw_to_pcm16
from voice.tts.base import TTSProvider

# Rates ElevenLabs streams as raw PCM16 on every plan (44.1 kHz needs Pro, so it is opt-in only).
AUTO_PCM_RATES = (8000, 16000, 22050, 24000)
EXPLICIT_FORMATS = {f"pcm_{rate}": rate for rate in (8000, 16000, 22050, 24000, 32000, 44100, 48000)} | {
    "ulaw_8000": 8000
}
DEFAULT_VOICE_ID = "JBFqnCBsd6RMkjVDRZzb"  # a premade multilingual voice available on every account


def map_elevenlabs_error(exc: BaseException, provider: str) -> ProviderError:
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, ApiError) and exc.status_code is not None:
        return error_for_status(exc.status_code, f"HTTP {exc.status_code}: {_detail(exc.body)}", provider=provider)
    mapped = transport_error(exc, provider)
    if mapped is not None:
        return mapped
    return ProviderError(f"{type(exc).__name__}: {exc}", provider=provider)


def _detail(body: Any) -> str:
    # ElevenLabs errors look like {"detail": {"status": "...", "message": "..."}}.
    if isinstance(body, dict) and isinstance(body.get("detail"), dict):
        return str(body["detail"].get("message") or body["detail"])
    return str(body)[:300]


class ElevenLabsTTS(TTSProvider):
    """Streams ``/v1/text-to-speech/{voice_id}/stream``.

    With ``output_format=None`` each call asks for ``pcm_<requested rate>`` when ElevenLabs has it
    (8, 16, 22.05, 24 kHz), so nothing is resampled; other rates get pcm_16000 and the base
    resamples. An explicit ``pcm_*`` pins the format. ``ulaw_8000`` suits Twilio: the G.711 bytes are
    decoded to PCM16 at 8 kHz here (the contract is PCM16), and the Twilio encoder turns them back
    into the identical mu-law bytes, but ``pcm_8000`` is just as good and skips that round trip.
    """

    name = "elevenlabs"

    def __init__(
        self,
        api_key: str = "",
        voice_id: str = DEFAULT_VOICE_ID,
        model_id: str = "eleven_flash_v2_5",
        base_url: str | None = None,
        output_format: str | None = None,
        optimize_streaming_latency: int | None = None,
        voice_settings: dict[str, Any] | None = None,
        send_language_code: bool = True,
        timeout_s: float = 10.0,
        max_retries: int = 0,
    ):
        if not api_key:
            raise ProviderConfigError("an ElevenLabs API key is required", provider=self.name)
        if output_format is not None and output_format not in EXPLICIT_FORMATS:
            raise ProviderConfigError(
                f"output_format {output_format!r} is not raw audio; choose one of {sorted(EXPLICIT_FORMATS)}",
                provider=self.name,
            )
        if optimize_streaming_latency is not None and not 0 <= optimize_streaming_latency <= 4:
            raise ProviderConfigError("optimize_streaming_latency must be within 0..4", provider=self.name)
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), follow_redirects=True)
        self.client = AsyncElevenLabs(api_key=api_key, base_url=base_url, timeout=timeout_s, httpx_client=self._http)
        self.voice_id = voice_id
        self.model_id = model_id
        self.output_format = output_format
        self.optimize_streaming_latency = optimize_streaming_latency
        self.voice_settings = voice_settings
        self.send_language_code = send_language_code
        self.timeout_s = timeout_s
        self.max_retries = max_retries

    def native_rate(self, sample_rate: int) -> int:
        if self.output_format is not None:
            return EXPLICIT_FORMATS[self.output_format]
        return sample_rate if sample_rate in AUTO_PCM_RATES else 16000

    def format_for(self, native_rate: int) -> str:
        return self.output_format or f"pcm_{native_rate}"

    def cache_key(self, text: str, *, voice: str, language: str, sample_rate: int) -> str:
        # The default voice id and model decide the sound when the call names no voice.
        shaped = f"{voice or self.voice_id}:{self.model_id}:{sorted((self.voice_settings or {}).items())}"
        return super().cache_key(text, voice=shaped, language=language, sample_rate=sample_rate)

    async def _synthesize(self, text: str, *, voice: str, language: str, sample_rate: int) -> AsyncIterator[bytes]:
        if not text.strip():
            return
        output_format = self.format_for(sample_rate)
        ulaw = output_format.startswith("ulaw_")
        options: dict[str, Any] = {}
        if self.optimize_streaming_latency is not None:
            options["optimize_streaming_latency"] = self.optimize_streaming_latency
        if self.voice_settings is not None:
            options["voice_settings"] = VoiceSettings(**self.voice_settings)
        if self.send_language_code and language:
            options["language_code"] = language.split("-")[0]
        aligner = SampleAligner()
        try:
            async for chunk in self.client.text_to_speech.stream(
                voice or self.voice_id,
                text=text,
                model_id=self.model_id,
                output_format=output_format,
                request_options={"max_retries": self.max_retries},  # the client carries timeout_s
                **options,
            ):
                if ulaw:
                    yield ulaw_to_pcm16(chunk)
                    continue
                if samples := aligner.push(chunk):
                    yield samples
        except Exception as exc:
            raise map_elevenlabs_error(exc, self.name) from exc

    async def aclose(self) -> None:
        await self._http.aclose()
