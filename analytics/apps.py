from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _schedule_after_migrate(sender, **kwargs) -> None:
    from analytics.services import rollup_schedule_ensure  # noqa: PLC0415  app registry: apps.py is imported before models are ready

    rollup_schedule_ensure()


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = _("Analytics")

    def ready(self) -> None:
        post_migrate.connect(_schedule_after_migrate, sender=self, dispatch_uid="analytics.rollup_schedule")
