"""Readiness checks behind ``/healthz``: the database, Redis and a Celery worker ping."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import connection

from config.celery import app


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    ms: float


def _timed(name: str, probe: Callable[[], str]) -> Check:
    started = time.perf_counter()
    try:
        detail, ok = probe(), True
    except Exception as exc:  # a health page reports failures, it never raises them
        detail, ok = f"{type(exc).__name__}: {exc}", False
    return Check(name, ok, detail, round((time.perf_counter() - started) * 1000, 1))


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


def _redis() -> str:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
        return "pong"
    finally:
        client.close()


def _celery() -> str:
    replies = app.control.ping(timeout=1.0)
    if not replies:
        raise RuntimeError("no worker answered the ping")
    return f"{len(replies)} worker(s)"


def health_checks() -> list[Check]:
    return [_timed("database", _database), _timed("redis", _redis), _timed("celery", _celery)]
