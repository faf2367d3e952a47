"""VAD and endpointing on synthetic speech-like audio and silence."""

from __future__ import annotations

import pytest

from voice.audio import silence
from voice.tests.signals import frames, quiet, voiced
from voice.vad import EndOfUtterance, Endpointer, SpeculativeEnd, SpeechResumed, SpeechStart, VADConfig


def run(endpointer: Endpointer, pcm: bytes) -> list[tuple[float, object]]:
    out = []
    for frame in frames(pcm):
        for event in endpointer.process(frame):
            out.append((endpointer.now_ms, event))
    return out


def test_webrtcvad_tells_voiced_from_silence():
    ep = Endpointer()
    assert all(ep.is_speech(f) for f in frames(voiced(500)))
    assert not any(ep.is_speech(f) for f in frames(silence(500)))


def test_utterance_start_and_end():
    ep = Endpointer(VADConfig(end_silence_ms=500, prefix_padding_ms=200, min_speech_ms=120))
    events = run(ep, quiet(400) + voiced(1000) + silence(800))
    kinds = [type(e).__name__ for _, e in events]
    assert kinds == ["SpeechStart", "SpeculativeEnd", "EndOfUtterance"]
    start_at, start = events[0]
    assert start_at == pytest.approx(520, abs=20)  # min_speech_ms after the voice begins
    assert start.at_ms == pytest.approx(400, abs=20)
    end_at, end = events[-1]
    assert end_at - end.last_voiced_ms == 500  # exactly end_silence_ms after the last voiced frame
    assert end.last_voiced_ms == pytest.approx(1400, abs=20)
    # the utterance keeps the prefix padding before the start and the confirming silence after
    assert len(end.audio) / 32 == end_at - (start.at_ms - 200)
    assert not ep.in_speech


def test_silence_and_short_blips_are_not_speech():
    ep = Endpointer(VADConfig(min_speech_ms=120))
    assert run(ep, silence(2000)) == []
    assert run(ep, quiet(1000)) == []
    assert run(ep, silence(200) + voiced(60) + silence(500)) == []  # a cough
    assert [type(e) for _, e in run(ep, voiced(200))] == [SpeechStart]


def test_speculative_end_then_resume():
    ep = Endpointer(VADConfig(end_silence_ms=600, speculative_silence_ms=200))
    events = run(ep, voiced(600) + silence(300) + voiced(400) + silence(700))
    kinds = [type(e) for _, e in events]
    assert kinds == [SpeechStart, SpeculativeEnd, SpeechResumed, SpeculativeEnd, EndOfUtterance]
    eou = events[-1][1]
    assert eou.speech_ms > 1000  # both parts form one utterance


def test_adaptive_endpointing_with_finished_partial():
    cfg = VADConfig(end_silence_ms=800, finished_silence_ms=240, speculative_silence_ms=100)
    ep = Endpointer(cfg)
    run(ep, voiced(600))
    ep.hint("Да, мне это интересно.")
    assert ep.end_silence_ms == 240
    events = run(ep, silence(900))
    end_at, eou = next((t, e) for t, e in events if isinstance(e, EndOfUtterance))
    assert end_at - eou.last_voiced_ms == 240
    ep.reset()
    run(ep, voiced(600))
    ep.hint("я думаю что")
    assert ep.end_silence_ms == 800


def test_max_utterance_forces_an_end():
    ep = Endpointer(VADConfig(max_utterance_ms=1000))
    at, eou = next((t, e) for t, e in run(ep, voiced(1500)) if isinstance(e, EndOfUtterance))
    assert eou.forced and at == pytest.approx(1000, abs=40)


def test_rejects_wrong_frame_size():
    with pytest.raises(ValueError):
        Endpointer().process(b"\x00" * 100)
