"""The process's cache of whole sentences' wire frames: a cached phrase is resampled and encoded once."""

from __future__ import annotations

import numpy as np

from voice import audio
from voice.session import WireEncoder, WireFrameCache, _WireEntry


def _speech(seconds: float, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    t = np.arange(int(audio.SAMPLE_RATE * seconds)) / audio.SAMPLE_RATE
    wave = 6000 * np.sin(2 * np.pi * 220 * t) + rng.normal(0, 800, t.size)
    return np.clip(wave, -32768, 32767).astype("<i2").tobytes()


def _encoder(cache: WireFrameCache | None, encoding: str = "mulaw") -> WireEncoder:
    encode = {"mulaw": audio.pcm16_to_ulaw, "alaw": audio.pcm16_to_alaw}[encoding]
    return WireEncoder(8000, encode, quality="LQ", cache=cache, wire_format=(8000, encoding, "LQ"))


def _sentence(encoder: WireEncoder, *pushes: bytes) -> list[tuple[bytes, bytes]]:
    frames = []
    for chunk in pushes:
        frames += encoder.push(chunk)
    return frames + encoder.flush()


def test_a_sentence_said_again_comes_from_the_cache_and_is_the_same_on_the_wire():
    cache, phrase = WireFrameCache(), _speech(1.2, 1)
    reference = _sentence(_encoder(None), phrase)
    first = _sentence(_encoder(cache), phrase)
    second = _sentence(_encoder(cache), bytes(phrase))  # an equal copy, as the audio cache hands it out
    assert first == reference and second == reference
    assert (cache.hits, cache.misses) == (1, 1)
    assert len(reference) == 60 and all(len(payload) == 160 and len(pcm) == 320 for payload, pcm in reference)


def test_a_stream_that_goes_on_after_a_hit_is_encoded_as_if_nothing_was_cached():
    cache, phrase, more = WireFrameCache(), _speech(1.0, 2), _speech(0.5, 3)
    _sentence(_encoder(cache), phrase)
    streamed = _sentence(_encoder(cache), phrase, more)  # the hit, then more audio of the same sentence
    assert cache.hits == 1
    assert streamed == _sentence(_encoder(None), phrase, more)


def test_a_mutable_buffer_is_encoded_without_the_cache():
    cache, phrase = WireFrameCache(), _speech(1.0, 7)
    assert _sentence(_encoder(cache), bytearray(phrase)) == _sentence(_encoder(None), phrase)
    assert (cache.hits, cache.misses, len(cache._entries)) == (0, 0, 0)


def test_pieces_of_a_stream_are_not_cached_and_formats_do_not_share():
    cache, phrase = WireFrameCache(), _speech(1.0, 4)
    half = len(phrase) // 2
    _sentence(_encoder(cache), phrase[:half], phrase[half:])
    assert len(cache._entries) == 0  # two pushes: not one whole sentence
    _sentence(_encoder(cache, "mulaw"), phrase)
    alaw = _sentence(_encoder(cache, "alaw"), phrase)
    assert alaw == _sentence(_encoder(None, "alaw"), phrase) and cache.hits == 0


def test_the_audio_itself_decides_a_hit_not_its_hash():
    cache, phrase, other = WireFrameCache(), _speech(1.0, 5), _speech(1.0, 6)
    encoder = _encoder(cache)
    key = (encoder._format, len(other), hash(other))
    cache.put(key, _WireEntry(phrase, ((b"x" * 160, b"y" * 320),), ()))  # as if ``phrase`` had other's hash
    assert _sentence(encoder, other) == _sentence(_encoder(None), other)
    assert cache.hits == 0


def test_the_cache_keeps_to_its_size_and_drops_the_least_recently_used():
    phrases = [_speech(1.0, seed) for seed in range(10, 14)]
    entry_size = len(phrases[0]) + 50 * (160 + 320)
    cache = WireFrameCache(max_bytes=3 * entry_size)
    for phrase in phrases[:3]:
        _sentence(_encoder(cache), phrase)
    _sentence(_encoder(cache), phrases[0])  # used again: now the most recent
    _sentence(_encoder(cache), phrases[3])  # pushes out phrases[1]
    assert cache._bytes <= cache.max_bytes and len(cache._entries) == 3
    hits = cache.hits
    _sentence(_encoder(cache), phrases[0])
    _sentence(_encoder(cache), phrases[1])
    assert cache.hits == hits + 1  # phrases[0] stayed, phrases[1] was dropped
