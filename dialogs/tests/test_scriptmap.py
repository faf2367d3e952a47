"""Dialogue-map validation (each problem kind at its path), phrase rendering and JSON round trips."""

from __future__ import annotations

import copy
import io

import pytest
from django.utils import translation
from jsonschema import Draft202012Validator

from dialogs.problem_text import problem_text
from dialogs.scriptmap import (
    _FIELD_RE,
    INTENT_LABELS,
    MAP_SCHEMA,
    OBJECTION_LABELS,
    PHRASE_KINDS,
    MapError,
    _GraphChecks,
    _schema_problems,
    demo_map,
    dump_map,
    load_map,
    render_phrase,
    transfer_spec,
    validate_map,
)


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
    data = {**demo_map("ru"), "transfer": {"to": "+7123"}}
    with translation.override("ru"):
        assert [problem_text(p.message) for p in validate_map(data)] == [
            "должен быть номером телефона в формате E.164, например +74951234567"]


# --- structure from the JSON Schema, the graph by hand ----------------------------------------------------


def _schema_nodes(node, under=""):
    """Every subschema with the keyword it sits under; conditions (``if``) and negated schemas (``not``) aside."""
    if isinstance(node, list):
        for item in node:
            yield from _schema_nodes(item, under)
    elif isinstance(node, dict):
        yield under, node
        for key, value in node.items():
            if key not in ("if", "not", "x-messages", "x-codes", "x-from", "enum", "required"):
                yield from _schema_nodes(value, key)


def test_the_schema_is_draft_2020_12_and_takes_its_lists_from_the_code():
    Draft202012Validator.check_schema(MAP_SCHEMA)
    assert MAP_SCHEMA["$defs"]["transitions"]["propertyNames"]["enum"] == list(INTENT_LABELS)
    assert MAP_SCHEMA["properties"]["intents"]["propertyNames"]["enum"] == list(INTENT_LABELS)
    assert MAP_SCHEMA["properties"]["objections"]["then"]["required"] == list(OBJECTION_LABELS)
    assert MAP_SCHEMA["properties"]["phrases"]["propertyNames"]["enum"] == list(PHRASE_KINDS)
    assert MAP_SCHEMA["properties"]["language"]["enum"] == [None, "ru", "en", "uz", "tg"]


def test_every_schema_constraint_has_its_own_message_in_both_languages():
    sample = {"name": "abc", "owner": "abc", "value": "abc", "known": "a, b", "choices": "«ru», «en», «uz», «tg»"}
    keywords = {"type", "enum", "required", "minItems", "minProperties", "pattern", "minimum", "exclusiveMinimum",
                "not", "anyOf"}
    checked = 0
    for _under, node in _schema_nodes(MAP_SCHEMA):
        for keyword in keywords & set(node):
            template = node.get("x-messages", {}).get(keyword)
            assert template, (keyword, node)
            message = _FIELD_RE.sub(lambda m: sample[m.group(1)], template)
            with translation.override("ru"):
                assert problem_text(message) != message, message
            checked += 1
    assert checked >= 40


@pytest.mark.parametrize("change, problem", [
    # wrong type
    (lambda d: d.update(max_objections="3"), ("/max_objections", "type", "must be a positive integer")),
    (lambda d: d["stages"]["greeting"].update(final="yes"),
     ("/stages/greeting/final", "type", "must be true or false")),
    (lambda d: d.update(stages=[]), ("/stages", "type", "must be an object of stage name -> stage")),
    (lambda d: d["stages"]["closing"].update(phrases=["Спасибо!", 7]),
     ("/stages/closing/phrases/1", "type", "must be non-empty text")),
    (lambda d: d.update(limits={"max_call_s": -1}), ("/limits/max_call_s", "type", "must be a positive number")),
    (lambda d: d["goals"].update(quote_requested=5), ("/goals/quote_requested", "type",
                                                       "must be an object: {any_of: [slots]}")),
    # unknown key (where the map allows only known names)
    (lambda d: d.update(limits={"forever": 1}), ("/limits/forever", "unknown_key", "unknown limit «forever»")),
    (lambda d: d["phrases"].update(goodbye=["Пока"]),
     ("/phrases/goodbye", "unknown_key", "unknown phrase kind «goodbye»")),
    (lambda d: d["stages"]["greeting"]["transitions"].update(maybe="closing"),
     ("/stages/greeting/transitions/maybe", "unknown_intent", "unknown intent «maybe»")),
    (lambda d: d["stages"].update({"Up Sell": {"phrases": ["Ещё?"], "default": "closing"}}),
     ("/stages/Up Sell", "bad_name", "stage name «Up Sell» must be lower_snake_case")),
    # bad enum value
    (lambda d: d.update(language="de"), ("/language", "bad_value", "must be one of «ru», «en», «uz», «tg»")),
    (lambda d: d["goals"]["decision_maker_contact"].update(any_of=["fax"]),
     ("/goals/decision_maker_contact/any_of/0", "unknown_slot", "unknown slot «fax»")),
    # missing required
    (lambda d: d.pop("stages"), ("/stages", "missing", "is required")),
    (lambda d: d["stages"]["greeting"].pop("phrases"), ("/stages/greeting/phrases", "missing", "is required")),
    (lambda d: d["phrases"].pop("clarify"), ("/phrases/clarify", "missing", "the «clarify» phrases are required")),
    (lambda d: d["objections"].pop("objection_busy"),
     ("/objections/objection_busy", "objection_no_response", "objection «objection_busy» has no response")),
    (lambda d: d["objections"]["objection_busy"].update(responses=None),
     ("/objections/objection_busy/responses", "objection_no_response", "objection «objection_busy» has no response")),
    (lambda d: d["faq"][0].pop("keywords"), ("/faq/0/keywords", "type", "must be a list of words")),
])
def test_structure_problems_come_from_the_schema_with_path_and_meaning(change, problem):
    data = demo_map("ru")
    change(data)
    found = {(p.path, p.code, p.message) for p in validate_map(data)}
    assert problem in found
    assert problem in {(p.path, p.code, p.message) for p in _schema_problems(data)}
    assert problem not in {(p.path, p.code, p.message) for p in _GraphChecks(data).run()}


def test_a_canonical_stage_missing_is_named_at_its_place():
    data = demo_map("ru")
    data["stages"]["closing"]["final"] = True
    del data["stages"]["presentation"]
    problems = {(p.path, p.code) for p in validate_map(data)}
    assert ("/stages/presentation", "missing_stage") in problems
    # the stages that led there now lead nowhere: the graph check says so at each transition
    assert any(code == "unknown_stage" and path.startswith("/stages/") for path, code in problems)


def test_an_unknown_name_hides_the_problems_of_its_value():
    data = demo_map("ru")
    data["stages"]["greeting"]["transitions"]["maybe"] = 5
    data["limits"] = {"forever": "x"}
    data["intents"]["maybe"] = [None]
    assert {(p.path, p.code) for p in validate_map(data)} == {
        ("/stages/greeting/transitions/maybe", "unknown_intent"), ("/limits/forever", "unknown_key"),
        ("/intents/maybe", "unknown_intent")}


def test_a_null_optional_key_counts_as_absent_as_before():
    data = demo_map("ru")
    data.update(language=None, hints=None, max_objections=None, variables=None)
    data["stages"]["greeting"].update(prompt=None, default=None)
    data["objections"]["objection_busy"]["next"] = None
    data["transfer"]["phrases"] = None
    assert validate_map(data) == []


def test_graph_problems_still_come_from_the_hand_checks():
    data = demo_map("ru")
    data["start"] = "nowhere"
    data["stages"]["greeting"]["transitions"]["agree"] = "qualificaton"
    data["stages"]["upsell"] = {"phrases": ["Ещё склад, {{contact.nmae}}?"]}
    data["objections"]["objection_busy"]["next"] = "@transfer"
    del data["transfer"]
    expected = {("/start", "unknown_stage"), ("/stages/greeting/transitions/agree", "unknown_stage"),
                ("/stages/upsell/transitions", "dead_end"), ("/stages/upsell/phrases/0", "unknown_variable"),
                ("/objections/objection_busy/next", "transfer_no_target")}
    assert _schema_problems(data) == []
    assert expected <= {(p.path, p.code) for p in _GraphChecks(data).run()}
    assert expected <= {(p.path, p.code) for p in validate_map(data)}
    data["start"] = "greeting"
    assert ("/stages/upsell", "unreachable_stage") in {(p.path, p.code) for p in validate_map(data)}
