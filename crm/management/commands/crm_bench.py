"""Push N analysed calls' leads through the real outbox to the CRM the settings name; print what arrived."""

import json
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config.celery import NoWorker, worker_required
from crm.bench import bench_calls_create, bench_push, bench_result


class Command(BaseCommand):
    help = ("Create N analysed calls with leads, push them through the outbox to CRM_PROVIDER on the running Celery "
            "worker (make run, or celery -A config worker), wait until the outbox drained (or the deadline), print "
            "leads, delivered, failed, retries, seconds. Fails at once when no worker answers.")

    def add_arguments(self, parser):
        parser.add_argument("--leads", type=int, default=120)
        parser.add_argument("--deadline", type=float, default=900, help="seconds to wait for the outbox to drain")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        if opts["leads"] < 1:
            raise CommandError("--leads must be at least 1")
        try:
            worker_required()
        except NoWorker as exc:
            raise CommandError(str(exc)) from exc
        provider = settings.CRM["PROVIDER"]
        call_ids = bench_calls_create(count=opts["leads"])
        started = time.monotonic()
        bench_push(call_ids=call_ids)
        result = bench_result(call_ids=call_ids, deadline_s=opts["deadline"], started=started)
        result = {"provider": provider, **result}
        if opts["json"]:
            self.stdout.write(json.dumps(result))
        else:
            for key, value in result.items():
                self.stdout.write(f"{key:>12}: {value}")
