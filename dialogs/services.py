"""Writes for scripts: every change bumps the version and keeps an immutable snapshot."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from dialogs.models import Script, ScriptVersion
from dialogs.problem_text import problem_text
from dialogs.scriptmap import validate_map


def script_map_problems(dialogue_map: Any) -> list[str]:
    """Human-readable problems, each prefixed with its place in the map; empty when valid."""
    return [f"{p.path}: {problem_text(p.message)}" for p in validate_map(dialogue_map)]


@transaction.atomic
def script_save(*, script: Script, user: Any = None, validate: bool = True) -> Script:
    """Save ``script`` (new or edited) as its next version."""
    if validate:
        problems = script_map_problems(script.dialogue_map)
        if problems:
            raise ValidationError({"dialogue_map": problems})
    if script.pk:
        # Lock the row so two editors saving at once get two distinct versions.
        current = Script.objects.select_for_update().values_list("version", flat=True).get(pk=script.pk)
        script.version = current + 1
    else:
        script.version = 1
    script.save()
    ScriptVersion.objects.create(
        script=script, version=script.version, dialogue_map=script.dialogue_map,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    return script


def script_current_version(*, script: Script) -> ScriptVersion:
    return script.versions.get(version=script.version)
