"""``manage.py warm_audio_cache [--script ID] [--all] [--json]``: pre-synthesise a script's fixed phrases into Redis.

Every phrase of the dialogue map (stage phrases and prompts, objection and intent responses, FAQ
answers, service phrases) is rendered with the script's constant variables (``company``,
``agent.*`` and any other default declared in the map's ``variables``) and cut into sentences the
way the pipeline cuts the bot's text, because the pipeline looks the cache up per sentence. Phrases
that use per-call variables (``contact.*``, ``slots.*``, ``callback_time``) cannot be rendered ahead
and are skipped and counted. Audio comes from the configured TTS (``settings.VOICE``) and goes to
the Redis audio cache (``REDIS_URL``, TTL ``VOICE["AUDIO_CACHE_TTL_S"]``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from config.voice import audio_cache_from_settings, tts_from_settings
from dialogs.models import Script
from dialogs.scriptmap import render_phrase, template_variables
from voice.audio import SAMPLE_RATE
from voice.cache import warm_cache
from voice.pipeline import PipelineConfig
from voice.text import SentenceSplitter


def map_templates(data: Mapping[str, Any]) -> Iterator[str]:
    """Every bot line of a dialogue map, as written (with ``{{...}}`` placeholders)."""

    def items(value: Any) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, list):
            yield from (v for v in value if isinstance(v, str))

    for stage in (data.get("stages") or {}).values():
        if isinstance(stage, Mapping):
            yield from items(stage.get("phrases"))
            yield from items(stage.get("prompt"))
    for objection in (data.get("objections") or {}).values():
        if isinstance(objection, Mapping):
            yield from items(objection.get("responses"))
    for responses in (data.get("intent_responses") or {}).values():
        yield from items(responses)
    for entry in data.get("faq") or []:
        if isinstance(entry, Mapping):
            yield from items(entry.get("answer"))
    for phrases in (data.get("phrases") or {}).values():
        yield from items(phrases)


def constant_names(data: Mapping[str, Any]) -> set[str]:
    """Variables whose value is the same on every call of the script: the map's declared defaults."""
    names: set[str] = set()
    for key, value in (data.get("variables") or {}).items():
        if isinstance(value, Mapping):
            names.update(f"{key}.{k}" for k in value)
        else:
            names.add(str(key))
    return names - {"callback_time"} - {n for n in names if n.startswith(("contact.", "slots."))}


def fixed_sentences(data: Mapping[str, Any]) -> tuple[list[str], int, int]:
    """(sentences to synthesise, phrases used, phrases skipped for per-call variables)."""
    constants = constant_names(data)
    variables = data.get("variables") or {}
    config = PipelineConfig()
    sentences: list[str] = []
    used = skipped = 0
    for template in dict.fromkeys(map_templates(data)):  # distinct, in authored order
        if any(name not in constants for name in template_variables(template)):
            skipped += 1
            continue
        used += 1
        splitter = SentenceSplitter(min_chars=config.sentence_min_chars, max_chars=config.sentence_max_chars)
        text = render_phrase(template, variables)
        sentences += splitter.push(text) + splitter.flush()
    return list(dict.fromkeys(s for s in sentences if s.strip())), used, skipped


class Command(BaseCommand):
    help = "Synthesise the fixed phrases of scripts' dialogue maps into the Redis audio cache."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--script", type=int, action="append", default=[], help="script id (repeatable)")
        parser.add_argument("--all", action="store_true", help="every active script")
        parser.add_argument("--voice", default="", help="TTS voice id (a campaign's voice); empty = default")
        parser.add_argument("--force", action="store_true", help="synthesise even phrases already cached")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["all"]:
            scripts = list(Script.objects.filter(is_active=True))
        elif options["script"]:
            scripts = list(Script.objects.filter(pk__in=options["script"]))
            missing = set(options["script"]) - {s.pk for s in scripts}
            if missing:
                raise CommandError(f"no script with id {sorted(missing)}")
        else:
            raise CommandError("give --script ID or --all")
        report = asyncio.run(self._warm(scripts, voice=options["voice"], force=options["force"]))
        if options["json"]:
            self.stdout.write(json.dumps(report, ensure_ascii=False))
            return
        for row in report["scripts"]:
            self.stdout.write(
                f"script {row['id']} ({row['name']}, {row['language']}): {row['sentences']} sentences from "
                f"{row['phrases']} phrases; synthesised {row['synthesized']}, already cached "
                f"{row['already_cached']}, failed {row['failed']}; skipped {row['skipped_phrases']} phrases "
                f"with per-call variables"
            )

    async def _warm(self, scripts, *, voice: str, force: bool) -> dict[str, Any]:
        tts = tts_from_settings()
        cache = audio_cache_from_settings(timeout_s=5.0)  # offline work: a slow Redis is waited for
        rows = []
        try:
            for script in scripts:
                data = script.dialogue_map if isinstance(script.dialogue_map, dict) else {}
                language = data.get("language") or script.language or "ru"
                sentences, used, skipped = fixed_sentences(data)
                result = await warm_cache(sentences, tts, cache, voice=voice, language=language,
                                          sample_rate=SAMPLE_RATE, force=force)
                rows.append({"id": script.pk, "name": script.name, "language": language, "phrases": used,
                             "skipped_phrases": skipped, "sentences": len(sentences), **result.to_dict()})
        finally:
            await cache.aclose()
            await tts.aclose()
        totals = {k: sum(r[k] for r in rows) for k in ("phrases", "skipped_phrases", "sentences", "total",
                                                        "synthesized", "already_cached", "failed")}
        return {"scripts": rows, **totals, "tts": getattr(tts, "name", ""), "ttl_s": cache.ttl_s}
