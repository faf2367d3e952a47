"""Run web (daphne), a Celery worker and Celery beat together on the embedded default."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Start web + worker + beat. Without REDIS_URL they share one embedded Redis that lives as long as this."

    def add_arguments(self, parser):
        # Only this machine by default: the development settings serve /media/ and allow any host.
        parser.add_argument("--addr", default=os.environ.get("RUN_ADDR", "127.0.0.1:8000"),
                            help="host:port to listen on (RUN_ADDR); 0.0.0.0:8000 opens it to the network")
        parser.add_argument("--concurrency", type=int, default=2)

    def handle(self, *args, **options):
        env = {**os.environ, "REDIS_URL": settings.REDIS_URL, "PYTHONUNBUFFERED": "1"}
        env.setdefault("DJANGO_SETTINGS_MODULE", os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings.local"))
        python = sys.executable
        commands = {
            "web": [python, "manage.py", "runserver", options["addr"], "--noreload"],
            "worker": [python, "-m", "celery", "-A", "config", "worker", "-l", "INFO",
                       "--concurrency", str(options["concurrency"]), "-n", "worker@%h"],
            "beat": [python, "-m", "celery", "-A", "config", "beat", "-l", "INFO"],
        }
        host, _, port = options["addr"].rpartition(":")
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        # The simulated carrier dials back into this web server for the media stream.
        env.setdefault("PUBLIC_BASE_URL", f"http://{shown}:{port}")
        children = {name: subprocess.Popen(cmd, env=env) for name, cmd in commands.items()}
        self.stdout.write(self.style.SUCCESS(
            f"\nConsole:  http://{shown}:{port}/   (admin: /admin/, API docs: /api/docs/, health: /healthz)\n"
            f"Login:    manager / {os.environ.get('DEMO_PASSWORD', 'demo-pass-2026')}  "
            f"(also operator, anna, sergey)\n"
            f"Redis:    {'embedded ' if not os.environ.get('REDIS_URL') else ''}{settings.REDIS_URL}\n"
            "Stop with Ctrl-C.\n"
        ))
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        while not stopping:
            for name, proc in children.items():
                if proc.poll() is not None:
                    self.stderr.write(f"{name} exited with {proc.returncode}; stopping the others")
                    exit_code, stopping = proc.returncode or 1, True
                    break
            time.sleep(0.5)
        for proc in children.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in children.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        sys.exit(exit_code)
