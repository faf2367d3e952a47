"""Answering-machine detection on the callee's audio, offline: a long monologue at the start, or a beep.

A person answers with a short «Алло?» and waits; a voicemail greeting talks on for seconds without
a pause and usually ends with a beep (a steady tone, mostly 400–1500 Hz). ``AnsweringMachineDetector``
reads 20 ms PCM16 frames (8 or 16 kHz) and says, in Twilio's ``AnsweredBy`` words:

- ``human``: speech shorter than ``machine_speech_s`` followed by a pause of ``human_pause_s``, or
  speech that first starts after ``greeting_start_s`` (someone who listened to the bot first);
- ``machine_start``: ``machine_speech_s`` of speech without a pause of ``pause_s``, or a beep;
- then, once a machine answered, when its greeting is over: ``machine_end_beep`` (the beep ended),
  ``machine_end_silence`` (``end_silence_s`` of quiet after the greeting, no beep) or
  ``machine_end_other`` (``message_max_s`` passed);
- ``unknown``: nobody said anything for ``initial_silence_s``.

The beep test is a Goertzel filter bank: each frame's power at a few tone frequencies against the
frame's whole power; a run of ``beep_min_s`` frames dominated by one frequency is a beep. The
detector is plain numpy, needs no clock (times are stream seconds) and no framework.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FRAME_MS = 20
HUMAN, UNKNOWN = "human", "unknown"
MACHINE_START = "machine_start"
MACHINE_END_BEEP, MACHINE_END_SILENCE, MACHINE_END_OTHER = "machine_end_beep", "machine_end_silence", \
    "machine_end_other"
MACHINE_RESULTS = (MACHINE_START, MACHINE_END_BEEP, MACHINE_END_SILENCE, MACHINE_END_OTHER)
# Tones answering machines beep with; a 40 Hz grid fits both the «~1 kHz» ones and the 440/850/1400 Hz kinds.
BEEP_FREQUENCIES = tuple(float(f) for f in range(400, 1601, 40))


@dataclass
class AMDConfig:
    speech_dbfs: float = -40.0  # a frame louder than this is someone talking (or a tone)
    pause_s: float = 0.5  # a quiet gap at least this long ends a stretch of speech
    machine_speech_s: float = 2.8  # speech this long without a pause, at the start, is a recorded greeting
    # a machine starts its greeting on pick-up; speech that first starts later is a person who listened to
    # the bot first (and may well answer it at length)
    greeting_start_s: float = 3.0
    human_pause_s: float = 0.8  # short speech, then this much quiet: a person waiting for an answer
    initial_silence_s: float = 5.0  # nobody speaks this long: unknown
    end_silence_s: float = 1.5  # after a greeting: this much quiet and no beep means it is over
    message_max_s: float = 30.0  # a greeting longer than this: stop waiting for its end
    beep_min_s: float = 0.12  # a tone at least this long is a beep
    beep_ratio: float = 0.6  # the share of a frame's power one tone frequency must carry
    frequencies: tuple[float, ...] = field(default=BEEP_FREQUENCIES)


@dataclass(frozen=True)
class AMDResult:
    answered_by: str  # human | machine_start | machine_end_beep | machine_end_silence | machine_end_other | unknown
    at_s: float  # stream time the result was reached
    speech_s: float = 0.0  # the longest stretch of speech heard before it

    @property
    def machine(self) -> bool:
        return self.answered_by in MACHINE_RESULTS


class GoertzelBank:
    """Power of a frame at a few fixed frequencies: Goertzel's single-bin DFT, for all bins at once."""

    def __init__(self, frequencies: tuple[float, ...], sample_rate: int, frame_samples: int):
        n = np.arange(frame_samples)
        # the Goertzel filter's output power at bin frequency f equals |sum x[n] e^{-i 2 pi f n / rate}|^2
        phase = 2.0 * np.pi * np.outer(np.asarray(frequencies), n) / sample_rate
        self.cos, self.sin = np.cos(phase), np.sin(phase)
        self.frequencies = frequencies
        self.frame_samples = frame_samples

    def powers(self, samples: np.ndarray) -> np.ndarray:
        re, im = self.cos @ samples, self.sin @ samples
        return re * re + im * im

    def tone(self, samples: np.ndarray, *, ratio: float) -> float | None:
        """The frequency that carries more than ``ratio`` of the frame's power, or None."""
        total = float(samples @ samples)
        if total <= 0:
            return None
        powers = self.powers(samples)
        best = int(np.argmax(powers))
        # a pure tone at a bin puts (N/2)·Σx² into it (Parseval: |X|² = N²A²/4, Σx² = N·A²/2)
        share = float(powers[best]) / (total * self.frame_samples / 2)
        return self.frequencies[best] if share >= ratio else None


class AnsweringMachineDetector:
    """Feed the callee's audio from the moment the call is answered; read ``result`` (or ``feed``'s return)."""

    def __init__(self, *, sample_rate: int = 8000, config: AMDConfig | None = None):
        self.config = config or AMDConfig()
        self.sample_rate = sample_rate
        self.frame_samples = sample_rate * FRAME_MS // 1000
        self._threshold = (10 ** (self.config.speech_dbfs / 20) * 32768) ** 2 * self.frame_samples
        self._bank = GoertzelBank(self.config.frequencies, sample_rate, self.frame_samples)
        self._buffer = b""
        self.frames = 0
        self.result: AMDResult | None = None  # the first verdict: human, machine_start or unknown
        self.end: AMDResult | None = None  # a machine's greeting is over (machine_end_*)
        self._speech_frames = 0  # the current stretch of speech (gaps shorter than pause_s included)
        self._quiet_frames = 0
        self._longest = 0
        self._heard_speech = False
        self._late_start = False
        self._tone_frames = 0
        self._tone_freq: float | None = None
        self._beeped = False

    @property
    def done(self) -> bool:
        """Nothing more to learn: a person, nobody, or a machine whose greeting is over."""
        return self.end is not None or (self.result is not None and not self.result.machine)

    def _s(self, frames: int) -> float:
        return frames * FRAME_MS / 1000

    def feed(self, pcm16: bytes) -> list[AMDResult]:
        """Audio in any chunk size; returns the results this audio produced (at most two)."""
        if self.done:
            return []
        data = self._buffer + pcm16
        step = self.frame_samples * 2
        whole = len(data) - len(data) % step
        self._buffer = data[whole:]
        out: list[AMDResult] = []
        for offset in range(0, whole, step):
            samples = np.frombuffer(data[offset:offset + step], dtype="<i2").astype(np.float64)
            out.extend(self._frame(samples))
            if self.done:
                break
        return out

    def _frame(self, samples: np.ndarray) -> list[AMDResult]:
        cfg = self.config
        self.frames += 1
        loud = float(samples @ samples) >= self._threshold
        tone = self._bank.tone(samples, ratio=cfg.beep_ratio) if loud else None
        beep_ended = self._track_tone(tone)
        if loud and tone is None:
            # a gap shorter than pause_s belongs to the stretch; a longer one already ended it
            self._speech_frames += 1 + (self._quiet_frames if self._speech_frames else 0)
            self._quiet_frames = 0
            if not self._heard_speech and self._s(self.frames - 1) >= cfg.greeting_start_s:
                self._late_start = True
            self._heard_speech = True
        elif not loud:
            self._quiet_frames += 1
            if self._s(self._quiet_frames) >= cfg.pause_s:
                self._longest = max(self._longest, self._speech_frames)
                self._speech_frames = 0
        longest = self._s(max(self._longest, self._speech_frames))
        now = self._s(self.frames)
        out: list[AMDResult] = []
        if self.result is None:
            if self._late_start and not self._beeped:
                self.result = AMDResult(HUMAN, now, longest)
            elif self._beeped or self._s(self._speech_frames) >= cfg.machine_speech_s:
                self.result = AMDResult(MACHINE_START, now, longest)
            elif self._heard_speech and self._speech_frames == 0 and self._s(self._quiet_frames) >= cfg.human_pause_s:
                self.result = AMDResult(HUMAN, now, longest)
            elif not self._heard_speech and not self._beeped and now >= cfg.initial_silence_s:
                self.result = AMDResult(UNKNOWN, now, longest)
            if self.result is not None:
                out.append(self.result)
        if self.result is not None and self.result.machine and self.end is None:
            if beep_ended:
                self.end = AMDResult(MACHINE_END_BEEP, now, longest)
            elif not loud and not self._beeped and self._s(self._quiet_frames) >= cfg.end_silence_s:
                self.end = AMDResult(MACHINE_END_SILENCE, now, longest)
            elif now >= cfg.message_max_s:
                self.end = AMDResult(MACHINE_END_OTHER, now, longest)
            if self.end is not None:
                out.append(self.end)
        return out

    def _track_tone(self, tone: float | None) -> bool:
        """Count frames of one steady tone; True on the frame where a long enough one stops."""
        steady = tone is not None and (self._tone_freq is None or abs(tone - self._tone_freq) <= 40)
        if steady:
            self._tone_frames += 1
            self._tone_freq = tone if self._tone_freq is None else self._tone_freq
            if self._s(self._tone_frames) >= self.config.beep_min_s:
                self._beeped = True
            return False
        ended = self._s(self._tone_frames) >= self.config.beep_min_s
        self._tone_frames, self._tone_freq = (1, tone) if tone is not None else (0, None)
        return ended
