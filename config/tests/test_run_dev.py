"""The run command on the embedded default: web + worker + beat come up, /healthz is green, admin login works."""

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def embedded_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    env.update({"VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings.local", "LOG_LEVEL": "WARNING"})
    return env


def manage(*args, env):
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_run_dev_serves_console_with_worker(embedded_env):
    manage("migrate", "--noinput", env=embedded_env)
    assert "manager" in manage("seed_demo", env=embedded_env)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "run_dev", "--addr", f"127.0.0.1:{port}", "--concurrency", "1"],
        cwd=ROOT, env=embedded_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        health, deadline = None, time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
                    health = response.read().decode()
                    break
            except OSError:
                time.sleep(1)
        assert health is not None and '"status": "ok"' in health, health

        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        page = opener.open(f"{base}/admin/login/").read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": token, "username": "manager", "password": "demo-pass-2026", "next": "/admin/"}
        ).encode()
        request = urllib.request.Request(f"{base}/admin/login/", data=form, headers={"Referer": f"{base}/admin/login/"})
        with opener.open(request) as response:
            assert response.url.endswith("/admin/")
            assert "logout" in response.read().decode()
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, output[-3000:]
    assert f"http://127.0.0.1:{port}/" in output
