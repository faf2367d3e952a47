"""Event shapes and sinks."""

from __future__ import annotations

import asyncio
import json

import pytest

from voice.events import (
    BackgroundSink,
    ErrorEvent,
    FanOutSink,
    ListSink,
    MindState,
    QueueSink,
    StateChanged,
    TurnMetrics,
    UserTranscript,
)

pytestmark = pytest.mark.asyncio


async def test_to_dict_is_json_ready_with_type():
    event = StateChanged(state=MindState.SPEAKING, previous=MindState.GENERATING_SPEECH)
    data = json.loads(json.dumps(event.to_dict()))
    assert data["type"] == "state" and data["state"] == "SPEAKING" and data["previous"] == "GENERATING_SPEECH"
    assert isinstance(data["at"], float)
    metrics = TurnMetrics(turn_index=2, eou_ms=310.0, voice_to_voice_ms=900.5).to_dict()
    assert {k: metrics[k] for k in ("type", "turn_index", "eou_ms", "stt_ms", "voice_to_voice_ms")} == {
        "type": "metrics", "turn_index": 2, "eou_ms": 310.0, "stt_ms": None, "voice_to_voice_ms": 900.5}
    assert ErrorEvent(provider="openai", message="429").to_dict()["type"] == "error"


async def test_queue_sink_drops_oldest_when_full():
    sink = QueueSink(maxsize=2)
    for i in range(3):
        await sink.emit(UserTranscript(text=str(i), final=False))
    assert sink.dropped == 1
    assert [e.text for e in sink.drain()] == ["1", "2"]


async def test_fan_out_survives_a_failing_sink():
    class Broken:
        async def emit(self, event):
            raise RuntimeError("db down")

    good = ListSink()
    fan = FanOutSink([Broken(), good])
    await fan.emit(UserTranscript(text="да", final=True))
    assert good.types() == ["user_transcript"]


async def test_background_sink_forwards_in_order_without_blocking_and_drains_on_close():
    class SlowSink(ListSink):
        async def emit(self, event):
            await asyncio.sleep(0.01)
            await super().emit(event)

    class FailingOnce(SlowSink):
        failed = False

        async def emit(self, event):
            if not self.failed:
                self.failed = True
                raise RuntimeError("database hiccup")
            await super().emit(event)

    inner = FailingOnce()
    sink = BackgroundSink(inner)
    states = [MindState.LISTENING, MindState.ANALYZING_SPEECH, MindState.ROUTING_TO_LLM, MindState.SPEAKING]
    for state in states:
        await sink.emit(StateChanged(state=state))
    # emit never waits for the slow sink: every event was handed over before the sink wrote the first one
    assert inner.events == [] and sink.queue.qsize() >= len(states) - 1
    await sink.aclose()
    # the first write failed and was logged; the rest arrived, in order
    assert [e.state for e in inner.events] == states[1:]


async def test_background_sink_closes_its_inner_sink_once_after_the_last_event_and_survives_a_cancelled_caller():
    class Closing(ListSink):
        closed_with: list[int] = []

        async def emit(self, event):
            await asyncio.sleep(0.02)
            await super().emit(event)

        async def aclose(self):
            self.closed_with.append(len(self.events))

    inner = Closing()
    sink = BackgroundSink(inner)
    for state in (MindState.LISTENING, MindState.SPEAKING, MindState.IDLE):
        await sink.emit(StateChanged(state=state))
    closing = asyncio.create_task(sink.aclose())
    await asyncio.sleep(0.01)
    closing.cancel()  # e.g. the socket handler was cancelled: the queued events are still written
    await asyncio.sleep(0.1)
    assert len(inner.events) == 3
    await sink.aclose()
    await sink.aclose()
    assert inner.closed_with == [3]
