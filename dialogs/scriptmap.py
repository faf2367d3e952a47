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
      "phrases": {                            # * service phrases (clarify, fallback and end are required)
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
JSON pointer (``/stages/greeting/transitions/agree``) and ``code`` is stable for translation. The structure
(keys, types, allowed names, required parts, limits) is the JSON Schema ``dialogs/data/scriptmap.schema.json``
(``MAP_SCHEMA``; its name lists are filled from the constants below); only the graph (where transitions
lead, what is reachable, dead ends, the transfer target, template variables) is checked by hand.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import phonenumbers
from jsonschema import Draft202012Validator, ValidationError

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
E164_PATTERN = r"^\+[1-9]\d{6,14}$"
QUEUE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_E164_RE = re.compile(E164_PATTERN)
_QUEUE_RE = re.compile(QUEUE_PATTERN)
# Intents whose handling is built into the flow engine, so a stage needs no transition for them.
ENGINE_HANDLED = frozenset({"end_session", "wrong_number", *OBJECTION_LABELS})

_VAR_RE = re.compile(r"\{\{\s*([A-Za-z_][\w.]*)\s*\}\}")


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


# -- structure: the JSON Schema ----------------------------------------------------------------------

# The constants the schema names in ``x-from``: one list each, filled in when the schema is loaded.
_SCHEMA_FILL: dict[str, Any] = {
    "SCRIPT_LANGUAGES": SCRIPT_LANGUAGES, "LIMIT_KEYS": tuple(LIMIT_KEYS), "CANONICAL_STAGES": CANONICAL_STAGES,
    "OBJECTION_LABELS": OBJECTION_LABELS, "INTENT_LABELS": INTENT_LABELS, "PHRASE_KINDS": PHRASE_KINDS,
    "GOALS": GOALS, "KNOWN_SLOTS": KNOWN_SLOTS, "TRANSFER_KEYS": TRANSFER_KEYS,
    "E164_PATTERN": E164_PATTERN, "QUEUE_PATTERN": QUEUE_PATTERN,
}


def _filled(node: Any) -> Any:
    """The schema with each ``x-from`` keyword filled from its constant (a list is appended to what is written)."""
    if isinstance(node, list):
        return [_filled(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _filled(value) for key, value in node.items()}
    for keyword, name in node.get("x-from", {}).items():
        value = _SCHEMA_FILL[name]
        out[keyword] = value if isinstance(value, str) else [*out.get(keyword, []), *value]
    return out


# The map's structure (dialogs/data/scriptmap.schema.json): every key, type, allowed name and limit.
MAP_SCHEMA: dict[str, Any] = _filled(json.loads(
    (Path(__file__).with_name("data") / "scriptmap.schema.json").read_text(encoding="utf-8")))
_SCHEMA = Draft202012Validator(MAP_SCHEMA)
_FIELD_RE = re.compile(r"\{(name|owner|value|known|choices)\}")
_DEFAULT_CODES = {"type": "type", "required": "missing", "enum": "bad_value", "minItems": "empty"}


def _error_paths(error: ValidationError) -> list[tuple[Any, ...]]:
    """Where a schema error belongs: at each missing member, at a badly named member, else at the value."""
    path = tuple(error.absolute_path)
    if error.validator == "required":
        return [(*path, name) for name in error.validator_value if name not in error.instance]
    if error.schema.get("x-key"):
        return [(*path, error.instance)]
    return [path]


def _schema_problem(error: ValidationError, parts: tuple[Any, ...]) -> MapProblem:
    """One schema error as a problem, with the schema's own code and message for the failed keyword."""
    schema, keyword = error.schema, error.validator
    allowed = [x for x in error.validator_value if x is not None] if keyword == "enum" else []
    fields = {"name": str(parts[-1]) if parts else "", "owner": str(parts[-2]) if len(parts) > 1 else "",
              "value": str(error.instance), "known": ", ".join(map(str, allowed)),
              "choices": ", ".join(f"«{x}»" for x in allowed)}
    template = schema.get("x-messages", {}).get(keyword, error.message)
    code = schema.get("x-codes", {}).get(keyword, _DEFAULT_CODES.get(keyword, keyword))
    return MapProblem(_ptr(*parts), code, _FIELD_RE.sub(lambda m: fields[m.group(1)], template))


def _schema_problems(data: Any) -> list[MapProblem]:
    """The map's structural problems; an unknown name marked ``hides-value`` hides the problems inside its value."""
    found: list[tuple[tuple[Any, ...], MapProblem, bool]] = []
    hidden: list[tuple[Any, ...]] = []
    for error in _SCHEMA.iter_errors(data):
        names_key = bool(error.schema.get("x-key"))
        for parts in _error_paths(error):
            found.append((parts, _schema_problem(error, parts), names_key))
            if error.schema.get("x-key") == "hides-value":
                hidden.append(parts)
    return [problem for parts, problem, names_key in found
            if names_key or not any(parts[:len(h)] == h for h in hidden)]


# -- the graph: checks by hand -----------------------------------------------------------------------


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _phrase_texts(value: Any, path: str) -> list[tuple[str, str]]:
    """(path, text) of each usable phrase of a phrase list (or of a single phrase)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return []
    return [(f"{path}/{i}", item) for i, item in enumerate(value) if isinstance(item, str) and item.strip()]


def transfer_problem(spec: Mapping[str, Any]) -> MapProblem | None:
    """Why a transfer block names no usable target; None when it names exactly one valid one."""
    to, queue = spec.get("to"), spec.get("queue")
    if to is not None and queue is not None:
        return MapProblem("/transfer", "transfer_two_targets", "give either «to» or «queue», not both")
    if to is None and queue is None:
        return MapProblem("/transfer", "transfer_no_target",
                          "needs «to» (a phone number) or «queue» (an operator queue)")
    if to is not None and not _is_e164(to):
        return MapProblem("/transfer/to", "bad_phone", "must be a phone number in E.164 form, e.g. +74951234567")
    if queue is not None and (not isinstance(queue, str) or not _QUEUE_RE.match(queue)):
        return MapProblem("/transfer/queue", "bad_value",
                          "must be a queue name: letters, digits, «_», «-», «.» (up to 64)")
    return None


class _GraphChecks:
    """What the schema cannot say: where transitions lead, which stages are reached, which intents lead nowhere,
    which phrases use unknown variables. Values of the wrong type are skipped: the schema reports them."""

    def __init__(self, data: Mapping[str, Any]):
        self.data = data
        self.problems: list[MapProblem] = []
        self.transfer_used: list[str] = []  # paths that send the call to ``@transfer``
        self.handled: set[str] = set()  # intents some transition leads somewhere
        self.stages = _mapping(data.get("stages"))
        self.names = {str(k) for k in self.stages}

    def add(self, path: str, code: str, message: str) -> None:
        self.problems.append(MapProblem(path, code, message))

    def run(self) -> list[MapProblem]:
        start = self._start()
        global_tr = _mapping(self.data.get("global_transitions"))
        global_targets = self._transitions(global_tr, "/global_transitions")
        edges = {name: self._stage(name, stage, global_tr, global_targets) for name, stage in self.stages.items()}
        objection_targets = self._objections()
        has_transfer = self._transfer()
        self._intents(has_transfer)
        self._variables(has_transfer)
        self._reachability(start, edges, objection_targets)
        return self.problems

    def _start(self) -> str | None:
        start = self.data.get("start", "greeting")
        if not isinstance(start, str):
            return None
        if self.stages and start not in self.names:
            self.add("/start", "unknown_stage", f"unknown stage «{start}»")
        return start

    def _transitions(self, tr: Mapping[str, Any], base: str) -> set[str]:
        targets: set[str] = set()
        for intent, target in tr.items():
            path = f"{base}/{intent}"
            if intent not in INTENT_LABELS or not isinstance(target, str):
                continue
            if target not in self.names and target not in ("@stay", "@end", "@transfer"):
                self.add(path, "unknown_stage", f"unknown stage «{target}»")
                continue
            if target == "@transfer":
                self.transfer_used.append(path)
            self.handled.add(intent)
            targets.add(target)
        return targets

    def _stage(self, name: str, stage: Any, global_tr: Mapping[str, Any], global_targets: set[str]) -> set[str]:
        """Where a stage leads (its transitions, its default and the global transitions); a dead end is a problem."""
        if not isinstance(stage, Mapping):
            return set()
        base = _ptr("stages", name)
        tr = _mapping(stage.get("transitions"))
        targets = self._transitions(tr, base + "/transitions")
        default = stage.get("default")
        if isinstance(default, str) and default not in self.names and default not in SPECIAL_TARGETS:
            self.add(base + "/default", "unknown_stage", f"unknown stage «{default}»")
        elif isinstance(default, str):
            targets.add(default)
        if stage.get("final", False) is False and not tr and default is None and not global_tr:
            self.add(base + "/transitions", "dead_end", "a non-final stage needs transitions or a default")
        return targets | global_targets

    def _objections(self) -> set[str]:
        """The stages objections lead to; a «next» that leads nowhere is a problem."""
        objections = _mapping(self.data.get("objections"))
        targets: set[str] = set()
        for label, obj in objections.items():
            nxt = obj.get("next") if isinstance(obj, Mapping) else 0
            path = _ptr("objections", label, "next")
            if isinstance(nxt, str) and nxt not in self.names and nxt not in SPECIAL_TARGETS:
                self.add(path, "unknown_stage", f"unknown stage «{nxt}»")
            elif isinstance(nxt, str):
                targets.add(nxt)
                if nxt == "@transfer":
                    self.transfer_used.append(path)
            elif nxt is None and "objection_handling" not in self.names and self.stages:
                self.add(path, "unknown_stage", "no «next» and no «objection_handling» stage to go to")
        if objections and "objection_handling" in self.names:
            targets.add("objection_handling")
        return targets

    def _transfer(self) -> bool:
        """Whether the map hands calls to a valid target; «@transfer» without one is a problem."""
        spec = self.data.get("transfer")
        problem = transfer_problem(spec) if isinstance(spec, Mapping) else None
        if problem:
            self.problems.append(problem)
        has_transfer = isinstance(spec, Mapping) and problem is None
        if not has_transfer:
            for path in self.transfer_used:
                self.add(path, "transfer_no_target", "«@transfer» needs a «transfer» block with «to» or «queue»")
        return has_transfer

    def _intents(self, has_transfer: bool) -> None:
        """The script's own example phrases per intent: each intent must lead somewhere."""
        for label in _mapping(self.data.get("intents")):
            lead = label in self.handled or label in ENGINE_HANDLED or (label == "ask_human" and has_transfer)
            if label in INTENT_LABELS and not lead:
                self.add(_ptr("intents", label), "intent_no_transition",
                         f"intent «{label}» has phrases but no stage has a transition for it")

    def _phrases(self, has_transfer: bool) -> list[tuple[str, str]]:
        """(path, text) of every phrase the bot may say."""
        data = self.data
        out: list[tuple[str, str]] = []
        for name, stage in self.stages.items():
            for key in ("phrases", "prompt"):
                out += _phrase_texts(_mapping(stage).get(key), _ptr("stages", name, key))
        for label, obj in _mapping(data.get("objections")).items():
            out += _phrase_texts(_mapping(obj).get("responses"), _ptr("objections", label, "responses"))
        for block in ("intent_responses", "phrases"):
            out += [pair for name, value in _mapping(data.get(block)).items()
                    for pair in _phrase_texts(value, _ptr(block, name))]
        faq = data.get("faq")
        for i, item in enumerate(faq if isinstance(faq, list) else []):
            if isinstance(item, Mapping) and isinstance(item.get("answer"), str):
                out.append((_ptr("faq", i, "answer"), item["answer"]))
        if has_transfer:
            out += _phrase_texts(data["transfer"].get("phrases"), "/transfer/phrases")
        return out

    def _variables(self, has_transfer: bool) -> None:
        allowed = allowed_variables(self.data)
        for path, text in self._phrases(has_transfer):
            for var in template_variables(text):
                if var not in allowed:
                    self.add(path, "unknown_variable", f"unknown template variable «{{{{{var}}}}}»")

    def _reachability(self, start: str | None, edges: dict[str, set[str]], objection_targets: set[str]) -> None:
        if not self.stages or not isinstance(start, str) or start not in self.names:
            return
        reach = {start} | (objection_targets & self.names)
        todo = list(reach)
        while todo:
            for t in edges.get(todo.pop(), ()):
                if t in self.names and t not in reach:
                    reach.add(t)
                    todo.append(t)
        for name in self.stages:
            if name not in reach:
                self.add(_ptr("stages", name), "unreachable_stage", f"stage «{name}» cannot be reached")


def validate_map(data: Any) -> list[MapProblem]:
    """All problems of a dialogue map (structure first, then the graph); empty means usable. Never raises."""
    try:
        problems = _schema_problems(data)
        if isinstance(data, Mapping):
            problems += _GraphChecks(data).run()
        return list(dict.fromkeys(problems))  # the schema and the transfer check may name the same bad number
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
    if not isinstance(spec, Mapping) or transfer_problem(spec) is not None:
        return None
    out = {"to": spec["to"]} if spec.get("to") else {"queue": spec["queue"]}
    own = spec.get("phrases")
    own = [own] if isinstance(own, str) else [p for p in own or [] if isinstance(p, str) and p.strip()]
    language = data.get("language") if data.get("language") in TRANSFER_PHRASES else "en"
    out["phrase"] = render_phrase(own[0] if own else TRANSFER_PHRASES[language], variables or {})
    return out


def demo_map(language: str = "ru") -> dict[str, Any]:
    """The shipped freight-forwarder demo script (``dialogs/data/freight_<language>.json``)."""
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
