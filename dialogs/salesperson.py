"""The AI salesperson on OpenAI: streamed, with tools, and the flow engine as its map and same-turn fallback.

``LLMResponder`` runs the classifier and the flow engine on every turn first (so the stage, slots
and mind-state meta stay in sync and a fallback answer is ready), then streams the model's answer.
If OpenAI fails — an HTTP error, a network error, a timeout, or no first token within
``first_token_timeout`` — and nothing has been spoken yet, the flow's answer is spoken instead in
the same turn. Endings stay scripted: when the flow ends the call (wrong number, «Завершить»,
objections exhausted, closing) its exact end phrase is used.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from dialogs.flow import FlowState, spoken_text
from dialogs.llm import LLMConfig, ToolCall, history_messages, stream_chat
from dialogs.responders import FLOW_KEY, FlowResponder, directives_for
from dialogs.scriptmap import KNOWN_SLOTS, render_phrase, transfer_spec
from integrations.errors import ProviderError
from voice.responder import ConversationState, Directive, ResponderOutput

log = logging.getLogger(__name__)


TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "end_call",
            "description": "End the call after your current sentence (goal reached, refusal, wrong number).",
            "parameters": {
                "type": "object",
                "properties": {"reason": {"type": "string", "description": "why the call ends"}},
                "required": ["reason"],
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "record_slot",
            "description": "Record a fact the customer gave: contact, cargo details or a callback time.",
            "parameters": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "enum": list(KNOWN_SLOTS)},
                    "value": {"type": "string"},
                },
                "required": ["name", "value"],
                "additionalProperties": False,
            },
        },
    },
]

# Offered only when the script names a transfer target; the target itself never comes from the model.
TRANSFER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "transfer_call",
        "description": "Hand the call to a human colleague: the customer asks for a person or a manager, or "
                       "needs what only a person can give. The handoff line is said for you.",
        "parameters": {
            "type": "object",
            "properties": {"reason": {"type": "string", "description": "why the call goes to a person"}},
            "required": ["reason"],
            "additionalProperties": False,
        },
    },
}
TRANSFER_RULE = {
    "ru": "Если клиент просит соединить с человеком или менеджером, вызови transfer_call (фразу о переводе "
          "скажет система).",
    "en": "If the customer asks for a person or a manager, call transfer_call (the handoff line is said for you).",
}


def _stage_goal(stage: str, language: str) -> str:
    ru = {
        "greeting": "представиться и получить согласие поговорить",
        "qualification": "узнать, возят ли из Китая, что и какие объёмы",
        "presentation": "коротко рассказать о пользе и предложить расчёт",
        "objection_handling": "отработать возражение и вернуться к расчёту",
        "contact_collection": "получить email или телефон ЛПР для расчёта",
        "closing": "поблагодарить и попрощаться",
    }
    en = {
        "greeting": "introduce yourself and get permission to talk",
        "qualification": "find out whether they import from China, what and how much",
        "presentation": "briefly present the value and offer a quote",
        "objection_handling": "handle the objection and return to the quote",
        "contact_collection": "get the decision maker's email or phone for the quote",
        "closing": "thank them and say goodbye",
    }
    return (en if language == "en" else ru).get(stage, stage)


def build_system_prompt(script_map: Mapping[str, Any], *, language: str = "ru", product: str = "",
                        persona: str | Mapping[str, Any] | None = None, stage: str = "",
                        slots: Mapping[str, Any] | None = None, variables: Mapping[str, Any] | None = None,
                        objection: str | None = None) -> str:
    """The salesperson's instructions: who they are, the product, the stage's goal, what is known, the rules."""
    variables = {**(script_map.get("variables") or {}), **(variables or {})}
    agent = render_phrase("{{agent.name}}", variables) or ("Мария" if language != "en" else "Mary")
    company = render_phrase("{{company}}", variables)
    product = product or render_phrase("{{product}}", variables)
    slots = {k: v for k, v in (slots or {}).items() if v not in (None, "")}
    stage_def = (script_map.get("stages") or {}).get(stage) or {}
    example = render_phrase((stage_def.get("phrases") or [""])[0], variables) if stage_def else ""
    responses = []
    if objection:
        responses = [render_phrase(r, variables) for r in
                     ((script_map.get("objections") or {}).get(objection) or {}).get("responses", [])]
    persona_text = persona if isinstance(persona, str) else json.dumps(persona, ensure_ascii=False) if persona else ""
    if language == "en":
        lines = [
            f"You are {agent}, a sales representative of {company}, making an outbound cold call by phone.",
            f"Product: {product}.",
            "Goal of the call: get the decision maker's contact (email or phone) or a quote request; "
            "otherwise agree a callback time.",
            f"Current stage: {stage} — {_stage_goal(stage, 'en')}.",
            f"Collected so far: {json.dumps(slots, ensure_ascii=False)}." if slots else "Nothing collected yet.",
            f"Script line for this stage (adapt, don't read verbatim): {example}" if example else "",
            f"The customer raised «{objection}». Approved answers: {' / '.join(responses)}" if responses else "",
            f"Customer profile: {persona_text}" if persona_text else "",
            "Rules: speak English; one or two short sentences (this is voice, no lists, no markdown); "
            "ask one question at a time; never invent prices or terms; stay on the call's goal.",
            "Call record_slot for every contact, cargo detail or callback time you hear. "
            "Call end_call when the goal is reached and you have said goodbye, or the customer firmly refuses.",
        ]
    else:
        lines = [
            f"Ты — {agent}, менеджер по продажам компании «{company}», делаешь исходящий холодный звонок.",
            f"Продукт: {product}.",
            "Цель звонка: получить контакт ЛПР (email или телефон) или запрос на расчёт; "
            "если не получилось — договориться о времени перезвона.",
            f"Текущий этап: {stage} — {_stage_goal(stage, 'ru')}.",
            f"Уже известно: {json.dumps(slots, ensure_ascii=False)}." if slots else "Пока ничего не собрано.",
            f"Реплика скрипта для этапа (перескажи своими словами): {example}" if example else "",
            f"Клиент высказал возражение «{objection}». Одобренные ответы: {' / '.join(responses)}"
            if responses else "",
            f"Профиль клиента: {persona_text}" if persona_text else "",
            "Правила: говори по-русски, одно-два коротких предложения (это голос: без списков и разметки); "
            "задавай один вопрос за раз; не выдумывай цены и условия; держись цели звонка.",
            "Вызывай record_slot для каждого контакта, данных о грузе или времени перезвона. "
            "Вызывай end_call, когда цель достигнута и ты попрощалась, или клиент твёрдо отказался.",
        ]
    return "\n".join(line for line in lines if line)


class LLMResponder:
    """The AI salesperson on OpenAI, streamed, with the flow engine as its map and its safety net."""

    def __init__(self, script_map: Mapping[str, Any], variables: Mapping[str, Any] | None = None,
                 language: str | None = None, *, config: LLMConfig | None = None, product: str = "",
                 persona: str | Mapping[str, Any] | None = None, classifier: Any | None = None):
        self.script_map = script_map
        self.language = language or script_map.get("language", "ru")
        self.flow = FlowResponder(script_map, variables, self.language, classifier)
        self.variables = dict(variables or {})
        self.config = config or LLMConfig()
        self.product = product
        self.persona = persona
        self.transfer = transfer_spec(script_map, {**(script_map.get("variables") or {}), **self.variables})
        self.tools = [*TOOLS, TRANSFER_TOOL] if self.transfer else TOOLS

    async def respond(self, text: str, state: ConversationState) -> AsyncIterator[ResponderOutput]:
        fs, actions, c = self.flow.advance(text, state)
        objection = c.label if c is not None and c.is_objection else None
        fallback = spoken_text(actions)
        if not text.strip() or fs.ended:
            # The opening line and every ending stay scripted: fast, cacheable, and exactly as approved.
            if fallback:
                yield fallback
            for d in directives_for(actions, c, fs.stage, objection):
                yield d
            state.ended = state.ended or fs.ended
            return

        turn = _ToolResults()
        spoken = False
        source = "llm"
        try:
            async for item in stream_chat(self.config, self._messages(text, state, fs, objection), self.tools):
                if isinstance(item, str):
                    spoken = True
                    yield item
                else:
                    self._use_tool(item, fs, turn)
        except ProviderError as exc:
            log.warning("LLM turn failed, the flow answers instead: %s", exc)
            source = "flow_fallback"
            if not spoken and fallback:
                yield fallback
        if turn.transfer_reason is not None and not fs.ended:
            # the scripted handoff line, then the call goes to a person (not hung up)
            yield (" " if spoken else "") + self.transfer["phrase"]
            spoken = True
            fs = self._transferred(fs, turn)
        end_reason = turn.end_reason
        if source == "llm" and not spoken and end_reason is None:
            source = "flow_fallback"  # an empty answer is no answer
            if fallback:
                yield fallback
        if end_reason and not fs.ended:
            fs = FlowState.from_dict({**fs.to_dict(), "ended": True, "end_reason": end_reason})
        state.data[FLOW_KEY] = fs.to_dict()
        directives = directives_for(actions, c, fs.stage, objection)
        directives[0] = Directive("meta", {**directives[0].data, "source": source})
        for d in directives:
            if d.kind != "end":
                yield d
        for d in turn.directives:
            yield d
        if fs.ended:
            state.ended = True
            yield Directive("end", {"reason": fs.end_reason})

    def _messages(self, text: str, state: ConversationState, fs: FlowState, objection: str | None) -> list[dict]:
        system = build_system_prompt(self.script_map, language=self.language, product=self.product,
                                     persona=self.persona, stage=fs.stage, slots=fs.slots, variables=self.variables,
                                     objection=objection)
        if self.transfer:
            system += "\n" + TRANSFER_RULE["en" if self.language == "en" else "ru"]
        messages = [{"role": "system", "content": system}, *history_messages(state.history)]
        if not messages[-1:] or messages[-1].get("content") != text or messages[-1].get("role") != "user":
            messages.append({"role": "user", "content": text})
        return messages

    def _use_tool(self, call: ToolCall, fs: FlowState, turn: _ToolResults) -> None:
        """A tool the model called: a slot is stored at once; an end or a transfer waits for the words."""
        if call.name == "record_slot":
            name, value = call.arguments.get("name"), call.arguments.get("value")
            if name in KNOWN_SLOTS and value not in (None, ""):
                fs.slots[name] = value
                turn.directives.append(Directive("slot", {"name": name, "value": value}))
        elif call.name == "end_call":
            turn.end_reason = str(call.arguments.get("reason") or "llm_end_call")
        elif call.name == "transfer_call" and self.transfer:
            turn.transfer_reason = str(call.arguments.get("reason") or "llm_transfer_call")

    def _transferred(self, fs: FlowState, turn: _ToolResults) -> FlowState:
        """The flow ends with ``transfer``; the target comes from the script, never from the model."""
        target = {k: v for k, v in self.transfer.items() if k != "phrase"}
        turn.directives.append(Directive("transfer", {**target, "reason": turn.transfer_reason}))
        return FlowState.from_dict({**fs.to_dict(), "ended": True, "end_reason": "transfer"})


@dataclass
class _ToolResults:
    """What the model's tool calls asked for in one turn."""

    directives: list[Directive] = field(default_factory=list)
    end_reason: str | None = None
    transfer_reason: str | None = None
