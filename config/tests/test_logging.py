"""Logs are structured and never carry a full phone number."""

import json
import logging

import structlog

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
        from django.conf import settings

        logging.config.dictConfig(settings.LOGGING)
