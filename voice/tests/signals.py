"""Synthetic test audio: a voiced, speech-like signal webrtcvad accepts, and silence/noise."""

from __future__ import annotations

import numpy as np

from voice.audio import FRAME_BYTES, SAMPLE_RATE, array_to_pcm16


def voiced(ms: float, *, rate: int = SAMPLE_RATE, f0: float = 140.0, level: float = 0.3, seed: int = 0) -> bytes:
    """Harmonic-rich glottal-like pulse train with vibrato and a 4 Hz syllable envelope."""
    n = int(rate * ms / 1000)
    t = np.arange(n) / rate
    rng = np.random.default_rng(seed)
    pitch = f0 * (1 + 0.05 * np.sin(2 * np.pi * 3 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    sig = sum((1.0 / k) * np.sin(k * phase) for k in range(1, 25) if k * f0 < rate / 2)
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t) ** 2
    sig = sig * envelope + 0.01 * rng.standard_normal(n)
    sig = sig / np.max(np.abs(sig)) * level
    return array_to_pcm16(sig)


def sine(ms: float, freq: float, *, rate: int = SAMPLE_RATE, level: float = 0.5) -> bytes:
    t = np.arange(int(rate * ms / 1000)) / rate
    return array_to_pcm16(level * np.sin(2 * np.pi * freq * t))


def quiet(ms: float, *, rate: int = SAMPLE_RATE, level: float = 0.0005, seed: int = 1) -> bytes:
    """Near-silence with a little noise floor, like a real line."""
    n = int(rate * ms / 1000)
    return array_to_pcm16(level * np.random.default_rng(seed).standard_normal(n))


def frames(pcm: bytes) -> list[bytes]:
    cut = len(pcm) - len(pcm) % FRAME_BYTES
    return [pcm[i : i + FRAME_BYTES] for i in range(0, cut, FRAME_BYTES)]
