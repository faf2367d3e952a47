"""Production settings pass `check --deploy` cleanly when the documented environment is set."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from calls.routing import websocket_urlpatterns

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "DJANGO_SECRET_KEY": "x9!k2#production-like-secret-value-that-is-long-enough-0123456789",
    "DJANGO_ALLOWED_HOSTS": "sales.example.com",
    "DATABASE_URL": os.environ.get("DATABASE_URL", "sqlite:////tmp/deploy-check.sqlite3"),
}


def run_manage(*args, env):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**os.environ, **env},
        capture_output=True, text=True, timeout=120,
    )


def test_check_deploy_is_clean():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_secret_key():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "DJANGO_SECRET_KEY"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**{k: v for k, v in os.environ.items() if k != "DJANGO_SECRET_KEY"}, **env},
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


COMPOSE_ENV = {"POSTGRES_PASSWORD": "x", "DJANGO_SECRET_KEY": "x", "DJANGO_ALLOWED_HOSTS": "sales.example.com"}


def test_docker_compose_parses_with_the_proxy_media_and_stt_services():
    compose = shutil.which("docker-compose")
    if compose is None:
        pytest.skip("docker-compose is not installed (.ci/run installs it)")
    result = subprocess.run([compose, "--profile", "stt", "config"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60, env={**os.environ, **COMPOSE_ENV})
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert {"proxy", "web", "media", "worker", "beat", "stt"} <= set(services)
    assert services["media"]["command"][0] == "uvicorn" and "config.serve" in services["web"]["command"]  # daphne
    assert int(services["web"]["deploy"]["replicas"]) >= 2
    assert "ports" not in services["web"]  # only the proxy is published


def test_the_proxy_sends_media_streams_to_the_media_processes_and_passes_upgrades():
    conf = (ROOT / "deploy" / "nginx" / "nginx.conf").read_text()
    media = re.search(r"location ~ \^/ws/calls/\[0-9\]\+/media/\$ \{(.*?)\}", conf, re.S)
    assert media and "proxy_pass http://media;" in media.group(1)
    assert "proxy_set_header Upgrade $http_upgrade;" in media.group(1)
    assert re.search(r"location /ws/ \{[^}]*proxy_pass http://web;", conf)
    assert "X-Forwarded-Proto" in conf
    # the media route in Django matches what the proxy routes
    patterns = [str(p.pattern) for p in websocket_urlpatterns]
    assert "ws/calls/<int:call_id>/media/" in patterns
