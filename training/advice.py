"""Written advice from an LLM (OpenAI chat) when a key is set; ``None`` on any failure so rules take over."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from django.conf import settings

from training.scoring import TRAINEE, Line, ScoreResult

log = logging.getLogger(__name__)

PROMPT = {
    "ru": (
        "Ты тренер по продажам. Ниже разговор продавца-стажёра (user) с клиентом (bot), оценка по чек-листу "
        "и метрики. Дай 3–6 конкретных советов на русском. В каждом совете процитируй в кавычках «…» "
        "реальную фразу стажёра и предложи, как сказать лучше. Ответ: JSON {\"advice\": [\"...\"]}."
    ),
    "en": (
        "You are a sales coach. Below is a conversation of a trainee salesperson (user) with a customer (bot), "
        "a checklist score and metrics. Give 3-6 concrete tips in English. In each tip quote the trainee's real "
        "line in quotes “…” and suggest a better way to say it. Answer as JSON {\"advice\": [\"...\"]}."
    ),
}


def llm_advice(*, lines: Sequence[Line], result: ScoreResult, product: str = "") -> list[str] | None:
    if not settings.OPENAI_API_KEY or not any(ln.speaker == TRAINEE for ln in lines):
        return None
    try:
        from openai import OpenAI

        client = OpenAI(api_key=settings.OPENAI_API_KEY, base_url=settings.OPENAI_BASE_URL, timeout=30, max_retries=1)
        payload = {
            "product": product,
            "transcript": [{"speaker": ln.speaker, "text": ln.text} for ln in lines],
            "rubric": result.rubric_dict(),
            "metrics": result.metrics_dict(),
        }
        response = client.chat.completions.create(
            model=settings.OPENAI_CHAT_MODEL,
            messages=[
                {"role": "system", "content": PROMPT.get(result.language, PROMPT["en"])},
                {"role": "user", "content": json.dumps(payload, ensure_ascii=False)},
            ],
            response_format={"type": "json_object"},
            temperature=0.3,
        )
        advice = json.loads(response.choices[0].message.content or "{}").get("advice")
        if isinstance(advice, list) and advice and all(isinstance(a, str) for a in advice):
            return [a.strip() for a in advice if a.strip()][:8]
        log.warning("LLM advice had an unexpected shape; using the rules")
    except Exception:
        # any vendor trouble (network, quota, bad JSON) falls back to the offline rules
        log.exception("LLM advice failed; using the rules")
    return None
