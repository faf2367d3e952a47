"""Plan a campaign of N contacts (bulk-created over Russia's time zones) and report time and peak memory."""

import cProfile
import json
import pstats
import resource
import sys
import time
import tracemalloc
from datetime import datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from calls.models import Call, Campaign, Contact, ContactList, DoNotCall
from calls.services.planning import campaign_plan
from config.demo.services import demo_seed
from dialogs.models import Script

ZONES = ["Europe/Kaliningrad", "Europe/Moscow", "Europe/Samara", "Asia/Yekaterinburg", "Asia/Omsk",
         "Asia/Novosibirsk", "Asia/Irkutsk", "Asia/Yakutsk", "Asia/Vladivostok", "Asia/Magadan", "Asia/Kamchatka"]


class Command(BaseCommand):
    help = "Benchmark campaign planning: N contacts, one day, the real planner; prints seconds, peak MB, planned."

    def add_arguments(self, parser):
        parser.add_argument("--contacts", type=int, default=100_000)
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--keep", action="store_true", help="keep the benchmark campaign and contacts")
        parser.add_argument("--profile", action="store_true", help="print a cProfile of the planning run")

    def handle(self, *args, **opts):
        n = opts["contacts"]
        script = Script.objects.order_by("pk").first()
        if script is None:
            demo_seed()
            script = Script.objects.order_by("pk").first()
        stamp = timezone.now().strftime("%Y%m%d%H%M%S%f")
        with transaction.atomic():
            contact_list = ContactList.objects.create(name=f"Bench {stamp}")
            batch = []
            for i in range(n):
                batch.append(Contact(contact_list=contact_list, phone=f"+7900{i:07d}", timezone=ZONES[i % len(ZONES)],
                                     do_not_call=(i % 500 == 0)))
                if len(batch) == 10_000:
                    Contact.objects.bulk_create(batch, batch_size=2000)
                    batch = []
            Contact.objects.bulk_create(batch, batch_size=2000)
            dnc = [f"+7900{i:07d}" for i in range(7, n, 997)]
            DoNotCall.objects.bulk_create([DoNotCall(phone=p, reason="bench") for p in dnc], ignore_conflicts=True)
            # a cap and call length a large call centre would run: 13 h x 3600 s / 30 s x 100 lines > 100k
            campaign = Campaign.objects.create(
                name=f"Bench {stamp}", script=script, contact_list=contact_list, status=Campaign.Status.ACTIVE,
                window_start=dtime(8), window_end=dtime(21), weekdays=list(range(7)), max_concurrent_calls=100,
                average_call_seconds=30, telephony_provider="fake",
            )
        # Plan the next day from midnight, so the whole window is ahead in every zone.

        day = timezone.now().date() + timedelta(days=1)
        now = datetime.combine(day, dtime(0), ZoneInfo("Asia/Kamchatka"))
        if opts["profile"]:
            profiler = cProfile.Profile()
            profiler.enable()
        # Timed without tracemalloc, which slows allocation-heavy code several-fold; memory is measured on a
        # second, traced run over the same contacts (planning is idempotent, so it first drops the calls).
        started = time.perf_counter()
        result = campaign_plan(campaign_id=campaign.pk, day=day, now=now, dispatch=False)
        seconds = time.perf_counter() - started
        if opts["profile"]:
            profiler.disable()
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
        Call.objects.filter(campaign=campaign).delete()
        tracemalloc.start()
        campaign_plan(campaign_id=campaign.pk, day=day, now=now, dispatch=False)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out = {"seconds": round(seconds, 2), "peak_mb": round(peak / 2**20, 1), "planned": result.planned,
               "contacts": n, "deferred": result.deferred, "do_not_call": result.do_not_call,
               "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
        if not opts["keep"]:
            Call.objects.filter(campaign=campaign).delete()
            campaign.delete()
            contact_list.delete()
            DoNotCall.objects.filter(phone__in=dnc, reason="bench").delete()
        self.stdout.write(json.dumps(out) if opts["json"] else "\n".join(f"{k}: {v}" for k, v in out.items()))
