"""The trainer's recogniser is primed with the session's end phrase: the one command a trainee must be heard saying."""

from __future__ import annotations

from training.live import SessionSetup, build_pipeline
from voice.bench.fakes import ScriptedResponder
from voice.stt.fake import FakeSTT
from voice.tts.fake import FakeTTS


def test_the_trainer_primes_recognition_with_its_end_phrase():
    setup = SessionSetup(session_id=1, language="en", persona="john_en", persona_description="", difficulty="easy",
                         voice="", product_description="", end_phrase="Finish the session")
    pipeline = build_pipeline(setup=setup, stt=FakeSTT(), tts=FakeTTS(), responder=ScriptedResponder())
    assert pipeline.config.stt_prompt == "Finish the session."
