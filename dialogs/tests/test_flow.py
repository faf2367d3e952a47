"""The flow engine walks the demo scripts through every stage and objection, and handles the awkward paths."""

from __future__ import annotations

import json

import pytest

from dialogs.classifier import classify
from dialogs.flow import FlowEvent, FlowState, new_state, spoken_text, step
from dialogs.scriptmap import OBJECTION_LABELS, demo_map

UTTERANCES = {
    "ru": {
        "agree": "да, давайте",
        "question": "а сколько по срокам везёте?",
        "contact": "пишите на почту ivanov@stroytorg.ru, меня зовут Иван",
        "quote": "посчитайте двадцать тонн мебели из Фошаня",
        "nonsense": "кошка на клавиатуру прыгнула",
        "busy": "я сейчас занят",
        "time": "давайте завтра в десять",
    },
    "en": {
        "agree": "yes, go ahead",
        "question": "how long does shipping take?",
        "contact": "my email is john.smith@acme.com",
        "quote": "can you quote twenty tons of steel from Shanghai",
        "nonsense": "the weather is nice today",
        "busy": "I'm busy right now",
        "time": "call me tomorrow at 10",
    },
}
OBJECTION_TEXT = {
    "ru": {
        "objection_not_interested": "нет, нас это не интересует",
        "objection_has_supplier": "у нас уже есть перевозчик",
        "objection_send_email": "пришлите коммерческое предложение",
        "objection_busy": "я сейчас занят",
        "objection_too_expensive": "у вас слишком дорого",
        "objection_not_decision_maker": "я не решаю такие вопросы",
        "objection_no_need": "мы не возим из Китая",
    },
    "en": {
        "objection_not_interested": "not interested",
        "objection_has_supplier": "we already have a carrier",
        "objection_send_email": "just email me the details",
        "objection_busy": "I'm busy right now",
        "objection_too_expensive": "that's too expensive",
        "objection_not_decision_maker": "I don't make those decisions",
        "objection_no_need": "we don't import from China",
    },
}


class Call:
    """A tiny driver: classify what the customer says and step the flow."""

    def __init__(self, language: str, variables=None):
        self.language = language
        self.map = demo_map(language)
        self.state = new_state(self.map, variables or {"contact": {"name": "Иван" if language == "ru" else "John"}})
        self.state, self.actions = step(self.map, self.state, FlowEvent.start())

    def say(self, text: str):
        c = classify(text, self.language, self.map)
        before = self.state
        self.state, self.actions = step(self.map, self.state, FlowEvent.from_classification(c))
        assert before.turn == self.state.turn - 1  # the input state is never mutated
        return c, self.actions

    @property
    def text(self) -> str:
        return spoken_text(self.actions)

    def kinds(self) -> list[str]:
        return [a.kind for a in self.actions]


@pytest.mark.parametrize("language", ["ru", "en"])
def test_happy_path_visits_every_stage_and_reaches_the_goal(language):
    u = UTTERANCES[language]
    call = Call(language)
    assert call.state.stage == "greeting" and call.text
    visited = ["greeting"]
    call.say(u["agree"])
    assert call.state.stage == "qualification"
    visited.append(call.state.stage)
    call.say(u["question"])  # answered from the FAQ, stage kept
    assert call.state.stage == "qualification" and call.text
    call.say(u["agree"])
    assert call.state.stage == "presentation"
    visited.append(call.state.stage)
    c, _ = call.say(OBJECTION_TEXT[language]["objection_has_supplier"])
    assert c.label == "objection_has_supplier"
    assert call.state.stage == "objection_handling"
    visited.append(call.state.stage)
    call.say(u["quote"])
    assert call.state.slots["quote_requested"] is True
    assert call.state.stage == "contact_collection"
    visited.append(call.state.stage)
    call.say(u["contact"])
    assert call.state.stage == "closing"
    visited.append(call.state.stage)
    assert call.state.ended and call.state.end_reason == "completed"
    assert "end_call" in call.kinds()
    assert call.state.slots["email"]
    assert visited == ["greeting", "qualification", "presentation", "objection_handling", "contact_collection",
                       "closing"]
    assert set(call.state.stages_visited) == set(visited)
    assert [row[1] for row in call.state.trace][1:] == [
        "agree", "question", "agree", "objection_has_supplier", "request_quote", "give_contact"]


@pytest.mark.parametrize("language", ["ru", "en"])
@pytest.mark.parametrize("objection", OBJECTION_LABELS)
def test_every_objection_is_answered_and_repeats_get_a_different_response(language, objection):
    call = Call(language)
    call.say(UTTERANCES[language]["agree"])
    text = OBJECTION_TEXT[language][objection]
    c, actions = call.say(text)
    assert c.label == objection
    first = [a for a in actions if a.kind == "objection_response"]
    assert len(first) == 1 and first[0].data["objection"] == objection
    assert not call.state.ended
    c, actions = call.say(text)
    if objection == "objection_busy":  # a second «busy» while we wait for a time: book a callback later
        assert "schedule_callback" in call.kinds() and call.state.ended
        return
    second = [a for a in actions if a.kind == "objection_response"]
    assert second and second[0].text != first[0].text
    # The responses run out: the third time ends the call politely.
    call.say(text)
    assert call.state.ended and call.state.end_reason == objection
    assert call.text


@pytest.mark.parametrize("language", ["ru", "en"])
def test_busy_asks_for_a_time_and_schedules_the_callback(language):
    call = Call(language)
    call.say(UTTERANCES[language]["busy"])
    assert call.state.awaiting == "callback_time" and not call.state.ended
    call.say(UTTERANCES[language]["time"])
    assert "schedule_callback" in call.kinds()
    when = next(a for a in call.actions if a.kind == "schedule_callback").data["when"]
    assert "10" in when or "десять" in when
    assert call.state.ended and call.state.end_reason == "callback"
    assert when in call.text


def test_busy_with_a_time_in_one_go():
    call = Call("ru")
    call.say("я на совещании, перезвоните завтра после обеда")
    assert "schedule_callback" in call.kinds() and call.state.ended


@pytest.mark.parametrize("language", ["ru", "en"])
def test_unknown_input_clarifies_then_falls_back_then_moves_on(language):
    call = Call(language)
    phrases = call.map["phrases"]
    call.say(UTTERANCES[language]["nonsense"])
    assert call.text in phrases["clarify"]
    assert call.state.stage == "greeting"
    call.say(UTTERANCES[language]["nonsense"])
    assert call.text.startswith(phrases["fallback"][0])
    call.say(UTTERANCES[language]["nonsense"])
    assert call.state.stage == call.map["stages"]["greeting"]["default"]


def test_not_decision_maker_collects_the_decision_makers_contact():
    call = Call("ru")
    call.say("да, удобно")
    call.say("я не решаю такие вопросы, это к директору")
    assert call.state.stage == "contact_collection"
    assert call.state.awaiting == "decision_maker_contact"
    call.say("запишите номер директора: 8-495-765-43-21, зовут Ольга Викторовна")
    assert call.state.slots["decision_maker_contact"] is True
    assert call.state.slots["phone"] == "+74957654321"
    assert call.state.ended


@pytest.mark.parametrize(("text", "reason"), [("вы ошиблись номером", "wrong_number"), ("Завершить", "customer_ended")])
def test_wrong_number_and_end_session_end_politely(text, reason):
    call = Call("ru")
    call.say(text)
    assert call.state.ended and call.state.end_reason == reason
    assert call.text
    assert step(call.map, call.state, FlowEvent(text="алло", label="greeting")) == (call.state, [])


def test_too_many_objections_in_total_end_the_call():
    call = Call("ru")
    for label in ["objection_not_interested", "objection_has_supplier", "objection_too_expensive",
                  "objection_no_need", "objection_send_email"]:
        call.say(OBJECTION_TEXT["ru"][label])
        if call.state.ended:
            break
    assert call.state.ended and call.state.objections_total == 5


def test_state_is_json_serialisable_and_round_trips():
    call = Call("ru")
    call.say("да")
    call.say("дорого")
    data = json.loads(json.dumps(call.state.to_dict(), ensure_ascii=False))
    assert FlowState.from_dict(data) == call.state
    assert data["trace"][-1][1] == "objection_too_expensive"


# --- transfer to a human ---------------------------------------------------------------------------------


def _say(script, *texts, language="ru"):
    state, _ = step(script, new_state(script, {}, language), FlowEvent.start())
    actions = []
    for text in texts:
        state, actions = step(script, state, FlowEvent.from_classification(classify(text, language, script)))
    return state, actions


@pytest.mark.parametrize("language, text, phrase", [
    ("ru", "Соедините меня с менеджером, пожалуйста", "Соединяю вас с менеджером, оставайтесь, пожалуйста, на линии."),
    ("en", "Can I talk to a real person?", "I am putting you through to a colleague, please stay on the line."),
])
def test_asking_for_a_person_says_the_handoff_line_and_transfers(language, text, phrase):
    state, actions = _say(demo_map(language), "да", text, language=language)
    assert [a.kind for a in actions] == ["say", "transfer", "end_call"]
    assert spoken_text(actions) == phrase
    assert actions[1].data == {"queue": "sales", "reason": "ask_human"}
    assert state.ended and state.end_reason == "transfer"


def test_a_transition_or_an_objection_may_lead_to_a_transfer():
    script = demo_map("ru")
    script["transfer"] = {"to": "+74951234567"}  # no phrases: the default handoff line
    script["objections"]["objection_too_expensive"]["next"] = "@transfer"
    _state, actions = _say(script, "у вас слишком дорого")
    assert [a.kind for a in actions] == ["say", "transfer", "end_call"]
    assert actions[1].data == {"to": "+74951234567", "reason": "objection_too_expensive"}


def test_without_a_transfer_block_asking_for_a_person_is_not_understood():
    script = demo_map("ru")
    del script["transfer"]
    state, actions = _say(script, "Соедините меня с менеджером, пожалуйста")
    assert "transfer" not in [a.kind for a in actions] and not state.ended
