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


class Task(models.Model):
    """Something a person must do for a lead, e.g. call back at the time the callee asked for."""

    class Kind(models.TextChoices):
        CALLBACK = "callback", _("Call back")
        FOLLOW_UP = "follow_up", _("Follow up")
        OTHER = "other", _("Other")

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="tasks", verbose_name=_("lead"))
    call = models.ForeignKey(
        "calls.Call", null=True, blank=True, on_delete=models.SET_NULL, related_name="crm_tasks", verbose_name=_("call")
    )
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.CALLBACK)
    title = models.CharField(_("title"), max_length=255)
    due_text = models.CharField(_("when (as said)"), max_length=100, blank=True)
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    done = models.BooleanField(_("done"), default=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("owner")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        ordering = ["done", "due_at", "-created_at"]
        constraints = [models.UniqueConstraint(fields=["call", "kind"], name="uniq_task_per_call_kind")]

    def __str__(self) -> str:
        return self.title


class FollowUp(models.Model):
    """The message sent after a call (SMS, Telegram or the console in development)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    call = models.OneToOneField(
        "calls.Call", on_delete=models.CASCADE, related_name="follow_up_message", verbose_name=_("call")
    )
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="follow_ups", verbose_name=_("lead")
    )
    channel = models.CharField(_("channel"), max_length=20, default="console")
    to = models.CharField(_("to"), max_length=64, blank=True)
    text = models.TextField(_("text"))
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.PENDING)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("send attempts"), default=0)
    external_id = models.CharField(_("provider message id"), max_length=128, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("follow-up message")
        verbose_name_plural = _("follow-up messages")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.channel} → {self.to}"
