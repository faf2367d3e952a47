"""The media path's answering-machine watcher: real detector, real decision in the database, a stand-in pipeline."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from asgiref.sync import sync_to_async

from calls.models import Call, CallEvent, VoicemailMode
from calls.services.lifecycle import call_transition
from calls.voicemail import VoicemailWatcher
from voice.audio import silence
from voice.tests.test_amd import GREETING
from voice.tests.test_amd import spoken as spoken_sync

pytestmark = pytest.mark.django_db(transaction=True)
RATE = 8000


class Pipeline:
    """What the watcher uses of a ``VoicePipeline``: hold it, then leave a message (or not) and end."""

    def __init__(self) -> None:
        self.held = self.closed = self.ended = False
        self.messages: list[str] = []
        self.config = type("Config", (), {"pace_speed": 1.0})()

    def hold(self) -> None:
        self.held = True

    async def leave_message(self, text: str) -> None:
        self.held = self.ended = True
        self.messages.append(text)


class Recorder:
    def __init__(self) -> None:
        self.inbound_bytes = 0

    def begin(self, rate: int) -> None:
        self.rate = rate

    def inbound(self, pcm16: bytes) -> None:
        self.inbound_bytes += len(pcm16)

    def outbound(self, pcm16: bytes) -> None: ...

    def cleared(self) -> None: ...


async def spoken(text: str) -> bytes:
    return await asyncio.to_thread(spoken_sync, text)  # eSpeak through its own event loop


def beep(seconds: float = 0.4) -> bytes:
    t = np.arange(int(seconds * RATE)) / RATE
    return (np.sin(2 * np.pi * 1000 * t) * 12000).astype("<i2").tobytes()


async def play(watcher, audio: bytes) -> None:
    """20 ms frames as the session hands them over, then let the decisions run."""
    watcher.begin(RATE)
    for i in range(0, len(audio), 320):
        watcher.inbound(audio[i:i + 320])
        await asyncio.sleep(0)
    for _ in range(200):
        if not watcher.tasks:
            break
        await asyncio.sleep(0.02)


@pytest.fixture
def live_call(make_campaign, make_contact):
    def make(mode: str) -> Call:
        call = Call.objects.create(campaign=make_campaign(voicemail_mode=mode), contact=make_contact(name="Иван"))
        call_transition(call_id=call.pk, to=Call.Status.DIALING)
        call_transition(call_id=call.pk, to=Call.Status.IN_PROGRESS)
        return call

    return make


@pytest.fixture(autouse=True)
def no_publish(monkeypatch):
    monkeypatch.setattr("calls.services.lifecycle.call_publish", lambda **kw: None)
    monkeypatch.setattr("calls.voicemail.call_publish", lambda **kw: None)


def watcher_for(call: Call):
    pipeline, recorder = Pipeline(), Recorder()
    return VoicemailWatcher(call_id=call.pk, inner=recorder, pipeline=lambda: pipeline), pipeline, recorder


async def test_the_message_is_left_after_the_beep_with_the_scripts_words(live_call):
    call = await sync_to_async(live_call)(VoicemailMode.LEAVE_MESSAGE)
    watcher, pipeline, recorder = watcher_for(call)
    audio = (await spoken(GREETING)) + silence(300, RATE) + beep() + silence(500, RATE)
    await play(watcher, audio)
    assert recorder.inbound_bytes == len(audio)  # the recording still gets every frame
    assert pipeline.messages == [
        "Здравствуйте, Иван! Это Мария, компания ТРАНСТИРЕКС, доставка грузов из Китая. Хотела рассказать про "
        "сборные отправки из Гуанчжоу. Перезвоню вам позже. Всего доброго!"]
    events = await sync_to_async(list)(CallEvent.objects.filter(call=call, kind__in=["amd", "voicemail"])
                                       .values_list("kind", "data"))
    assert [(k, d["answered_by"]) for k, d in events] == [
        ("amd", "machine_start"), ("amd", "machine_end_beep"), ("voicemail", "machine_end_beep")]


async def test_hang_up_mode_hangs_up_during_the_greeting(live_call):
    call = await sync_to_async(live_call)(VoicemailMode.HANG_UP)
    watcher, pipeline, _ = watcher_for(call)
    await play(watcher, (await spoken(GREETING))[: RATE * 2 * 4])  # four seconds of it
    assert pipeline.messages == [""]


async def test_a_person_is_left_alone(live_call):
    call = await sync_to_async(live_call)(VoicemailMode.LEAVE_MESSAGE)
    watcher, pipeline, _ = watcher_for(call)
    await play(watcher, (await spoken("Алло?")) + silence(2000, RATE))
    assert not pipeline.held and pipeline.messages == []
    kinds = await sync_to_async(list)(CallEvent.objects.filter(call=call, kind__in=["amd", "voicemail"])
                                      .values_list("kind", flat=True))
    assert kinds == ["amd"]


async def test_when_another_detector_decided_and_nobody_ends_the_call_the_held_bot_hangs_up(live_call, monkeypatch):
    monkeypatch.setattr("calls.voicemail.HELD_GRACE_S", 0.05)
    call = await sync_to_async(live_call)(VoicemailMode.LEAVE_MESSAGE)
    # Twilio's AMD was first and its TwiML update failed
    await sync_to_async(CallEvent.objects.create)(call=call, kind="voicemail", data={"source": "twilio"})
    watcher, pipeline, _ = watcher_for(call)
    await play(watcher, (await spoken(GREETING)) + beep() + silence(500, RATE))
    assert pipeline.held and pipeline.messages == [""]
