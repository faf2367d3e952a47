"""Logs are structured and never carry a full phone number."""

import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import structlog
from django.conf import settings

from config.logging import build_logging, mask_phone


def test_mask_phone_variants():
    assert mask_phone("call +79161234567 now") == "call +7********67 now"
    assert mask_phone("8 (916) 123-45-67") == "8********67"
    assert mask_phone("order 12345 at 2026-11-21") == "order 12345 at 2026-11-21"


def test_structured_json_log_masks_phones(capsys):
    logging.config.dictConfig(build_logging(level="INFO", json=True))
    try:
        structlog.get_logger("test").info("dialing", phone="+79161234567", note="callee 8 916 765 43 21")
        logging.getLogger("foreign").warning("plain stdlib line with +74951234567")
        lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        record = json.loads(lines[0])
        assert record["event"] == "dialing" and record["level"] == "info"
        assert record["phone"] == "+7********67"
        assert "765 43 21" not in record["note"]
        assert "4951234567" not in lines[1]
    finally:
        logging.config.dictConfig(settings.LOGGING)


def test_mask_phone_in_percent_encoded_urls():
    line = 'GET /admin/calls/contact/?q=%2B79165500003 HTTP/1.1'
    assert "9165500003" not in mask_phone(line) and "+7********03" in mask_phone(line)
    assert "9165500003" not in mask_phone("/admin/calls/contact/?q=%2B7%20916%20550-00-03")
    assert mask_phone("/api/calls/?page=2&q=%D0%B4%D0%B0") == "/api/calls/?page=2&q=%D0%B4%D0%B0"


def test_daphne_access_log_goes_through_the_masking_logger():
    """The daphne command line (``python -m config.serve``) logs each request through logging, masked."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "LOG_LEVEL": "INFO", "LOG_JSON": "1",
           "REDIS_URL": settings.REDIS_URL, "PYTHONUNBUFFERED": "1"}
    root = Path(__file__).resolve().parents[2]
    server = subprocess.Popen([sys.executable, "-m", "config.serve", "-b", "127.0.0.1", "-p", str(port),
                               "config.asgi:application"], cwd=root, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/nope/?q=%2B79165500003", timeout=5)
            except urllib.error.HTTPError as exc:
                assert exc.code == 404
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "daphne did not start"
                time.sleep(0.2)
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    access = [line for line in output.splitlines() if "/nope/" in line and '"GET' in line]
    assert access, output[-2000:]
    # the test settings render the console format: "<time> [info     ] <event> [<logger>]"
    assert "[http.access]" in access[0] and '" 404 ' in access[0], access[0]
    assert "9165500003" not in output and "+7********03" in access[0]
