"""Codecs, resampling, framing, WAV and levels."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from voice import audio
from voice.tests.signals import sine

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    audioop = pytest.importorskip("audioop")  # CPython's reference G.711 (gone in 3.13)

ALL_PCM = np.arange(-32768, 32768, dtype="<i2").tobytes()


def test_constants():
    assert (audio.SAMPLE_RATE, audio.FRAME_SAMPLES, audio.FRAME_BYTES) == (16000, 320, 640)
    assert audio.frame_bytes(8000, sample_width=1) == 160


@pytest.mark.parametrize(
    ("encode", "decode", "ref_encode", "ref_decode"),
    [
        (audio.pcm16_to_ulaw, audio.ulaw_to_pcm16, "lin2ulaw", "ulaw2lin"),
        (audio.pcm16_to_alaw, audio.alaw_to_pcm16, "lin2alaw", "alaw2lin"),
    ],
)
def test_g711_is_bit_exact_with_the_reference(encode, decode, ref_encode, ref_decode):
    assert encode(ALL_PCM) == getattr(audioop, ref_encode)(ALL_PCM, 2)
    codes = bytes(range(256))
    assert decode(codes) == getattr(audioop, ref_decode)(codes, 2)


@pytest.mark.parametrize(("encode", "decode"), [(audio.pcm16_to_ulaw, audio.ulaw_to_pcm16),
                                                (audio.pcm16_to_alaw, audio.alaw_to_pcm16)])
def test_g711_round_trip(encode, decode):
    pcm = sine(200, 440, rate=8000)
    coded = encode(pcm)
    assert len(coded) == len(pcm) // 2
    back = np.frombuffer(decode(coded), "<i2").astype(float)
    orig = np.frombuffer(pcm, "<i2").astype(float)
    snr = 10 * np.log10(np.sum(orig**2) / np.sum((orig - back) ** 2))
    assert snr > 30  # G.711 gives ~38 dB on a loud tone
    assert decode(encode(decode(coded))) == decode(coded)  # codes are fixed points


def _peak_hz(pcm: bytes, rate: int) -> float:
    x = np.frombuffer(pcm, "<i2").astype(float)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


@pytest.mark.parametrize("src", audio.SUPPORTED_RATES)
@pytest.mark.parametrize("dst", audio.SUPPORTED_RATES)
def test_resample_lengths_and_frequency(src, dst):
    pcm = sine(500, 1000, rate=src)
    out = audio.resample(pcm, src, dst)
    assert abs(len(out) // 2 - dst // 2) <= 2  # 500 ms
    assert abs(_peak_hz(out, dst) - 1000) < 5


@pytest.mark.parametrize(("src", "dst", "quality"), [(8000, 16000, "LQ"), (16000, 8000, "LQ"), (24000, 16000, "HQ"),
                                                     (22050, 16000, "HQ")])
def test_stream_resampler_matches_one_shot(src, dst, quality):
    pcm = sine(1000, 700, rate=src)
    rs = audio.StreamResampler(src, dst, quality=quality)
    # odd-sized chunks split samples in two; the resampler must keep them together
    pieces = [pcm[i : i + 333] for i in range(0, len(pcm), 333)]
    out = b"".join(rs.process(p) for p in pieces) + rs.flush()
    assert abs(len(out) // 2 - dst) <= 2
    assert abs(_peak_hz(out, dst) - 700) < 5
    # after flush the same object serves a fresh stream
    again = rs.process(pcm) + rs.flush()
    assert abs(len(again) // 2 - dst) <= 2


def test_stream_resampler_passthrough():
    rs = audio.StreamResampler(16000, 16000)
    assert rs.process(b"\x01\x02\x03") == b"\x01\x02"
    assert rs.process(b"\x04") == b"\x03\x04"


def test_frame_splitter():
    fs = audio.FrameSplitter(640)
    assert fs.push(b"\x01" * 500) == []
    frames = fs.push(b"\x02" * 1000)
    assert [len(f) for f in frames] == [640, 640] and frames[0][:500] == b"\x01" * 500
    assert fs.pending == 220
    last = fs.flush()
    assert len(last) == 1 and len(last[0]) == 640 and last[0][220:] == bytes(420)
    assert fs.flush() == []


def test_wav_round_trip(tmp_path):
    pcm = sine(300, 440, rate=24000)
    path = tmp_path / "a.wav"
    data = audio.write_wav(path, pcm, 24000)
    assert path.read_bytes() == data
    assert audio.read_wav(path) == (pcm, 24000)
    assert audio.read_wav(data) == (pcm, 24000)


def test_levels():
    assert audio.dbfs(audio.silence(20)) == float("-inf")
    assert audio.is_silent(audio.silence(20))
    loud = sine(100, 440, level=0.5)
    assert abs(audio.dbfs(loud) - 20 * np.log10(0.5 / np.sqrt(2))) < 0.2
    assert not audio.is_silent(loud)
    assert audio.duration_ms(loud) == pytest.approx(100)


def test_sample_aligner_holds_an_odd_byte_for_the_next_chunk():
    aligner = audio.SampleAligner()
    stream = bytes(range(11))
    out = [aligner.push(stream[:3]), aligner.push(stream[3:4]), aligner.push(stream[4:11])]
    assert out == [stream[:2], stream[2:4], stream[4:10]]
    assert aligner.push(b"") == b"" and aligner.push(b"\x0b") == stream[10:11] + b"\x0b"


def test_mix_places_sums_and_clips_pieces():
    def pcm(*values):
        return np.array(values, dtype="<i2").tobytes()

    out = audio.mix([(0, pcm(1, 2, 3, -30000)), (2, pcm(10, 20)), (1, pcm(32000, 32760, -5000) + b"\x01")])
    # placed, summed and clipped both ways; the odd trailing byte is ignored
    assert np.frombuffer(out, dtype="<i2").tolist() == [1, 32002, 32767, -32768]
    assert audio.mix([(0, pcm(5, 6, 7))], 2) == pcm(5, 6)  # cut at the length
    assert audio.mix([(3, pcm(5))], 2) == pcm(0, 0)  # a piece past the end adds nothing
    assert audio.mix([]) == b""


@pytest.mark.parametrize("samples", [160, 320])
def test_energy_is_the_frames_sum_of_squares(samples):
    rng = np.random.default_rng(5)
    frame = rng.integers(-32768, 32768, samples, dtype=np.int16)
    exact = int(np.sum(frame.astype(np.int64) ** 2))
    assert audio.energy(frame.tobytes()) == pytest.approx(exact, rel=1e-5)  # float32 accumulation
    assert audio.energy(bytes(2 * samples)) == 0.0
