"""Audio primitives for the pipeline: PCM16 frames, G.711 codecs, resampling, WAV files and levels.

Inside the pipeline audio is always PCM16 little-endian mono at 16 kHz, cut into 20 ms frames.
Everything here is vectorised numpy (lookup tables for G.711, soxr for resampling): a Python loop
per sample would cost more CPU than the rest of a call.
"""

from __future__ import annotations

import io
import math
import wave
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import soxr

SAMPLE_RATE = 16000
SAMPLE_WIDTH = 2  # bytes per PCM16 sample
CHANNELS = 1
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000  # 320
FRAME_BYTES = FRAME_SAMPLES * SAMPLE_WIDTH  # 640

SUPPORTED_RATES = (8000, 16000, 22050, 24000)


def frame_bytes(sample_rate: int, frame_ms: int = FRAME_MS, sample_width: int = SAMPLE_WIDTH) -> int:
    """Bytes in one frame of ``frame_ms`` at ``sample_rate`` (1 byte per sample for G.711)."""
    return sample_rate * frame_ms // 1000 * sample_width


def duration_ms(pcm16: bytes, sample_rate: int = SAMPLE_RATE) -> float:
    return len(pcm16) / SAMPLE_WIDTH / sample_rate * 1000.0


def silence(ms: float, sample_rate: int = SAMPLE_RATE) -> bytes:
    return bytes(int(sample_rate * ms / 1000) * SAMPLE_WIDTH)


def pcm16_to_array(pcm16: bytes) -> np.ndarray:
    if len(pcm16) % SAMPLE_WIDTH:
        raise ValueError(f"PCM16 buffer has an odd length ({len(pcm16)} bytes)")
    return np.frombuffer(pcm16, dtype="<i2")


def array_to_pcm16(samples: np.ndarray) -> bytes:
    """Float arrays are taken as -1..1 and clipped; integer arrays are clipped to int16."""
    if np.issubdtype(samples.dtype, np.floating):
        samples = np.clip(np.rint(samples * 32767.0), -32768, 32767)
    else:
        samples = np.clip(samples, -32768, 32767)
    return samples.astype("<i2").tobytes()


# --- G.711 ----------------------------------------------------------------------------------------
# Both encoders are computed once for all 65 536 PCM16 values, so encoding is one table lookup.

_MULAW_BIAS = 0x84
_MULAW_CLIP = 32635


def _build_mulaw_tables() -> tuple[np.ndarray, np.ndarray]:
    pcm = np.arange(-32768, 32768, dtype=np.int32)
    # Sun's g711.c on 14-bit magnitudes (the variant CPython's audioop used), so output is bit-exact
    val = pcm >> 2
    negative = val < 0
    mask = np.where(negative, 0x7F, 0xFF)
    mag = np.minimum(np.where(negative, -val, val), _MULAW_CLIP >> 2) + (_MULAW_BIAS >> 2)
    seg_ends = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
    seg = np.searchsorted(seg_ends, mag, side="left")
    uval = (np.minimum(seg, 7) << 4) | ((mag >> (np.minimum(seg, 7) + 1)) & 0x0F)
    encode = np.where(seg >= 8, 0x7F ^ mask, uval ^ mask) & 0xFF
    # index by the int16's two's-complement bit pattern so a uint16 view of the input addresses it
    encode_by_u16 = np.empty(65536, dtype=np.uint8)
    encode_by_u16[pcm.astype(np.uint16)] = encode.astype(np.uint8)

    code = (~np.arange(256, dtype=np.int32)) & 0xFF
    exp = (code >> 4) & 0x07
    value = (((code & 0x0F) << 3) + _MULAW_BIAS) << exp
    value -= _MULAW_BIAS
    decode = np.where(code & 0x80, -value, value).astype("<i2")
    return encode_by_u16, decode


def _build_alaw_tables() -> tuple[np.ndarray, np.ndarray]:
    pcm = np.arange(-32768, 32768, dtype=np.int32)
    val = pcm >> 3  # A-law works on 13-bit magnitudes
    positive = val >= 0
    mask = np.where(positive, 0xD5, 0x55)
    mag = np.where(positive, val, -val - 1)
    seg_ends = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
    seg = np.searchsorted(seg_ends, mag, side="left")
    shift = np.where(seg < 2, 1, seg)
    aval = (np.minimum(seg, 7) << 4) | ((mag >> shift) & 0x0F)
    encode = np.where(seg >= 8, 0x7F ^ mask, aval ^ mask) & 0xFF
    encode_by_u16 = np.empty(65536, dtype=np.uint8)
    encode_by_u16[pcm.astype(np.uint16)] = encode.astype(np.uint8)

    code = np.arange(256, dtype=np.int32) ^ 0x55
    t = (code & 0x0F) << 4
    segd = (code & 0x70) >> 4
    t = np.where(segd == 0, t + 8, t + 0x108)
    t = np.where(segd > 1, t << np.maximum(segd - 1, 0), t)
    decode = np.where(code & 0x80, t, -t).astype("<i2")
    return encode_by_u16, decode


_ULAW_ENC, _ULAW_DEC = _build_mulaw_tables()
_ALAW_ENC, _ALAW_DEC = _build_alaw_tables()


def _byte_tables(decode: np.ndarray) -> tuple[bytes, bytes]:
    """The decode table split into low and high bytes, for ``bytes.translate`` (no numpy call per frame)."""
    raw = decode.astype("<i2").tobytes()
    return raw[0::2], raw[1::2]


_ULAW_LO, _ULAW_HI = _byte_tables(_ULAW_DEC)
_ALAW_LO, _ALAW_HI = _byte_tables(_ALAW_DEC)


def _g711_decode(data: bytes, lo: bytes, hi: bytes) -> bytes:
    # a 20 ms frame is 160 bytes: two C-level translates beat a numpy fancy-index call at this size
    out = bytearray(2 * len(data))
    out[0::2] = data.translate(lo)
    out[1::2] = data.translate(hi)
    return bytes(out)


def pcm16_to_ulaw(pcm16: bytes) -> bytes:
    return _ULAW_ENC[pcm16_to_array(pcm16).view(np.uint16)].tobytes()


def ulaw_to_pcm16(ulaw: bytes) -> bytes:
    return _g711_decode(ulaw, _ULAW_LO, _ULAW_HI)


def pcm16_to_alaw(pcm16: bytes) -> bytes:
    return _ALAW_ENC[pcm16_to_array(pcm16).view(np.uint16)].tobytes()


def alaw_to_pcm16(alaw: bytes) -> bytes:
    return _g711_decode(alaw, _ALAW_LO, _ALAW_HI)


# --- resampling -----------------------------------------------------------------------------------


def resample(pcm16: bytes, src_rate: int, dst_rate: int, *, quality: str = "HQ") -> bytes:
    """One-shot resampling of a whole PCM16 buffer (files, cached phrases, STT input)."""
    if src_rate == dst_rate or not pcm16:
        return pcm16
    out = soxr.resample(pcm16_to_array(pcm16), src_rate, dst_rate, quality=quality)
    return np.asarray(out, dtype="<i2").tobytes()


class StreamResampler:
    """Resamples a PCM16 stream chunk by chunk, keeping filter state across chunk boundaries.

    soxr holds back a filter delay (HQ: ~60 ms at 8->16 kHz, LQ: ~25 ms, QQ: ~0). Real-time
    telephony paths pass ``quality="LQ"``; ``flush()`` returns the held-back tail and leaves the
    resampler ready for a fresh stream (call it at the end of an utterance or a sentence).
    """

    def __init__(self, src_rate: int, dst_rate: int, *, quality: str = "HQ"):
        self.src_rate = src_rate
        self.dst_rate = dst_rate
        self.quality = quality
        self._passthrough = src_rate == dst_rate
        self._stream = None if self._passthrough else soxr.ResampleStream(
            src_rate, dst_rate, 1, dtype="int16", quality=quality
        )
        self._odd = b""  # a chunk may split a sample in two

    def process(self, pcm16: bytes) -> bytes:
        data = self._odd + pcm16
        cut = len(data) - len(data) % SAMPLE_WIDTH
        data, self._odd = data[:cut], data[cut:]
        if self._passthrough or not data:
            return data
        out = self._stream.resample_chunk(np.frombuffer(data, dtype="<i2"), last=False)
        return np.asarray(out, dtype="<i2").tobytes()

    def flush(self) -> bytes:
        self._odd = b""
        if self._passthrough:
            return b""
        out = self._stream.resample_chunk(np.zeros(0, dtype=np.int16), last=True)
        self._stream.clear()
        return np.asarray(out, dtype="<i2").tobytes()

    def reset(self) -> None:
        """Drop buffered audio without emitting it (barge-in cleared the output)."""
        self._odd = b""
        if self._stream is not None:
            self._stream.clear()


# --- framing --------------------------------------------------------------------------------------


class SampleAligner:
    """Whole 16-bit samples out of a byte stream: an HTTP chunk may end inside a sample, so its odd byte waits."""

    def __init__(self) -> None:
        self._carry = b""

    def push(self, chunk: bytes) -> bytes:
        data = self._carry + chunk
        cut = len(data) - len(data) % SAMPLE_WIDTH
        self._carry = data[cut:]
        return data[:cut]


class FrameSplitter:
    """Turns byte chunks of any size into exact frames of ``frame_size`` bytes."""

    def __init__(self, frame_size: int = FRAME_BYTES):
        self.frame_size = frame_size
        self._buf = bytearray()

    def push(self, data: bytes) -> list[bytes]:
        if not self._buf and len(data) == self.frame_size:
            return [data]  # a carrier's 20 ms frame arrives whole: nothing to cut or copy
        self._buf += data
        n = len(self._buf) // self.frame_size
        if not n:
            return []
        cut = n * self.frame_size
        chunk = bytes(self._buf[:cut])
        del self._buf[:cut]
        return [chunk[i : i + self.frame_size] for i in range(0, cut, self.frame_size)]

    def flush(self, pad: bool = True) -> list[bytes]:
        """The remainder as one last frame, zero-padded (silence) when ``pad``."""
        if not self._buf:
            return []
        rest = bytes(self._buf)
        self._buf.clear()
        if pad:
            rest += bytes(self.frame_size - len(rest))
        return [rest]

    def reset(self) -> None:
        self._buf.clear()

    @property
    def pending(self) -> int:
        return len(self._buf)


# --- WAV ------------------------------------------------------------------------------------------


def mix(parts: Iterable[tuple[int, bytes]], length: int | None = None) -> bytes:
    """Sum PCM16 pieces, each placed at its start sample, into one clipped track.

    ``length`` (samples) defaults to the end of the last piece; a piece past it is cut. An odd
    trailing byte of a piece is ignored. Both sides of a call, a listen-in chunk and a practice
    session's recording are mixed here.
    """
    placed = [(start, pcm16_to_array(pcm[: len(pcm) // SAMPLE_WIDTH * SAMPLE_WIDTH])) for start, pcm in parts]
    if length is None:
        length = max((start + len(samples) for start, samples in placed), default=0)
    out = np.zeros(length, dtype=np.int32)
    for start, samples in placed:
        samples = samples[: max(0, length - start)]
        out[start : start + len(samples)] += samples
    return np.clip(out, -32768, 32767).astype("<i2").tobytes()


def read_wav(source: str | Path | bytes) -> tuple[bytes, int]:
    """Return (PCM16 mono, sample rate). Stereo is averaged down to mono; only 16-bit is accepted."""
    fh = wave.open(io.BytesIO(source) if isinstance(source, bytes) else str(source), "rb")
    with fh:
        if fh.getsampwidth() != SAMPLE_WIDTH:
            raise ValueError(f"only 16-bit WAV is supported, got {8 * fh.getsampwidth()}-bit")
        rate, channels = fh.getframerate(), fh.getnchannels()
        data = fh.readframes(fh.getnframes())
    if channels > 1:
        samples = pcm16_to_array(data).reshape(-1, channels).astype(np.int32).mean(axis=1)
        data = np.rint(samples).astype("<i2").tobytes()
    return data, rate


def write_wav(target: str | Path | None, pcm16: bytes, sample_rate: int = SAMPLE_RATE) -> bytes:
    """Write mono PCM16 as WAV to ``target`` (or nowhere) and return the file's bytes."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as fh:
        fh.setnchannels(CHANNELS)
        fh.setsampwidth(SAMPLE_WIDTH)
        fh.setframerate(sample_rate)
        fh.writeframes(pcm16)
    data = buf.getvalue()
    if target is not None:
        Path(target).write_bytes(data)
    return data


# --- levels ---------------------------------------------------------------------------------------


def rms(pcm16: bytes) -> float:
    """Root mean square on the int16 scale (0..32768)."""
    if not pcm16:
        return 0.0
    samples = pcm16_to_array(pcm16).astype(np.float64)
    return float(np.sqrt(np.mean(samples * samples)))


def energy(pcm16: bytes) -> float:
    """Sum of squared samples (int16 scale): compare with ``(10 ** (dbfs / 20) * 32768) ** 2 * samples``."""
    samples = pcm16_to_array(pcm16).astype(np.float32)
    # vdot, not dot: a quarter less time per 20 ms frame, and it keeps the GIL (dot hands it to any other
    # thread for the BLAS call, so under a busy database thread a frame could wait for it)
    return float(np.vdot(samples, samples))


def dbfs(pcm16: bytes) -> float:
    """Level relative to full scale; -inf for digital silence."""
    level = rms(pcm16)
    return 20.0 * math.log10(level / 32768.0) if level > 0 else float("-inf")


def is_silent(pcm16: bytes, threshold_dbfs: float = -50.0) -> bool:
    return dbfs(pcm16) < threshold_dbfs
