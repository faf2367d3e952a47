"""Script editing for managers: the map is validated on save and each problem is shown with its place."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin
from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _

from dialogs.models import Script, ScriptVersion
from dialogs.services import script_map_problems, script_save


class ScriptAdminForm(forms.ModelForm):
    import_file = forms.FileField(
        label=_("Import map from JSON"), required=False, help_text=_("Replaces the dialogue map below.")
    )

    class Meta:
        model = Script
        fields = ["name", "language", "description", "is_active", "dialogue_map"]

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("import_file")
        if upload:
            try:
                cleaned["dialogue_map"] = json.loads(upload.read().decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                self.add_error("import_file", _("Not a JSON file: %(error)s") % {"error": exc})
                return cleaned
        if "dialogue_map" in cleaned:
            for problem in script_map_problems(cleaned["dialogue_map"]):
                self.add_error("dialogue_map", problem)
        return cleaned


class ScriptVersionInline(admin.TabularInline):
    model = ScriptVersion
    fields = ["version", "created_at", "created_by"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Script)
class ScriptAdmin(admin.ModelAdmin):
    form = ScriptAdminForm
    list_display = ["name", "language", "version", "is_active", "updated_at"]
    list_filter = ["language", "is_active"]
    search_fields = ["name", "description"]
    readonly_fields = ["version"]
    inlines = [ScriptVersionInline]
    actions = ["export_json"]

    def save_model(self, request, obj, form, change):
        script_save(script=obj, user=request.user, validate=False)  # the form already validated

    @admin.action(description=_("Export the dialogue map as JSON"), permissions=["view"])
    def export_json(self, request, queryset):
        payload = [
            {"name": s.name, "language": s.language, "version": s.version, "dialogue_map": s.dialogue_map}
            for s in queryset
        ]
        data = payload[0] if len(payload) == 1 else payload
        response = HttpResponse(json.dumps(data, ensure_ascii=False, indent=2), content_type="application/json")
        response["Content-Disposition"] = 'attachment; filename="scripts.json"'
        return response


@admin.register(ScriptVersion)
class ScriptVersionAdmin(admin.ModelAdmin):
    list_display = ["script", "version", "created_at", "created_by"]
    list_filter = ["script"]
    readonly_fields = ["script", "version", "dialogue_map", "created_at", "created_by"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
