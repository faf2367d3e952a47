"""Forms of the trainer pages: starting a session."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from config.voice import shared_provider
from dialogs.models import Language
from training.models import Difficulty, Scenario
from training.selectors import scenarios_available

PERSONA_CHOICES = [
    ("", _("As in the scenario")),
    ("olga_easy", _("Olga, purchasing manager (friendly)")),
    ("sergey_medium", _("Sergey, head of logistics (sceptical)")),
    ("igor_hard", _("Igor, CEO (irritable)")),
    ("anna_secretary", _("Anna, secretary (gatekeeper)")),
    ("john_en", _("John Miller, purchasing manager (English)")),
]


class SessionStartForm(forms.Form):
    scenario = forms.ModelChoiceField(
        label=_("Scenario"), queryset=Scenario.objects.none(), required=False, empty_label=_("— custom product —")
    )
    product_description = forms.CharField(
        label=_("Product description"), required=False, max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("For a custom session: what you sell, to whom, and why it is better."),
    )
    language = forms.ChoiceField(
        label=_("Conversation language"), choices=[("", _("As in the scenario")), *Language.choices], required=False
    )
    persona = forms.ChoiceField(label=_("Customer"), choices=PERSONA_CHOICES, required=False)
    difficulty = forms.ChoiceField(
        label=_("Difficulty"), choices=[("", _("As in the scenario")), *Difficulty.choices], required=False
    )
    voice = forms.CharField(
        label=_("Voice"), required=False, max_length=100,
        help_text=_("Leave empty for the language's default voice."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["scenario"].queryset = scenarios_available()

    def clean_product_description(self) -> str:
        return self.cleaned_data["product_description"].strip()

    def clean_voice(self) -> str:
        voice = self.cleaned_data["voice"].strip()
        if voice and not all(c.isalnum() or c in "-_+." for c in voice):
            raise forms.ValidationError(_("A voice name has only letters, digits and - _ + ."))
        if voice and shared_provider("tts").has_voice(voice) is False:
            # otherwise the customer would stay silent while the page says «Подключено. Говорите.»
            raise forms.ValidationError(
                _("The speech engine has no voice «%(voice)s». Leave the field empty for the default voice.")
                % {"voice": voice})
        return voice

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        scenario = data.get("scenario")
        if scenario is None:
            if not data.get("product_description"):
                self.add_error(
                    "product_description", _("Choose a scenario or describe the product you want to practise selling.")
                )
            elif len(data["product_description"]) < 20:
                self.add_error("product_description", _("Describe the product in at least 20 characters."))
            if not data.get("language"):
                data["language"] = "ru"
        elif scenario.mode == Scenario.Mode.ELEVENLABS and not scenario.elevenlabs_agent_id:
            self.add_error("scenario", _("This scenario has no ElevenLabs agent configured."))
        return data
