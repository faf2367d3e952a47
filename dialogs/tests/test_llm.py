"""The LLM salesperson against a local OpenAI-protocol server: streaming, tools, and same-turn flow fallback."""

from __future__ import annotations

import time

import pytest

from dialogs.llm import LLMConfig
from dialogs.salesperson import LLMResponder, build_system_prompt
from dialogs.scriptmap import demo_map
from dialogs.tests.openai_server import OpenAIServer, error, hang, stream
from voice.responder import ConversationState, Directive


@pytest.fixture
def server():
    with OpenAIServer() as srv:
        yield srv


def _responder(server, **cfg) -> LLMResponder:
    config = LLMConfig(api_key="sk-test", base_url=server.base_url, **{"first_token_timeout": 2.0, "timeout": 5.0,
                                                                        **cfg})
    return LLMResponder(demo_map("ru"), {"contact": {"name": "Иван"}}, "ru", config=config,
                        product="доставка грузов из Китая", persona={"role": "директор"})


async def _turn(responder, text, state):
    out = [x async for x in responder.respond(text, state)]
    texts = [x for x in out if isinstance(x, str)]
    directives = [x for x in out if isinstance(x, Directive)]
    state.history.append(("user", text))
    state.history.append(("bot", "".join(texts)))
    return "".join(texts), directives


async def test_streams_text_and_keeps_flow_meta_in_sync(server):
    server.push(stream(["Понимаю", ", многие ", "так говорят. Сравним ставки?"]))
    responder = _responder(server)
    state = ConversationState()
    opening, directives = await _turn(responder, "", state)
    assert "ТРАНСТИРЕКС" in opening and not server.requests  # the opening line is scripted
    text, directives = await _turn(responder, "у нас уже есть перевозчик", state)
    assert text == "Понимаю, многие так говорят. Сравним ставки?"
    meta = directives[0]
    assert meta.kind == "meta" and meta.data["source"] == "llm"
    assert meta.data["intent"] == "objection_has_supplier" and meta.data["objection"] == "objection_has_supplier"
    assert meta.data["stage"] == "objection_handling"
    body = server.requests[-1]
    assert body["stream"] is True and body["model"] == "gpt-4o-mini"
    system = body["messages"][0]["content"]
    assert "objection_handling" in system and "ТРАНСТИРЕКС" in system and "доставка грузов из Китая" in system
    # the shipped script names a transfer target, so the model may hand the call to a person
    assert {t["function"]["name"] for t in body["tools"]} == {"end_call", "record_slot", "transfer_call"}
    assert body["messages"][-1] == {"role": "user", "content": "у нас уже есть перевозчик"}


async def test_tool_calls_are_assembled_from_deltas(server):
    server.push(stream(["Записала, спасибо! До свидания."], tool_calls=[
        {"name": "record_slot", "arguments": {"name": "email", "value": "ivan@stroytorg.ru"}},
        {"name": "end_call", "arguments": {"reason": "contact obtained"}},
    ]))
    responder = _responder(server)
    state = ConversationState()
    await _turn(responder, "", state)
    text, directives = await _turn(responder, "ну можно, а что вы предлагаете?", state)
    assert text == "Записала, спасибо! До свидания."
    slots = [d.data for d in directives if d.kind == "slot"]
    assert {"name": "email", "value": "ivan@stroytorg.ru"} in slots
    assert directives[-1] == Directive("end", {"reason": "contact obtained"})
    assert state.ended and state.data["flow"]["slots"]["email"] == "ivan@stroytorg.ru"


async def test_transfer_call_says_the_scripts_handoff_line_and_hands_over_to_the_scripts_target(server):
    server.push(stream(["Конечно."], tool_calls=[
        {"name": "transfer_call", "arguments": {"reason": "wants to discuss a contract"}}]))
    responder = _responder(server)
    state = ConversationState()
    await _turn(responder, "", state)
    text, directives = await _turn(responder, "а договор у вас какой?", state)
    assert text == "Конечно. Соединяю вас с менеджером, оставайтесь, пожалуйста, на линии."
    assert [d.kind for d in directives][-2:] == ["transfer", "end"]
    assert directives[-2].data == {"queue": "sales", "reason": "wants to discuss a contract"}
    assert state.ended
    assert "transfer_call" in server.requests[-1]["messages"][0]["content"]


async def test_no_transfer_target_no_transfer_tool_and_a_stray_call_is_ignored(server):
    script = demo_map("ru")
    del script["transfer"]
    server.push(stream(["Хорошо."], tool_calls=[{"name": "transfer_call", "arguments": {"reason": "x"}}]))
    config = LLMConfig(api_key="sk-test", base_url=server.base_url, first_token_timeout=2.0, timeout=5.0)
    responder = LLMResponder(script, {}, "ru", config=config)
    state = ConversationState()
    await _turn(responder, "", state)
    text, directives = await _turn(responder, "а договор у вас какой?", state)
    assert text == "Хорошо." and not state.ended
    assert "transfer" not in [d.kind for d in directives]
    assert {t["function"]["name"] for t in server.requests[-1]["tools"]} == {"end_call", "record_slot"}


async def test_asking_for_a_person_is_handed_over_by_the_script_without_the_model(server):
    responder = _responder(server)
    state = ConversationState()
    await _turn(responder, "", state)
    text, directives = await _turn(responder, "Соедините меня с менеджером, пожалуйста", state)
    assert text == "Соединяю вас с менеджером, оставайтесь, пожалуйста, на линии."
    assert [d.kind for d in directives][-2:] == ["transfer", "end"]
    assert directives[-2].data == {"queue": "sales", "reason": "ask_human"}
    assert not server.requests  # scripted, like every ending


async def test_http_500_falls_back_to_the_flow_in_the_same_turn(server):
    server.push(error(500))
    responder = _responder(server)
    state = ConversationState()
    await _turn(responder, "", state)
    text, directives = await _turn(responder, "у вас слишком дорого", state)
    assert text == demo_map("ru")["objections"]["objection_too_expensive"]["responses"][0]
    assert directives[0].data["source"] == "flow_fallback"


async def test_no_first_token_in_time_falls_back(server):
    server.push(stream(["Слишком поздно"], first_delay=1.5))
    responder = _responder(server, first_token_timeout=0.3)
    state = ConversationState()
    await _turn(responder, "", state)
    started = time.monotonic()
    text, directives = await _turn(responder, "да, удобно", state)
    assert time.monotonic() - started < 1.4
    assert text == demo_map("ru")["stages"]["qualification"]["phrases"][0]
    assert directives[0].data["source"] == "flow_fallback"


async def test_request_timeout_falls_back(server):
    server.push(hang(1.5))
    responder = _responder(server, timeout=0.4, first_token_timeout=5.0)
    state = ConversationState()
    await _turn(responder, "", state)
    text, directives = await _turn(responder, "да, удобно", state)
    assert text and directives[0].data["source"] == "flow_fallback"


async def test_scripted_endings_skip_the_model(server):
    server.push(error(500))
    responder = _responder(server)
    state = ConversationState()
    await _turn(responder, "", state)
    n = len(server.requests)
    _text, directives = await _turn(responder, "вы ошиблись номером", state)
    assert len(server.requests) == n
    assert directives[-1].kind == "end" and state.ended


def test_system_prompt_carries_stage_slots_and_persona():
    prompt = build_system_prompt(demo_map("en"), language="en", product="freight", persona="a busy director",
                                 stage="contact_collection", slots={"email": "a@b.co"})
    assert "contact_collection" in prompt and "a@b.co" in prompt and "a busy director" in prompt
    assert "short" in prompt
