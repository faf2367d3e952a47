"""Script admin: validation runs on save and shows every kind of map problem at its place."""

from __future__ import annotations

import copy
import json
import re

import pytest
from django.urls import reverse
from django.utils import translation

from dialogs.admin import map_editor_widget
from dialogs.models import Script
from dialogs.problem_text import problem_text
from dialogs.scriptmap import demo_map, validate_map

pytestmark = pytest.mark.django_db


def _post(admin_client, dialogue_map, name="Фрахт"):
    return admin_client.post(reverse("admin:dialogs_script_add"), {
        "name": name, "language": "ru", "description": "", "is_active": "on",
        "dialogue_map": json.dumps(dialogue_map, ensure_ascii=False),
        # the read-only versions inline still posts its management form
        "versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0",
        "versions-MIN_NUM_FORMS": "0", "versions-MAX_NUM_FORMS": "1000",
    })


def _broken_map():
    data = copy.deepcopy(demo_map("ru"))
    data["stages"]["greeting"]["transitions"]["agree"] = "qualificaton"  # unknown stage
    data["stages"]["upsell"] = {"phrases": ["А ещё склад."], "default": "closing"}  # unreachable
    data["objections"]["objection_busy"]["responses"] = []  # objection with no response
    data["stages"]["closing"]["phrases"] = ["Спасибо, {{contact.nmae}}!"]  # unknown variable
    data["intents"]["wrong_number"] = ["не туда"]  # handled by the engine: fine
    data["intents"]["question"] = ["а сколько?"]
    for stage in data["stages"].values():  # intent with no transition
        stage.get("transitions", {}).pop("question", None)
    return data


def test_each_kind_of_error_is_shown_with_its_path(admin_client):
    response = _post(admin_client, _broken_map())
    assert response.status_code == 200  # the form is shown again
    assert not Script.objects.exists()
    errors = [str(e) for e in response.context["adminform"].form.errors["dialogue_map"]]
    expected = {  # in the console's language (Russian by default)
        "/stages/greeting/transitions/agree": "неизвестный этап «qualificaton»",
        "/stages/upsell": "этап «upsell» недостижим",
        "/objections/objection_busy/responses": "у возражения «objection_busy» нет ответа",
        "/stages/closing/phrases/0": "неизвестная переменная шаблона «{{contact.nmae}}»",
        "/intents/question": "ни один этап не переходит по нему",
    }
    for path, fragment in expected.items():
        assert any(e.startswith(path + ":") and fragment in e for e in errors), (path, errors)
    html = response.content.decode()
    assert "/stages/upsell" in html and "qualificaton" in html


def test_schema_error_does_not_crash_the_admin(admin_client):
    response = _post(admin_client, {"stages": [1, 2]})
    assert response.status_code == 200
    assert any(str(e).startswith("/stages:") for e in response.context["adminform"].form.errors["dialogue_map"])


def test_valid_demo_map_saves_as_version_one(admin_client):
    response = _post(admin_client, demo_map("ru"))
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    script = Script.objects.get()
    assert script.version == 1 and script.versions.count() == 1


def test_the_map_is_edited_pretty_printed_and_stays_so_after_saving(admin_client):
    assert _post(admin_client, demo_map("en"), name="Freight EN").status_code == 302
    script = Script.objects.get()
    page = admin_client.get(reverse("admin:dialogs_script_change", args=[script.pk])).content.decode()
    assert 'class="map-editor"' in page and "js/map_editor.js" in page
    # two-space indentation, one key per line (not one long line)
    assert '{\n  &quot;language&quot;: &quot;en&quot;,\n  &quot;start&quot;: &quot;greeting&quot;' in page
    # the stage graph is drawn from the map, each stage a node, each transition an edge
    assert 'id="stage-graph"' in page and "<svg" in page
    for stage in demo_map("en")["stages"]:
        assert f'data-stage="{stage}"' in page
    assert 'data-from="greeting" data-to="qualification"' in page
    assert 'class="stage unreachable' not in page


def test_the_graph_of_the_map_being_edited_marks_unreachable_stages(admin_client, client, make_user):
    url = reverse("admin:dialogs_script_graph")
    svg = admin_client.post(url, json.dumps(_broken_map()), content_type="application/json").content.decode()
    assert 'class="stage unreachable" data-stage="upsell"' in svg
    assert 'class="stage start" data-stage="greeting"' in svg
    bad = admin_client.post(url, "{not json", content_type="application/json")
    assert bad.status_code == 400 and "Это не корректный JSON" in bad.content.decode()
    assert admin_client.get(url).status_code == 405
    client.force_login(make_user("trainee_x", "Trainee"))  # no admin for a trainee
    assert client.post(url, "{}", content_type="application/json").status_code in (302, 403)


def test_every_validator_message_has_its_translation():
    """Each message shape of the validator is known to the translation table (none reaches the page in English)."""
    broken = _broken_map()
    broken["language"] = "xx"
    broken["goals"] = {"world_peace": {"any_of": ["nope"]}}
    broken["stages"]["Bad Name"] = {"phrases": []}
    problems = validate_map(broken) + validate_map([]) + validate_map({"stages": {}})
    assert len({p.code for p in problems}) >= 6
    with translation.override("ru"):
        for p in problems:
            text = problem_text(p.message)
            assert text != p.message and not re.search(r"\b(must|unknown|stage|needs)\b", text), (p.message, text)


def test_the_map_editor_knows_every_key_of_the_schema():
    """The editor's key list comes from the schema: a shipped map's keys are never flagged as unknown."""
    top = json.loads(map_editor_widget().attrs["data-hints"])["top"]
    assert {"hints", "limits", "global_transitions", "transfer", "name", "description"} <= set(top)
    for language in ("ru", "en", "uz", "tg"):
        assert set(demo_map(language)) <= set(top)
