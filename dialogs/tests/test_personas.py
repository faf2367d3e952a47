"""Scripted personas: difficulty changes the conversation measurably, and a seed fixes it."""

from __future__ import annotations

from dataclasses import replace
from statistics import mean

from dialogs.llm import LLMConfig
from dialogs.personas import (
    DEFAULT_PERSONAS,
    Persona,
    PersonaResponder,
    PersonaState,
    ScriptedPersona,
    simulate_dialogue,
)
from dialogs.scriptmap import OBJECTION_LABELS, demo_map
from dialogs.tests.openai_server import OpenAIServer, error, stream
from voice.responder import ConversationState, Directive


def _runs(persona: Persona, script_map, n: int = 20):
    return [simulate_dialogue(script_map, persona, seed=seed, max_turns=20) for seed in range(n)]


def test_difficulty_changes_objection_count_over_20_seeded_runs():
    script_map = demo_map("ru")
    base = DEFAULT_PERSONAS["sergey_medium"]
    easy = _runs(replace(base, difficulty="easy"), script_map)
    hard = _runs(replace(base, difficulty="hard"), script_map)
    easy_mean = mean(len(d.objections) for d in easy)
    hard_mean = mean(len(d.objections) for d in hard)
    print(f"\nobjections per call over 20 seeds: easy {easy_mean:.2f}, hard {hard_mean:.2f}")
    assert hard_mean >= easy_mean + 1.5
    easy_success = sum(d.outcome == "completed" for d in easy)
    hard_success = sum(d.outcome == "completed" for d in hard)
    assert easy_success > hard_success
    assert all(set(d.objections) <= set(OBJECTION_LABELS) for d in easy + hard)


def test_same_seed_same_conversation_and_different_seeds_differ():
    script_map = demo_map("ru")
    persona = DEFAULT_PERSONAS["igor_hard"]
    a = simulate_dialogue(script_map, persona, seed=7)
    b = simulate_dialogue(script_map, persona, seed=7)
    assert a.transcript() == b.transcript()
    assert len({tuple(simulate_dialogue(script_map, persona, seed=s).transcript()) for s in range(6)}) > 1


def test_english_persona_conversation():
    d = simulate_dialogue(demo_map("en"), DEFAULT_PERSONAS["john_en"], seed=1)
    assert d.turns[0]["speaker"] == "customer" and d.turns[1]["speaker"] == "bot"
    assert all(t["text"].isascii() for t in d.turns if t["speaker"] == "customer")
    assert d.outcome


def test_not_a_decision_maker_first_says_so():
    persona = DEFAULT_PERSONAS["anna_secretary"]
    d = simulate_dialogue(demo_map("ru"), replace(persona, difficulty="hard"), seed=0)
    assert "objection_not_decision_maker" in d.objections


def test_reveal_depends_on_difficulty():
    def reveals(difficulty: str) -> int:
        persona = replace(DEFAULT_PERSONAS["olga_easy"], difficulty=difficulty)
        engine = ScriptedPersona(persona, 0)
        count = 0
        for seed in range(30):
            engine.seed = seed
            r = engine.reply("Подскажите, что вы сейчас возите из Китая?", PersonaState(turn=1))
            count += r.state.revealed
        return count

    assert reveals("easy") > reveals("hard")


def test_persona_state_round_trips():
    engine = ScriptedPersona(DEFAULT_PERSONAS["sergey_medium"], 3)
    r = engine.reply("Здравствуйте! Удобно говорить?", PersonaState())
    assert PersonaState.from_dict(r.state.to_dict()) == r.state
    assert Persona.from_dict(DEFAULT_PERSONAS["igor_hard"].to_dict()) == DEFAULT_PERSONAS["igor_hard"]


async def test_persona_responder_answers_and_ends_on_zavershit():
    responder = PersonaResponder(DEFAULT_PERSONAS["olga_easy"], seed=1)
    state = ConversationState()
    first = [x async for x in responder.respond("", state)]
    assert isinstance(first[0], str) and first[0]
    out = [x async for x in responder.respond("Здравствуйте! Меня зовут Павел, мы возим грузы из Китая.", state)]
    assert any(isinstance(x, str) and x for x in out)
    assert any(isinstance(x, Directive) and x.kind == "meta" for x in out)
    out = [x async for x in responder.respond("Завершить", state)]
    assert out[-1] == Directive("end", {"reason": "trainee_ended"}) and state.ended


async def test_llm_persona_streams_and_falls_back_to_scripted():
    with OpenAIServer() as server:
        server.push(stream(["Ну, ", "допустим. А сроки какие?"]), error(500))
        config = LLMConfig(api_key="sk-test", base_url=server.base_url, timeout=5, first_token_timeout=2)
        responder = PersonaResponder(DEFAULT_PERSONAS["sergey_medium"], seed=2, llm=config, product="логистика")
        state = ConversationState()
        out = [x async for x in responder.respond("Здравствуйте! Мы возим грузы из Китая, удобно говорить?", state)]
        assert "".join(x for x in out if isinstance(x, str)) == "Ну, допустим. А сроки какие?"
        assert "Сергей Петрович" in server.requests[0]["messages"][0]["content"]
        out = [x async for x in responder.respond("Морем около сорока дней. Подготовить расчёт?", state)]
        assert "".join(x for x in out if isinstance(x, str))  # the scripted persona answered instead
