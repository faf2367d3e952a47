"""Trainees, practice scenarios, training sessions with their turns, and scores."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext
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
    scorecard = models.ForeignKey(
        "Scorecard", null=True, blank=True, on_delete=models.SET_NULL, related_name="scenarios",
        verbose_name=_("scorecard"), help_text=_("Empty = the default scorecard."),
    )
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
    # False: the customer's words that its voice (the TTS) failed on; the trainee read them but never heard them
    voiced = models.BooleanField(_("voiced"), default=True)

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


# --- scorecards, assignments, certification ------------------------------------------------------


class Scorecard(models.Model):
    """What a review checks: stages of yes/no checks with points, and the score that passes.

    Labels are kept as written (the shipped card in English source text) and translated when shown.
    """

    name = models.CharField(_("name"), max_length=200, unique=True)
    pass_threshold = models.PositiveSmallIntegerField(
        _("pass threshold"), default=70, validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("The total (0–100) a session needs to pass."),
    )
    is_default = models.BooleanField(
        _("default"), default=False, help_text=_("Used by scenarios that have no scorecard of their own.")
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("scorecard")
        verbose_name_plural = _("scorecards")
        ordering = ["-is_default", "name"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=models.Q(is_default=True),
                                    name="one_default_scorecard"),
        ]

    def __str__(self) -> str:
        return gettext(self.name)


class ScorecardCheck(models.Model):
    class Rule(models.TextChoices):
        GREETS = "greets", _("Greeted the customer")
        INTRODUCES = "introduces", _("Introduced self and company")
        STATES_PURPOSE = "states_purpose", _("Stated the reason for the call")
        ASKS_QUESTIONS = "asks_questions", _("Asked at least two questions")
        OPEN_QUESTION = "open_question", _("Asked an open question")
        LISTENS = "listens", _("Let the customer talk (talk share 65% or less)")
        BENEFIT = "benefit", _("Named a benefit for the customer")
        TIED_TO_NEEDS = "tied_to_needs", _("Tied the offer to what the customer said")
        CONCRETE = "concrete", _("Gave specifics (numbers, facts)")
        ANSWERED_ALL = "answered_all", _("Answered every objection")
        ACKNOWLEDGED = "acknowledged", _("Acknowledged the customer's view, did not argue")
        HANDLED = "handled", _("Handled objections (question, benefit, acknowledgement)")
        NEXT_STEP = "next_step", _("Proposed a next step")
        COMMITMENT = "commitment", _("Agreed on a concrete time")
        POLITE_CLOSE = "polite_close", _("Closed politely")
        PHRASES = "phrases", _("The trainee said one of the phrases")

    scorecard = models.ForeignKey(Scorecard, on_delete=models.CASCADE, related_name="checks",
                                  verbose_name=_("scorecard"))
    stage = models.CharField(_("stage"), max_length=100, help_text=_("Checks with the same stage are shown together."))
    label = models.CharField(_("check"), max_length=200)
    description = models.CharField(_("what counts"), max_length=400, blank=True)
    points = models.PositiveSmallIntegerField(_("points"), default=5,
                                              validators=[MinValueValidator(1), MaxValueValidator(100)])
    rule = models.CharField(_("how it is checked offline"), max_length=20, choices=Rule.choices)
    phrases = models.CharField(_("phrases"), max_length=500, blank=True,
                               help_text=_("For «said one of the phrases»: phrases separated by commas."))
    order = models.PositiveIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("scorecard check")
        verbose_name_plural = _("scorecard checks")
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return gettext(self.label)

    def clean(self) -> None:
        if self.rule == self.Rule.PHRASES and not [p for p in self.phrases.split(",") if p.strip()]:
            raise ValidationError({"phrases": _("Give the phrases this check looks for.")})


class Assignment(models.Model):
    """A manager asks trainees (by name or by team) to pass a scenario by a date, in so many attempts."""

    scenario = models.ForeignKey(Scenario, on_delete=models.CASCADE, related_name="assignments",
                                 verbose_name=_("scenario"))
    trainees = models.ManyToManyField(Trainee, blank=True, related_name="assignments", verbose_name=_("trainees"))
    team = models.CharField(_("team"), max_length=100, blank=True,
                            help_text=_("Everyone in this team is assigned, as well as the trainees chosen above."))
    due_at = models.DateTimeField(_("due"))
    pass_threshold = models.PositiveSmallIntegerField(
        _("pass threshold"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("Empty = the scenario's scorecard threshold."),
    )
    max_attempts = models.PositiveSmallIntegerField(_("attempts"), default=3,
                                                    validators=[MinValueValidator(1), MaxValueValidator(50)])
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("assigned by"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("assignment")
        verbose_name_plural = _("assignments")
        ordering = ["due_at", "id"]

    def __str__(self) -> str:
        return f"{self.scenario} — {self.due_at:%Y-%m-%d}"


class Certification(models.Model):
    """The trainee passed the scenario: awarded once, by the first passing session."""

    trainee = models.ForeignKey(Trainee, on_delete=models.CASCADE, related_name="certifications",
                                verbose_name=_("trainee"))
    scenario = models.ForeignKey(Scenario, on_delete=models.CASCADE, related_name="certifications",
                                 verbose_name=_("scenario"))
    session = models.ForeignKey(TrainingSession, null=True, on_delete=models.SET_NULL, related_name="+",
                                verbose_name=_("session"))
    assignment = models.ForeignKey(Assignment, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="certifications", verbose_name=_("assignment"))
    total = models.PositiveSmallIntegerField(_("score"))
    certified_at = models.DateTimeField(_("certified"))

    class Meta:
        verbose_name = _("certification")
        verbose_name_plural = _("certifications")
        ordering = ["-certified_at"]
        constraints = [models.UniqueConstraint(fields=["trainee", "scenario"], name="uniq_certification")]

    def __str__(self) -> str:
        return f"{self.trainee} — {self.scenario}"
