"""The Celery app: configuration from Django settings, tasks discovered in every app."""

import logging
import os
from urllib.parse import urlsplit

from celery import Celery
from django.conf import settings
from django.utils.translation import gettext

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("voice_sales")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
log = logging.getLogger(__name__)


class NoWorker(RuntimeError):
    """No Celery worker answered on the configured broker: nothing would run the tasks."""


def workers_answering(*, timeout_s: float = 3.0, limit: int | None = None) -> list[str]:
    """The names of the Celery workers that answer a ping on the configured broker (none: an empty list).

    The ping waits all of ``timeout_s`` for answers, unless ``limit`` answers came sooner.
    """
    try:
        replies = app.control.ping(timeout=timeout_s, limit=limit) or []
    except Exception as exc:  # the broker itself is away
        log.warning("no answer from the broker: %s", exc)
        return []
    return sorted(name for reply in replies for name in reply)


def worker_required(*, timeout_s: float = 3.0) -> list[str]:
    """The first worker to answer (at once when one runs), or ``NoWorker`` saying what to start (commands and
    pages that hand work to the running stack)."""
    names = workers_answering(timeout_s=timeout_s, limit=1)
    if not names:
        raise NoWorker(gettext(
            "No Celery worker answered on %(broker)s within %(seconds)s s. Start the stack (make run, or "
            "python manage.py run_dev) or a worker (celery -A config worker) on the same broker (REDIS_URL) "
            "and database, then try again.") % {"broker": _redacted(settings.CELERY_BROKER_URL), "seconds": timeout_s})
    return names


def _redacted(url: str) -> str:
    """A broker URL without its password, for messages."""
    password = urlsplit(url).password
    return url.replace(f":{password}@", ":***@", 1) if password else url
