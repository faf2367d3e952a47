"""Stateless flow engine over a dialogue map: ``step(map, state, event) -> (state, actions)``.

The engine never classifies: the caller passes a ``FlowEvent`` carrying the classifier's label and
slots, which keeps it pure and testable. It returns a new ``FlowState`` (the input is not mutated)
and a list of ``Action``s that say what the salesperson does this turn.

Behaviour, in order of precedence for an utterance:

1. ``wrong_number``: apologise, end. ``end_session``: end phrase, end.
2. Waiting for a callback time (after «занят»): a time schedules the callback and ends politely.
3. Objections: the n-th time a class is raised gets its n-th response; once responses (or the
   map's ``max_objections`` in total) run out the call ends politely. ``objection_busy`` asks for a
   time; ``objection_not_decision_maker`` goes to contact collection for the decision maker.
4. ``give_contact`` with a phone/email: thank, follow the stage's transition (usually closing).
5. Any intent with a transition in the stage (or ``global_transitions``): ``@stay`` answers the intent
   (FAQ for questions) and re-asks the stage prompt; a stage name moves there and says its phrase;
   a ``final`` stage adds the end phrase and ends; ``@end`` ends politely; ``@transfer`` says the
   handoff phrase and hands the call to a person (``ask_human`` goes there without a transition when
   the map has a ``transfer`` block).
6. Anything else: a clarifying question, then the fallback phrase, then move on to the stage's
   ``default``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from dialogs.classifier import ru_lemma_tags
from dialogs.scriptmap import OBJECTION_LABELS, render_phrase, transfer_spec

ActionKind = Literal["say", "objection_response", "fill_slot", "end_call", "schedule_callback", "set_stage",
                     "transfer"]
CONTACT_SLOTS = ("phone", "email")
SLOT_NAMES = ("name", "phone", "email", "cargo", "origin", "weight", "weight_kg", "container", "callback_time")
MAX_TURNS_DEFAULT = 30
_LATER = {"ru": "позже", "en": "later", "uz": "keyinroq", "tg": "баъдтар"}


@dataclass
class Action:
    """One thing the salesperson does: ``say``/``objection_response`` carry rendered ``text``."""

    kind: ActionKind
    text: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FlowEvent:
    """What happened: the conversation started, or the customer said ``text`` classified as ``label``."""

    text: str = ""
    label: str = "other"
    confidence: float = 1.0
    slots: dict[str, Any] = field(default_factory=dict)
    kind: Literal["start", "utterance", "silence"] = "utterance"

    @classmethod
    def start(cls) -> FlowEvent:
        return cls(kind="start", label="")

    @classmethod
    def from_classification(cls, c: Any) -> FlowEvent:
        return cls(text=c.text, label=c.label, confidence=c.confidence, slots=dict(c.slots))


def _json_copy(value: Any) -> Any:
    """A deep copy of JSON-shaped state (dicts, lists, scalars) without ``copy.deepcopy``'s memo and
    dispatch: the flow state is copied on every turn, inside the live call's event loop."""
    kind = type(value)
    if kind is dict:
        return {k: _json_copy(v) for k, v in value.items()}
    if kind is list:
        return [_json_copy(v) for v in value]
    if kind in (str, int, float, bool) or value is None:
        return value
    return copy.deepcopy(value)


@dataclass
class FlowState:
    """Everything the engine remembers between turns; JSON-serialisable through ``to_dict``."""

    stage: str = ""
    slots: dict[str, Any] = field(default_factory=dict)
    objection_counts: dict[str, int] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)  # phrase rotation per list
    unknown_streak: int = 0
    awaiting: str = ""  # "callback_time" | "decision_maker_contact" | ""
    ended: bool = False
    end_reason: str = ""
    turn: int = 0
    stages_visited: list[str] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)
    language: str = "ru"
    trace: list[list[Any]] = field(default_factory=list)  # [utterance, label, stage, action kinds/summary]

    def to_dict(self) -> dict[str, Any]:
        return {name: _json_copy(getattr(self, name)) for name in _STATE_FIELDS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> FlowState:
        data = data or {}
        return cls(**{k: _json_copy(v) for k, v in data.items() if k in _STATE_FIELDS})

    def copy(self) -> FlowState:
        return FlowState(**{name: _json_copy(getattr(self, name)) for name in _STATE_FIELDS})

    @property
    def objections_total(self) -> int:
        return sum(self.objection_counts.values())


_STATE_FIELDS = tuple(f.name for f in fields(FlowState))


def new_state(script_map: Mapping[str, Any], variables: Mapping[str, Any] | None = None,
              language: str | None = None) -> FlowState:
    return FlowState(variables=dict(variables or {}), language=language or script_map.get("language", "ru"))


class _Turn:
    """One step's working area: the copied state, the map and the actions being collected."""

    def __init__(self, script_map: Mapping[str, Any], state: FlowState):
        self.map = script_map
        self.state = state
        self.actions: list[Action] = []

    # -- phrases ----------------------------------------------------------------------------

    def variables(self) -> dict[str, Any]:
        v: dict[str, Any] = {}
        defaults = self.map.get("variables")
        if isinstance(defaults, Mapping):
            v.update(defaults)
        v.update(self.state.variables)
        slots = self.state.slots
        v["slots"] = dict(slots)
        v["callback_time"] = slots.get("callback_time") or _LATER.get(self.state.language, "")
        return v

    def pick(self, phrases: Any, key: str) -> str:
        if isinstance(phrases, str):
            phrases = [phrases]
        phrases = [p for p in (phrases or []) if isinstance(p, str) and p.strip()]
        if not phrases:
            return ""
        n = self.state.counters.get(key, 0)
        self.state.counters[key] = n + 1
        return render_phrase(phrases[n % len(phrases)], self.variables())

    def say(self, phrases: Any, key: str, kind: ActionKind = "say", **data: Any) -> None:
        text = self.pick(phrases, key)
        if text:
            self.actions.append(Action(kind, text, data))

    def service(self, kind: str) -> Any:
        return (self.map.get("phrases") or {}).get(kind) or []

    def stage_def(self, name: str | None = None) -> Mapping[str, Any]:
        st = (self.map.get("stages") or {}).get(name or self.state.stage)
        return st if isinstance(st, Mapping) else {}

    # -- moves ------------------------------------------------------------------------------

    def set_stage(self, name: str) -> None:
        if name != self.state.stage:
            self.state.stage = name
            self.actions.append(Action("set_stage", data={"stage": name}))
        if name not in self.state.stages_visited:
            self.state.stages_visited.append(name)

    def end(self, reason: str, phrase_kind: str | None = "end") -> None:
        if phrase_kind:
            self.say(self.service(phrase_kind), f"phrases.{phrase_kind}")
        self.state.ended = True
        self.state.end_reason = reason
        self.actions.append(Action("end_call", data={"reason": reason}))

    def enter(self, name: str) -> None:
        """Move to a stage and say its phrase; a final stage also says goodbye and hangs up."""
        self.set_stage(name)
        stage = self.stage_def(name)
        self.say(stage.get("phrases"), f"stages.{name}")
        if stage.get("final"):
            self.end("completed")

    def fill(self, name: str, value: Any) -> None:
        if value in (None, "") or self.state.slots.get(name) == value:
            return
        self.state.slots[name] = value
        self.actions.append(Action("fill_slot", data={"name": name, "value": value}))

    def transition_for(self, label: str) -> str | None:
        own = self.stage_def().get("transitions") or {}
        if label in own:
            return own[label]
        glob = self.map.get("global_transitions") or {}
        return glob.get(label)

    def answer_question(self, text: str) -> bool:
        faq = self.map.get("faq") or []
        words = {w.strip(".,!?;:«»\"'").lower() for w in text.split()}
        lemmas = words | {ru_lemma_tags(w)[0] for w in words if w}  # lemmas make «сроки»/«срок» match one keyword
        if self.state.language in ("uz", "tg"):  # suffixes glue to stems: «muddati» asks about «muddat»
            lemmas |= {w[:n] for w in words for n in range(3, len(w))}
        best, best_hits = None, 0
        for i, item in enumerate(faq):
            if not isinstance(item, Mapping):
                continue
            keys = {str(k).lower() for k in item.get("keywords") or []}
            hits = len(keys & lemmas)
            if hits > best_hits:
                best, best_hits = (i, item), hits
        if best is None:
            return False
        i, item = best
        self.say(item.get("answer"), f"faq.{i}")
        return True

    def stay(self, label: str, text: str) -> None:
        answered = False
        if label == "question":
            answered = self.answer_question(text)
        if not answered:
            responses = (self.map.get("intent_responses") or {}).get(label)
            if responses:
                self.say(responses, f"intent_responses.{label}")
                answered = True
        stage = self.stage_def()
        if answered and stage.get("prompt"):
            self.say(stage.get("prompt"), f"prompt.{self.state.stage}")
        elif not answered:
            self.say(stage.get("phrases"), f"stages.{self.state.stage}")

    def go(self, target: str, label: str, text: str) -> None:
        if target == "@stay":
            self.stay(label, text)
        elif target == "@end":
            self.end("completed", "polite_end")
        elif target == "@callback":
            self.ask_callback()
        elif target == "@transfer":
            self.transfer(label)
        elif target in (self.map.get("stages") or {}):
            if label in ("who_is_calling", "greeting", "question"):
                # Answer first, then carry on: «кто это?» deserves an introduction before the pitch.
                if label == "question":
                    self.answer_question(text)
                else:
                    self.say((self.map.get("intent_responses") or {}).get(label), f"intent_responses.{label}")
            self.enter(target)
        else:
            self.unknown()

    def transfer(self, reason: str) -> None:
        """Say the handoff line and end this side of the call with a transfer to the map's target."""
        spec = transfer_spec(self.map, self.variables())
        if spec is None:  # a map that names no valid target: a polite ending, never a dead line
            self.end("completed", "polite_end")
            return
        phrase = spec.pop("phrase")
        if phrase:
            self.actions.append(Action("say", phrase))
        self.actions.append(Action("transfer", data={**spec, "reason": reason}))
        self.state.ended = True
        self.state.end_reason = "transfer"
        self.actions.append(Action("end_call", data={"reason": "transfer"}))

    def ask_callback(self) -> None:
        self.state.awaiting = "callback_time"
        self.say(self.service("ask_callback_time"), "phrases.ask_callback_time")

    def schedule_callback(self, when: str | None) -> None:
        self.state.slots.setdefault("callback_time", when or "")
        self.actions.append(Action("schedule_callback", data={"when": when or ""}))
        self.state.awaiting = ""
        self.end("callback", "callback_confirm")

    def unknown(self) -> None:
        self.state.unknown_streak += 1
        streak = self.state.unknown_streak
        if streak == 1:
            self.say(self.service("clarify"), "phrases.clarify")
        elif streak == 2:
            self.say(self.service("fallback"), "phrases.fallback")
            self.say(self.stage_def().get("prompt") or self.stage_def().get("phrases"), f"stages.{self.state.stage}")
        else:
            self.state.unknown_streak = 0
            default = self.stage_def().get("default")
            if default and default in (self.map.get("stages") or {}) and default != self.state.stage:
                self.enter(default)
            elif default == "@end" or not default:
                self.end("no_understanding", "polite_end")
            else:
                self.say(self.service("fallback"), "phrases.fallback")

    def objection(self, label: str, event: FlowEvent) -> None:
        st = self.state
        count = st.objection_counts.get(label, 0) + 1
        st.objection_counts[label] = count
        spec = (self.map.get("objections") or {}).get(label) or {}
        responses = spec.get("responses") or []
        if isinstance(responses, str):
            responses = [responses]
        limit = int(self.map.get("max_objections") or 4)
        nxt = spec.get("next") or ("@callback" if label == "objection_busy" else "objection_handling")
        if nxt == "@transfer":
            self.transfer(label)
            return
        if nxt == "@callback" and event.slots.get("callback_time"):
            self.schedule_callback(event.slots["callback_time"])
            return
        if count > len(responses) or st.objections_total > limit:
            if nxt == "@callback":
                self.schedule_callback(None)
            else:
                self.end(label, "polite_end")
            return
        text = render_phrase(responses[count - 1], self.variables())
        self.actions.append(Action("objection_response", text, {"objection": label, "index": count - 1}))
        if label == "objection_not_decision_maker":
            st.awaiting = "decision_maker_contact"
        if nxt == "@callback":
            st.awaiting = "callback_time"
            if st.stage != "objection_handling" and "objection_handling" in (self.map.get("stages") or {}):
                self.set_stage("objection_handling")
        elif nxt == "@end":
            self.end(label, None)
        elif nxt in (self.map.get("stages") or {}):
            self.set_stage(nxt)


def step(script_map: Mapping[str, Any], state: FlowState, event: FlowEvent) -> tuple[FlowState, list[Action]]:
    """Advance the conversation by one event; the given state is left untouched."""
    turn = _Turn(script_map, state.copy())
    st = turn.state
    if st.ended:
        return st, []
    if event.kind == "start":
        turn.enter(script_map.get("start") or "greeting")
        st.trace.append(["", "", st.stage, _summary(turn.actions)])
        return st, turn.actions

    label = event.label or "other"
    stage_before = st.stage or (script_map.get("start") or "greeting")
    if not st.stage:
        turn.set_stage(stage_before)
    st.turn += 1
    _take_slots(turn, event, label)
    _route(turn, event, label)
    if not st.ended and st.turn >= int(script_map.get("max_turns") or MAX_TURNS_DEFAULT):
        turn.end("too_long", "polite_end")
    st.trace.append([event.text, label, stage_before, _summary(turn.actions)])
    return st, turn.actions


def _take_slots(turn: _Turn, event: FlowEvent, label: str) -> None:
    """What the customer gave this turn fills its slots; a recognised line ends a run of unclear ones."""
    for name in SLOT_NAMES:
        if name in event.slots:
            turn.fill(name, event.slots[name])
    if label == "request_quote":
        turn.fill("quote_requested", True)
    if label not in ("other", "") and not label.startswith("objection_"):
        turn.state.unknown_streak = 0


def _route(turn: _Turn, event: FlowEvent, label: str) -> None:
    """The turn's answer: an ending, a callback, an objection's answer, a contact's thanks, or the map's move."""
    st = turn.state
    has_contact = any(event.slots.get(s) for s in CONTACT_SLOTS)
    if label == "wrong_number":
        turn.end("wrong_number", "wrong_number")
    elif label == "end_session":
        turn.end("customer_ended", "end")
    elif st.awaiting == "callback_time" and (event.slots.get("callback_time") or label in ("objection_busy", "other")):
        turn.schedule_callback(event.slots.get("callback_time"))
    elif label in OBJECTION_LABELS:
        st.awaiting = "" if st.awaiting == "callback_time" else st.awaiting
        turn.objection(label, event)
    elif label == "give_contact" or has_contact:
        _contact(turn, event, has_contact)
    else:
        if st.awaiting == "callback_time":
            st.awaiting = ""  # they chose to talk now after all
        target = turn.transition_for(label) if label != "other" else None
        if target is None and label == "ask_human" and turn.map.get("transfer"):
            target = "@transfer"
        if target is None:
            turn.unknown()
        else:
            turn.go(target, label, event.text)


def _contact(turn: _Turn, event: FlowEvent, has_contact: bool) -> None:
    st = turn.state
    if not has_contact:
        turn.say(turn.service("ask_contact_again"), "phrases.ask_contact_again")
        return
    if st.awaiting == "decision_maker_contact":
        turn.fill("decision_maker_contact", True)
    st.awaiting = ""
    turn.say(turn.service("contact_thanks"), "phrases.contact_thanks")
    turn.go(turn.transition_for("give_contact") or "closing", "give_contact", event.text)


def _summary(actions: list[Action]) -> str:
    parts = []
    for a in actions:
        if a.kind == "objection_response":
            parts.append(f"objection_response:{a.data.get('objection')}#{a.data.get('index')}")
        elif a.kind == "transfer":
            parts.append(f"transfer:{a.data.get('to') or a.data.get('queue')}")
        elif a.kind in ("set_stage", "fill_slot", "end_call", "schedule_callback"):
            detail = a.data.get("stage") or a.data.get("name") or a.data.get("reason") or a.data.get("when") or ""
            parts.append(f"{a.kind}:{detail}")
        else:
            parts.append(a.kind)
    return ",".join(parts)


def spoken_text(actions: list[Action]) -> str:
    """The turn's words, in order: what TTS should say."""
    return " ".join(a.text for a in actions if a.kind in ("say", "objection_response") and a.text).strip()
