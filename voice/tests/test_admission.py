"""The STT admission line: fixed workers, bounded waiting, measured queue wait and capacity."""

from __future__ import annotations

import asyncio
import threading

import pytest

from integrations.errors import ProviderConfigError, ProviderUnavailable
from voice.stt.admission import AdmittedSTT, STTAdmission, STTOverloaded, conversations_served
from voice.stt.fake import FakeSTT

pytestmark = pytest.mark.asyncio

ONE_SECOND = bytes(32000)  # 1 s of PCM16 16 kHz


class GatedSTT(FakeSTT):
    """Holds every transcription until the test opens the gate, and counts how many run at once."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.gate = asyncio.Event()
        self.running = 0
        self.peak = 0

    async def _transcribe(self, pcm16, *, sample_rate, language):
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await self.gate.wait()
            return await super()._transcribe(pcm16, sample_rate=sample_rate, language=language)
        finally:
            self.running -= 1


async def test_workers_bound_concurrency_and_waits_are_reported():
    inner = GatedSTT(default="да")
    stt = AdmittedSTT(inner, STTAdmission(workers=2, max_queue=8))
    tasks = [asyncio.create_task(stt.transcribe(ONE_SECOND)) for _ in range(5)]
    await asyncio.sleep(0.05)
    assert inner.running == 2 and stt.admission.waiting == 3
    inner.gate.set()
    results = await asyncio.gather(*tasks)
    assert inner.peak == 2
    assert [r.text for r in results] == ["да"] * 5
    assert sum(r.queue_wait_ms == 0 for r in results) == 2  # the first two were admitted at once
    assert all(r.queue_wait_ms > 0 for r in results[2:])
    assert stt.admission.running == 0 and stt.admission.waiting == 0


async def test_a_full_line_refuses_at_once_with_a_retryable_error():
    inner = GatedSTT()
    stt = AdmittedSTT(inner, STTAdmission(workers=1, max_queue=1))
    first = asyncio.create_task(stt.transcribe(ONE_SECOND))
    second = asyncio.create_task(stt.transcribe(ONE_SECOND))
    await asyncio.sleep(0.02)
    with pytest.raises(STTOverloaded) as info:
        await stt.transcribe(ONE_SECOND)
    assert info.value.retryable
    inner.gate.set()
    await asyncio.gather(first, second)
    assert stt.admission.rejected == 1


async def test_a_cancelled_waiter_gives_its_place_back():
    inner = GatedSTT(default="ok")
    stt = AdmittedSTT(inner, STTAdmission(workers=1, max_queue=4))
    first = asyncio.create_task(stt.transcribe(ONE_SECOND))
    waiting = asyncio.create_task(stt.transcribe(ONE_SECOND))
    await asyncio.sleep(0.02)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert stt.admission.waiting == 0
    inner.gate.set()
    await first
    assert (await stt.transcribe(ONE_SECOND)).text == "ok"  # the slot is free again
    assert stt.admission.running == 0


async def test_a_failed_transcription_frees_its_worker():
    stt = AdmittedSTT(FakeSTT(fail=True), STTAdmission(workers=1, max_queue=1))
    for _ in range(3):
        with pytest.raises(ProviderUnavailable):
            await stt.transcribe(ONE_SECOND)
    assert stt.admission.running == 0


async def test_one_line_serves_callers_on_two_event_loops():
    """Calls on daphne's loop and the simulated carrier's loop share the process's admission."""
    inner = FakeSTT(default="x", delay_ms=50)
    admission = STTAdmission(workers=1, max_queue=8)
    stt = AdmittedSTT(inner, admission)
    waits: list[float] = []

    def other_loop():
        waits.extend(r.queue_wait_ms for r in asyncio.run(_many(stt, 3)))

    thread = threading.Thread(target=other_loop)
    thread.start()
    here = await _many(stt, 3)
    await asyncio.to_thread(thread.join)
    assert len(here) + len(waits) == 6 and admission.running == 0
    assert admission.admitted == 6


async def _many(stt, n):
    return await asyncio.gather(*(stt.transcribe(ONE_SECOND) for _ in range(n)))


async def test_capacity_from_measured_work_per_audio_second():
    stt = AdmittedSTT(FakeSTT(default="x", delay_ms=100), STTAdmission(workers=2, max_queue=4))
    assert stt.capacity().seconds_per_audio_s is None and stt.capacity().conversations is None
    for _ in range(2):
        await stt.transcribe(ONE_SECOND)
    capacity = stt.capacity()
    assert capacity.measured and 0.05 < capacity.seconds_per_audio_s < 1.0
    assert capacity.conversations == conversations_served(2, capacity.seconds_per_audio_s)
    configured = STTAdmission(workers=1, seconds_per_audio_s=0.5).capacity()
    assert not configured.measured and configured.conversations == 3  # 1 × 0.6 / (0.35 × 0.5)


async def test_bad_settings_are_refused():
    with pytest.raises(ProviderConfigError):
        STTAdmission(workers=0)
    with pytest.raises(ProviderConfigError):
        STTAdmission(max_queue=-1)
