"""Rehearse a campaign of N demo contacts on the simulated carrier through the running web server and worker."""

import json

from django.core.management.base import BaseCommand, CommandError

from calls.simulation import campaign_rehearse
from calls.telephony.simulated import CALLEE_STT
from config.celery import NoWorker


class Command(BaseCommand):
    help = ("Create a campaign of N demo contacts on the simulated carrier, plan it and wait while the running "
            "Celery worker and web server (make run) play it to the end. Fails at once when no worker answers.")

    def add_arguments(self, parser):
        parser.add_argument("--contacts", type=int, default=20)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--pace", type=float, default=None,
                            help="speed-up of both sides' audio (1 = real time); default SIMULATED_PACE_SPEED")
        parser.add_argument("--callee-stt", choices=CALLEE_STT, default=None,
                            help="how the simulated callee understands the bot (see calls.telephony.simulated); "
                                 "default SIMULATED_CALLEE_STT")
        parser.add_argument("--concurrency", type=int, default=4, help="the campaign's concurrency cap")
        parser.add_argument("--timeout", type=float, default=900,
                            help="seconds to wait; then the campaign is paused and its unfinished calls are lost")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        try:
            result = campaign_rehearse(contacts=opts["contacts"], seed=opts["seed"], pace_speed=opts["pace"],
                                       callee_stt=opts["callee_stt"], concurrency=opts["concurrency"],
                                       timeout_s=opts["timeout"])
        except NoWorker as exc:
            raise CommandError(str(exc)) from exc
        data = result.to_dict()
        keys = ["calls", "completed", "no_answer", "busy", "voicemail", "analysed", "leads", "lost"]
        if opts["json"]:
            self.stdout.write(json.dumps({**{k: data[k] for k in keys}, "failed": data["failed"],
                                          "seconds": data["seconds"], "campaign_id": data["campaign_id"],
                                          "timed_out": data["timed_out"]}))
        else:
            for key in [*keys, "failed", "seconds", "timed_out"]:
                self.stdout.write(f"{key:>10}: {data[key]}")
