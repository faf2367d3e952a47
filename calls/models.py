"""Campaigns, contacts, the do-not-call list, calls with their lifecycle events, and call turns."""

from datetime import time

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from calls.validators import validate_e164, validate_timezone
from dialogs.models import AbstractTurn, CampaignLanguage, Script, ScriptVersion


class ContactList(models.Model):
    name = models.CharField(_("name"), max_length=200, unique=True)
    description = models.TextField(_("description"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("contact list")
        verbose_name_plural = _("contact lists")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    contact_list = models.ForeignKey(
        ContactList, on_delete=models.CASCADE, related_name="contacts", verbose_name=_("contact list")
    )
    phone = models.CharField(_("phone"), max_length=16, validators=[validate_e164])
    name = models.CharField(_("name"), max_length=200, blank=True)
    company = models.CharField(_("company"), max_length=200, blank=True)
    timezone = models.CharField(_("time zone"), max_length=64, default="Europe/Moscow", validators=[validate_timezone])
    variables = models.JSONField(_("custom variables"), default=dict, blank=True)
    do_not_call = models.BooleanField(_("do not call"), default=False)
    # bound when the contact opened the company's Telegram bot from the follow-up link (crm.telegram)
    telegram_chat_id = models.CharField(_("Telegram chat id"), max_length=32, blank=True)
    finished = models.BooleanField(_("finished"), default=False, help_text=_("No more attempts will be planned."))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["contact_list", "id"]
        constraints = [models.UniqueConstraint(fields=["contact_list", "phone"], name="uniq_contact_phone_per_list")]

    def __str__(self) -> str:
        return f"{self.name or self.phone}"


class DoNotCall(models.Model):
    """Numbers nobody may call, whatever list they appear in."""

    phone = models.CharField(_("phone"), max_length=16, unique=True, validators=[validate_e164])
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("added"), auto_now_add=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("added by")
    )

    class Meta:
        verbose_name = _("do-not-call number")
        verbose_name_plural = _("do-not-call list")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.phone


class CallOutcome(models.TextChoices):
    COMPLETED = "completed", _("Completed")
    NO_ANSWER = "no_answer", _("No answer")
    BUSY = "busy", _("Busy")
    FAILED = "failed", _("Failed")
    VOICEMAIL = "voicemail", _("Voicemail")


def default_retry_outcomes() -> list[str]:
    return [CallOutcome.NO_ANSWER, CallOutcome.BUSY, CallOutcome.VOICEMAIL]


class VoicemailMode(models.TextChoices):
    """What a campaign's call does when an answering machine picks up."""

    OFF = "off", _("Off: talk as to a person")
    HANG_UP = "hang_up", _("Hang up")
    LEAVE_MESSAGE = "leave_message", _("Leave the script's voicemail message")


def default_weekdays() -> list[int]:
    return [0, 1, 2, 3, 4]


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused")
        COMPLETED = "completed", _("Completed")
        ARCHIVED = "archived", _("Archived")

    class TimezonePolicy(models.TextChoices):
        CONTACT = "contact", _("Contact's local time")
        CAMPAIGN = "campaign", _("Campaign's time zone")

    class Provider(models.TextChoices):
        SIMULATED = "simulated", _("Simulated (offline rehearsal)")
        VOXIMPLANT = "voximplant", "Voximplant"
        TWILIO = "twilio", "Twilio"

    name = models.CharField(_("name"), max_length=200, unique=True)
    script = models.ForeignKey(Script, on_delete=models.PROTECT, related_name="campaigns", verbose_name=_("script"))
    contact_list = models.ForeignKey(
        ContactList, on_delete=models.PROTECT, related_name="campaigns", verbose_name=_("contact list")
    )
    language = models.CharField(_("language"), max_length=5, choices=CampaignLanguage.choices,
                                default=CampaignLanguage.RU)
    language_scripts = models.ManyToManyField(
        Script, blank=True, related_name="language_campaigns", verbose_name=_("scripts in other languages"),
        help_text=_("With the language «auto»: the same script in the other languages the callee may answer in."),
    )
    voice = models.CharField(_("voice"), max_length=100, blank=True, help_text=_("TTS voice id; empty = default."))

    class FollowUpChannel(models.TextChoices):
        SMS = "sms", _("SMS")
        TELEGRAM = "telegram", _("Telegram")
        BOTH = "both", _("SMS and Telegram")
        NONE = "none", _("No follow-up")

    follow_up_channel = models.CharField(
        _("follow-up channel"), max_length=8, choices=FollowUpChannel.choices, default=FollowUpChannel.SMS,
        help_text=_("Telegram: a message from the company's bot when the contact has opened it, else an SMS "
                    "with a link to the bot."))
    greeting = models.TextField(
        _("greeting"), blank=True,
        help_text=_("The opening line instead of the script's greeting; empty = the script's."),
    )
    single = models.BooleanField(_("single call"), default=False, editable=False,
                                 help_text=_("Started as one call from the console or the API."))
    telephony_provider = models.CharField(
        _("telephony provider"), max_length=20, choices=Provider.choices, default=Provider.SIMULATED
    )
    caller_id = models.CharField(_("caller id"), max_length=16, blank=True)
    voicemail_mode = models.CharField(
        _("on an answering machine"), max_length=16, choices=VoicemailMode.choices, default=VoicemailMode.OFF,
        help_text=_("Detect answering machines and hang up, or leave the script's voicemail message after the beep. "
                    "The call ends as «voicemail» and the retry rules apply."),
    )
    carrier_amd = models.BooleanField(
        _("carrier's answering-machine detection"), default=True,
        help_text=_("Also ask the carrier to detect machines (Twilio, Voximplant); the built-in detector listens "
                    "on every carrier."),
    )
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.DRAFT)
    # Calling window, always clamped to 08:00–21:00 in the callee's local time by the planner.
    window_start = models.TimeField(_("window start"), default=time(10, 0))
    window_end = models.TimeField(_("window end"), default=time(19, 0))
    weekdays = models.JSONField(_("weekdays"), default=default_weekdays, help_text=_("0 = Monday … 6 = Sunday."))
    timezone_policy = models.CharField(
        _("time-zone policy"), max_length=10, choices=TimezonePolicy.choices, default=TimezonePolicy.CONTACT
    )
    timezone = models.CharField(
        _("campaign time zone"), max_length=64, default="Europe/Moscow", validators=[validate_timezone]
    )
    max_concurrent_calls = models.PositiveIntegerField(_("concurrency cap"), default=5)
    max_attempts = models.PositiveIntegerField(_("max attempts per contact"), default=3)
    retry_interval_minutes = models.PositiveIntegerField(_("retry interval, minutes"), default=120)
    retry_outcomes = models.JSONField(_("outcomes that retry"), default=default_retry_outcomes)
    average_call_seconds = models.PositiveIntegerField(
        _("expected call length, s"), default=120, help_text=_("Used to spread calls under the concurrency cap.")
    )
    simulation = models.JSONField(
        _("simulation"), default=dict, blank=True,
        help_text=_('Simulated provider only: the outcome shares, the seed and the carrier\'s options for this '
                    'campaign over the configured ones, e.g. {"answer": 0.6, "no_answer": 0.2, "busy": 0.1, '
                    '"voicemail": 0.1, "seed": 1, "pace_speed": 4, "callee_stt": "transcript"}.'),
    )
    schedule = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="campaign",
        verbose_name=_("planning schedule"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("created by")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class Call(models.Model):
    """One attempt to reach a contact. Only ``calls.services`` changes ``status``."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        DIALING = "dialing", _("Dialing")
        RINGING = "ringing", _("Ringing")
        IN_PROGRESS = "in_progress", _("In progress")
        ENDED = "ended", _("Ended")
        ANALYSING = "analysing", _("Analysing")
        FOLLOW_UP = "follow_up", _("Follow-up")
        CRM = "crm", _("CRM")
        DONE = "done", _("Done")
        CANCELED = "canceled", _("Canceled")

    class Disposition(models.TextChoices):
        INTERESTED = "interested", _("Interested")
        CALLBACK = "callback", _("Callback")
        NOT_INTERESTED = "not_interested", _("Not interested")
        NO_DECISION_MAKER = "no_decision_maker", _("No decision maker")
        WRONG_NUMBER = "wrong_number", _("Wrong number")
        VOICEMAIL = "voicemail", _("Voicemail")
        NO_ANSWER = "no_answer", _("No answer")
        BUSY = "busy", _("Busy")

    class CrmStatus(models.TextChoices):
        NONE = "none", _("None")
        LEAD = "lead", _("Lead")
        TASK = "task", _("Task")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="calls", verbose_name=_("campaign"))
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="calls", verbose_name=_("contact"))
    script_version = models.ForeignKey(
        ScriptVersion, null=True, blank=True, on_delete=models.PROTECT, verbose_name=_("script version")
    )
    attempt = models.PositiveIntegerField(_("attempt"), default=1)
    provider = models.CharField(_("provider"), max_length=20, blank=True)
    provider_call_id = models.CharField(_("provider call id"), max_length=128, blank=True, db_index=True)
    # where the live call takes commands, when the carrier gives one (Voximplant's media_session_access_url)
    provider_control_url = models.CharField(_("provider control URL"), max_length=500, blank=True, editable=False)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True)
    outcome = models.CharField(_("outcome"), max_length=12, choices=CallOutcome.choices, blank=True)
    scheduled_for = models.DateTimeField(_("scheduled for"), null=True, blank=True, db_index=True)
    dispatched_at = models.DateTimeField(_("handed to a worker"), null=True, blank=True)
    queued_at = models.DateTimeField(_("queued"), auto_now_add=True)
    dialing_at = models.DateTimeField(_("dialing"), null=True, blank=True)
    # set just before each request to the carrier; cleared when the carrier refused it outright
    dial_requested_at = models.DateTimeField(_("dial requested"), null=True, blank=True)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    done_at = models.DateTimeField(_("done"), null=True, blank=True)
    duration_s = models.FloatField(_("duration, s"), null=True, blank=True)
    # the language the call went on in after its campaign in «auto» heard the callee (calls.language)
    language = models.CharField(_("language heard"), max_length=5, blank=True)
    disposition = models.CharField(_("disposition"), max_length=20, choices=Disposition.choices, blank=True)
    summary = models.TextField(_("summary"), blank=True)
    follow_up = models.TextField(_("follow-up message"), blank=True)
    interest = models.PositiveSmallIntegerField(_("interest, 0–100"), null=True, blank=True)
    crm_status = models.CharField(_("CRM status"), max_length=8, choices=CrmStatus.choices, blank=True)
    analysis = models.JSONField(_("analysis"), default=dict, blank=True)
    analysis_error = models.TextField(_("analysis error"), blank=True)
    recording = models.FileField(_("recording"), upload_to="calls/%Y/%m/", blank=True)
    # the bot handed the call to a person (cold transfer): when, and to which number or queue
    transferred_at = models.DateTimeField(_("transferred"), null=True, blank=True)
    transfer_target = models.CharField(_("transferred to"), max_length=80, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("call")
        verbose_name_plural = _("calls")
        ordering = ["-queued_at"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "contact", "attempt"], name="uniq_call_attempt"),
        ]
        indexes = [
            models.Index(fields=["campaign", "status"], name="call_campaign_status"),
            # the analytics filters and the rollup refresh (analytics.selectors)
            models.Index(fields=["queued_at"], name="call_queued_at"),
            models.Index(fields=["campaign", "queued_at"], name="call_campaign_queued_at"),
            models.Index(fields=["disposition"], name="call_disposition"),
            models.Index(fields=["crm_status"], name="call_crm_status"),
            models.Index(fields=["done_at"], name="call_done_at"),
            models.Index(fields=["ended_at"], name="call_ended_at"),
        ]
        permissions = [("monitor_call", _("Can watch calls live"))]

    def __str__(self) -> str:
        return f"#{self.pk} {self.contact} ({self.get_status_display()})"


# Groups of call statuses that the lifecycle, the planner and the dialler agree on (calls.services).
ACTIVE_STATUSES = (Call.Status.QUEUED, Call.Status.DIALING, Call.Status.RINGING, Call.Status.IN_PROGRESS)
LIVE_STATUSES = (Call.Status.DIALING, Call.Status.RINGING, Call.Status.IN_PROGRESS)  # against the concurrency cap
AFTER_END_STATUSES = (Call.Status.ENDED, Call.Status.ANALYSING, Call.Status.FOLLOW_UP, Call.Status.CRM,
                      Call.Status.DONE)
FINAL_STATUSES = (Call.Status.DONE, Call.Status.CANCELED)


class CallEvent(models.Model):
    """The audit trail of a call: one row per status change or notable event."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="events", verbose_name=_("call"))
    from_status = models.CharField(_("from"), max_length=12, blank=True)
    to_status = models.CharField(_("to"), max_length=12, blank=True)
    kind = models.CharField(_("kind"), max_length=32, default="status")
    data = models.JSONField(_("data"), default=dict, blank=True)
    created_at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("call event")
        verbose_name_plural = _("call events")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        def label(code: str) -> str:  # the admin shows this: labels, not raw codes
            return str(Call.Status(code).label) if code in Call.Status.values else (code or "—")

        return f"{label(self.from_status)} → {label(self.to_status)}"


class Turn(AbstractTurn):
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="turns", verbose_name=_("call"))

    class Meta(AbstractTurn.Meta):
        verbose_name = _("call turn")
        verbose_name_plural = _("call turns")
        constraints = [models.UniqueConstraint(fields=["call", "index"], name="uniq_call_turn_index")]


class ExperimentMetric(models.TextChoices):
    """The rate an A/B experiment is judged by (a share of the variant's calls)."""

    CONNECT = "connect", _("Connect rate")
    TALK = "talk", _("Talk rate")
    INTEREST = "interest", _("Interest rate")
    LEAD = "lead", _("Lead rate")
    CONTACT = "contact", _("Contact-obtained rate")
    QUOTE = "quote", _("Quote-requested rate")


class Experiment(models.Model):
    """An A/B test of script variants inside one campaign; each contact sticks to one variant."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        STOPPED = "stopped", _("Stopped")

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="experiments", verbose_name=_("campaign")
    )
    name = models.CharField(_("name"), max_length=200)
    primary_metric = models.CharField(
        _("primary metric"), max_length=12, choices=ExperimentMetric.choices, default=ExperimentMetric.LEAD
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.RUNNING)
    baseline_rate = models.FloatField(
        _("expected baseline rate"), default=0.1,
        help_text=_("The control's rate you expect (0–1), used for the sample size until the control has data."),
    )
    minimum_effect = models.FloatField(
        _("smallest effect to detect"), default=0.03,
        help_text=_("Absolute difference in the rate (0–1), e.g. 0.03 = three percentage points."),
    )
    alpha = models.FloatField(_("significance level"), default=0.05)
    power = models.FloatField(_("power"), default=0.8)
    started_at = models.DateTimeField(_("started"), auto_now_add=True)
    stopped_at = models.DateTimeField(_("stopped"), null=True, blank=True)
    winner = models.ForeignKey(
        "ExperimentVariant", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("promoted variant"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("created by")
    )

    class Meta:
        verbose_name = _("script experiment")
        verbose_name_plural = _("script experiments")
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["campaign"], condition=models.Q(status="running"),
                                    name="one_running_experiment_per_campaign"),
        ]

    def __str__(self) -> str:
        return self.name


class ExperimentVariant(models.Model):
    experiment = models.ForeignKey(
        Experiment, on_delete=models.CASCADE, related_name="variants", verbose_name=_("experiment")
    )
    name = models.CharField(_("name"), max_length=50)
    script = models.ForeignKey(Script, on_delete=models.PROTECT, related_name="+", verbose_name=_("script"))
    weight = models.PositiveSmallIntegerField(_("allocation weight"), default=50)

    class Meta:
        verbose_name = _("experiment variant")
        verbose_name_plural = _("experiment variants")
        ordering = ["experiment", "id"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "script"], name="uniq_variant_script"),
            models.UniqueConstraint(fields=["experiment", "name"], name="uniq_variant_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.script.name}"


class ExperimentAssignment(models.Model):
    """Which variant a contact got; written once, so a contact keeps its script on every attempt."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="assignments")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    variant = models.ForeignKey(ExperimentVariant, on_delete=models.CASCADE, related_name="assignments")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("experiment assignment")
        verbose_name_plural = _("experiment assignments")
        constraints = [models.UniqueConstraint(fields=["experiment", "contact"], name="uniq_experiment_contact")]

    def __str__(self) -> str:
        return f"{self.contact_id} -> {self.variant_id}"
