"""Forms for the console: contact import, rehearsals, a single call."""

from django import forms
from django.utils.translation import gettext_lazy as _

from calls.models import Campaign
from calls.validators import normalize_phone
from dialogs.models import CampaignLanguage, Script


class ContactImportForm(forms.Form):
    file = forms.FileField(label=_("CSV or XLSX file"))

    def clean_file(self):
        upload = self.cleaned_data["file"]
        name = upload.name.lower()
        if not name.endswith((".csv", ".xlsx")):
            raise forms.ValidationError(_("Upload a .csv or .xlsx file."))
        if upload.size > 20 * 1024 * 1024:
            raise forms.ValidationError(_("The file is larger than 20 MB."))
        return upload

    @property
    def file_format(self) -> str:
        return self.cleaned_data["file"].name.lower().rsplit(".", 1)[-1]


class RehearsalForm(forms.Form):
    contacts = forms.IntegerField(label=_("Demo contacts"), min_value=1, max_value=50, initial=5)
    seed = forms.IntegerField(label=_("Seed"), min_value=0, initial=1, required=False)

    def clean_seed(self):
        return self.cleaned_data.get("seed") or 1


class SingleCallForm(forms.Form):
    """The console's «single call»: who, in which language and voice, with which script or greeting."""

    phone = forms.CharField(label=_("Phone"), max_length=32)
    name = forms.CharField(label=_("Name"), max_length=200, required=False)
    company = forms.CharField(label=_("Company"), max_length=200, required=False)
    language = forms.ChoiceField(label=_("Language"), choices=(), initial="ru")
    voice = forms.CharField(label=_("Voice"), max_length=100, required=False,
                            help_text=_("TTS voice id; empty = default."))
    script = forms.ModelChoiceField(label=_("Script"), queryset=None, required=False,
                                    empty_label=_("First active script in the language"))
    greeting = forms.CharField(label=_("Greeting"), required=False, max_length=1000,
                               widget=forms.Textarea(attrs={"rows": 2}),
                               help_text=_("The opening line instead of the script's greeting; empty = the script's."))
    timezone = forms.CharField(label=_("Callee's time zone"), max_length=64, required=False,
                               help_text=_("Empty: from the number's country."))
    telephony_provider = forms.ChoiceField(label=_("Telephony provider"), choices=(), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["language"].choices = CampaignLanguage.choices
        self.fields["script"].queryset = Script.objects.filter(is_active=True).order_by("name")
        self.fields["telephony_provider"].choices = [("", _("As configured")), *Campaign.Provider.choices]

    def clean_phone(self):
        return normalize_phone(self.cleaned_data["phone"])
