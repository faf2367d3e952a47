"""The review by OpenAI when a key is set: for each check of the scorecard, a verdict and the line that proves it.

Structured output (``json_schema``, strict), validated again here with ``jsonschema`` and against the
transcript (every quote must be a line that was said). Malformed output is asked for once more; any
failure returns ``None`` with the reason, and the offline review stands.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Sequence
from typing import Any

import jsonschema
from django.conf import settings

from integrations.openai_api import openai_sync_client
from training.scoring import TRAINEE, Line, ScorecardSpec, ScoreResult, _norm, _short, total_of

log = logging.getLogger(__name__)

PROMPT = {
    "ru": (
        "Ты тренер по продажам. Ниже разговор продавца-стажёра (user) с клиентом (bot) и чек-лист. Для каждого "
        "пункта чек-листа реши, выполнен ли он (passed), и приведи дословно реплику из разговора, которая это "
        "доказывает или показывает проблему (quote, пусто, если такой реплики нет). Затем дай 3–6 советов на "
        "русском: каждый с дословной цитатой реплики, которая показывает проблему; одна цитата — один совет."
    ),
    "en": (
        "You are a sales coach. Below is a conversation of a trainee salesperson (user) with a customer (bot) and "
        "a checklist. For each checklist item decide whether it was met (passed) and give the exact line of the "
        "conversation that proves it or shows the problem (quote; empty when there is none). Then give 3-6 tips in "
        "English, each with the exact quote of the line that shows the problem; one quote, one tip."
    ),
}


def review_schema(keys: Sequence[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["checks", "tips"],
        "properties": {
            "checks": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["key", "passed", "quote"],
                    "properties": {
                        "key": {"type": "string", "enum": list(keys)},
                        "passed": {"type": "boolean"},
                        "quote": {"type": "string"},
                    },
                },
            },
            "tips": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["tip", "quote"],
                    "properties": {"tip": {"type": "string", "minLength": 1}, "quote": {"type": "string"}},
                },
            },
        },
    }


class ReviewInvalid(ValueError):
    """The model's answer does not fit the schema or the transcript."""


def _said(quote: str, lines: Sequence[Line]) -> bool:
    q = _norm(quote)
    return bool(q) and any(q in _norm(ln.text) for ln in lines)


def apply_review(*, data: Any, lines: Sequence[Line], offline: ScoreResult, validator: Any) -> ScoreResult:
    """The offline result with the model's verdicts and tips; ``ReviewInvalid`` when the answer is unusable."""
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
    if errors:
        where = "/" + "/".join(str(p) for p in errors[0].path)
        raise ReviewInvalid(f"schema: {where}: {errors[0].message}")
    wanted = {c.key for s in offline.stages for c in s.checks if c.applicable}
    verdicts: dict[str, dict[str, Any]] = {}
    for item in data["checks"]:
        if item["key"] in verdicts:
            raise ReviewInvalid(f"check {item['key']} judged twice")
        if item["quote"].strip() and not _said(item["quote"], lines):
            raise ReviewInvalid(f"check {item['key']}: the quote was never said: {item['quote'][:80]!r}")
        if item["passed"] and not item["quote"].strip():
            raise ReviewInvalid(f"check {item['key']}: passed without the line that proves it")
        verdicts[item["key"]] = item
    missing = wanted - set(verdicts)
    if missing:
        raise ReviewInvalid(f"checks not judged: {', '.join(sorted(missing))}")
    result = copy.deepcopy(offline)
    for stage in result.stages:
        for check in stage.checks:
            if check.applicable and check.key in verdicts:
                check.passed = bool(verdicts[check.key]["passed"])
                check.quote = _short(verdicts[check.key]["quote"])
    open_q, close_q = ("«", "»") if offline.language == "ru" else ("“", "”")
    used: set[str] = set()
    advice = []
    for item in data["tips"]:
        quote = item["quote"].strip()
        if quote and not _said(quote, lines):
            raise ReviewInvalid(f"a tip quotes a line that was never said: {quote[:80]!r}")
        text = item["tip"].strip()
        if quote and _norm(quote) not in used:  # a quote appears once per review
            used.add(_norm(quote))
            text = f"{text} {open_q}{_short(quote)}{close_q}"
        advice.append(text)
    if not advice:
        raise ReviewInvalid("no tips")
    result.advice = advice[:8]
    result.total = total_of(result.stages, lines)
    result.scorer = "openai"
    return result


def llm_score(*, lines: Sequence[Line], offline: ScoreResult, scorecard: ScorecardSpec, product: str = "",
              max_attempts: int = 2) -> tuple[ScoreResult | None, str]:
    """(the model's review or ``None``, why not). Needs ``OPENAI_API_KEY``; never raises."""
    if not settings.OPENAI_API_KEY:
        return None, "no OPENAI_API_KEY"
    if not any(ln.speaker == TRAINEE for ln in lines):
        return None, "the trainee said nothing"
    checks = [c for s in offline.stages for c in s.checks if c.applicable]
    validator = jsonschema.Draft202012Validator(review_schema([c.key for c in checks]))
    payload = {
        "product": product,
        "transcript": [{"speaker": ln.speaker, "text": ln.text} for ln in lines],
        "checklist": [{"key": c.key, "check": c.label, "what_counts": c.description} for c in checks],
    }
    messages = [
        {"role": "system", "content": PROMPT.get(offline.language, PROMPT["en"])},
        {"role": "user", "content": json.dumps(payload, ensure_ascii=False)},
    ]
    last_error = ""
    try:
        client = openai_sync_client(settings.OPENAI_API_KEY, base_url=settings.OPENAI_BASE_URL or None, timeout_s=30,
                                    max_retries=1)
    except Exception as exc:  # a bad base URL, say
        return None, f"{type(exc).__name__}: {exc}"
    for attempt in range(1, max_attempts + 1):
        try:
            response = client.chat.completions.create(
                model=settings.OPENAI_CHAT_MODEL, messages=messages, temperature=0,
                response_format={"type": "json_schema", "json_schema": {
                    "name": "training_review", "strict": True, "schema": review_schema([c.key for c in checks])}},
            )
            data = json.loads(response.choices[0].message.content or "")
            return apply_review(data=data, lines=lines, offline=offline, validator=validator), ""
        except (json.JSONDecodeError, ReviewInvalid) as exc:
            last_error = f"malformed model output: {exc}"
        except Exception as exc:  # the vendor: network, quota, refusal
            last_error = f"{type(exc).__name__}: {exc}"
            log.warning("training review by OpenAI failed (attempt %s/%s): %s", attempt, max_attempts, last_error)
            break
        log.warning("training review by OpenAI unusable (attempt %s/%s): %s", attempt, max_attempts, last_error)
    return None, last_error
