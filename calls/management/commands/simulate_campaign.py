"""Rehearse a campaign of N demo contacts on the simulated carrier through the real server, worker and pipeline."""

import json

from django.core.management.base import BaseCommand

from calls.simulation import campaign_rehearse


class Command(BaseCommand):
    help = "Create a campaign of N demo contacts on the simulated carrier and run it to the end."

    def add_arguments(self, parser):
        parser.add_argument("--contacts", type=int, default=20)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--pace", type=float, default=4.0, help="speed-up of both sides' audio (1 = real time)")
        parser.add_argument("--callee-stt", choices=["transcript", "local", "fake"], default=None,
                            help="how the simulated callee understands the bot (see calls.telephony.simulated)")
        parser.add_argument("--concurrency", type=int, default=4, help="the campaign's concurrency cap")
        parser.add_argument("--timeout", type=float, default=900)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        result = campaign_rehearse(contacts=opts["contacts"], seed=opts["seed"], pace_speed=opts["pace"],
                                   callee_stt=opts["callee_stt"], concurrency=opts["concurrency"],
                                   timeout_s=opts["timeout"])
        data = result.to_dict()
        keys = ["calls", "completed", "no_answer", "busy", "voicemail", "analysed", "leads", "lost"]
        if opts["json"]:
            self.stdout.write(json.dumps({**{k: data[k] for k in keys}, "failed": data["failed"],
                                          "seconds": data["seconds"], "campaign_id": data["campaign_id"]}))
        else:
            for key in [*keys, "failed", "seconds"]:
                self.stdout.write(f"{key:>10}: {data[key]}")
