"""Single-flight sentences: conversations saying the same sentence at once share one synthesis and encoding."""

from __future__ import annotations

import asyncio

import pytest

from voice.bench.fakes import ScriptedResponder
from voice.cache import MemoryAudioCache
from voice.events import BotTurnFinished, ErrorEvent
from voice.flights import FlightAbandoned, SentenceFlights, shared_flights
from voice.tests.test_pipeline import build, wait_for
from voice.tts.fake import FakeTTS

pytestmark = pytest.mark.asyncio

GREETING = "Здравствуйте! Это служба доставки, удобно говорить?"


class SlowTTS(FakeTTS):
    """A vendor-like stream: each sentence arrives in several chunks, a little apart."""

    def __init__(self, *, break_stream: bool = False, **kw):
        super().__init__(ms_per_char=20, **kw)
        self.break_stream = break_stream

    async def _synthesize(self, text, **kwargs):
        n = 0
        async for chunk in super()._synthesize(text, **kwargs):
            for i in range(0, len(chunk), 3200):
                await asyncio.sleep(0.005)
                yield chunk[i:i + 3200]
                n += 1
                if self.break_stream and n == 2:
                    raise RuntimeError("vendor dropped the stream")


async def greet_together(n: int, tts: FakeTTS, cache: MemoryAudioCache) -> list:
    """``n`` calls on one audio cache start at once and greet; each ``(pipeline, output, sink)`` once done."""
    calls = [build(tts=tts, cache=cache, bot_speaks_first=True, responder=ScriptedResponder(default=GREETING))
             for _ in range(n)]
    await asyncio.gather(*(pipeline.start() for pipeline, _, _ in calls))
    for _, _, sink in calls:
        await wait_for(lambda sink=sink: sink.of(BotTurnFinished), timeout=10)
    for pipeline, _, _ in calls:
        await pipeline.close()
    return calls


async def test_calls_greeting_at_once_share_one_synthesis_and_get_the_same_audio():
    cache, tts = MemoryAudioCache(), SlowTTS()
    calls = await greet_together(5, tts, cache)
    assert [text for text, _, _ in tts.requests] == ["Здравствуйте!", "Это служба доставки, удобно говорить?"]
    first = calls[0][1].frames
    assert first and all(out.frames == first for _, out, _ in calls)  # the very same frames, in order
    assert all(sink.of(BotTurnFinished)[0].text == GREETING for _, _, sink in calls)
    flights = shared_flights(cache)
    assert (flights.started, flights.joined, len(flights)) == (2, 8, 0)  # two sentences; the rest followed
    assert await cache.get(tts.cache_key("Здравствуйте!", voice="", language="ru", sample_rate=16000))


async def test_a_caller_who_interrupts_does_not_cut_the_others_off():
    flights = SentenceFlights()
    produced: list[int] = []

    async def produce(flight):
        for n in range(6):
            await asyncio.sleep(0.01)
            flight.add([n])
            produced.append(n)

    async def listen(stop_after: int | None) -> list[int]:
        got: list[int] = []
        async for _, frames in flights.follow("greeting", produce, clock=asyncio.get_running_loop().time):
            got += frames
            if stop_after is not None and len(got) >= stop_after:
                raise asyncio.CancelledError  # the caller spoke: this conversation stops listening
        return got

    interrupted = asyncio.ensure_future(listen(2))
    staying = asyncio.ensure_future(listen(None))
    with pytest.raises(asyncio.CancelledError):
        await interrupted
    assert await staying == [0, 1, 2, 3, 4, 5] and produced == [0, 1, 2, 3, 4, 5]


async def test_a_sentence_nobody_follows_any_more_stops_being_synthesised():
    flights = SentenceFlights()
    cancelled = asyncio.Event()

    async def produce(flight):
        try:
            flight.add(["first"])
            await asyncio.sleep(30)  # a long sentence of a slow vendor
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def listen():
        async for _, frames in flights.follow("long", produce, clock=asyncio.get_running_loop().time):
            if frames:
                raise asyncio.CancelledError  # barge-in: the only listener leaves

    with pytest.raises(asyncio.CancelledError):
        await asyncio.ensure_future(listen())
    await asyncio.wait_for(cancelled.wait(), 2)
    assert len(flights) == 0  # the next conversation that needs it starts a new one

    second: list = []

    async def produce_again(flight):
        flight.add(["again"])

    async for _, frames in flights.follow("long", produce_again, clock=asyncio.get_running_loop().time):
        second += frames
    assert second == ["again"]


async def test_a_failed_synthesis_is_each_calls_own_error_and_fallback():
    cache, tts = MemoryAudioCache(), SlowTTS(break_stream=True)
    calls = await greet_together(3, tts, cache)
    for _, out, sink in calls:
        assert [e.stage for e in sink.of(ErrorEvent)][:1] == ["tts"]
        assert out.frames  # the part synthesised before the failure was played, then the fallback
    assert len([r for r in tts.requests if r[0] == "Здравствуйте!"]) == 1  # one vendor request for all three


async def test_the_flight_error_reaches_every_follower():
    flights = SentenceFlights()

    async def produce(flight):
        flight.add([1])
        await asyncio.sleep(0.01)
        raise RuntimeError("vendor down")

    async def listen():
        got = []
        async for _, frames in flights.follow("x", produce, clock=asyncio.get_running_loop().time):
            got += frames
        return got

    results = await asyncio.gather(listen(), listen(), return_exceptions=True)
    assert [type(r) for r in results] == [RuntimeError, RuntimeError]
    assert not issubclass(FlightAbandoned, RuntimeError)
