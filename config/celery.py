"""The Celery app: configuration from Django settings, tasks discovered in every app."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("voice_sales")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
