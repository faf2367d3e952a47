"""The benchmark commands run and print one JSON object with sane figures (timing targets are measured, not tested)."""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import pytest
from django.core.management import call_command

from voice.management.commands.media_load import Command

pytestmark = pytest.mark.slow


def _run(*args: str) -> dict:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return json.loads(out.getvalue())


def test_voice_bench_quick_with_fake_stt():
    result = _run("voice_bench", "--json", "--quick", "--stt", "fake")
    for key in ("overhead_p95_ms", "v2v_local_p50_ms", "v2v_local_p95_ms", "cached_v2v_p50_ms", "bargein_p95_ms",
                "endpoint_silence_ms", "stt_p50_ms", "eou_p50_ms", "speculative_hit_rate", "cpu_cores", "model"):
        assert key in result, key
    assert result["timeouts"] == 0
    assert result["turns"]["local"] >= 2 and result["turns"]["bargein"] >= 3
    assert 0 <= result["overhead_p95_ms"] < 1000
    assert 0 < result["v2v_local_p50_ms"] <= result["v2v_local_p95_ms"] < 10000
    assert result["cache_hit_rate"] == 1.0
    assert 0 < result["bargein_p95_ms"] < 2000
    assert result["endpoint_silence_ms"] == 500 and result["model"] == "fake"


def test_media_load_three_streams_over_two_servers():
    result = _run("media_load", "--streams", "3", "--seconds", "4", "--servers", "2", "--json")
    for key in ("streams", "frames_sent", "frames_dropped", "lag_p99_ms", "send_lag_p99_ms", "route",
                "server_cpu_ms_per_stream_s", "server_inbound_lag_p99_ms", "load_avg"):
        assert key in result, key
    assert result["ok"] is True and result["failures"] == []
    assert result["servers"] == 2 and result["server"] == "uvicorn"
    assert result["streams"] == 3 and result["streams_failed"] == 0
    assert result["frames_sent"] == 3 * 200
    # every stream reported from the server side, and the server consumed every frame a caller sent
    assert result["server_counts"] is True and result["inbound_not_consumed"] == 0
    assert isinstance(result["frames_dropped"], int)
    assert result["frames_received"] > 0 and result["server_frames_out"] >= result["frames_received"]  # the bot spoke
    assert result["server_cpu_ms_per_stream_s"] > 0 and result["client_cpu_ms_per_stream_s"] > 0
    assert result["lag_p99_ms"] is not None and result["lag_p99_ms"] >= 0
    # 4 s of frames: the worst inbound lag of each second
    assert len(result["server_inbound_lag_worst_by_s_ms"]) == 4
    assert all(x >= 0 for x in result["server_inbound_lag_worst_by_s_ms"])
    # both processes ran the backpressure probe (the real route); a few streams keep them on time
    assert len(result["server_busy_s"]) == 2 and all(isinstance(x, int) for x in result["server_busy_s"])
    assert all(isinstance(x, float) for x in result["server_busy_worst_ms"])


def test_media_load_without_server_counts_is_a_failed_run():
    """Drops cannot be known without the server's own counts: the summary says so instead of printing 0."""
    client = {"streams": 2, "streams_connected": 2, "streams_failed": 0, "seconds": 1.0, "frames_sent": 100,
              "frames_unsent": 0, "frames_received": 10, "lag_p99_ms": 1.0, "server": "uvicorn", "servers": 1,
              "server_cpu_ms_per_stream_s": 3.0,
              "per_stream_frames_sent": {"a": 50, "b": 50}, "per_stream_frames_received": {"a": 5, "b": 5}}
    command = Command()
    command.load_before = [0.0, 0.0, 0.0]
    out = command._summary(client, [{"stream": "a", "frames_in": 50, "frames_out": 5}], "real",
                           Path(tempfile.mkdtemp()))
    assert out["ok"] is False and out["server_counts"] is False
    assert out["frames_dropped"] is None
    assert "server counts for 1 of 2 streams" in out["failures"][0]
    assert out["bar_met"] is False  # unknown drops never meet the bar


@pytest.mark.parametrize(("lag", "inbound", "out_frames", "met"), [
    (0.0, 55.0, 5, True),
    (39.9, 100.0, 5, True),
    (40.0, 20.0, 5, False),  # the client's lag must stay under 40 ms
    (0.0, 100.5, 5, False),  # the server heard the caller too late
    (0.0, 20.0, 7, False),  # two frames the server sent never arrived
])
def test_media_load_says_whether_the_run_met_the_bar(lag, inbound, out_frames, met):
    client = {"streams": 1, "streams_connected": 1, "streams_failed": 0, "seconds": 1.0, "frames_sent": 50,
              "frames_unsent": 0, "frames_received": 5, "lag_p99_ms": lag, "server": "uvicorn", "servers": 1,
              "server_cpu_ms_per_stream_s": 3.0, "per_stream_frames_sent": {"a": 50},
              "per_stream_frames_received": {"a": 5}}
    command = Command()
    command.load_before = [0.0, 0.0, 0.0]
    out = command._summary(client, [{"stream": "a", "frames_in": 50, "frames_out": out_frames,
                                     "inbound_lag_p99_ms": inbound}], "real", Path(tempfile.mkdtemp()))
    assert out["ok"] is True
    assert out["bar_met"] is met


def test_media_load_shows_the_worst_inbound_lag_of_each_second():
    """Where a run's worst moments fall: the start of the burst of calls or later (each stream reports by second)."""
    client = {"streams": 2, "streams_connected": 2, "streams_failed": 0, "seconds": 3.0, "frames_sent": 300,
              "frames_unsent": 0, "frames_received": 0, "lag_p99_ms": 0.0, "server": "uvicorn", "servers": 1,
              "server_cpu_ms_per_stream_s": 3.0, "per_stream_frames_sent": {"a": 150, "b": 150},
              "per_stream_frames_received": {"a": 0, "b": 0}}
    command = Command()
    command.load_before = [0.0, 0.0, 0.0]
    server = [{"stream": "a", "frames_in": 150, "frames_out": 0, "inbound_lag_p99_ms": 40.0,
               "inbound_lag_by_s": [80.0, 2.0, 3.0]},
              {"stream": "b", "frames_in": 150, "frames_out": 0, "inbound_lag_p99_ms": 9.0,
               "inbound_lag_by_s": [5.0, 9.0]}]  # its last second came short
    out = command._summary(client, server, "real", Path(tempfile.mkdtemp()))
    assert out["server_inbound_lag_worst_by_s_ms"] == [80.0, 9.0, 3.0]


def test_media_load_says_how_long_each_process_held_new_calls():
    """Each process's backpressure, from its streams' lines (the last to end has seen the most); a process
    without the probe (the stand-in route) says null, not 0."""
    client = {"streams": 3, "streams_connected": 3, "streams_failed": 0, "seconds": 1.0, "frames_sent": 150,
              "frames_unsent": 0, "frames_received": 0, "lag_p99_ms": 0.0, "server": "uvicorn", "servers": 3,
              "server_cpu_ms_per_stream_s": 3.0, "server_pids": [101, 102, 103],
              "per_stream_frames_sent": {"a": 50, "b": 50, "c": 50},
              "per_stream_frames_received": {"a": 0, "b": 0, "c": 0}}
    command = Command()
    command.load_before = [0.0, 0.0, 0.0]
    server = [{"stream": "a", "frames_in": 50, "frames_out": 0, "process": 101, "busy_s": 4, "busy_worst_ms": 90.5},
              {"stream": "b", "frames_in": 50, "frames_out": 0, "process": 101, "busy_s": 6, "busy_worst_ms": 120.0},
              {"stream": "c", "frames_in": 50, "frames_out": 0, "process": 102, "busy_s": 0, "busy_worst_ms": 0.0}]
    out = command._summary(client, server, "real", Path(tempfile.mkdtemp()))
    assert out["server_busy_s"] == [6, 0, None]
    assert out["server_busy_worst_ms"] == [120.0, 0.0, None]
    assert "server_pids" not in out
