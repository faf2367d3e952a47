"""Benchmark: generate N analysed calls, then time the dashboard, the analytics API and a full CSV export.

    python manage.py analytics_bench --calls 1000000 --json

Meant for PostgreSQL (``DATABASE_URL``). The dashboard and API are timed through Django's test client
(the whole request: middleware, queries, template), uncached, over 20 filter combinations, each
``--repeat`` times. The export runs in a fresh child process that streams the CSV of every call
through the view and reports its own peak resident memory.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connection
from django.test import Client, RequestFactory, override_settings

from analytics.demo import CAMPAIGN_PREFIX, calls_history_generate
from analytics.filters import today
from analytics.services import rollups_refresh
from analytics.views import export
from calls.models import Call, Campaign
from config.roles import MANAGER, roles_sync, user_assign_role
from dialogs.models import ScriptVersion

BENCH_USER = "analytics-bench"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _status_mb(field: str) -> float | None:
    """VmRSS (now) or VmHWM (peak) of this process from /proc, in MB; None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _reset_peak() -> None:
    try:  # Linux: writing 5 resets VmHWM to the current RSS, so the peak is the export's own
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


class Command(BaseCommand):
    help = "Generate N calls and time the analytics dashboard, API and export (prints JSON with --json)."

    def add_arguments(self, parser):
        parser.add_argument("--calls", type=int, default=100_000)
        parser.add_argument("--campaigns", type=int, default=6)
        parser.add_argument("--repeat", type=int, default=3)
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--export-child", action="store_true", help=argparse_hidden())

    def handle(self, *args, **opts):
        if opts["export_child"]:
            return self._export_child()
        out: dict = {"database": connection.vendor}
        have = Call.objects.filter(campaign__name__startswith=CAMPAIGN_PREFIX).count()
        started = time.perf_counter()
        if have < opts["calls"]:
            calls_history_generate(calls=opts["calls"] - have, campaigns=opts["campaigns"], seed=have + 1)
        out["generate_s"] = round(time.perf_counter() - started, 1)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        started = time.perf_counter()
        rollups_refresh()
        out["rollup_s"] = round(time.perf_counter() - started, 1)
        out["calls"] = Call.objects.count()

        client = Client()
        client.force_login(self._manager())
        combos = self._combos()
        dashboard, partial, api, cached = [], [], [], []
        with override_settings(ANALYTICS_CACHE_SECONDS=0):
            for query in combos:  # warm each path once, untimed
                client.get(f"/analytics/?{query}")
            for _ in range(opts["repeat"]):
                for query in combos:
                    for url, bucket, extra in ((f"/analytics/?{query}", dashboard, {}),
                                               (f"/analytics/?{query}", partial, {"HTTP_HX_REQUEST": "true"}),
                                               (f"/api/analytics/?{query}", api, {})):
                        t = time.perf_counter()
                        response = client.get(url, **extra)
                        bucket.append((time.perf_counter() - t) * 1000)
                        if response.status_code != 200:
                            raise RuntimeError(f"{url}: HTTP {response.status_code}")
        with override_settings(ANALYTICS_CACHE_SECONDS=30):
            for query in combos:
                client.get(f"/api/analytics/?{query}")
                t = time.perf_counter()
                client.get(f"/api/analytics/?{query}")
                cached.append((time.perf_counter() - t) * 1000)
        out.update({
            "filter_combinations": len(combos), "samples_per_path": len(dashboard),
            "dashboard_p50_ms": round(statistics.median(dashboard), 1),
            "dashboard_p95_ms": round(_percentile(dashboard, 0.95), 1),
            "dashboard_partial_p95_ms": round(_percentile(partial, 0.95), 1),
            "api_p50_ms": round(statistics.median(api), 1), "api_p95_ms": round(_percentile(api, 0.95), 1),
            "api_cached_p95_ms": round(_percentile(cached, 0.95), 1),
            "campaigns": Campaign.objects.filter(name__startswith=CAMPAIGN_PREFIX).count(),
        })
        child = subprocess.run([sys.executable, sys.argv[0], "analytics_bench", "--export-child"],
                               capture_output=True, text=True, env=os.environ.copy(), check=True)
        export = json.loads(child.stdout.strip().splitlines()[-1])
        out.update(export)
        out["loadavg"] = open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else None
        if opts["json"]:
            self.stdout.write(json.dumps(out))
        else:
            for k, v in out.items():
                self.stdout.write(f"{k}: {v}")

    def _manager(self):
        roles_sync()
        user, _ = get_user_model().objects.get_or_create(username=BENCH_USER)
        user_assign_role(user=user, role=MANAGER)
        return user

    def _combos(self) -> list[str]:
        last = today()
        campaigns = list(Campaign.objects.filter(name__startswith=CAMPAIGN_PREFIX).order_by("id")
                         .values_list("id", "script_id", "language", "telephony_provider"))
        c0, script0, _, _ = campaigns[0]
        version0 = ScriptVersion.objects.filter(script_id=script0).order_by("-version").values_list("id", flat=True)[0]

        def rng(days: int, end_offset: int = 0) -> str:
            end = last - timedelta(days=end_offset)
            return f"date_from={end - timedelta(days=days - 1)}&date_to={end}"

        combos = [rng(90), rng(30), rng(7), rng(1), rng(1, 1), rng(365), rng(60, 30), rng(14, 7),
                  f"{rng(90)}&campaign={c0}", f"{rng(30)}&campaign={c0}", f"{rng(7)}&campaign={c0}",
                  f"{rng(90)}&script={script0}", f"{rng(30)}&script_version={version0}",
                  f"{rng(90)}&language=ru", f"{rng(30)}&language=en", f"{rng(90)}&provider=twilio",
                  f"{rng(30)}&provider=voximplant&language=en", f"{rng(90)}&campaign={c0}&provider=simulated",
                  f"{rng(1)}&campaign={c0}&script={script0}", f"{rng(90)}&language=ru&provider=simulated"]
        return combos

    def _export_child(self):
        """Stream the CSV of every call through the export view; report rows/s and this process' peak memory."""
        request = RequestFactory().get("/analytics/export/calls.csv",
                                       {"date_from": str(today() - timedelta(days=400)), "date_to": str(today())})
        request.user = self._manager()
        request.htmx = False
        gc.collect()
        _reset_peak()
        baseline = _status_mb("VmRSS") or _rss_mb()
        started = time.perf_counter()
        response = export(request, kind="calls", fmt="csv")
        lines = size = 0
        for chunk in response.streaming_content:
            size += len(chunk)
            lines += chunk.count(b"\n")
        seconds = time.perf_counter() - started
        rows = lines - 1  # the header
        self.stdout.write(json.dumps({
            "export_rows": rows, "export_s": round(seconds, 1), "export_rows_per_s": round(rows / seconds),
            "export_mb_written": round(size / 2**20, 1),
            # the memory the export itself took: peak RSS during the export minus RSS just before it
            "export_peak_mb": round((_status_mb("VmHWM") or _rss_mb()) - baseline, 1),
            "export_process_baseline_mb": round(baseline, 1),
            "export_process_peak_mb": round(_status_mb("VmHWM") or _rss_mb(), 1),
            "settings": settings.SETTINGS_MODULE,
        }))


def argparse_hidden():
    return argparse.SUPPRESS
