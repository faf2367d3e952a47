"""OpenAI speech (``audio.speech``) streamed as raw 24 kHz PCM16 behind the TTS contract."""

from __future__ import annotations

from collections.abc import AsyncIterator

from openai import omit

from integrations.openai_api import map_openai_error, openai_client
from voice.audio import SampleAligner
from voice.tts.base import TTSProvider

OPENAI_PCM_RATE = 24000  # response_format="pcm" is always 24 kHz, 16-bit little-endian, mono


class OpenAITTS(TTSProvider):
    """``instructions`` steers tone for gpt-4o-mini-tts; ``speed`` is 0.25-4.0."""

    name = "openai-tts"

    def __init__(
        self,
        api_key: str = "",
        model: str = "gpt-4o-mini-tts",
        voice: str = "alloy",
        base_url: str | None = None,
        instructions: str | None = None,
        speed: float | None = None,
        timeout_s: float = 10.0,
        max_retries: int = 0,
    ):
        self.client = openai_client(
            api_key, base_url=base_url, timeout_s=timeout_s, max_retries=max_retries, provider=self.name
        )
        self.model = model
        self.voice = voice
        self.instructions = instructions
        self.speed = speed

    def native_rate(self, sample_rate: int) -> int:
        return OPENAI_PCM_RATE

    def cache_key(self, text: str, *, voice: str, language: str, sample_rate: int) -> str:
        # The model, instructions and speed shape the audio as much as the voice does.
        shaped = f"{voice or self.voice}:{self.model}:{self.speed}:{self.instructions or ''}"
        return super().cache_key(text, voice=shaped, language=language, sample_rate=sample_rate)

    async def _synthesize(self, text: str, *, voice: str, language: str, sample_rate: int) -> AsyncIterator[bytes]:
        if not text.strip():
            return
        aligner = SampleAligner()
        try:
            async with self.client.audio.speech.with_streaming_response.create(
                model=self.model,
                voice=voice or self.voice,
                input=text,
                response_format="pcm",
                instructions=self.instructions or omit,
                speed=self.speed if self.speed is not None else omit,
            ) as response:
                async for chunk in response.iter_bytes():
                    if samples := aligner.push(chunk):
                        yield samples
        except Exception as exc:
            raise map_openai_error(exc, self.name) from exc

    async def aclose(self) -> None:
        await self.client.close()
