"""The dialogue-map format of a sales script: documentation, validation, phrase rendering and JSON I/O.

A dialogue map is a plain JSON object (stored in ``Script.dialogue_map``). It is framework-free so
the flow engine, the voice pipeline, calls and training can all use it without Django.

Format (keys marked * are required)::

    {
      "language": "ru",                       # "ru" | "en" | "uz" | "tg"
      "start": "greeting",                    # first stage (default "greeting")
      "max_objections": 4,                    # total objections before a polite ending (default 4)
      "variables": {"company": "ТРАНСТИРЕКС"},  # defaults for template variables (extra names allowed)
      "stages": {                             # * stage name -> stage
        "greeting": {
          "phrases": ["Здравствуйте, {{contact.name}}! ..."],   # * bot lines, used in rotation
          "transitions": {"agree": "qualification", "who_is_calling": "@stay"},
          "prompt": ["Удобно минутку поговорить?"],   # short re-ask after answering a side question
          "default": "qualification",         # where an unclear answer moves on to (see flow)
          "final": false                      # true: say the phrase, then the end phrase, hang up
        },
        ...
      },
      "global_transitions": {"question": "@stay"},   # apply in every stage that lacks its own
      "objections": {                         # objection label -> handling
        "objection_busy": {"responses": ["..."], "next": "@callback"},
        "objection_has_supplier": {"responses": ["...", "..."], "next": "objection_handling"}
      },
      "intent_responses": {"who_is_calling": ["Меня зовут {{agent.name}}, компания {{company}}..."]},
      "faq": [{"keywords": ["срок", "долго"], "answer": "..."}],
      "phrases": {                            # service phrases
        "clarify": [...], "fallback": [...], "end": [...], "polite_end": [...],
        "wrong_number": [...], "callback_confirm": [...], "ask_callback_time": [...],
        "contact_thanks": [...], "ask_contact_again": [...],
        "holding": [...], "not_heard": [...],  # optional; defaults per language in voice.pipeline
        "voicemail": [...]                     # optional: left on an answering machine (VOICEMAIL_PHRASES)
      },
      "goals": {                              # what counts as success; slot names must be known
        "decision_maker_contact": {"any_of": ["phone", "email"]},
        "quote_requested": {"any_of": ["quote_requested"]},
        "callback_time": {"any_of": ["callback_time"]}
      },
      "intents": {"agree": ["да, давайте", ...]},  # extra phrases the classifier learns from
      "hints": ["ТРАНСТИРЕКС", "Гуанчжоу"],   # words speech recognition should expect (names, cities)
      "limits": {"max_call_s": 300, "max_silences": 3, "silence_s": 8},   # calls only (defaults shown)
      "transfer": {"to": "+74951234567",      # hand the callee to a person: a number (E.164) ...
                   "queue": "sales",          # ... or an operator queue (exactly one of the two)
                   "phrases": ["Соединяю вас с менеджером, одну минуту."]}   # the handoff line
    }

Transfer to a human: a transition (or an objection's ``next``) to ``@transfer`` says the handoff
phrase (``transfer.phrases``, else a default per language) and hands the call to ``transfer.to`` or
``transfer.queue``. The ``ask_human`` intent («соедините с менеджером») goes there by itself when the
map has a ``transfer`` block and no transition of its own for it. The LLM salesperson gets a
``transfer_call`` tool only for such maps; the target always comes from the map, never from the model.

Limits (seed 004): a call lasts at most ``max_call_s``; after ``silence_s`` of quiet the bot asks the
``silence_prompt`` phrase («Вы меня слышите?»), and the ``max_silences``-th silence ends the call with
``silence_end``; an overlong call ends at the next pause with ``limit_end``. Each has a default.

Canonical stages are greeting, qualification, presentation, objection_handling, contact_collection
and closing. Transition targets are a stage name or one of the specials ``@stay`` (remain, answer the
intent), ``@end`` (polite ending, hang up) and, for objections, ``@callback`` (ask for / confirm a
callback time). Intent labels are ``INTENT_LABELS`` below (the classifier uses the same list).

Template variables are written ``{{name}}``; allowed names are ``ALLOWED_VARIABLES``, ``slots.<slot>``
for every known slot, and any key declared in ``variables``.

``validate_map`` never raises: it returns ``MapProblem(path, code, message)`` items, where ``path`` is a
JSON pointer (``/stages/greeting/transitions/agree``) and ``code`` is stable for translation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

CANONICAL_STAGES = (
    "greeting",
    "qualification",
    "presentation",
    "objection_handling",
    "contact_collection",
    "closing",
)
OBJECTION_LABELS = (
    "objection_not_interested",
    "objection_has_supplier",
    "objection_send_email",
    "objection_busy",
    "objection_too_expensive",
    "objection_not_decision_maker",
    "objection_no_need",
)
INTENT_LABELS = (
    "greeting",
    "who_is_calling",
    "agree",
    "question",
    "give_contact",
    "request_quote",
    *OBJECTION_LABELS,
    "end_session",
    "wrong_number",
    "ask_human",  # the callee wants a person («соедините с менеджером»): a script may transfer the call
)
SPECIAL_TARGETS = ("@stay", "@end", "@callback", "@transfer")
SCRIPT_LANGUAGES = ("ru", "en", "uz", "tg")
KNOWN_SLOTS = ("name", "phone", "email", "cargo", "origin", "weight", "callback_time", "quote_requested")
GOALS = ("decision_maker_contact", "quote_requested", "callback_time")
ALLOWED_VARIABLES = frozenset(
    {"contact.name", "contact.company", "contact.phone", "company", "agent.name", "product", "callback_time"}
)
PHRASE_KINDS = (
    "clarify",
    "fallback",
    "end",
    "polite_end",
    "wrong_number",
    "callback_confirm",
    "ask_callback_time",
    "contact_thanks",
    "ask_contact_again",
    "holding",  # optional: said once when speech recognition is late («Секунду…»)
    "not_heard",  # optional: after a second miss in a row, instead of asking to repeat again
    "silence_prompt",
    "silence_end",
    "limit_end",
    "voicemail",  # optional: the message left on an answering machine (campaigns that leave one)
    # the message after the call, per outcome (optional; a neutral default is used without them)
    "follow_up_interested",
    "follow_up_callback",
    "follow_up_no_decision_maker",
    "follow_up_busy",
)
LIMIT_KEYS = {"max_call_s": 300, "max_silences": 3, "silence_s": 8}
LIMIT_PHRASES = {
    "ru": {"silence_prompt": "Алло, вы меня слышите?",
           "silence_end": "Похоже, связь прервалась. Я перезвоню в другой раз. Всего доброго!",
           "limit_end": "Не буду больше отнимать у вас время. Спасибо за разговор, всего доброго!"},
    "en": {"silence_prompt": "Hello, can you hear me?",
           "silence_end": "It seems we lost the line. I will call another time. Goodbye!",
           "limit_end": "I won't take more of your time. Thank you for the conversation, goodbye!"},
    "uz": {"silence_prompt": "Allo, meni eshityapsizmi?",
           "silence_end": "Aloqa uzilib qolganga o'xshaydi. Boshqa safar qo'ng'iroq qilaman. Xayr!",
           "limit_end": "Vaqtingizni boshqa olmayman. Suhbat uchun rahmat, xayr!"},
    "tg": {"silence_prompt": "Алло, шумо маро мешунавед?",
           "silence_end": "Чунин менамояд, ки алоқа қатъ шуд. Дафъаи дигар занг мезанам. Хайр!",
           "limit_end": "Дигар вақтатонро намегирам. Ташаккур барои суҳбат, хайр!"},
}
# Left on an answering machine after the beep when a campaign says so and the script has no ``voicemail`` phrase.
VOICEMAIL_PHRASES = {
    "ru": "Здравствуйте! Мы звонили вам по рабочему вопросу и перезвоним позже. Всего доброго!",
    "en": "Hello! We called you on a business matter and will call again later. Goodbye!",
    "uz": "Assalomu alaykum! Sizga ish yuzasidan qo'ng'iroq qildik, keyinroq qayta qo'ng'iroq qilamiz. Xayr!",
    "tg": "Ассалому алейкум! Мо ба шумо оид ба кор занг задем ва баъдтар боз занг мезанем. Хайр!",
}

TRANSFER_KEYS = ("to", "queue", "phrases")
TRANSFER_PHRASES = {
    "ru": "Соединяю вас с менеджером, оставайтесь, пожалуйста, на линии.",
    "en": "I am putting you through to a colleague, please stay on the line.",
    "uz": "Sizni menejerga ulayapman, iltimos, kuting.",
    "tg": "Шуморо бо менеҷер пайваст мекунам, лутфан дар хат бошед.",
}
_E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")
_QUEUE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Intents whose handling is built into the flow engine, so a stage needs no transition for them.
ENGINE_HANDLED = frozenset({"end_session", "wrong_number", *OBJECTION_LABELS})

_VAR_RE = re.compile(r"\{\{\s*([A-Za-z_][\w.]*)\s*\}\}")
_STAGE_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class MapProblem:
    """One problem in a dialogue map, at a JSON-pointer ``path``; ``code`` is stable, ``message`` English."""

    path: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '/'}: {self.message}"


class MapError(ValueError):
    """Raised by ``load_map(strict=True)`` when the map has problems; ``problems`` lists them."""

    def __init__(self, problems: list[MapProblem]):
        super().__init__("; ".join(str(p) for p in problems[:5]))
        self.problems = problems


def _is_e164(value: Any) -> bool:
    """A dialable number written in E.164 (``+`` and digits, a valid number for its country)."""
    import phonenumbers

    if not isinstance(value, str) or not _E164_RE.match(value):
        return False
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(value))
    except phonenumbers.NumberParseException:
        return False


def _ptr(*parts: object) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def template_variables(template: str) -> list[str]:
    """Names used in ``{{...}}`` placeholders, in order of appearance."""
    return _VAR_RE.findall(template) if isinstance(template, str) else []


def _lookup(variables: Mapping[str, Any], name: str) -> Any:
    if name in variables:
        return variables[name]
    node: Any = variables
    for part in name.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return None
    return node


def render_phrase(template: str, variables: Mapping[str, Any] | None = None) -> str:
    """Substitute ``{{name}}`` placeholders; dotted names read nested dicts or flat dotted keys.

    Missing or empty values become empty text and the dangling punctuation is tidied, so
    «Здравствуйте, {{contact.name}}!» with no name reads «Здравствуйте!». Nothing is evaluated.
    """
    variables = variables or {}

    def sub(m: re.Match[str]) -> str:
        value = _lookup(variables, m.group(1))
        if value is None or isinstance(value, (dict, list)):
            return ""
        return str(value)

    text = _VAR_RE.sub(sub, template)
    text = re.sub(r"\s+([,.!?;:])", r"\1", text)
    text = re.sub(r",\s*([,.!?;:])", r"\1", text)
    text = re.sub(r"\(\s*\)", "", text)
    return re.sub(r"\s{2,}", " ", text).strip()


def allowed_variables(data: Mapping[str, Any]) -> set[str]:
    names = set(ALLOWED_VARIABLES) | {f"slots.{s}" for s in KNOWN_SLOTS}
    declared = data.get("variables") if isinstance(data, Mapping) else None
    if isinstance(declared, Mapping):
        for key, value in declared.items():
            names.add(str(key))
            if isinstance(value, Mapping):  # nested defaults: {"contact": {"title": ...}}
                names.update(f"{key}.{k}" for k in value)
    return names


class _Validator:
    def __init__(self, data: Any):
        self.data = data
        self.problems: list[MapProblem] = []
        self.transfer_used: list[str] = []  # paths that send the call to ``@transfer``

    def add(self, path: str, code: str, message: str) -> None:
        self.problems.append(MapProblem(path, code, message))

    def phrase_list(self, value: Any, path: str, *, required: bool = True) -> list[tuple[str, str]]:
        """Check a list of phrases; return (path, phrase) pairs that are strings."""
        if value is None:
            if required:
                self.add(path, "missing", "is required")
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.add(path, "type", "must be a list of phrases")
            return []
        if required and not value:
            self.add(path, "empty", "needs at least one phrase")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                self.add(f"{path}/{i}", "type", "must be non-empty text")
            else:
                out.append((f"{path}/{i}", item))
        return out

    def run(self) -> list[MapProblem]:
        data = self.data
        if not isinstance(data, Mapping):
            self.add("", "type", "the dialogue map must be a JSON object")
            return self.problems
        self.phrases: list[tuple[str, str]] = []  # (path, text) of every phrase, for the variables check
        self.stage_names: set[str] = set()
        stages = self._stages(data)
        start = self._start(data, stages)
        self._settings(data)
        edges, handled = self._stage_bodies(data, stages)
        objection_targets = self._objections(data, stages)
        self._phrase_block(data, "intent_responses", INTENT_LABELS, "unknown_intent", "unknown intent «{}»",
                           "must be an object of intent -> phrases")
        has_transfer = self.transfer(data.get("transfer"))
        self._limits(data)
        svc = self._phrase_block(data, "phrases", PHRASE_KINDS, "unknown_key", "unknown phrase kind «{}»",
                                 "must be an object of phrase kind -> phrases")
        for kind in ("clarify", "fallback", "end"):
            if kind not in svc:
                self.add(_ptr("phrases", kind), "missing", f"the «{kind}» phrases are required")
        self._faq(data)
        self._goals(data)
        self._intents(data, handled, has_transfer)
        if not has_transfer:
            for path in self.transfer_used:
                self.add(path, "transfer_no_target", "«@transfer» needs a «transfer» block with «to» or «queue»")
        elif isinstance(data.get("transfer"), Mapping):
            self.phrases += self.phrase_list(data["transfer"].get("phrases"), "/transfer/phrases", required=False)
        self._variables(data)
        self._reachability(stages, start, edges, objection_targets)
        return self.problems

    # -- structure ---------------------------------------------------------------------------

    def _stages(self, data: Mapping[str, Any]) -> Mapping[str, Any]:
        stages = data.get("stages")
        if stages is None:
            self.add("/stages", "missing", "is required")
            stages = {}
        elif not isinstance(stages, Mapping):
            self.add("/stages", "type", "must be an object of stage name -> stage")
            stages = {}
        elif not stages:
            self.add("/stages", "empty", "needs at least one stage")
        self.stage_names = {str(k) for k in stages}
        for name in self.stage_names:
            if not _STAGE_NAME_RE.match(name) or name.startswith("@"):
                self.add(_ptr("stages", name), "bad_name", f"stage name «{name}» must be lower_snake_case")
        for name in CANONICAL_STAGES:
            if stages and name not in self.stage_names:
                self.add(_ptr("stages"), "missing_stage", f"the canonical stage «{name}» is missing")
        return stages

    def _start(self, data: Mapping[str, Any], stages: Mapping[str, Any]) -> str | None:
        start = data.get("start", "greeting")
        if not isinstance(start, str):
            self.add("/start", "type", "must be a stage name")
            return None
        if stages and start not in self.stage_names:
            self.add("/start", "unknown_stage", f"unknown stage «{start}»")
        return start

    def _settings(self, data: Mapping[str, Any]) -> None:
        lang = data.get("language")
        if lang is not None and lang not in SCRIPT_LANGUAGES:
            self.add("/language", "bad_value", "must be one of " + ", ".join(f"«{x}»" for x in SCRIPT_LANGUAGES))
        hints = data.get("hints")
        if hints is not None and (not isinstance(hints, list) or not all(isinstance(h, str) for h in hints)):
            self.add("/hints", "type", "must be a list of words or short phrases")
        mo = data.get("max_objections")
        if mo is not None and (not isinstance(mo, int) or isinstance(mo, bool) or mo < 1):
            self.add("/max_objections", "type", "must be a positive integer")
        variables = data.get("variables")
        if variables is not None and not isinstance(variables, Mapping):
            self.add("/variables", "type", "must be an object")

    def _object(self, data: Mapping[str, Any], key: str, message: str, *, base: str = "") -> Mapping[str, Any]:
        """``data[key]`` when it is an object (or absent: empty); a problem at ``base/key`` and empty otherwise."""
        value = data.get(key, {})
        if not isinstance(value, Mapping):
            self.add(f"{base}/{key}", "type", message)
            return {}
        return value

    def _stage_bodies(self, data: Mapping[str, Any], stages: Mapping[str, Any]) -> tuple[dict[str, set[str]], set[str]]:
        """Each stage's phrases, transitions, default and finality; the graph's edges and the intents handled."""
        edges: dict[str, set[str]] = {}
        handled: set[str] = set()
        global_tr = self._object(data, "global_transitions", "must be an object of intent -> target")
        global_targets = self.transitions(global_tr, "/global_transitions", self.stage_names, handled)
        for name, stage in stages.items():
            base = _ptr("stages", name)
            if not isinstance(stage, Mapping):
                self.add(base, "type", "a stage must be an object")
                edges[name] = set()
                continue
            self.phrases += self.phrase_list(stage.get("phrases"), base + "/phrases")
            self.phrases += self.phrase_list(stage.get("prompt"), base + "/prompt", required=False)
            tr = self._object(stage, "transitions", "must be an object of intent -> target", base=base)
            targets = self.transitions(tr, base + "/transitions", self.stage_names, handled)
            default = stage.get("default")
            if default is not None:
                if not isinstance(default, str):
                    self.add(base + "/default", "type", "must be a stage name")
                elif default not in self.stage_names and default not in SPECIAL_TARGETS:
                    self.add(base + "/default", "unknown_stage", f"unknown stage «{default}»")
                else:
                    targets.add(default)
            final = stage.get("final", False)
            if not isinstance(final, bool):
                self.add(base + "/final", "type", "must be true or false")
            elif not final and not tr and default is None and not global_tr:
                self.add(base + "/transitions", "dead_end", "a non-final stage needs transitions or a default")
            edges[name] = targets | global_targets
        return edges, handled

    def _objections(self, data: Mapping[str, Any], stages: Mapping[str, Any]) -> set[str]:
        """Each objection's responses and where it leads; the stages objections reach."""
        objections = self._object(data, "objections", "must be an object of objection label -> handling")
        targets: set[str] = set()
        for label, obj in objections.items():
            base = _ptr("objections", label)
            if label not in OBJECTION_LABELS:
                self.add(base, "unknown_intent", f"unknown objection class «{label}»")
            if not isinstance(obj, Mapping):
                self.add(base, "type", "an objection must be an object with responses")
                continue
            responses = obj.get("responses")
            if responses is None or (isinstance(responses, list) and not responses):
                self.add(base + "/responses", "objection_no_response", f"objection «{label}» has no response")
            else:
                self.phrases += self.phrase_list(responses, base + "/responses")
            nxt = obj.get("next")
            if nxt is not None:
                if not isinstance(nxt, str):
                    self.add(base + "/next", "type", "must be a stage name")
                elif nxt not in self.stage_names and nxt not in SPECIAL_TARGETS:
                    self.add(base + "/next", "unknown_stage", f"unknown stage «{nxt}»")
                else:
                    targets.add(nxt)
                    if nxt == "@transfer":
                        self.transfer_used.append(base + "/next")
            elif "objection_handling" not in self.stage_names and stages:
                self.add(base + "/next", "unknown_stage", "no «next» and no «objection_handling» stage to go to")
        if objections and "objection_handling" in self.stage_names:
            targets.add("objection_handling")
        for label in OBJECTION_LABELS:
            if objections and label not in objections:
                self.add(_ptr("objections", label), "objection_no_response", f"objection «{label}» has no response")
        return targets

    def _phrase_block(self, data: Mapping[str, Any], key: str, known: Iterable[str], code: str, unknown: str,
                      message: str) -> Mapping[str, Any]:
        """An object of name -> phrases whose names come from ``known``."""
        block = self._object(data, key, message)
        for name, value in block.items():
            if name not in known:
                self.add(_ptr(key, name), code, unknown.format(name))
            self.phrases += self.phrase_list(value, _ptr(key, name))
        return block

    def _limits(self, data: Mapping[str, Any]) -> None:
        limits = self._object(data, "limits", "must be an object: max_call_s, max_silences, silence_s")
        for key, value in limits.items():
            if key not in LIMIT_KEYS:
                self.add(_ptr("limits", key), "unknown_key", f"unknown limit «{key}»")
            elif isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                self.add(_ptr("limits", key), "type", "must be a positive number")

    def _faq(self, data: Mapping[str, Any]) -> None:
        faq = data.get("faq", [])
        if not isinstance(faq, list):
            self.add("/faq", "type", "must be a list of {keywords, answer}")
            faq = []
        for i, item in enumerate(faq):
            if not isinstance(item, Mapping) or not isinstance(item.get("answer"), str):
                self.add(_ptr("faq", i), "type", "needs «keywords» (list) and «answer» (text)")
                continue
            if not isinstance(item.get("keywords"), list) or not all(isinstance(k, str) for k in item["keywords"]):
                self.add(_ptr("faq", i, "keywords"), "type", "must be a list of words")
            self.phrases.append((_ptr("faq", i, "answer"), item["answer"]))

    def _goals(self, data: Mapping[str, Any]) -> None:
        goals = self._object(data, "goals", "must be an object of goal -> {any_of: [slots]}")
        for goal, spec in goals.items():
            base = _ptr("goals", goal)
            if goal not in GOALS:
                self.add(base, "unknown_key", f"unknown goal «{goal}» (known: {', '.join(GOALS)})")
            slots = spec.get("any_of") if isinstance(spec, Mapping) else None
            if not isinstance(slots, list) or not slots:
                self.add(base + "/any_of", "type", "must be a non-empty list of slot names")
                continue
            for j, slot in enumerate(slots):
                if slot not in KNOWN_SLOTS:
                    self.add(_ptr("goals", goal, "any_of", j), "unknown_slot", f"unknown slot «{slot}»")

    def _intents(self, data: Mapping[str, Any], handled: set[str], has_transfer: bool) -> None:
        """The script's own example phrases per intent: each intent must lead somewhere."""
        intents = self._object(data, "intents", "must be an object of intent -> phrases")
        for label, value in intents.items():
            base = _ptr("intents", label)
            if label not in INTENT_LABELS:
                self.add(base, "unknown_intent", f"unknown intent «{label}»")
                continue
            self.phrase_list(value, base)
            if label not in handled and label not in ENGINE_HANDLED and not (label == "ask_human" and has_transfer):
                self.add(base, "intent_no_transition",
                         f"intent «{label}» has phrases but no stage has a transition for it")

    # -- across the map --------------------------------------------------------------------------

    def _variables(self, data: Mapping[str, Any]) -> None:
        allowed = allowed_variables(data)
        for path, text in self.phrases:
            for var in template_variables(text):
                if var not in allowed:
                    self.add(path, "unknown_variable", f"unknown template variable «{{{{{var}}}}}»")

    def _reachability(self, stages: Mapping[str, Any], start: str | None, edges: dict[str, set[str]],
                      objection_targets: set[str]) -> None:
        if not stages or not isinstance(start, str) or start not in self.stage_names:
            return
        reach = {start}
        todo = [start]
        if objection_targets:
            todo += [t for t in objection_targets if t in self.stage_names]
            reach |= set(todo)
        while todo:
            for t in edges.get(todo.pop(), ()):
                if t in self.stage_names and t not in reach:
                    reach.add(t)
                    todo.append(t)
        for name in stages:
            if name not in reach:
                self.add(_ptr("stages", name), "unreachable_stage", f"stage «{name}» cannot be reached")

    def transfer(self, spec: Any) -> bool:
        """Check the ``transfer`` block; True when it names one valid target."""
        if spec is None:
            return False
        if not isinstance(spec, Mapping):
            self.add("/transfer", "type", "must be an object: to (E.164) or queue, and phrases")
            return False
        for key in spec:
            if key not in TRANSFER_KEYS:
                self.add(_ptr("transfer", key), "unknown_key",
                         f"unknown key «{key}» (known: {', '.join(TRANSFER_KEYS)})")
        to, queue = spec.get("to"), spec.get("queue")
        if to is not None and queue is not None:
            self.add("/transfer", "transfer_two_targets", "give either «to» or «queue», not both")
            return False
        if to is None and queue is None:
            self.add("/transfer", "transfer_no_target", "needs «to» (a phone number) or «queue» (an operator queue)")
            return False
        if to is not None and not _is_e164(to):
            self.add("/transfer/to", "bad_phone", "must be a phone number in E.164 form, e.g. +74951234567")
            return False
        if queue is not None and (not isinstance(queue, str) or not _QUEUE_RE.match(queue)):
            self.add("/transfer/queue", "bad_value", "must be a queue name: letters, digits, «_», «-», «.» (up to 64)")
            return False
        return True

    def transitions(self, tr: Mapping[str, Any], base: str, stage_names: set[str], handled: set[str]) -> set[str]:
        targets: set[str] = set()
        for intent, target in tr.items():
            path = f"{base}/{intent}"
            if intent not in INTENT_LABELS:
                self.add(path, "unknown_intent", f"unknown intent «{intent}»")
                continue
            if not isinstance(target, str):
                self.add(path, "type", "must be a stage name or @stay/@end")
                continue
            if target not in stage_names and target not in ("@stay", "@end", "@transfer"):
                self.add(path, "unknown_stage", f"unknown stage «{target}»")
                continue
            if target == "@transfer":
                self.transfer_used.append(path)
            handled.add(intent)
            targets.add(target)
        return targets


def validate_map(data: Any) -> list[MapProblem]:
    """All problems of a dialogue map; an empty list means it is usable. Never raises."""
    try:
        return _Validator(data).run()
    except Exception as exc:  # a validator bug must not break an admin save; report it instead
        return [MapProblem("", "internal", f"validation failed: {exc!r}")]


def load_map(source: str | bytes | Mapping[str, Any] | Any, *, strict: bool = False) -> dict[str, Any]:
    """Read a map from JSON text, bytes, a path-like/file object or a dict; ``strict`` raises ``MapError``."""
    if isinstance(source, Mapping):
        data: Any = dict(source)
    elif isinstance(source, (str, bytes)):
        text = source.decode("utf-8") if isinstance(source, bytes) else source
        if not text.lstrip().startswith("{") and len(text) < 4096:
            with open(text, encoding="utf-8") as fh:  # a path
                text = fh.read()
        data = json.loads(text)
    elif hasattr(source, "read"):
        raw = source.read()
        data = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    else:
        with open(source, encoding="utf-8") as fh:
            data = json.load(fh)
    if strict:
        problems = validate_map(data)
        if problems:
            raise MapError(problems)
    if not isinstance(data, dict):
        raise MapError([MapProblem("", "type", "the dialogue map must be a JSON object")])
    return data


# The order a person reads a map in. PostgreSQL's jsonb does not keep key order (it sorts keys by
# length), so maps are shown and exported in this order whatever the database gave back.
MAP_KEY_ORDER = ("language", "start", "max_objections", "variables", "hints", "limits", "stages",
                 "global_transitions", "objections", "intent_responses", "faq", "phrases", "goals", "intents",
                 "transfer")
STAGE_KEY_ORDER = ("phrases", "prompt", "transitions", "default", "final")


def _ordered(data: Mapping[str, Any], order: Iterable[str]) -> dict[str, Any]:
    first = [key for key in order if key in data]
    return {**{key: data[key] for key in first}, **{k: v for k, v in data.items() if k not in first}}


def ordered_map(data: Any) -> Any:
    """The map with its keys (and each stage's) in reading order; anything else is returned as it is."""
    if not isinstance(data, Mapping):
        return data
    out = _ordered(data, MAP_KEY_ORDER)
    stages = out.get("stages")
    if isinstance(stages, Mapping):
        out["stages"] = {name: _ordered(stage, STAGE_KEY_ORDER) if isinstance(stage, Mapping) else stage
                         for name, stage in stages.items()}
    return out


def dump_map(data: Mapping[str, Any], *, indent: int | None = 2) -> str:
    """JSON text of a map, Cyrillic kept readable, keys in reading order."""
    return json.dumps(ordered_map(data), ensure_ascii=False, indent=indent) + ("\n" if indent else "")


def call_limits(data: Mapping[str, Any], variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The map's call limits with their defaults, and the rendered phrases that go with them."""
    given = data.get("limits") if isinstance(data.get("limits"), Mapping) else {}
    limits: dict[str, Any] = {key: given.get(key, default) for key, default in LIMIT_KEYS.items()}
    language = data.get("language") if data.get("language") in LIMIT_PHRASES else "en"
    phrases = data.get("phrases") if isinstance(data.get("phrases"), Mapping) else {}
    for kind, default in LIMIT_PHRASES[language].items():
        own = phrases.get(kind)
        text = (own[0] if isinstance(own, list) and own else own) if own else default
        limits[kind] = render_phrase(str(text), variables or {})
    return limits


def voicemail_message(data: Mapping[str, Any], variables: Mapping[str, Any] | None = None) -> str:
    """The message left on an answering machine: the map's ``phrases.voicemail`` or the language's default."""
    own = phrases_of(data, "voicemail")
    language = data.get("language") if data.get("language") in VOICEMAIL_PHRASES else "ru"
    text = own[0] if own else VOICEMAIL_PHRASES[language]
    return render_phrase(str(text), {**(data.get("variables") or {}), **(variables or {})}).strip()


def transfer_spec(data: Mapping[str, Any], variables: Mapping[str, Any] | None = None) -> dict[str, str] | None:
    """The map's transfer target and its rendered handoff phrase, or None when it transfers nowhere.

    ``{"to": "+7…"}`` or ``{"queue": "sales"}``, plus ``"phrase"``. A malformed block counts as none (the
    validator reports it), so a bad map never sends a call to a number nobody checked.
    """
    spec = data.get("transfer") if isinstance(data, Mapping) else None
    if not isinstance(spec, Mapping) or _Validator({}).transfer(spec) is False:
        return None
    out = {"to": spec["to"]} if spec.get("to") else {"queue": spec["queue"]}
    own = spec.get("phrases")
    own = [own] if isinstance(own, str) else [p for p in own or [] if isinstance(p, str) and p.strip()]
    language = data.get("language") if data.get("language") in TRANSFER_PHRASES else "en"
    out["phrase"] = render_phrase(own[0] if own else TRANSFER_PHRASES[language], variables or {})
    return out


def demo_map(language: str = "ru") -> dict[str, Any]:
    """The shipped freight-forwarder demo script (``dialogs/data/freight_<language>.json``)."""
    from pathlib import Path

    name = f"freight_{language}.json" if language in SCRIPT_LANGUAGES else "freight_ru.json"
    return load_map(Path(__file__).with_name("data") / name)


def phrases_of(data: Mapping[str, Any], kind: str) -> list[str]:
    ph = (data.get("phrases") or {}).get(kind) or []
    return [ph] if isinstance(ph, str) else list(ph)


# Words that start with a capital inside a sentence (names, cities, brands), in any of the four scripts.
_PROPER = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-ZА-ЯЁҒӢҚӮҲҶ][\w'’ʻ-]{2,}(?:[ -][A-ZА-ЯЁҒӢҚӮҲҶ][\w'’ʻ-]{2,})*)")
_NOT_NAMES = {"Меня", "Это", "Мы", "Наш", "Наши", "Да", "Нет", "The", "We", "Our", "This", "Биёед", "Keling"}


def speech_hints(data: Mapping[str, Any], *, limit: int = 40) -> list[str]:
    """Words speech recognition should expect on this script's calls: company, product, cities, brands.

    The map's own ``hints`` come first, then the values of ``variables`` (the company, the agent's
    name, the product), then capitalised words inside the bot's lines and FAQ answers (cities such
    as Гуанчжоу, Иу). Template placeholders are skipped; duplicates are dropped, order is kept.
    """
    out: list[str] = []
    seen: set[str] = set()

    def add(word: str) -> None:
        word = word.strip(" «»\"'.,!?;:")
        if len(word) >= 2 and "{{" not in word and word.lower() not in seen and word not in _NOT_NAMES:
            seen.add(word.lower())
            out.append(word)

    for hint in data.get("hints") or []:
        if isinstance(hint, str):
            add(hint)
    variables = data.get("variables")
    if isinstance(variables, Mapping):
        for value in variables.values():
            if isinstance(value, str) and len(value) <= 60:
                add(value)
    texts: list[str] = []
    for stage in (data.get("stages") or {}).values():
        if isinstance(stage, Mapping):
            texts += [p for p in stage.get("phrases") or [] if isinstance(p, str)]
    for item in data.get("faq") or []:
        if isinstance(item, Mapping) and isinstance(item.get("answer"), str):
            texts.append(item["answer"])
    for text in texts:
        for match in _PROPER.finditer(re.sub(r"\{\{[^}]*\}\}", " ", text)):
            add(match.group(1))
    return out[:limit]


def speech_prompt(data: Mapping[str, Any], *, max_chars: int = 400) -> str:
    """The hints as one recogniser prompt (Whisper's ``initial_prompt``, OpenAI's ``prompt``).

    Whisper reads only the last ~224 tokens of a prompt, so it stays short: the words, comma-separated.
    """
    out = ""
    for hint in speech_hints(data):
        candidate = f"{out}, {hint}" if out else hint
        if len(candidate) > max_chars:
            break
        out = candidate
    return out
