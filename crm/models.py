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

    # one message per channel: an SMS and a Telegram message when the campaign sends both
    call = models.ForeignKey(
        "calls.Call", on_delete=models.CASCADE, related_name="follow_up_messages", verbose_name=_("call")
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
    outbox_key = models.CharField(_("outbox key"), max_length=200, blank=True, db_index=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("follow-up message")
        verbose_name_plural = _("follow-up messages")
        ordering = ["-created_at"]
        constraints = [  # written once per call and channel (``follow_up:<call>`` / ``follow_up:<call>:telegram``)
            models.UniqueConstraint(fields=["outbox_key"], condition=~models.Q(outbox_key=""),
                                    name="uniq_follow_up_outbox_key"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} → {self.to}"


class OutboxMessage(models.Model):
    """Something that must leave the house (a CRM record, a follow-up message, a webhook), written in the
    same transaction as the state change that caused it and delivered after the commit by its own task.

    ``key`` is our idempotency key: the same key is never enqueued twice, and it travels with the record
    (Bitrix24's ``originId``, the webhook's id) so a retry after a lost answer finds the first copy.
    """

    class Kind(models.TextChoices):
        CRM_LEAD = "crm_lead", _("CRM lead")
        FOLLOW_UP = "follow_up", _("Follow-up message")
        WEBHOOK = "webhook", _("Webhook")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    key = models.CharField(_("idempotency key"), max_length=200, unique=True)
    target = models.CharField(_("target"), max_length=64, help_text=_("Provider name or webhook endpoint id."))
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    max_attempts = models.PositiveSmallIntegerField(_("max attempts"), default=12)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    # a delivery in progress holds the message until then; a worker that died lets it go at that time
    leased_until = models.DateTimeField(_("held by a worker until"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    final_reason = models.CharField(_("reason it failed for good"), max_length=300, blank=True)
    result = models.JSONField(_("result"), default=dict, blank=True, help_text=_("What the receiver answered."))
    progress = models.JSONField(_("steps done"), default=dict, blank=True)
    call = models.ForeignKey(
        "calls.Call", null=True, blank=True, on_delete=models.SET_NULL, related_name="outbox", verbose_name=_("call")
    )
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="outbox", verbose_name=_("lead")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)

    class Meta:
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="outbox_due")]

    def __str__(self) -> str:
        return self.key


class WebhookEndpoint(models.Model):
    """A receiver of signed events (``call.analyzed``, ``lead.created``): any CRM that takes webhooks."""

    class Event(models.TextChoices):
        CALL_ANALYZED = "call.analyzed", "call.analyzed"
        LEAD_CREATED = "lead.created", "lead.created"

    name = models.CharField(_("name"), max_length=200)
    url = models.URLField(_("URL"), max_length=500)
    secret = models.CharField(
        _("signing secret"), max_length=200, help_text=_("Shared with the receiver; it signs every delivery.")
    )
    events = models.JSONField(_("events"), default=list, help_text=_('e.g. ["call.analyzed", "lead.created"]'))
    campaign = models.ForeignKey(
        "calls.Campaign", null=True, blank=True, on_delete=models.CASCADE, related_name="webhooks",
        verbose_name=_("campaign"), help_text=_("Empty: every campaign."),
    )
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
