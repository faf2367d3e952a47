"""Scripts (versioned dialogue maps) and the turn fields shared by calls and training sessions."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Language(models.TextChoices):
    """The trainer's languages (its personas and scoring speak these)."""

    RU = "ru", _("Russian")
    EN = "en", _("English")


class ScriptLanguage(models.TextChoices):
    """The languages a sales script (and so a call) can be in."""

    RU = "ru", _("Russian")
    EN = "en", _("English")
    UZ = "uz", _("Uzbek")
    TG = "tg", _("Tajik")


class CampaignLanguage(models.TextChoices):
    """A campaign speaks one script language, or ``auto``: the callee's first words pick it."""

    RU = "ru", _("Russian")
    EN = "en", _("English")
    UZ = "uz", _("Uzbek")
    TG = "tg", _("Tajik")
    AUTO = "auto", _("Detect from the callee's speech")


class Script(models.Model):
    """A sales script. ``dialogue_map`` is the format documented in ``dialogs.scriptmap``."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    language = models.CharField(_("language"), max_length=5, choices=ScriptLanguage.choices,
                                default=ScriptLanguage.RU)
    description = models.TextField(_("description"), blank=True)
    dialogue_map = models.JSONField(_("dialogue map"), default=dict)
    version = models.PositiveIntegerField(_("version"), default=0, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("script")
        verbose_name_plural = _("scripts")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class ScriptVersion(models.Model):
    """An immutable snapshot; calls point here so a later edit never rewrites what was said."""

    script = models.ForeignKey(Script, on_delete=models.CASCADE, related_name="versions", verbose_name=_("script"))
    version = models.PositiveIntegerField(_("version"))
    dialogue_map = models.JSONField(_("dialogue map"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("author")
    )

    class Meta:
        verbose_name = _("script version")
        verbose_name_plural = _("script versions")
        ordering = ["script", "-version"]
        constraints = [models.UniqueConstraint(fields=["script", "version"], name="uniq_script_version")]

    def __str__(self) -> str:
        return f"{self.script.name} v{self.version}"


class Speaker(models.TextChoices):
    BOT = "bot", _("Bot")
    USER = "user", _("Person")


class AbstractTurn(models.Model):
    """One utterance with its place in the conversation and the pipeline's latency figures."""

    index = models.PositiveIntegerField(_("index"))
    speaker = models.CharField(_("speaker"), max_length=8, choices=Speaker.choices)
    text = models.TextField(_("text"), blank=True)
    started_ms = models.PositiveIntegerField(_("start, ms from beginning"), null=True, blank=True)
    ended_ms = models.PositiveIntegerField(_("end, ms from beginning"), null=True, blank=True)
    interrupted = models.BooleanField(_("interrupted"), default=False)
    stage = models.CharField(_("stage"), max_length=64, blank=True)
    intent = models.CharField(_("intent"), max_length=64, blank=True)
    objection = models.CharField(_("objection"), max_length=64, blank=True)
    eou_ms = models.FloatField(_("end-of-utterance ms"), null=True, blank=True)
    stt_ms = models.FloatField(_("STT ms"), null=True, blank=True)
    ttft_ms = models.FloatField(_("time to first text ms"), null=True, blank=True)
    tts_ttfb_ms = models.FloatField(_("TTS first byte ms"), null=True, blank=True)
    voice_to_voice_ms = models.FloatField(_("voice-to-voice ms"), null=True, blank=True)
    stt_queue_wait_ms = models.FloatField(_("STT queue wait ms"), null=True, blank=True)
    stt_missed = models.BooleanField(_("speech not recognised"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ["index"]

    def __str__(self) -> str:  # the admin's inline rows show this, not «Turn object (1)»
        return f"{self.index + 1}. {self.get_speaker_display()}"
