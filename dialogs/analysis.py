"""Transcript analysis after a call or training session: offline (classifier + flow replay) or OpenAI structured output.

``analyse_transcript(turns, script_map=..., language=..., provider="offline"|"openai")`` returns a
``TranscriptAnalysis`` either way. ``interest`` is an integer 0–100 (``interest_level`` buckets it:
low < 40 <= medium < 70 <= high). The OpenAI path asks for a strict JSON schema, validates the
answer with ``jsonschema`` and retries malformed output; when every attempt fails it returns the
offline analysis marked ``status="error"`` with the reason in ``error``, so a call is never left
without a disposition and the failure stays visible.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import jsonschema
from django.utils import translation
from django.utils.translation import gettext, gettext_noop

from dialogs.classifier import get_classifier
from dialogs.flow import FlowEvent, FlowState, new_state, step
from dialogs.llm import LLMConfig
from dialogs.scriptmap import CANONICAL_STAGES, OBJECTION_LABELS, demo_map, phrases_of, render_phrase
from integrations.openai_api import map_openai_error

log = logging.getLogger(__name__)

DISPOSITIONS = ("interested", "callback", "not_interested", "no_decision_maker", "wrong_number", "voicemail",
                "no_answer", "busy")
CRM_STATUSES = ("lead", "task", "none")
SLOT_KEYS = ("name", "phone", "email", "cargo", "origin", "weight", "callback_time")
_BOT = {"bot", "assistant", "agent", "salesperson", "ai", "trainee"}
_VOICEMAIL = re.compile(r"автоответчик|оставьте (?:ваше )?сообщение|после (?:звукового )?сигнала|"
                        r"абонент (?:не может|недоступен)|voicemail|leave (?:a|your) message|after the (?:tone|beep)",
                        re.I)


@dataclass
class ObjectionOutcome:
    type: str
    handled: bool


@dataclass
class TranscriptAnalysis:
    disposition: str
    summary: str
    follow_up: str
    interest: int
    crm_status: str
    objections: list[ObjectionOutcome] = field(default_factory=list)
    stage_reached: str = ""
    contact_obtained: bool = False
    quote_requested: bool = False
    slots: dict[str, Any] = field(default_factory=dict)
    provider: str = "offline"
    status: Literal["ok", "error"] = "ok"
    error: str = ""
    attempts: int = 0
    unintelligible: bool = False  # most of the customer's utterances were not recognised: no lead, no message

    @property
    def interest_level(self) -> str:
        return "low" if self.interest < 40 else "medium" if self.interest < 70 else "high"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["interest_level"] = self.interest_level
        return d


def normalise_turns(turns: Iterable[Any]) -> list[tuple[str, str]]:
    """Accept (speaker, text) pairs or dicts with speaker/role and text; speakers become bot/customer."""
    out = []
    for t in turns or []:
        if isinstance(t, Mapping):
            speaker, text = t.get("speaker") or t.get("role") or "", t.get("text") or t.get("content") or ""
        elif isinstance(t, (list, tuple)) and len(t) >= 2:
            speaker, text = t[0], t[1]
        else:
            continue
        text = str(text or "").strip()
        if text:
            out.append(("bot" if str(speaker).lower() in _BOT else "customer", text))
    return out


def _analyse_offline(turns: list[tuple[str, str]], script_map: Mapping[str, Any], language: str,
                     variables: Mapping[str, Any] | None = None) -> TranscriptAnalysis:
    customer = [t for s, t in turns if s == "customer"]
    if not customer:
        return _finish("no_answer", [], FlowState(), [], language, script_map, variables)
    if any(_VOICEMAIL.search(t) for t in customer[:2]):
        return _finish("voicemail", [], FlowState(), [], language, script_map, variables)
    clf = get_classifier(language, script_map)
    fs = new_state(script_map, {}, language)
    fs, _ = step(script_map, fs, FlowEvent.start())
    labels: list[str] = []
    for text in customer:
        c = clf.classify(text)
        labels.append(c.label)
        if not fs.ended:
            fs, _ = step(script_map, fs, FlowEvent.from_classification(c))
        else:  # the customer kept talking after the bot's goodbye: keep their slots anyway
            for k, v in c.slots.items():
                fs.slots.setdefault(k, v)
    positive = {"agree", "give_contact", "request_quote"}
    objections = []
    for i, label in enumerate(labels):
        if label in OBJECTION_LABELS:
            handled = any(later in positive for later in labels[i + 1:])
            objections.append(ObjectionOutcome(label, handled))
    if "wrong_number" in labels:
        disposition = "wrong_number"
    elif fs.slots.get("phone") or fs.slots.get("email") or fs.slots.get("quote_requested"):
        disposition = "interested"
    elif fs.end_reason == "callback" or fs.slots.get("callback_time"):
        disposition = "callback"
    elif "objection_not_decision_maker" in labels:
        disposition = "no_decision_maker"
    elif "objection_busy" in labels:
        disposition = "busy"
    elif labels.count("agree") >= 2 and not objections:
        disposition = "interested"
    else:
        disposition = "not_interested"
    return _finish(disposition, labels, fs, objections, language, script_map, variables)


def _finish(disposition: str, labels: list[str], fs: FlowState, objections: list[ObjectionOutcome],
            language: str, script_map: Mapping[str, Any] | None = None,
            variables: Mapping[str, Any] | None = None) -> TranscriptAnalysis:
    slots = {k: fs.slots[k] for k in SLOT_KEYS if fs.slots.get(k)}
    contact = bool(slots.get("phone") or slots.get("email"))
    quote = bool(fs.slots.get("quote_requested"))
    interest = 20 + 12 * labels.count("agree") + 8 * labels.count("question") + 30 * contact + 25 * quote
    interest -= 10 * sum(not o.handled for o in objections)
    if disposition in ("wrong_number", "voicemail", "no_answer"):
        interest = 0
    elif disposition == "callback":
        interest = max(interest, 40)
    interest = max(0, min(100, interest))
    crm = "lead" if disposition == "interested" else "task" if disposition in (
        "callback", "no_decision_maker", "busy") else "none"
    visited = [s for s in fs.stages_visited if s in CANONICAL_STAGES]
    stage = max(visited, key=CANONICAL_STAGES.index) if visited else (fs.stage or "")
    summary, follow_up = _texts(disposition, slots, objections, contact, quote, language, script_map, variables,
                                asked_for_person="ask_human" in labels)
    return TranscriptAnalysis(disposition, summary, follow_up, interest, crm, objections, stage, contact, quote,
                              slots, "offline", "ok", "", 1)


# Follow-up texts when the script has none of its own (``phrases.follow_up_<disposition>`` in the map):
# neutral wording with the script's variables, translated by gettext, so no campaign speaks another's product.
_FOLLOW_UP_DEFAULTS = {
    # worded unlike the demo scripts' own lines, so a page showing a script is not taken for untranslated UI
    "interested": gettext_noop("Many thanks for the conversation, {{contact.name}}! As agreed, {{company}} will "
                               "send you the details within a day."),
    "callback": gettext_noop("Many thanks! As agreed, we will ring you again {{callback_time}}."),
    "no_decision_maker": gettext_noop("Thank you! Could you pass our offer on to the person who decides on it?"),
    "busy": gettext_noop("Sorry to disturb you! When would be a good time to talk?"),
}
_SUMMARIES = {
    "not_interested": gettext_noop("The customer declined."),
    "no_decision_maker": gettext_noop("Reached someone who does not decide; the decision maker's contact is needed."),
    "wrong_number": gettext_noop("Wrong number."),
    "voicemail": gettext_noop("Voicemail."),
    "no_answer": gettext_noop("No answer."),
    "busy": gettext_noop("The customer was busy and gave no time."),
}


def _texts(disposition: str, slots: Mapping[str, Any], objections: list[ObjectionOutcome], contact: bool,
           quote: bool, language: str, script_map: Mapping[str, Any] | None = None,
           variables: Mapping[str, Any] | None = None, *, asked_for_person: bool = False) -> tuple[str, str]:
    """The summary (for the sales team) and the follow-up message (for the customer), in the call's language.

    The follow-up is the script's own ``follow_up_<disposition>`` phrase when it has one, else a neutral
    default; both are rendered with the script's variables, the contact and the collected slots.
    """
    with translation.override("en" if language == "en" else language or "ru"):
        when = str(slots.get("callback_time") or gettext("later"))
        if disposition == "interested":
            summary = gettext("The customer is interested.")
            if contact:
                summary += " " + gettext("A contact was left.")
            if quote:
                summary += " " + gettext("A quote was requested.")
        elif disposition == "callback":
            summary = gettext("The customer asked to call back %(when)s.") % {"when": when}
        else:
            summary = gettext(_SUMMARIES[disposition])
        obj = ", ".join(o.type.removeprefix("objection_") for o in objections)
        if obj:
            summary += " " + gettext("Objections: %(list)s.") % {"list": obj}
        details = " ".join(str(slots[k]) for k in ("cargo", "origin", "weight") if slots.get(k))
        if details:
            summary += " " + gettext("Details: %(details)s.") % {"details": details}
        if asked_for_person:  # the script may have put the call through (transfer to a human)
            summary += " " + gettext("The customer asked to speak to a person.")
        script_map = script_map or {}
        own = phrases_of(script_map, f"follow_up_{disposition}")
        template = own[0] if own else (gettext(_FOLLOW_UP_DEFAULTS[disposition])
                                       if disposition in _FOLLOW_UP_DEFAULTS else "")
        values = {**(script_map.get("variables") or {}), **(variables or {}), "callback_time": when,
                  "slots": dict(slots)}
        follow = render_phrase(template, values) if template else ""
    return summary, follow


# --- OpenAI structured output --------------------------------------------------------------

ANALYSIS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["disposition", "summary", "follow_up", "interest", "crm_status", "objections", "stage_reached",
                 "contact_obtained", "quote_requested", "slots"],
    "properties": {
        "disposition": {"type": "string", "enum": list(DISPOSITIONS)},
        "summary": {"type": "string"},
        "follow_up": {"type": "string"},
        "interest": {"type": "integer", "minimum": 0, "maximum": 100},
        "crm_status": {"type": "string", "enum": list(CRM_STATUSES)},
        "objections": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["type", "handled"],
                "properties": {"type": {"type": "string", "enum": list(OBJECTION_LABELS)},
                               "handled": {"type": "boolean"}},
            },
        },
        "stage_reached": {"type": "string", "enum": list(CANONICAL_STAGES)},
        "contact_obtained": {"type": "boolean"},
        "quote_requested": {"type": "boolean"},
        "slots": {
            "type": "object",
            "additionalProperties": False,
            "required": list(SLOT_KEYS),
            "properties": {k: {"type": ["string", "null"]} for k in SLOT_KEYS},
        },
    },
}


def _prompt(turns: list[tuple[str, str]], language: str, product: str) -> list[dict[str, str]]:
    lines = "\n".join(f"{'BOT' if s == 'bot' else 'CUSTOMER'}: {t}" for s, t in turns)
    lang = "Russian" if language != "en" else "English"
    system = (
        "You analyse a sales phone call transcript for a CRM. Product: " + (product or "freight from China") + ". "
        "Return JSON only, per the schema. disposition: the call's outcome; interest: 0-100 customer interest; "
        "crm_status: lead if interested, task if a follow-up action is needed (callback, no decision maker, "
        "busy), otherwise none; objections: each objection class raised and whether the bot handled it (the "
        f"customer moved on positively). Write summary and follow_up (a message to the customer) in {lang}."
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": lines}]


def _from_payload(data: Mapping[str, Any], attempts: int) -> TranscriptAnalysis:
    slots = {k: v for k, v in (data.get("slots") or {}).items() if v}
    return TranscriptAnalysis(
        disposition=data["disposition"], summary=data["summary"], follow_up=data["follow_up"],
        interest=int(data["interest"]), crm_status=data["crm_status"],
        objections=[ObjectionOutcome(o["type"], bool(o["handled"])) for o in data["objections"]],
        stage_reached=data["stage_reached"], contact_obtained=bool(data["contact_obtained"]),
        quote_requested=bool(data["quote_requested"]), slots=slots, provider="openai", status="ok",
        attempts=attempts,
    )


async def analyse_with_openai(turns: list[tuple[str, str]], *, config: Any, language: str = "ru",
                              product: str = "", max_attempts: int = 3) -> tuple[TranscriptAnalysis | None, str, int]:
    """(analysis or None, last error, attempts). Malformed or failed answers are retried up to ``max_attempts``."""
    validator = jsonschema.Draft202012Validator(ANALYSIS_SCHEMA)
    messages = _prompt(turns, language, product)
    client = config.new_client()
    try:
        return await _attempts(client, config, messages, validator, max_attempts)
    finally:
        await client.close()


async def _attempts(client: Any, config: Any, messages: list[dict[str, str]], validator: Any,
                    max_attempts: int) -> tuple[TranscriptAnalysis | None, str, int]:
    last_error = ""
    for attempt in range(1, max_attempts + 1):
        try:
            resp = await client.chat.completions.create(
                model=config.model, messages=messages, temperature=0,
                response_format={"type": "json_schema", "json_schema": {
                    "name": "call_analysis", "strict": True, "schema": ANALYSIS_SCHEMA}},
            )
            content = resp.choices[0].message.content or ""
            data = json.loads(content)
            errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
            if errors:
                first = errors[0]
                where = "/" + "/".join(str(p) for p in first.path)
                raise ValueError(f"schema: {where}: {first.message}")
            return _from_payload(data, attempt), "", attempt
        except (json.JSONDecodeError, ValueError, KeyError, TypeError) as exc:
            last_error = f"malformed model output: {exc}"
        except Exception as exc:
            last_error = str(map_openai_error(exc))
        log.warning("analysis attempt %s/%s failed: %s", attempt, max_attempts, last_error)
    return None, last_error, max_attempts


def mark_unintelligible(result: TranscriptAnalysis, *, understood: int, unrecognised: int,
                        language: str) -> TranscriptAnalysis:
    """Most of the customer's utterances were not recognised: nothing said can be trusted as interest.

    The call is kept for a callback (the line was bad, not the customer's answer), with interest 0,
    no CRM lead or task and no follow-up message.
    """
    if unrecognised <= 0 or unrecognised < understood:
        return result
    result.unintelligible = True
    result.disposition, result.crm_status, result.interest, result.follow_up = "callback", "none", 0, ""
    result.summary = (
        f"Речь клиента почти не распознана ({unrecognised} из {unrecognised + understood} реплик): "
        "нужен повторный звонок."
        if language == "ru" else
        f"The customer's speech was mostly not recognised ({unrecognised} of {unrecognised + understood} "
        "utterances): call again."
    )
    return result


async def analyse_transcript_async(turns: Iterable[Any], *, script_map: Mapping[str, Any] | None = None,
                                   language: str = "ru", provider: str = "offline", config: Any = None,
                                   product: str = "", max_attempts: int = 3, unrecognised: int = 0,
                                   variables: Mapping[str, Any] | None = None) -> TranscriptAnalysis:
    """``unrecognised``: customer utterances the STT could not turn into text (they are not in ``turns``);
    ``variables``: the contact's and the campaign's values for the follow-up phrase (``{{contact.name}}``)."""
    result = await _analyse(turns, script_map=script_map, language=language, provider=provider, config=config,
                            product=product, max_attempts=max_attempts, variables=variables)
    understood = sum(1 for speaker, _ in normalise_turns(turns) if speaker == "customer")
    return mark_unintelligible(result, understood=understood, unrecognised=unrecognised, language=language)


async def _analyse(turns: Iterable[Any], *, script_map: Mapping[str, Any] | None, language: str, provider: str,
                   config: Any, product: str, max_attempts: int,
                   variables: Mapping[str, Any] | None = None) -> TranscriptAnalysis:
    norm = normalise_turns(turns)
    if script_map is None:
        script_map = demo_map(language)
    offline = _analyse_offline(norm, script_map, language, variables)
    if provider == "offline" or not norm:
        return offline
    if provider != "openai":
        raise ValueError(f"unknown analysis provider {provider!r}")
    if config is None:
        config = LLMConfig()
    result, err, attempts = await analyse_with_openai(norm, config=config, language=language, product=product,
                                                      max_attempts=max_attempts)
    if result is not None:
        return result
    offline.provider, offline.status, offline.error, offline.attempts = "openai", "error", err, attempts
    return offline


def analyse_transcript(turns: Iterable[Any], *, script_map: Mapping[str, Any] | None = None, language: str = "ru",
                       provider: str = "offline", config: Any = None, product: str = "",
                       max_attempts: int = 3, unrecognised: int = 0,
                       variables: Mapping[str, Any] | None = None) -> TranscriptAnalysis:
    """Synchronous entry for Celery tasks and services; see ``analyse_transcript_async``."""
    coro = analyse_transcript_async(turns, script_map=script_map, language=language, provider=provider,
                                    config=config, product=product, max_attempts=max_attempts,
                                    unrecognised=unrecognised, variables=variables)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # Called from inside an event loop (e.g. a consumer): run on a private loop in a worker thread.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
