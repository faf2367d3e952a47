"""Offline text-to-speech with eSpeak NG, loaded through ctypes from the ``espeakng-loader`` wheel."""

from __future__ import annotations

import asyncio
import ctypes
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from integrations.errors import ProviderConfigError, ProviderError
from voice.tts.base import TTSProvider

# speak_lib.h: espeak_AUDIO_OUTPUT, espeak_POSITION_TYPE, espeak_PARAMETER, flags and errors.
AUDIO_OUTPUT_SYNCHRONOUS = 2  # like RETRIEVAL (audio goes to our callback) but espeak_Synth blocks until done
POS_CHARACTER = 1
ESPEAK_RATE = 1
ESPEAK_VOLUME = 2
ESPEAK_PITCH = 3
ESPEAK_CHARS_UTF8 = 1
ESPEAK_ENDPAUSE = 0x1000
ESPEAK_INITIALIZE_DONT_EXIT = 0x8000  # report missing data as an error instead of exiting the process
EE_OK = 0
RATE_RANGE = (80, 450)  # words per minute
BUFFER_MS = 60  # size of each callback buffer: the first chunk is ready after ~this much audio

# Language code -> eSpeak voice name; en-us is the clearer English voice for Whisper and for callers.
LANGUAGE_VOICES = {"ru": "ru", "en": "en-us", "uz": "uz"}  # eSpeak NG has no Tajik voice

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _EspeakEngine:
    """The process-wide libespeak-ng instance.

    The library keeps global state (voice, parameters, one callback), so every call goes through
    ``_lock`` and synthesis runs on a dedicated single thread.
    """

    def __init__(self) -> None:
        try:
            import espeakng_loader  # noqa: PLC0415  a missing espeakng-loader becomes a ProviderConfigError, not a failed import of config.voice
        except ImportError as exc:
            raise ProviderConfigError("espeakng-loader is not installed", provider="espeak") from exc
        data_path = Path(espeakng_loader.get_data_path())
        try:
            lib = ctypes.CDLL(espeakng_loader.get_library_path())
        except OSError as exc:
            raise ProviderConfigError(f"cannot load libespeak-ng: {exc}", provider="espeak") from exc
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        # The path argument is the directory that *contains* espeak-ng-data.
        rate = lib.espeak_Initialize(
            AUDIO_OUTPUT_SYNCHRONOUS, BUFFER_MS, str(data_path.parent).encode(), ESPEAK_INITIALIZE_DONT_EXIT
        )
        if rate <= 0:
            raise ProviderConfigError(f"espeak_Initialize failed with data at {data_path}", provider="espeak")
        self.lib = lib
        self.sample_rate = rate
        self._sink: Callable[[bytes], bool] | None = None
        self._callback = _SYNTH_CALLBACK(self._on_audio)  # kept referenced: libespeak holds the pointer
        lib.espeak_SetSynthCallback(self._callback)
        self._lock = threading.Lock()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="espeak")

    def _on_audio(self, wav: Any, numsamples: int, _events: int | None) -> int:
        # Runs inside espeak_Synth on the synthesis thread; returning 1 aborts the synthesis.
        sink = self._sink
        if sink is None:
            return 1
        if wav and numsamples > 0 and not sink(ctypes.string_at(wav, numsamples * 2)):
            return 1
        return 0

    def has_voice(self, voice: str) -> bool:
        with self._lock:
            return self.lib.espeak_SetVoiceByName(voice.encode()) == EE_OK

    def synth(
        self, text: str, *, voice: str, rate: int, pitch: int, volume: int, sink: Callable[[bytes], bool]
    ) -> None:
        """Synthesize ``text``, handing each PCM16 buffer to ``sink``; ``sink`` returns False to stop."""
        encoded = text.replace("\x00", " ").encode("utf-8")
        with self._lock:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != EE_OK:
                raise ProviderConfigError(f"eSpeak has no voice {voice!r}", provider="espeak")
            # Set after the voice: a voice change may reset parameters to the voice's defaults.
            self.lib.espeak_SetParameter(ESPEAK_RATE, rate, 0)
            self.lib.espeak_SetParameter(ESPEAK_PITCH, pitch, 0)
            self.lib.espeak_SetParameter(ESPEAK_VOLUME, volume, 0)
            self._sink = sink
            try:
                result = self.lib.espeak_Synth(
                    encoded, len(encoded) + 1, 0, POS_CHARACTER, 0, ESPEAK_CHARS_UTF8 | ESPEAK_ENDPAUSE, None, None
                )
            finally:
                self._sink = None
        if result != EE_OK:
            raise ProviderError(f"espeak_Synth returned {result}", provider="espeak")


_ENGINE: _EspeakEngine | None = None
_ENGINE_LOCK = threading.Lock()


def espeak_engine() -> _EspeakEngine:
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            _ENGINE = _EspeakEngine()
        return _ENGINE


_DONE = object()


class EspeakTTS(TTSProvider):
    """eSpeak NG voices: robotic but instant and fully offline.

    ``voice`` is the default voice; a call's ``language`` picks ``LANGUAGE_VOICES[language]`` when it
    differs from the default voice's language, and a call's ``voice`` wins over both. ``rate`` is in
    words per minute (80-450), ``pitch`` 0-100 (50 normal), ``volume`` 0-200 (100 normal).
    """

    name = "espeak"

    def __init__(self, voice: str = "ru", rate: int = 175, pitch: int = 50, volume: int = 100):
        if not RATE_RANGE[0] <= rate <= RATE_RANGE[1]:
            raise ProviderConfigError(f"rate must be within {RATE_RANGE}", provider=self.name)
        if not 0 <= pitch <= 100:
            raise ProviderConfigError("pitch must be within 0..100", provider=self.name)
        if not 0 <= volume <= 200:
            raise ProviderConfigError("volume must be within 0..200", provider=self.name)
        self.engine = espeak_engine()  # fails at start-up, not on the first call, if the wheel is broken
        if not self.engine.has_voice(voice):
            raise ProviderConfigError(f"eSpeak has no voice {voice!r}", provider=self.name)
        self.voice = voice
        self.rate = rate
        self.pitch = pitch
        self.volume = volume

    def native_rate(self, sample_rate: int) -> int:
        return self.engine.sample_rate

    def has_voice(self, voice: str) -> bool:
        return self.engine.has_voice(voice)

    def voice_for(self, *, voice: str = "", language: str = "") -> str:
        if voice:
            return voice
        default_language = self.voice.split("-")[0]
        if language and language.split("-")[0] != default_language:
            try:
                return LANGUAGE_VOICES[language.split("-")[0]]
            except KeyError:
                raise ProviderConfigError(
                    f"no eSpeak voice configured for language {language!r}", provider=self.name
                ) from None
        return self.voice

    def cache_key(self, text: str, *, voice: str, language: str, sample_rate: int) -> str:
        # Rate and pitch change the audio, so cached phrases must not be shared across settings.
        chosen = self.voice_for(voice=voice, language=language)
        return super().cache_key(
            text, voice=f"{chosen}:{self.rate}:{self.pitch}:{self.volume}", language=language, sample_rate=sample_rate
        )

    async def _synthesize(self, text: str, *, voice: str, language: str, sample_rate: int) -> AsyncIterator[bytes]:
        if not text.strip():
            return
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        stopped = threading.Event()
        chosen = self.voice_for(voice=voice, language=language)

        def hand_over(item: object) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop closed under us; nobody is listening any more
                stopped.set()

        def sink(chunk: bytes) -> bool:
            if stopped.is_set():
                return False
            hand_over(chunk)
            return True

        def job() -> None:
            try:
                if not stopped.is_set():  # a cancelled request still queued behind another: skip it
                    self.engine.synth(
                        text, voice=chosen, rate=self.rate, pitch=self.pitch, volume=self.volume, sink=sink
                    )
            except BaseException as exc:  # re-raised on the event loop side
                hand_over(exc)
            finally:
                hand_over(_DONE)

        loop.run_in_executor(self.engine.executor, job)
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                assert isinstance(item, bytes)
                yield item
        finally:
            # Barge-in or an abandoned stream: make the callback abort so the next request starts at once.
            stopped.set()
