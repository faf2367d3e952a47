"""The demo seed is complete and idempotent."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from calls.models import Campaign, Contact
from config.demo.services import demo_seed
from dialogs.models import Script, ScriptVersion
from dialogs.personas import DEFAULT_PERSONAS
from dialogs.scriptmap import validate_map
from training.models import Scenario, Trainee

pytestmark = pytest.mark.django_db


def snapshot():
    return {
        "users": get_user_model().objects.count(),
        "scripts": Script.objects.count(),
        "versions": ScriptVersion.objects.count(),
        "contacts": Contact.objects.count(),
        "campaigns": Campaign.objects.count(),
        "scenarios": Scenario.objects.count(),
        "trainees": Trainee.objects.count(),
    }


def test_seed_twice_changes_nothing_the_second_time():
    call_command("seed_demo")
    first = snapshot()
    call_command("seed_demo")
    assert snapshot() == first
    assert first["contacts"] == 30 and first["trainees"] == 2 and first["scenarios"] == 6
    assert first["versions"] == first["scripts"] == 2  # an unchanged map is not a new version


def test_seed_content_is_realistic():
    summary = demo_seed()
    assert summary.campaigns == 1
    contacts = Contact.objects.all()
    assert len({c.timezone for c in contacts}) >= 5  # several time zones
    assert all(c.phone.startswith("+7") for c in contacts)
    assert set(Scenario.objects.values_list("difficulty", flat=True)) == {"easy", "medium", "hard"}
    for language in ("ru", "en"):  # English practice beside the Russian, each at every difficulty
        scenarios = Scenario.objects.filter(language=language)
        assert set(scenarios.values_list("difficulty", flat=True)) == {"easy", "medium", "hard"}
        assert all(s.script and s.script.language == language for s in scenarios)
    assert all(DEFAULT_PERSONAS[s.persona].language == s.language for s in Scenario.objects.all())
    ru = Script.objects.get(language="ru")
    assert validate_map(ru.dialogue_map) == []
    assert "Китай" in str(ru.dialogue_map)
    user = get_user_model().objects.get(username="manager")
    assert user.groups.filter(name="Manager").exists() and user.is_staff
