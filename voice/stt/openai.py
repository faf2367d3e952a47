"""OpenAI transcription (``audio.transcriptions.create``) behind the STT contract (``integrations.openai_api``)."""

from __future__ import annotations

from openai import omit

from integrations.errors import ProviderBadResponse
from integrations.openai_api import map_openai_error, openai_client
from voice.audio import write_wav
from voice.stt.base import STTProvider, Transcript

# whisper-1's verbose_json names the language in English ("uzbek"); the codes the call's scripts use
WHISPER_LANGUAGE_CODES = {
    "russian": "ru", "english": "en", "uzbek": "uz", "tajik": "tg", "persian": "fa", "turkish": "tr",
    "kazakh": "kk", "turkmen": "tk", "ukrainian": "uk", "belarusian": "be", "kyrgyz": "ky", "azerbaijani": "az",
}


def language_code(name: str) -> str:
    """An ISO 639-1 code from what a transcription answer says (a code already, or whisper-1's English name)."""
    name = (name or "").strip().lower()
    return WHISPER_LANGUAGE_CODES.get(name, name)


class OpenAISTT(STTProvider):
    """OpenAI's transcription API; the utterance travels as a 16-bit mono WAV file.

    Without a language hint (a campaign in «auto» still listening for the callee's language) it asks
    for ``verbose_json``, whose ``language`` says what was heard. OpenAI's gpt-4o transcription models
    answer only ``json``, so they are never asked; whisper-1 and OpenAI-compatible Whisper servers are.
    """

    name = "openai-stt"

    def __init__(
        self,
        api_key: str = "",
        model: str = "gpt-4o-mini-transcribe",
        base_url: str | None = None,
        timeout_s: float = 10.0,
        language: str | None = None,
        prompt: str | None = None,
        max_retries: int = 0,
    ):
        self.client = openai_client(
            api_key, base_url=base_url, timeout_s=timeout_s, max_retries=max_retries, provider=self.name
        )
        self.model = model
        self.language = language
        self.prompt = prompt
        # The SDK's own timeout fires first and maps to ProviderTimeout; the base's is the backstop.
        self.timeout_s = timeout_s * (max_retries + 1) + 1.0

    async def _transcribe(self, pcm16: bytes, *, sample_rate: int, language: str | None,
                          prompt: str | None = None) -> Transcript:
        language = language or self.language
        detect = not language and not self.model.startswith("gpt-")
        try:
            result = await self.client.audio.transcriptions.create(
                file=("utterance.wav", write_wav(None, pcm16[: len(pcm16) - len(pcm16) % 2], sample_rate), "audio/wav"),
                model=self.model,
                language=language or omit,
                prompt=prompt or self.prompt or omit,
                response_format="verbose_json" if detect else "json",
            )
        except Exception as exc:
            raise map_openai_error(exc, self.name) from exc
        text = getattr(result, "text", None)
        if not isinstance(text, str):
            raise ProviderBadResponse("transcription has no text", provider=self.name)
        heard = language_code(getattr(result, "language", "") or "") if detect else ""
        return Transcript(text=text, language=language or heard)

    async def aclose(self) -> None:
        await self.client.close()
