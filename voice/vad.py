"""Voice activity detection and endpointing on 20 ms PCM16 frames (webrtcvad, at 8 or 16 kHz).

``Endpointer.process(frame)`` returns the events a frame caused:

- ``SpeechStart`` once ``min_speech_ms`` of (mostly) voiced audio has been heard; the utterance
  includes ``prefix_padding_ms`` of audio from before the start so the first phoneme is not lost;
- ``SpeculativeEnd`` after a short silence (``speculative_silence_ms``), so the pipeline can start
  STT early and keep the result if the silence holds;
- ``SpeechResumed`` if the user goes on after a ``SpeculativeEnd`` (drop the early STT);
- ``EndOfUtterance`` after ``end_silence_ms`` of silence, or the shorter ``finished_silence_ms``
  when the latest partial transcript reads like a finished sentence (adaptive endpointing).

Times are in stream milliseconds (frames counted x 20 ms), so the endpointer is deterministic and
needs no clock; the pipeline maps them to wall time.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

import webrtcvad

from voice.audio import FRAME_MS, SAMPLE_RATE, energy, frame_bytes
from voice.text import looks_finished


@dataclass
class VADConfig:
    aggressiveness: int = 2  # webrtcvad mode 0 (permissive) .. 3 (strict)
    min_speech_ms: int = 120  # voiced audio needed before speech starts: coughs and clicks are shorter
    start_ratio: float = 0.75  # share of voiced frames in the min_speech window that counts as speech
    end_silence_ms: int = 500
    finished_silence_ms: int = 250  # used instead of end_silence_ms when the partial looks finished
    speculative_silence_ms: int = 200
    prefix_padding_ms: int = 300
    max_utterance_ms: int = 30000  # force an end so a noisy line cannot hold the turn forever
    # frames quieter than this never count as voiced: webrtcvad keeps saying "speech" for ~120 ms
    # after a sound stops (hangover), which would turn a short click into min_speech_ms of speech
    energy_floor_dbfs: float = -50.0

    def __post_init__(self) -> None:
        if not 0 <= self.aggressiveness <= 3:
            raise ValueError("aggressiveness must be 0..3")
        if self.speculative_silence_ms >= self.end_silence_ms:
            self.speculative_silence_ms = max(FRAME_MS, self.end_silence_ms // 2)


@dataclass
class SpeechStart:
    at_ms: float  # stream time of the first voiced frame


@dataclass
class SpeculativeEnd:
    audio: bytes
    last_voiced_ms: float


@dataclass
class SpeechResumed:
    at_ms: float


@dataclass
class EndOfUtterance:
    audio: bytes  # prefix padding + speech + the trailing silence that confirmed the end
    last_voiced_ms: float  # stream time just after the last voiced frame
    speech_ms: float
    forced: bool = False  # max_utterance_ms reached


VADEvent = SpeechStart | SpeculativeEnd | SpeechResumed | EndOfUtterance


class Endpointer:
    def __init__(self, config: VADConfig | None = None, *, sample_rate: int = SAMPLE_RATE):
        self.config = config or VADConfig()
        if sample_rate not in (8000, 16000, 32000, 48000):
            raise ValueError(f"webrtcvad runs at 8, 16, 32 or 48 kHz, not {sample_rate} Hz")
        self.sample_rate = sample_rate
        self.frame_bytes = frame_bytes(sample_rate)
        self._vad = webrtcvad.Vad(self.config.aggressiveness)
        self._start_window = max(1, self.config.min_speech_ms // FRAME_MS)
        self._prefix_frames = max(0, self.config.prefix_padding_ms // FRAME_MS)
        # the energy floor as a sum of squares over one frame, so a frame's level needs no log or sqrt
        samples = self.frame_bytes // 2
        self._energy_floor = (10 ** (self.config.energy_floor_dbfs / 20) * 32768.0) ** 2 * samples
        self.reset()

    def reset(self) -> None:
        self.in_speech = False
        self.now_ms = 0.0
        self._ring: collections.deque[tuple[bytes, bool]] = collections.deque(
            maxlen=self._prefix_frames + self._start_window
        )
        self._window: collections.deque[bool] = collections.deque(maxlen=self._start_window)
        self._window_voiced = 0
        self._utterance = bytearray()
        self._speech_start_ms = 0.0
        self._last_voiced_ms = 0.0
        self._silence_ms = 0.0
        self._speculated = False
        self._finished_hint = False

    def hint(self, partial_text: str) -> None:
        """Feed the latest partial transcript; a finished-looking one shortens the end silence."""
        self._finished_hint = looks_finished(partial_text)

    @property
    def end_silence_ms(self) -> int:
        cfg = self.config
        return min(cfg.finished_silence_ms, cfg.end_silence_ms) if self._finished_hint else cfg.end_silence_ms

    @property
    def utterance(self) -> bytes:
        return bytes(self._utterance)

    def is_speech(self, frame: bytes) -> bool:
        # the VAD runs on every frame so its internal state stays continuous; the gate only vetoes
        voiced = self._vad.is_speech(frame, self.sample_rate)
        return voiced and energy(frame) >= self._energy_floor

    def process(self, frame: bytes) -> list[VADEvent]:
        if len(frame) != self.frame_bytes:
            raise ValueError(f"VAD frames must be {self.frame_bytes} bytes (20 ms of PCM16 at {self.sample_rate} Hz), "
                             f"got {len(frame)}")
        voiced = self.is_speech(frame)
        self.now_ms += FRAME_MS
        events: list[VADEvent] = []
        if not self.in_speech:
            self._ring.append((frame, voiced))
            window = self._window
            if len(window) == window.maxlen and window[0]:
                self._window_voiced -= 1
            window.append(voiced)
            self._window_voiced += voiced
            needed = self.config.start_ratio * self._start_window
            if len(window) == self._start_window and self._window_voiced >= needed:
                self.in_speech = True
                first_voiced = next(i for i, v in enumerate(window) if v)
                self._speech_start_ms = self.now_ms - (len(window) - first_voiced) * FRAME_MS
                # prefix padding counts back from the first voiced frame, not from the decision
                keep = int((self.now_ms - self._speech_start_ms + self.config.prefix_padding_ms) // FRAME_MS)
                self._utterance = bytearray(b"".join(f for f, _ in list(self._ring)[-keep:]))
                self._ring.clear()
                self._window.clear()
                self._window_voiced = 0
                self._last_voiced_ms = self.now_ms
                self._silence_ms = 0.0
                self._speculated = False
                self._finished_hint = False
                events.append(SpeechStart(at_ms=self._speech_start_ms))
            return events

        self._utterance += frame
        if voiced:
            self._last_voiced_ms = self.now_ms
            self._silence_ms = 0.0
            if self._speculated:
                self._speculated = False
                self._finished_hint = False
                events.append(SpeechResumed(at_ms=self.now_ms))
        else:
            self._silence_ms += FRAME_MS
        cfg = self.config
        if not self._speculated and cfg.speculative_silence_ms <= self._silence_ms < self.end_silence_ms:
            self._speculated = True
            events.append(SpeculativeEnd(audio=bytes(self._utterance), last_voiced_ms=self._last_voiced_ms))
        forced = self.now_ms - self._speech_start_ms >= cfg.max_utterance_ms
        if self._silence_ms >= self.end_silence_ms or forced:
            events.append(
                EndOfUtterance(
                    audio=bytes(self._utterance),
                    last_voiced_ms=self._last_voiced_ms,
                    speech_ms=self._last_voiced_ms - self._speech_start_ms,
                    forced=forced and self._silence_ms < self.end_silence_ms,
                )
            )
            self.in_speech = False
            self._utterance = bytearray()
            self._ring.clear()
            self._window.clear()
            self._window_voiced = 0
            self._speculated = False
            self._finished_hint = False
        return events
