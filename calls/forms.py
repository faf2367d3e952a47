"""Forms for the console: contact import."""

from django import forms
from django.utils.translation import gettext_lazy as _


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
