from django import forms
from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from training.models import (
    Assignment,
    Certification,
    Scenario,
    Score,
    Scorecard,
    ScorecardCheck,
    SessionTurn,
    Trainee,
    TrainingSession,
)


@admin.register(Trainee)
class TraineeAdmin(admin.ModelAdmin):
    list_display = ["__str__", "team", "created_at"]
    search_fields = ["user__username", "user__first_name", "user__last_name", "team"]


@admin.register(Scenario)
class ScenarioAdmin(admin.ModelAdmin):
    list_display = ["title", "language", "difficulty", "persona", "scorecard", "mode", "is_active"]
    list_filter = ["language", "difficulty", "mode", "is_active"]
    search_fields = ["title", "product_description"]


class SessionTurnInline(admin.TabularInline):
    model = SessionTurn
    fields = ["index", "speaker", "text", "interrupted", "voiced", "voice_to_voice_ms"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(TrainingSession)
class TrainingSessionAdmin(admin.ModelAdmin):
    list_display = ["id", "trainee", "scenario", "difficulty", "status", "created_at"]
    list_filter = ["status", "difficulty", "language"]
    readonly_fields = ["status", "started_at", "ended_at", "end_reason"]
    inlines = [SessionTurnInline]


@admin.register(Score)
class ScoreAdmin(admin.ModelAdmin):
    list_display = ["session", "total", "created_at"]
    fields = ["session", "total", "checklist", "metrics", "advice", "created_at"]
    readonly_fields = ["session", "total", "checklist", "metrics", "advice", "created_at"]

    @admin.display(description=_("rubric"))
    def checklist(self, obj: Score) -> str:
        """The stored rubric read in the viewer's language (labels are kept as source text)."""
        stages = (obj.rubric or {}).get("stages", [])
        return format_html_join(
            "", "<p><strong>{}</strong> {}</p>",
            ((gettext(s.get("title", "")), format_html_join(
                "; ", "{} {}", (("✔" if c.get("passed") else "✘", gettext(c.get("label", "")))
                                 for c in s.get("checks", []) if c.get("passed") is not None)) or format_html("—"))
             for s in stages),
        )


class ScorecardCheckForm(forms.ModelForm):
    class Meta:
        model = ScorecardCheck
        fields = ["order", "stage", "label", "description", "points", "rule", "phrases"]
        widgets = {
            "stage": forms.TextInput(attrs={"size": 22, "list": "scorecard-stages"}),
            "label": forms.TextInput(attrs={"size": 34}),
            "description": forms.Textarea(attrs={"rows": 2, "cols": 36}),
            "phrases": forms.TextInput(attrs={"size": 22}),
            "order": forms.NumberInput(attrs={"style": "width: 4em"}),
            "points": forms.NumberInput(attrs={"style": "width: 4em"}),
        }


class ScorecardCheckInline(admin.TabularInline):
    model = ScorecardCheck
    form = ScorecardCheckForm
    extra = 1
    readonly_fields = ["shown_as"]

    @admin.display(description=_("shown as"))
    def shown_as(self, obj: ScorecardCheck) -> str:
        """The label as a review shows it in the viewer's language (the shipped card is stored in English)."""
        return f"{gettext(obj.stage)} · {gettext(obj.label)}" if obj and obj.pk else "—"


@admin.register(Scorecard)
class ScorecardAdmin(admin.ModelAdmin):
    list_display = ["__str__", "pass_threshold", "is_default", "check_count", "updated_at"]
    fields = ["name", "pass_threshold", "is_default"]
    inlines = [ScorecardCheckInline]

    @admin.display(description=_("checks"))
    def check_count(self, obj: Scorecard) -> int:
        return obj.checks.count()


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["scenario", "team", "due_at", "pass_threshold", "max_attempts", "created_by"]
    list_filter = ["scenario", "team"]
    filter_horizontal = ["trainees"]
    fields = ["scenario", "trainees", "team", "due_at", "pass_threshold", "max_attempts"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        teams = sorted(set(Trainee.objects.exclude(team="").values_list("team", flat=True)))
        form.base_fields["team"] = forms.ChoiceField(
            label=_("team"), required=False, choices=[("", "—")] + [(t, t) for t in teams],
            help_text=Assignment._meta.get_field("team").help_text,
        )
        return form

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        obj = form.instance
        if not obj.trainees.exists() and not obj.team:
            # the form's clean cannot see the many-to-many yet; say it, keep the row for a fix
            self.message_user(request, _("This assignment has no trainees and no team yet."), level="warning")


@admin.register(Certification)
class CertificationAdmin(admin.ModelAdmin):
    list_display = ["trainee", "scenario", "total", "certified_at", "assignment"]
    list_filter = ["scenario"]
    readonly_fields = ["trainee", "scenario", "session", "assignment", "total", "certified_at"]

    def has_add_permission(self, request):
        return False
