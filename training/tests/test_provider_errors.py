"""A voice provider that fails during practice is said on the trainer's socket, never silence or a crash.

Providers are the real OpenAI speech and chat clients, aimed at a local server speaking OpenAI's
protocol that answers 503 (``dialogs/tests/openai_server.py``), or configured without a key. The
page turns these messages into its translated notices (``training/tests/test_browser.py``).
"""

from __future__ import annotations

import json
import threading

import pytest
from channels.db import database_sync_to_async

from dialogs.tests.openai_server import OpenAIServer, error
from training import consumers
from training.models import SessionEvent, TrainingSession
from training.tests.test_consumers import (  # noqa: F401  (in_memory_layer: an autouse fixture)
    _communicator,
    _is_event,
    _pump,
    _say,
    _session,
    in_memory_layer,
)

pytestmark = [pytest.mark.django_db(transaction=True)]


@database_sync_to_async
def _events(session_id: int) -> list[tuple[str, dict]]:
    return list(SessionEvent.objects.filter(session_id=session_id).order_by("pk").values_list("kind", "data"))


@database_sync_to_async
def _unvoiced(session_id: int) -> list[str]:
    return list(TrainingSession.objects.get(pk=session_id).turns.filter(voiced=False).order_by("index")
                .values_list("text", flat=True))


@database_sync_to_async
def _status_and_turns(session_id: int):
    session = TrainingSession.objects.get(pk=session_id)
    return session.status, list(session.turns.order_by("index").values_list("speaker", "text"))


async def test_providers_that_cannot_start_are_said_with_4503_and_the_session_waits(trainee, scenario_ru, settings):
    # the TTS is OpenAI's, with no key: building it fails (ProviderConfigError), as in a half-configured deployment
    settings.VOICE = {**settings.VOICE, "STT": {"PROVIDER": "fake", "OPTIONS": {"default": "да"}},
                      "TTS": {"PROVIDER": "openai", "OPTIONS": {"api_key": ""}}}
    session = await _session(trainee, scenario_ru)
    comm = await _communicator(trainee, session.pk)
    connected, _ = await comm.connect(timeout=10)
    assert connected  # accepted, so the page gets a reason, not a failed handshake
    said = json.loads(await comm.receive_from(timeout=10))
    assert said == {"type": "error", "code": consumers.CLOSE_PROVIDERS_UNAVAILABLE,
                    "reason": "voice services unavailable", "provider": "openai-tts"}
    closed = await comm.receive_output(timeout=10)
    assert closed["type"] == "websocket.close" and closed["code"] == consumers.CLOSE_PROVIDERS_UNAVAILABLE
    await comm.disconnect()
    status, turns = await _status_and_turns(session.pk)
    assert status == TrainingSession.Status.CREATED and turns == []  # not started: it can be joined later
    kinds = await _events(session.pk)
    assert kinds[-1][0] == "disconnected" and "API key" in kinds[-1][1]["reason"]  # the manager sees why

    # once the deployment has its TTS, the same session starts
    settings.VOICE = {**settings.VOICE, "TTS": {"PROVIDER": "fake", "OPTIONS": {"ms_per_char": 8}}}
    comm = await _communicator(trainee, session.pk)
    assert (await comm.connect())[0]
    assert json.loads(await comm.receive_from(timeout=10))["type"] == "ready"
    await comm.disconnect()


async def test_the_shared_providers_are_built_off_the_event_loop(trainee, scenario_ru, settings, monkeypatch):
    """The first session of a process builds them; the other sessions' audio must not wait on the loop for that."""
    settings.VOICE = {**settings.VOICE, "STT": {"PROVIDER": "fake", "OPTIONS": {"default": "да"}},
                      "TTS": {"PROVIDER": "fake", "OPTIONS": {"ms_per_char": 8}}}
    built_on: list[tuple[str, int]] = []
    real = consumers.shared_provider

    def provider(kind):
        built_on.append((kind, threading.get_ident()))
        return real(kind)

    monkeypatch.setattr(consumers, "shared_provider", provider)
    session = await _session(trainee, scenario_ru)
    comm = await _communicator(trainee, session.pk)
    assert (await comm.connect(timeout=10))[0]
    assert json.loads(await comm.receive_from(timeout=10))["type"] == "ready"
    await comm.disconnect()
    assert [kind for kind, _ in built_on] == ["stt", "tts"]
    assert all(thread != threading.get_ident() for _, thread in built_on)  # not on the loop's thread


async def test_failing_tts_and_llm_mid_session_are_said_and_the_session_goes_on(trainee, scenario_ru,
                                                                                     settings):
    with OpenAIServer() as vendor:
        vendor.push(error(503, "The engine is currently overloaded"))  # every request, speech and chat alike
        settings.OPENAI_API_KEY = "sk-test"
        settings.OPENAI_BASE_URL = vendor.base_url
        settings.DIALOG = {**settings.DIALOG, "RESPONDER": "openai"}
        settings.VOICE = {**settings.VOICE, "STT": {"PROVIDER": "fake", "OPTIONS": {"default": "Добрый день"}},
                          "TTS": {"PROVIDER": "openai", "OPTIONS": {"api_key": "sk-test",
                                                                   "base_url": vendor.base_url}}}
        session = await _session(trainee, scenario_ru)
        comm = await _communicator(trainee, session.pk)
        assert (await comm.connect(timeout=10))[0]  # the first OpenAI client imports its SDK
        # the customer's pick-up line cannot be voiced: the page is told, with the stage and the vendor
        seen = await _pump(comm, _is_event("error", stage="tts"), timeout=20)
        tts_error = seen[-1]["event"]
        assert tts_error["provider"] == "openai-tts" and tts_error["retryable"] is True
        seen = await _pump(comm, _is_event("bot_turn", turn_index=0), timeout=20)
        pick_up = seen[-1]["event"]
        assert pick_up["full_text"]  # the line is still shown, as one nobody heard
        assert pick_up["voiced"] is False and pick_up["text"] == "" and not pick_up["interrupted"]
        # the trainee speaks; the AI customer's LLM fails too: the scripted persona answers in its place,
        # and its words are shown though they cannot be voiced (said again on the page)
        await _say(comm, 1000)
        seen = await _pump(comm, _is_event("bot_turn", turn_index=1), timeout=30)
        assert any(m.get("type") == "event" and m["event"]["type"] == "user_transcript" and m["event"]["final"]
                   for m in seen)
        answer = seen[-1]["event"]
        assert answer["full_text"] and answer["voiced"] is False
        assert any(m.get("type") == "event" and m["event"]["type"] == "error" and m["event"]["stage"] == "tts"
                   for m in seen)
        assert all(m["type"] != "closed" for m in seen)  # the socket stays open: the trainee may try again
        await comm.send_to(text_data=json.dumps({"type": "end"}))
        seen = await _pump(comm, lambda m: m["type"] == "closed", timeout=20)
        await comm.disconnect()
    assert any(m["type"] == "ended" and m["reason"] == "button" for m in seen)
    status, turns = await _status_and_turns(session.pk)
    assert status != TrainingSession.Status.ACTIVE
    assert ("user", "Добрый день") in turns  # what the trainee said is kept
    # and what the customer said though its voice failed: stored for the review, marked as never heard
    assert ("bot", pick_up["full_text"]) in turns and ("bot", answer["full_text"]) in turns
    assert await _unvoiced(session.pk) == [pick_up["full_text"], answer["full_text"]]
    assert any("input" in r for r in vendor.requests)  # the speech endpoint was really called
    assert any("messages" in r for r in vendor.requests)  # and the chat one
