"""``manage.py call_load --calls 4 --json``: full conversations with local STT and real audio, 1 call then N at once."""

import asyncio
import json

from django.core.management.base import BaseCommand

from calls.load import run_load


class Command(BaseCommand):
    help = ("Run persona callees against the salesperson pipeline (local Whisper, eSpeak both ways), one call "
            "alone and then N at once, and print lost utterances, STT timeouts, queue wait and v2v.")

    def add_arguments(self, parser):
        parser.add_argument("--calls", type=int, default=4, help="conversations at once in the second phase")
        parser.add_argument("--utterances", type=int, default=5, help="callee phrases per call")
        parser.add_argument("--language", choices=["ru", "en"], default="ru")
        parser.add_argument("--max-seconds", type=float, default=180.0, help="a call still going then is cut off")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--json", action="store_true", help="print one JSON object (the only format)")

    def handle(self, *args, **opts):
        result = asyncio.run(run_load(calls=max(1, opts["calls"]), utterances=max(1, opts["utterances"]),
                                      language=opts["language"], max_s=opts["max_seconds"], seed=opts["seed"]))
        self.stdout.write(json.dumps(result, ensure_ascii=False))
