"""``manage.py classify --jsonl`` reads utterances from stdin and prints JSON lines."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from dialogs.management.commands.classify import Command
from dialogs.models import Script


def _run(stdin_text: str, *args: str) -> list[dict]:
    out = io.StringIO()
    cmd_stdin = io.StringIO(stdin_text)
    command = Command(stdout=out)
    command.stdin = cmd_stdin
    call_command(command, "--jsonl", *args)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_classify_jsonl_one_object_per_non_blank_line():
    rows = _run("пишите на почту ivanov@stroytorg.ru\n\n   \nу нас уже есть перевозчик\n😀 ???\n")
    assert [r["label"] for r in rows] == ["give_contact", "objection_has_supplier", "other"]
    assert rows[0] == {"text": "пишите на почту ivanov@stroytorg.ru", "label": "give_contact",
                       "confidence": rows[0]["confidence"], "slots": {"email": "ivanov@stroytorg.ru"}}
    assert set(rows[1]) == {"text", "label", "confidence", "slots"}


def test_classify_english_and_auto_language():
    assert _run("we already have a carrier\n", "--language", "en")[0]["label"] == "objection_has_supplier"
    assert _run("that's too expensive\n", "--language", "auto")[0]["label"] == "objection_too_expensive"


def test_output_keeps_cyrillic_readable():
    out = io.StringIO()
    command = Command(stdout=out)
    command.stdin = io.StringIO("дорого\n")
    call_command(command, "--jsonl")
    assert "дорого" in out.getvalue()


@pytest.mark.django_db
def test_script_option_uses_the_scripts_phrases():
    script = Script.objects.create(name="t", language="ru", dialogue_map={
        "intents": {"objection_has_supplier": ["мы дружим с китайской почтой"]}})
    assert _run("мы дружим с китайской почтой\n", "--script", str(script.pk))[0]["label"] == "objection_has_supplier"
    with pytest.raises(CommandError):
        _run("да\n", "--script", "99999")
