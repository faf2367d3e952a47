"""``manage.py voice_bench --json``: pipeline latency figures (overhead, voice-to-voice, cache, barge-in) as JSON.

The work is in ``voice.bench.benchmarks``; this command picks the options and the WAV cache directory
(``VAR_DIR/bench``) and prints one JSON object. Figures are measured, not asserted: compare them
with the targets in the README (overhead p95 <= 10 ms, local v2v p50 <= 1500 / p95 <= 2500 ms,
barge-in p95 <= 200 ms).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from voice.bench.benchmarks import BenchOptions, run_all


class Command(BaseCommand):
    help = "Drive scripted turns through the voice pipeline in real time and print latency figures."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", help="print one JSON object (the only format)")
        parser.add_argument("--turns", type=int, default=12, help="local-stack turns (English and Russian)")
        parser.add_argument("--stt", choices=["local", "fake"], default="local")
        parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="LocalWhisperSTT device")
        parser.add_argument("--model", default="base", help="Whisper model name (base ships offline)")
        parser.add_argument("--quick", action="store_true", help="a few turns per scenario (smoke run)")
        parser.add_argument("--fast", action="store_true",
                            help="feed the overhead scenario without real-time pacing (overhead only)")
        parser.add_argument("--end-silence-ms", type=int, default=None, help="endpointing silence (default: VAD's)")

    def handle(self, *args: Any, **options: Any) -> None:
        bench = BenchOptions(
            turns=max(1, options["turns"]),
            stt=options["stt"],
            device=options["device"],
            model=options["model"],
            quick=options["quick"],
            fast=options["fast"],
            wav_dir=Path(settings.VAR_DIR) / "bench" / "wav",
        )
        if options["end_silence_ms"]:
            bench.end_silence_ms = options["end_silence_ms"]
        result = asyncio.run(run_all(bench))
        self.stdout.write(json.dumps(result, ensure_ascii=False))
