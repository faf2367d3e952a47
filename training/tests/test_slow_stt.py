"""The trainer with a slow speech recogniser (3 s per phrase): every phrase is shown and kept, none fused.

A consumer-level test (the page's socket, the real AI customer, the real turn writer); the browser
walk in ``test_browser.py`` drives the same events through the page.
"""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async

from training import consumers
from training.live import build_pipeline
from training.tests.test_consumers import _communicator, _is_event, _pump, _reload, _say, _session
from voice.pipeline import DEFAULT_FALLBACKS, DEFAULT_HOLDING, PipelineConfig
from voice.stt.fake import FakeSTT
from voice.tts.fake import FakeTTS

pytestmark = [pytest.mark.django_db(transaction=True)]

PHRASES = ["Здравствуйте, это Анна из КаргоЛайн.", "Мы возим грузы из Китая.", "Сколько контейнеров в месяц?"]


def _use(monkeypatch, stt: FakeSTT) -> None:
    def build(*, setup):
        config = PipelineConfig(language=setup.language, bot_speaks_first=True, speculative_stt=False,
                                stt_timeout_s=1.0)
        return build_pipeline(setup=setup, stt=stt, tts=FakeTTS(ms_per_char=8), config=config)

    monkeypatch.setattr(consumers, "build_pipeline", build)


async def test_slow_stt_shows_and_keeps_every_phrase(trainee, scenario_ru, monkeypatch):
    stt = FakeSTT(PHRASES, delay_ms=3000)
    _use(monkeypatch, stt)
    session = await _session(trainee, scenario_ru)
    comm = await _communicator(trainee, session.pk)
    assert (await comm.connect())[0]
    seen = await _pump(comm, _is_event("bot_turn", turn_index=0))
    for index in range(1, len(PHRASES) + 1):
        await _say(comm, 1000)
        seen += await _pump(comm, _is_event("bot_turn", turn_index=index), timeout=20)
    await comm.send_to(text_data=json.dumps({"type": "end"}))
    await _pump(comm, lambda m: m["type"] == "closed")
    await comm.disconnect()

    finals = [m["event"]["text"] for m in seen if _is_event("user_transcript", final=True)(m)]
    assert finals == PHRASES  # each phrase on its own line, in order
    # each phrase went to the recogniser on its own: never a growing chunk of several phrases
    assert all(ms < 2500 for ms, _ in stt.calls) and len(stt.calls) == len(PHRASES)
    bot_lines = [m["event"]["text"] for m in seen if _is_event("bot_text")(m)]
    assert DEFAULT_HOLDING["ru"] in bot_lines  # the customer's «Секунду…» is shown like any line
    assert DEFAULT_FALLBACKS["ru"] not in bot_lines
    _, turns = await _reload(session)
    user_turns = [text for speaker, text, *_ in turns if speaker == "user"]
    assert user_turns == PHRASES


async def test_unrecognised_phrase_is_shown_as_such(trainee, scenario_ru, monkeypatch):
    _use(monkeypatch, FakeSTT(fail=True))
    session = await _session(trainee, scenario_ru)
    comm = await _communicator(trainee, session.pk)
    assert (await comm.connect())[0]
    await _pump(comm, _is_event("bot_turn", turn_index=0))
    await _say(comm, 1000)
    seen = await _pump(comm, _is_event("bot_turn", turn_index=1), timeout=15)
    await comm.send_to(text_data=json.dumps({"type": "end"}))
    await _pump(comm, lambda m: m["type"] == "closed")
    await comm.disconnect()
    assert any(_is_event("user_transcript", final=True, recognised=False)(m) for m in seen)
    bot_lines = [m["event"]["text"] for m in seen if _is_event("bot_text", turn_index=1)(m)]
    assert bot_lines == [DEFAULT_FALLBACKS["ru"]]  # the customer's «повторите» is in the live transcript
    missed = await database_sync_to_async(lambda: list(session.turns.filter(stt_missed=True).values_list(
        "speaker", flat=True)))()
    assert missed == ["bot"]
