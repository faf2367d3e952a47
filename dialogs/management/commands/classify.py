"""``manage.py classify --jsonl``: classify utterances from standard input, one JSON object per line out."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from dialogs.classifier import detect_language, get_classifier
from dialogs.models import Script


class Command(BaseCommand):
    help = "Classify one utterance per stdin line; print {text, label, confidence, slots} as JSON lines."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--jsonl", action="store_true", help="JSON lines output (the only format for now)")
        parser.add_argument("--language", choices=["ru", "en", "uz", "tg", "auto"], default="ru")
        parser.add_argument("--script", type=int, default=None, help="Script id whose intent phrases to add")
        parser.add_argument("--scores", action="store_true", help="also print every label's score")

    def handle(self, *args: Any, **options: Any) -> None:
        script_map = None
        if options["script"] is not None:
            try:
                script = Script.objects.get(pk=options["script"])
            except Script.DoesNotExist as exc:
                raise CommandError(f"no script with id {options['script']}") from exc
            script_map = script.dialogue_map if isinstance(script.dialogue_map, dict) else None
            if options["language"] == "ru" and script.language:
                options["language"] = script.language
        stdin = getattr(self, "stdin", None) or sys.stdin
        for raw in stdin:
            line = raw.strip() if isinstance(raw, str) else raw.decode("utf-8", "replace").strip()
            if not line:
                continue
            language = detect_language(line) if options["language"] == "auto" else options["language"]
            try:
                c = get_classifier(language, script_map).classify(line)
                row: dict[str, Any] = {"text": line, "label": c.label, "confidence": c.confidence, "slots": c.slots}
                if options["scores"]:
                    row["scores"] = c.scores
            except Exception as exc:  # one odd line must not stop a batch
                row = {"text": line, "label": "other", "confidence": 0.0, "slots": {}, "error": repr(exc)}
            self.stdout.write(json.dumps(row, ensure_ascii=False, default=str))
            self.stdout.flush()
