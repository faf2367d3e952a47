"""Backpressure from the media processes: a process whose event loop runs late holds new calls until it catches up.

The probe's figures come from a scripted clock where they must be exact; where a real event loop is
blocked on purpose, the tests rely only on lateness being at least what the block made it (a loaded
machine adds to it, never takes away).
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from django.core.cache import cache

from calls import consumers
from calls.media_pressure import BUSY_KEY, MediaPressure, media_busy, media_pressure, started_pressure
from calls.models import Call
from calls.services.dialing import call_place
from calls.tests.test_media_edge import bot_audio, fake_voice, live_call, started, until_closed  # noqa: F401
from voice.loadwatch import LagWindow, LoopLagProbe


@pytest.fixture(autouse=True)
def _no_busy_report():
    cache.delete(BUSY_KEY)
    yield
    cache.delete(BUSY_KEY)


def test_the_window_keeps_the_last_seconds_and_gives_their_p95():
    window = LagWindow(3.0)
    for i in range(20):
        window.add(float(i) * 0.1, float(i))  # 0 .. 19 ms, one every 0.1 s
    assert window.p95(1.9) == 19.0  # the nearest rank of 20 samples: the largest
    window.add(2.0, 500.0)
    assert window.p95(2.0) == 19.0  # one late wake-up in 21 is under 5 %
    window.add(2.1, 500.0)
    assert window.p95(2.1) == 500.0
    assert window.p95(5.2) is None  # every sample is older than the window
    for i in range(100):
        window.add(10 + i * 0.01, 1.0 if i < 94 else 80.0)  # 6 % of the samples late
    assert window.p95(11.0) == 80.0
    for _ in range(30):
        window.add(11.0, 1.0)
    assert window.p95(11.0) == 1.0  # 6 in 130: under 5 %


async def test_the_probe_reads_how_late_each_wake_up_was_and_reports_the_p95_each_period():
    # the first read sets the first report at 0.5 s; then each turn reads the clock before its sleep and after
    ticks = iter([0.0, 0.0, 0.14, 0.14, 0.28, 0.28, 0.42, 0.42, 0.56, 0.56, 1.10])
    probe = LoopLagProbe(interval_s=0.0, window_s=3.0, report_every_s=0.5, clock=lambda: next(ticks))
    reports: list[float] = []
    turns = iter(range(5))

    async def report(lag: float) -> None:
        reports.append(round(lag, 3))

    await probe.run(running=lambda: next(turns, None) is not None, on_report=report)
    # lateness 140, 140, 140, 140, 540 ms; reports at 0.56 (the first past 0.5) and at 1.10 (past 1.06)
    assert reports == [140.0, 540.0]


async def test_a_late_loop_is_reported_busy_and_the_report_says_which_process():
    pressure = MediaPressure(limit_ms=100, probe=LoopLagProbe(interval_s=0.05, window_s=3.0, report_every_s=0.2))
    calls = [1]
    pressure.watch(lambda: calls[0])
    for _ in range(3):
        await asyncio.sleep(0.06)
        time.sleep(0.3)  # the event loop blocked: every call's frames would wait this long
    async with asyncio.timeout(20):
        while not pressure.reports:
            await asyncio.sleep(0.05)
    busy = await asyncio.to_thread(media_busy)
    assert busy["process"] == pressure.process and busy["lag_ms"] > 100 and busy["streams"] == 1
    assert pressure.busy and round(pressure.worst_ms, 1) >= busy["lag_ms"] > 100  # the cache keeps it rounded
    calls[0] = 0
    async with asyncio.timeout(20):  # no calls left: the probe stops
        await pressure._task


async def test_a_loop_on_time_writes_nothing():
    pressure = MediaPressure(limit_ms=100)
    await pressure._report(12.0)
    assert not pressure.busy and pressure.reports == 0
    assert await asyncio.to_thread(media_busy) is None


async def test_a_loop_shows_its_watch_only_once_a_call_made_it():
    assert started_pressure() is None
    pressure = media_pressure()
    assert started_pressure() is pressure
    assert await asyncio.to_thread(started_pressure) is None  # off the loop


async def test_with_no_limit_no_probe_runs():
    pressure = MediaPressure(limit_ms=0)
    pressure.watch(lambda: 1)
    assert pressure._task is None and pressure.carrying() == 1


@pytest.mark.django_db
def test_a_busy_media_process_holds_new_calls_until_it_catches_up(make_campaign, make_contact, fake_telephony):
    campaign = make_campaign(max_concurrent_calls=5)
    first, second = (Call.objects.create(campaign=campaign, contact=make_contact()) for _ in range(2))
    cache.set(BUSY_KEY, {"process": "media-1:7", "lag_ms": 140.0, "streams": 60}, timeout=30)
    held = call_place(call_id=first.pk)
    assert held.status == "at_cap" and 2 <= held.wait_s <= 60  # asked again soon, held by its task meanwhile
    assert Call.objects.get(pk=first.pk).status == Call.Status.QUEUED and not fake_telephony.dialled
    cache.delete(BUSY_KEY)  # no process has said so for BUSY_TTL_S: it caught up
    assert [call_place(call_id=c.pk).status for c in (first, second)] == ["dialled", "dialled"]


@pytest.mark.django_db
def test_when_the_cache_cannot_tell_calls_are_not_held(make_campaign, make_contact, fake_telephony, monkeypatch):
    def away(*args, **kwargs):
        raise ConnectionError("redis is away")

    monkeypatch.setattr(cache, "get", away)
    call = Call.objects.create(campaign=make_campaign(), contact=make_contact())
    assert media_busy() is None
    assert call_place(call_id=call.pk).status == "dialled"


@pytest.mark.django_db(transaction=True)
async def test_a_live_calls_socket_is_counted_while_it_streams(live_call, fake_voice, monkeypatch):  # noqa: F811
    pressure = media_pressure()
    before = pressure.carrying()
    comm = await started(live_call)
    await bot_audio(comm)
    assert pressure.carrying() == before + 1
    assert pressure._task is not None and not pressure._task.done()  # its loop is watched while it carries calls
    await comm.send_to(text_data=json.dumps({"event": "stop", "streamSid": "MZ1", "stop": {}}))
    await until_closed(comm)
    await comm.disconnect(timeout=20)  # the call's end is stored before the socket's handler returns
    assert pressure.carrying() == before
    assert consumers.media_pressure() is pressure


@pytest.mark.django_db
def test_the_board_says_in_russian_why_new_calls_are_held(client, manager):
    client.force_login(manager)
    assert 'id="media-busy"' not in client.get("/calls/").content.decode()
    cache.set(BUSY_KEY, {"process": "media-1:7", "lag_ms": 140.0, "streams": 60}, timeout=30)
    page = client.get("/calls/", {"part": "progress"}, HTTP_HX_REQUEST="true").content.decode()
    assert "Новые звонки придержаны" in page and "140 мс" in page and "60 звонков" in page
