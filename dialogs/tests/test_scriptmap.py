"""Dialogue-map validation (each problem kind at its path), phrase rendering and JSON round trips."""

from __future__ import annotations

import copy
import io

import pytest

from dialogs.scriptmap import MapError, demo_map, dump_map, load_map, render_phrase, validate_map


def _codes(problems):
    return {(p.path, p.code) for p in problems}


@pytest.mark.parametrize("language", ["ru", "en"])
def test_demo_scripts_validate_clean_and_answer_every_objection_twice(language):
    data = demo_map(language)
    assert validate_map(data) == []
    assert all(len(o["responses"]) >= 2 for o in data["objections"].values())
    assert len(data["objections"]) == 7


def test_unknown_stage_reference():
    data = demo_map()
    data["stages"]["greeting"]["transitions"]["agree"] = "qualificaton"
    assert ("/stages/greeting/transitions/agree", "unknown_stage") in _codes(validate_map(data))


def test_unreachable_stage():
    data = demo_map()
    data["stages"]["upsell"] = {"phrases": ["А ещё у нас есть складские услуги."], "default": "closing"}
    assert ("/stages/upsell", "unreachable_stage") in _codes(validate_map(data))


def test_objection_with_no_response():
    data = demo_map()
    data["objections"]["objection_busy"]["responses"] = []
    assert ("/objections/objection_busy/responses", "objection_no_response") in _codes(validate_map(data))
    del data["objections"]["objection_no_need"]
    assert ("/objections/objection_no_need", "objection_no_response") in _codes(validate_map(data))


def test_unknown_template_variable():
    data = demo_map()
    data["stages"]["closing"]["phrases"] = ["Спасибо, {{contact.nmae}}!"]
    problems = validate_map(data)
    assert ("/stages/closing/phrases/0", "unknown_variable") in _codes(problems)
    assert "contact.nmae" in next(p.message for p in problems if p.code == "unknown_variable")


def test_intent_with_no_transition():
    data = demo_map()
    data["intents"]["request_quote"] = ["посчитайте"]
    for stage in data["stages"].values():
        stage.get("transitions", {}).pop("request_quote", None)
    assert ("/intents/request_quote", "intent_no_transition") in _codes(validate_map(data))


def test_schema_errors_never_crash():
    for bad in [None, 5, "text", [], {"stages": []}, {"stages": {"greeting": 3}},
                {"stages": {"greeting": {"phrases": [None], "transitions": []}}, "objections": [1], "phrases": 2,
                 "goals": {"decision_maker_contact": {"any_of": ["fax"]}}, "faq": "x", "max_objections": "3"}]:
        problems = validate_map(bad)
        assert problems and all(p.path is not None and p.code and p.message for p in problems)
    problems = validate_map({"stages": {"greeting": {"phrases": [None]}}, "goals": {"x": {"any_of": ["fax"]}}})
    assert ("/stages/greeting/phrases/0", "type") in _codes(problems)
    assert ("/goals/x", "unknown_key") in _codes(problems)


def test_unknown_intent_in_transitions():
    data = demo_map()
    data["stages"]["greeting"]["transitions"]["maybe"] = "qualification"
    assert ("/stages/greeting/transitions/maybe", "unknown_intent") in _codes(validate_map(data))


def test_render_phrase_is_safe_and_tidy():
    assert render_phrase("Здравствуйте, {{contact.name}}!", {"contact": {"name": "Иван"}}) == "Здравствуйте, Иван!"
    assert render_phrase("Здравствуйте, {{contact.name}}!", {}) == "Здравствуйте!"
    assert render_phrase("Это {{agent.name}}", {"agent.name": "Мария"}) == "Это Мария"
    assert render_phrase("{{__class__}} {{ company }}", {"company": "ТТ"}) == "ТТ"


def test_json_round_trip(tmp_path):
    data = demo_map("ru")
    text = dump_map(data)
    assert "ТРАНСТИРЕКС" in text  # Cyrillic stays readable
    assert load_map(text) == data
    assert load_map(io.StringIO(text)) == data
    path = tmp_path / "map.json"
    path.write_text(text, encoding="utf-8")
    assert load_map(path) == data
    broken = copy.deepcopy(data)
    broken["start"] = "nowhere"
    with pytest.raises(MapError) as exc:
        load_map(broken, strict=True)
    assert exc.value.problems[0].path == "/start"


# --- transfer to a human ---------------------------------------------------------------------------------


@pytest.mark.parametrize("spec, problem", [
    ({"to": "+7123"}, ("/transfer/to", "bad_phone")),
    ({"to": "+70000000000"}, ("/transfer/to", "bad_phone")),  # E.164-shaped, but no such Russian number
    ({"to": "84951234567"}, ("/transfer/to", "bad_phone")),  # not in E.164 form
    ({"to": "+74951234567", "queue": "sales"}, ("/transfer", "transfer_two_targets")),
    ({"phrases": ["Соединяю."]}, ("/transfer", "transfer_no_target")),
    ({"queue": "sales team"}, ("/transfer/queue", "bad_value")),
    ({"queue": "sales", "number": "+74951234567"}, ("/transfer/number", "unknown_key")),
    ({"queue": "sales", "phrases": ["Соединяю с {{manager}}"]}, ("/transfer/phrases/0", "unknown_variable")),
    ("sales", ("/transfer", "type")),
])
def test_a_bad_transfer_block_is_named_at_its_place(spec, problem):
    data = {**demo_map("ru"), "transfer": spec}
    assert problem in _codes(validate_map(data))


def test_transfer_targets_need_a_transfer_block():
    from dialogs.scriptmap import transfer_spec

    data = demo_map("ru")
    del data["transfer"]
    data["global_transitions"] = {"ask_human": "@transfer"}
    data["objections"]["objection_busy"]["next"] = "@transfer"
    assert {("/global_transitions/ask_human", "transfer_no_target"),
            ("/objections/objection_busy/next", "transfer_no_target")} <= _codes(validate_map(data))
    assert transfer_spec(data) is None
    data["transfer"] = {"to": "+74951234567", "phrases": ["Соединяю с {{agent.name}}!"]}
    assert validate_map(data) == []
    assert transfer_spec(data, {"agent.name": "Олегом"}) == {"to": "+74951234567", "phrase": "Соединяю с Олегом!"}
    data["transfer"] = {"to": "+7123"}
    assert transfer_spec(data) is None  # a bad target is no target: a call never goes to an unchecked number


def test_shipped_scripts_put_callers_through_to_the_sales_queue():
    for language in ("ru", "en", "uz", "tg"):
        data = demo_map(language)
        assert validate_map(data) == [] and data["transfer"]["queue"] == "sales"


def test_transfer_problems_read_in_russian():
    from django.utils import translation

    from dialogs.problem_text import problem_text

    data = {**demo_map("ru"), "transfer": {"to": "+7123"}}
    with translation.override("ru"):
        assert [problem_text(p.message) for p in validate_map(data)] == [
            "должен быть номером телефона в формате E.164, например +74951234567"]
