"""A real ``celery -A config worker`` process on the test database and broker, as ``make run`` starts one.

The rehearsal tests and the worker-killed test run their tasks (and, the worker being the process that dials,
the simulated carrier's callees) in such a process; daphne with the media consumer runs in the test process
(``config.live_server``) and the worker's callees dial it through ``PUBLIC_BASE_URL``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

from config.celery import workers_answering

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    """The test database (not the one the settings name) for the worker process: on SQLite the test file."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = quote(db.get("USER") or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}{port}/{db['NAME']}"


def worker_env(**extra: str) -> dict[str, str]:
    """The worker's environment: the test settings on this test's database and broker, plus ``extra``."""
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "DATABASE_URL": database_url(),
            "REDIS_URL": settings.REDIS_URL, "LOG_LEVEL": "WARNING", **extra}


class Worker:
    """One ``celery -A config worker`` process, its output in a file for the failure message."""

    def __init__(self, env: dict[str, str], log: Path, name: str, concurrency: int = 4):
        self.log = log
        self.name = f"{name}-{os.getpid()}"
        self.out = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "threads", "--concurrency",
             str(concurrency), "--loglevel", "WARNING", "--hostname", f"{self.name}@%h", "--without-gossip",
             "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=self.out, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        """Until the worker answers a ping (as ``campaign_rehearse`` asks before it starts)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the worker exited with {self.proc.returncode}\n{self.tail()}")
            if any(name.startswith(f"{self.name}@") for name in workers_answering(timeout_s=1.0)):
                return
        raise RuntimeError(f"the worker did not answer within {timeout_s:.0f} s\n{self.tail()}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.out.close()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]
