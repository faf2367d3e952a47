"""The daily call rollup behind the dashboard: one row per day and (campaign, script version, provider)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class DailyCallRollup(models.Model):
    """Counts of one day's calls for one slice. Rebuilt whole per day by ``analytics.services.rollup_day``."""

    day = models.DateField(_("day"))
    campaign = models.ForeignKey("calls.Campaign", on_delete=models.CASCADE, related_name="+")
    script_id = models.IntegerField(_("script"), null=True, blank=True)
    script_version = models.ForeignKey(
        "dialogs.ScriptVersion", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    language = models.CharField(_("language"), max_length=5)
    provider = models.CharField(_("provider"), max_length=20, blank=True)
    calls = models.PositiveIntegerField(default=0)
    connected = models.PositiveIntegerField(default=0)
    talked = models.PositiveIntegerField(default=0)
    interested = models.PositiveIntegerField(default=0)
    leads = models.PositiveIntegerField(default=0)
    contact_obtained = models.PositiveIntegerField(default=0)
    quote_requested = models.PositiveIntegerField(default=0)
    voicemail = models.PositiveIntegerField(default=0)
    no_answer = models.PositiveIntegerField(default=0)
    busy = models.PositiveIntegerField(default=0)
    transferred = models.PositiveIntegerField(default=0)  # handed to a person (issue 14)
    talk_seconds = models.FloatField(default=0)
    # talked calls per whole second of talk time (index = seconds, little-endian uint32), for the median;
    # binary because the dashboard sums hundreds of these per request
    talk_histogram = models.BinaryField(default=b"")
    stages = models.JSONField(default=dict)  # stage reached -> talked calls
    objections = models.JSONField(default=dict)  # class -> [calls raising it, handled, went on to interest/lead]
    other_turns = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("daily call rollup")
        verbose_name_plural = _("daily call rollups")
        indexes = [
            models.Index(fields=["day"], name="rollup_day"),
            models.Index(fields=["campaign", "day"], name="rollup_campaign_day"),
        ]
        permissions = [
            ("view_call_analytics", _("Can see call analytics and experiments")),
            ("export_data", _("Can export calls, leads and training sessions")),
        ]

    def __str__(self) -> str:
        return f"{self.day} #{self.campaign_id}"


class RollupDay(models.Model):
    """A day whose rollup rows are complete; days without one are counted live from the calls."""

    day = models.DateField(_("day"), primary_key=True)
    computed_at = models.DateTimeField(_("computed"))
    calls = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("rolled-up day")
        verbose_name_plural = _("rolled-up days")

    def __str__(self) -> str:
        return str(self.day)
