"""The project shell as a Django app, so it can own roles, commands and templates."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ConfigAppConfig(AppConfig):
    name = "config"
    verbose_name = "Console"

    def ready(self) -> None:
        from config.roles import sync_roles_after_migrate  # noqa: PLC0415  app registry: apps.py is imported before models are ready

        # Groups and their permissions must exist on every fresh database, tests included.
        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="config.sync_roles")
