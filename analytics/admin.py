"""Admin for script experiments (the models live in ``calls``; the pages that read them live here)."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.utils.translation import gettext_lazy as _

from calls.models import Experiment, ExperimentVariant


class VariantFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        kept = [f.cleaned_data for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        if len(kept) < 2:
            raise ValidationError(_("An experiment needs at least two variants."))
        if len({d["script"].pk for d in kept if d.get("script")}) != len(kept):
            raise ValidationError(_("Each variant needs its own script."))
        if any(not d.get("weight") for d in kept):
            raise ValidationError(_("Every variant needs a positive allocation weight."))


class ExperimentForm(forms.ModelForm):
    class Meta:
        model = Experiment
        fields = ("campaign", "name", "primary_metric", "baseline_rate", "minimum_effect", "alpha", "power")

    def clean(self):
        data = super().clean()
        campaign = data.get("campaign")
        if self.instance.pk is None and campaign is not None and Experiment.objects.filter(
                campaign=campaign, status=Experiment.Status.RUNNING).exists():
            raise ValidationError(_("This campaign already runs an experiment; stop it first."))
        for name in ("baseline_rate", "minimum_effect", "alpha", "power"):
            value = data.get(name)
            if value is not None and not 0 < value < 1:
                self.add_error(name, _("Rates are shares between 0 and 1."))
        return data


class VariantInline(admin.TabularInline):
    model = ExperimentVariant
    formset = VariantFormSet
    extra = 2
    min_num = 2


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    form = ExperimentForm
    list_display = ("name", "campaign", "primary_metric", "status", "started_at", "winner")
    list_filter = ("status", "primary_metric")
    readonly_fields = ("status", "started_at", "stopped_at", "winner", "created_by")
    inlines = [VariantInline]

    def get_readonly_fields(self, request, obj=None):
        # the variants and the campaign are fixed once calls were assigned
        return (*self.readonly_fields, "campaign") if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
