"""Leads in the built-in CRM; external CRMs (Bitrix24) get a copy through the outbox."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Lead(models.Model):
    class Status(models.TextChoices):
        NEW = "new", _("New")
        IN_WORK = "in_work", _("In work")
        QUALIFIED = "qualified", _("Qualified")
        WON = "won", _("Won")
        LOST = "lost", _("Lost")

    call = models.OneToOneField(
        "calls.Call", null=True, blank=True, on_delete=models.SET_NULL, related_name="lead", verbose_name=_("call")
    )
    contact = models.ForeignKey(
        "calls.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="leads",
        verbose_name=_("contact"),
    )
    title = models.CharField(_("title"), max_length=255)
    name = models.CharField(_("name"), max_length=200, blank=True)
    company = models.CharField(_("company"), max_length=200, blank=True)
    phone = models.CharField(_("phone"), max_length=16, blank=True)
    email = models.EmailField(_("email"), blank=True)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.NEW)
    interest = models.PositiveSmallIntegerField(_("interest, 0–100"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    data = models.JSONField(_("collected data"), default=dict, blank=True)
    external_id = models.CharField(_("external CRM id"), max_length=64, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("owner")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title
