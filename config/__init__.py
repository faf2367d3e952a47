"""Project shell: settings, ASGI/Celery entry points, roles, health, demo data and the dev runner."""

from config.celery import app as celery_app

__all__ = ("celery_app",)
