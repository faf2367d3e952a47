"""``voice.responder.Responder`` implementations: the offline flow salesperson, the LLM salesperson, the AI customer.

- ``FlowResponder``: the scripted salesperson (offline default) over a dialogue map.
- ``LLMResponder``: OpenAI chat, streamed, falling back to the flow within the same turn (``dialogs.salesperson``).
- ``PersonaResponder``: the AI customer for the trainer and the simulated callee (``dialogs.personas``).

All keep their own state under ``ConversationState.data`` so the pipeline stays generic.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from dialogs.classifier import Classification, IntentClassifier, get_classifier
from dialogs.flow import Action, FlowEvent, FlowState, new_state, spoken_text, step
from voice.responder import ConversationState, Directive, ResponderOutput

FLOW_KEY = "flow"


def directives_for(actions: list[Action], classification: Classification | None, stage: str,
                   objection: str | None = None) -> list[Directive]:
    """Directives that follow a turn's text: meta first (for the mind-state UI), then slots, callback, transfer, end."""
    out = [Directive("meta", {
        "stage": stage,
        "intent": classification.label if classification else None,
        "confidence": classification.confidence if classification else None,
        "objection": objection,
    })]
    for a in actions:
        if a.kind == "set_stage":
            out.append(Directive("stage", {"stage": a.data["stage"]}))
        elif a.kind == "fill_slot":
            out.append(Directive("slot", {"name": a.data["name"], "value": a.data["value"]}))
        elif a.kind == "schedule_callback":
            out.append(Directive("callback", {"when": a.data.get("when", "")}))
        elif a.kind == "transfer":  # before the end: the pipeline hands the call over instead of hanging up
            out.append(Directive("transfer", dict(a.data)))
    for a in actions:
        if a.kind == "end_call":
            out.append(Directive("end", {"reason": a.data.get("reason", "")}))
    return out


class FlowResponder:
    """The scripted AI salesperson: classify the customer's words, step the flow, speak its phrases."""

    def __init__(self, script_map: Mapping[str, Any], variables: Mapping[str, Any] | None = None,
                 language: str | None = None, classifier: IntentClassifier | None = None):
        self.script_map = script_map
        self.variables = dict(variables or {})
        self.language = language or script_map.get("language", "ru")
        self._classifier = classifier

    @property
    def classifier(self) -> IntentClassifier:
        if self._classifier is None:
            self._classifier = get_classifier(self.language, self.script_map)
        return self._classifier

    def flow_state(self, state: ConversationState) -> FlowState:
        raw = state.data.get(FLOW_KEY)
        if raw is None:
            return new_state(self.script_map, self.variables, self.language)
        return FlowState.from_dict(raw)

    def advance(self, text: str, state: ConversationState) -> tuple[FlowState, list[Action], Classification | None]:
        """Classify and step once, storing the new flow state in ``state.data``; no I/O."""
        fs = self.flow_state(state)
        if not text.strip():
            if fs.stage:  # silence mid-call counts as not understood
                c = Classification("other", 0.0, {}, {}, "")
                fs, actions = step(self.script_map, fs, FlowEvent(text="", label="other", kind="silence"))
                state.data[FLOW_KEY] = fs.to_dict()
                return fs, actions, c
            fs, actions = step(self.script_map, fs, FlowEvent.start())
            state.data[FLOW_KEY] = fs.to_dict()
            return fs, actions, None
        c = self.classifier.classify(text)
        fs, actions = step(self.script_map, fs, FlowEvent.from_classification(c))
        state.data[FLOW_KEY] = fs.to_dict()
        return fs, actions, c

    async def respond(self, text: str, state: ConversationState) -> AsyncIterator[ResponderOutput]:
        fs, actions, c = self.advance(text, state)
        spoken = spoken_text(actions)
        if spoken:
            yield spoken
        objection = c.label if c is not None and c.is_objection else None
        for d in directives_for(actions, c, fs.stage, objection):
            yield d
        if fs.ended:
            state.ended = True
