"""Trainees, practice scenarios, training sessions with their turns, and scores."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from dialogs.models import AbstractTurn, Language, Script


class Difficulty(models.TextChoices):
    EASY = "easy", _("Easy")
    MEDIUM = "medium", _("Medium")
    HARD = "hard", _("Hard")


class Trainee(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="trainee", verbose_name=_("user")
    )
    team = models.CharField(_("team"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("trainee")
        verbose_name_plural = _("trainees")
        ordering = ["user__last_name", "user__first_name", "user__username"]

    def __str__(self) -> str:
        return self.user.get_full_name() or self.user.get_username()


class Scenario(models.Model):
    class Mode(models.TextChoices):
        PIPELINE = "pipeline", _("Built-in voice pipeline")
        ELEVENLABS = "elevenlabs", _("ElevenLabs Conversational AI")

    title = models.CharField(_("title"), max_length=200, unique=True)
    language = models.CharField(_("conversation language"), max_length=5, choices=Language.choices, default="ru")
    product_description = models.TextField(_("product description"))
    persona = models.CharField(_("customer persona"), max_length=64, default="sergey_medium")
    persona_description = models.TextField(_("persona description"), blank=True)
    difficulty = models.CharField(_("difficulty"), max_length=8, choices=Difficulty.choices, default=Difficulty.MEDIUM)
    voice = models.CharField(_("voice"), max_length=100, blank=True)
    end_phrase = models.CharField(
        _("end phrase"), max_length=100, blank=True, help_text=_("Empty = «Завершить» (ru) / “finish session” (en).")
    )
    script = models.ForeignKey(
        Script, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("reference script")
    )
    mode = models.CharField(_("mode"), max_length=12, choices=Mode.choices, default=Mode.PIPELINE)
    elevenlabs_agent_id = models.CharField(_("ElevenLabs agent id"), max_length=100, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("scenario")
        verbose_name_plural = _("scenarios")
        ordering = ["difficulty", "title"]

    def __str__(self) -> str:
        return self.title


class TrainingSession(models.Model):
    """One practice conversation. Only ``training.services`` changes ``status``."""

    class Status(models.TextChoices):
        CREATED = "created", _("Created")
        ACTIVE = "active", _("In progress")
        ENDED = "ended", _("Ended")
        SCORING = "scoring", _("Scoring")
        SCORED = "scored", _("Scored")
        FAILED = "failed", _("Scoring failed")

    trainee = models.ForeignKey(Trainee, on_delete=models.CASCADE, related_name="sessions", verbose_name=_("trainee"))
    scenario = models.ForeignKey(
        Scenario, null=True, blank=True, on_delete=models.SET_NULL, related_name="sessions", verbose_name=_("scenario")
    )
    language = models.CharField(_("language"), max_length=5, choices=Language.choices, default=Language.RU)
    product_description = models.TextField(_("product description"), blank=True)
    persona = models.CharField(_("persona"), max_length=64, blank=True)
    difficulty = models.CharField(_("difficulty"), max_length=8, choices=Difficulty.choices, default=Difficulty.MEDIUM)
    voice = models.CharField(_("voice"), max_length=100, blank=True)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.CREATED)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    end_reason = models.CharField(_("end reason"), max_length=32, blank=True)
    audio = models.FileField(_("recording"), upload_to="training/%Y/%m/", blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("training session")
        verbose_name_plural = _("training sessions")
        ordering = ["-created_at"]
        permissions = [("rescore_trainingsession", _("Can run the scoring of a session again"))]

    def __str__(self) -> str:
        return f"#{self.pk} {self.trainee} — {self.scenario or self.persona}"


class SessionTurn(AbstractTurn):
    session = models.ForeignKey(
        TrainingSession, on_delete=models.CASCADE, related_name="turns", verbose_name=_("session")
    )

    class Meta(AbstractTurn.Meta):
        verbose_name = _("session turn")
        verbose_name_plural = _("session turns")
        constraints = [models.UniqueConstraint(fields=["session", "index"], name="uniq_session_turn_index")]


class Score(models.Model):
    session = models.OneToOneField(
        TrainingSession, on_delete=models.CASCADE, related_name="score", verbose_name=_("session")
    )
    total = models.PositiveSmallIntegerField(_("total, 0–100"))
    rubric = models.JSONField(_("rubric"), default=dict)
    metrics = models.JSONField(_("conversation metrics"), default=dict)
    advice = models.TextField(_("advice"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("score")
        verbose_name_plural = _("scores")

    def __str__(self) -> str:
        return f"{self.session_id}: {self.total}"


class SessionEvent(models.Model):
    """The audit trail of a session's state changes, written by ``training.services`` only."""

    session = models.ForeignKey(
        TrainingSession, on_delete=models.CASCADE, related_name="events", verbose_name=_("session")
    )
    kind = models.CharField(_("kind"), max_length=32)
    data = models.JSONField(_("data"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("session event")
        verbose_name_plural = _("session events")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.session_id}: {self.kind}"
