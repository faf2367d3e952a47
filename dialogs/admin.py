"""Script editing for managers: the map is validated on save and each problem is shown with its place."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseNotAllowed
from django.urls import path, reverse
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from dialogs.models import Script, ScriptVersion
from dialogs.scriptmap import INTENT_LABELS, MAP_SCHEMA, SPECIAL_TARGETS, ordered_map
from dialogs.services import script_map_problems, script_save
from dialogs.stage_graph import stage_graph_svg


class PrettyJSONField(forms.JSONField):
    """A JSON form field shown indented (two spaces), so saving never collapses the map to one line."""

    def prepare_value(self, value):
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value  # what was typed, kept as typed, with the error beside it
        return json.dumps(ordered_map(value), ensure_ascii=False, indent=2, cls=self.encoder)


def map_editor_widget() -> forms.Textarea:
    hints = {
        "top": list(MAP_SCHEMA["properties"]),  # the schema's keys, so hints, limits, global_transitions are known
        "intents": list(INTENT_LABELS),
        "targets": list(SPECIAL_TARGETS),
    }
    messages = {
        "ok": str(_("The JSON is valid. The full check runs when you save.")),
        "syntax": str(_("Not valid JSON.")),
        "syntax_at": str(_("Not valid JSON: line %l, column %c.")),
        "not_object": str(_("The map must be a JSON object.")),
        "unknown_key": str(_("unknown key «%s»")),
        "unknown_intent": str(_("unknown intent «%s»")),
        "unknown_stage": str(_("unknown stage «%s»")),
        "format": str(_("Format")),
    }
    return forms.Textarea(attrs={
        "class": "map-editor", "data-graph-url": reverse("admin:dialogs_script_graph"), "rows": 32,
        "spellcheck": "false", "autocomplete": "off",
        "data-hints": json.dumps(hints), "data-messages": json.dumps(messages, ensure_ascii=False),
    })


class ScriptAdminForm(forms.ModelForm):
    import_file = forms.FileField(
        label=_("Import map from JSON"), required=False, help_text=_("Replaces the dialogue map below.")
    )

    class Meta:
        model = Script
        fields = ["name", "language", "description", "is_active", "dialogue_map"]
        field_classes = {"dialogue_map": PrettyJSONField}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "dialogue_map" in self.fields:  # absent for a viewer: the map is then read-only
            self.fields["dialogue_map"].widget = map_editor_widget()  # built per form: its texts follow the language

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


def _graph_svg(data) -> str:
    return stage_graph_svg(data, labels={
        "title": str(_("Stage graph")), "start": str(_("start")), "end": str(_("ends the call")),
        "red": str(_("red: cannot be reached")), "objection": str(_("objection")),
        "unreachable": str(_("cannot be reached")), "empty": str(_("No stages.")),
    })


@admin.register(Script)
class ScriptAdmin(admin.ModelAdmin):
    form = ScriptAdminForm
    list_display = ["name", "language", "version", "is_active", "updated_at"]
    list_filter = ["language", "is_active"]
    search_fields = ["name", "description"]
    readonly_fields = ["version", "stage_graph"]
    inlines = [ScriptVersionInline]
    actions = ["export_json"]

    class Media:
        js = ("js/map_editor.js",)
        css = {"all": ("css/map_editor.css",)}

    @admin.display(description=_("Stage graph"))
    def stage_graph(self, obj: Script) -> str:
        svg = _graph_svg(obj.dialogue_map) if obj is not None and obj.pk else str(_("No stages."))
        # every text in the SVG went through django.utils.html.escape in stage_graph_svg
        return mark_safe(f'<div class="stage-graph" id="stage-graph">{svg}</div>')  # noqa: S308

    def get_urls(self):
        extra = [path("graph/", self.admin_site.admin_view(self.graph_view), name="dialogs_script_graph")]
        return extra + super().get_urls()

    def graph_view(self, request: HttpRequest) -> HttpResponse:
        """The stage graph of the map being edited (POSTed JSON), so the editor redraws it as you type."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        try:
            data = json.loads(request.body or b"null")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return HttpResponseBadRequest(_("Not valid JSON: %(error)s") % {"error": exc})
        return HttpResponse(_graph_svg(data), content_type="text/html; charset=utf-8")

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
