"""Transcript analysis: the offline analyser's dispositions, and OpenAI structured output with retries."""

from __future__ import annotations

import json

import pytest

from dialogs.analysis import DISPOSITIONS, analyse_transcript, analyse_transcript_async
from dialogs.llm import LLMConfig
from dialogs.scriptmap import demo_map
from dialogs.tests.openai_server import OpenAIServer, error, json_reply

BOT = "bot"
CUST = "customer"


@pytest.mark.parametrize(
    ("customer_lines", "disposition", "crm"),
    [
        (["да, удобно", "у нас уже есть перевозчик", "ну давайте", "пишите на почту ivan@stroytorg.ru"],
         "interested", "lead"),
        (["я сейчас занят", "перезвоните завтра после обеда"], "callback", "task"),
        (["нет, нас это не интересует", "не интересно, не звоните больше", "нет"], "not_interested", "none"),
        (["я не решаю такие вопросы", "не знаю я"], "no_decision_maker", "task"),
        (["вы ошиблись номером"], "wrong_number", "none"),
        (["Абонент не может ответить, оставьте сообщение после сигнала"], "voicemail", "none"),
        ([], "no_answer", "none"),
    ],
)
def test_offline_dispositions(customer_lines, disposition, crm):
    turns = [(BOT, "Здравствуйте! Это Мария, ТРАНСТИРЕКС.")]
    for line in customer_lines:
        turns += [(CUST, line), (BOT, "...")]
    result = analyse_transcript(turns, script_map=demo_map("ru"), language="ru")
    assert result.disposition == disposition
    assert result.crm_status == crm
    assert result.summary
    assert 0 <= result.interest <= 100
    assert result.provider == "offline" and result.status == "ok"


def test_a_customer_who_asked_for_a_person_is_named_in_the_summary():
    turns = [(BOT, "Здравствуйте!"), (CUST, "да, удобно"), (BOT, "..."), (CUST, "Соедините меня с менеджером")]
    result = analyse_transcript(turns, script_map=demo_map("ru"), language="ru")
    assert result.summary.endswith("Клиент попросил соединить его с человеком.")
    plain = analyse_transcript(turns[:2], script_map=demo_map("ru"), language="ru")
    assert "человеком" not in plain.summary


def test_offline_details_objections_stage_slots():
    turns = [
        {"speaker": "bot", "text": "Здравствуйте!"},
        {"speaker": "customer", "text": "да, удобно"},
        {"speaker": "customer", "text": "у вас слишком дорого"},
        {"speaker": "customer", "text": "посчитайте двадцать тонн мебели из Фошаня"},
        {"speaker": "customer", "text": "мой телефон 8 916 123 45 67"},
    ]
    r = analyse_transcript(turns, language="ru")
    assert [(o.type, o.handled) for o in r.objections] == [("objection_too_expensive", True)]
    assert r.contact_obtained and r.quote_requested
    assert r.slots["phone"] == "+79161234567" and r.slots["origin"] == "Фошань"
    assert r.stage_reached == "closing"
    assert r.interest_level == "high"
    assert "Фошань" in r.follow_up
    assert json.loads(json.dumps(r.to_dict(), ensure_ascii=False))["interest_level"] == "high"


def test_offline_english():
    r = analyse_transcript([("bot", "Hello"), ("user", "I'm busy right now"), ("user", "call me tomorrow at 10")],
                           language="en", script_map=demo_map("en"))
    assert r.disposition == "callback" and "tomorrow" in r.summary


GOOD = {
    "disposition": "interested", "summary": "Клиент запросил расчёт.", "follow_up": "Спасибо! Пришлём расчёт.",
    "interest": 80, "crm_status": "lead", "objections": [{"type": "objection_too_expensive", "handled": True}],
    "stage_reached": "closing", "contact_obtained": True, "quote_requested": True,
    "slots": {"name": "Иван", "phone": None, "email": "ivan@stroytorg.ru", "cargo": "мебель", "origin": "Фошань",
              "weight": "20 т", "callback_time": None},
}
TURNS = [("bot", "Здравствуйте!"), ("customer", "у вас дорого"), ("customer", "пишите на ivan@stroytorg.ru")]


@pytest.fixture
def server():
    with OpenAIServer() as srv:
        yield srv


def _config(server) -> LLMConfig:
    return LLMConfig(api_key="sk-test", base_url=server.base_url, timeout=5)


async def test_openai_structured_output(server):
    server.push(json_reply(json.dumps(GOOD, ensure_ascii=False)))
    r = await analyse_transcript_async(TURNS, language="ru", provider="openai", config=_config(server))
    assert r.status == "ok" and r.provider == "openai" and r.attempts == 1
    assert r.disposition == "interested" and r.slots == {k: v for k, v in GOOD["slots"].items() if v}
    body = server.requests[0]
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert set(fmt["json_schema"]["schema"]["properties"]["disposition"]["enum"]) == set(DISPOSITIONS)
    assert "CUSTOMER: у вас дорого" in body["messages"][-1]["content"]


async def test_malformed_output_is_retried_then_succeeds(server):
    bad = dict(GOOD, disposition="maybe")
    server.push(json_reply("{not json"), json_reply(json.dumps(bad)), json_reply(json.dumps(GOOD)))
    r = await analyse_transcript_async(TURNS, language="ru", provider="openai", config=_config(server))
    assert r.status == "ok" and r.attempts == 3 and len(server.requests) == 3


async def test_malformed_output_every_time_gives_a_clear_error_result(server):
    server.push(json_reply('{"disposition": "interested"}'))
    r = await analyse_transcript_async(TURNS, language="ru", provider="openai", config=_config(server),
                                       max_attempts=2)
    assert r.status == "error" and r.provider == "openai" and r.attempts == 2
    assert "malformed model output" in r.error and "schema" in r.error
    assert r.disposition in DISPOSITIONS  # the call still gets the offline disposition
    assert len(server.requests) == 2


def test_http_500_gives_an_error_result_from_sync_code(server):
    server.push(error(500))
    r = analyse_transcript(TURNS, language="ru", provider="openai", config=_config(server), max_attempts=2)
    assert r.status == "error" and "500" in r.error
    assert r.contact_obtained  # offline values kept
