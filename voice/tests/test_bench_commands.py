"""The benchmark commands run and print one JSON object with sane figures (timing targets are measured, not tested)."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

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


def test_media_load_three_streams():
    result = _run("media_load", "--streams", "3", "--seconds", "4", "--json")
    for key in ("streams", "frames_sent", "frames_dropped", "lag_p99_ms", "send_lag_p99_ms", "route"):
        assert key in result, key
    assert result["streams"] == 3 and result["streams_failed"] == 0
    assert result["frames_sent"] == 3 * 200
    assert result["server_counts"] is True
    assert result["frames_dropped"] >= 0 and result["frames_received"] > 0  # the bot spoke
    assert result["lag_p99_ms"] is not None and result["lag_p99_ms"] >= 0
