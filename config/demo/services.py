"""Seeding the demo, idempotently: every object is found by its natural key before it is created."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from calls.models import Campaign, Contact, ContactList
from calls.services import campaign_schedule_sync
from config.demo import data
from config.roles import TRAINEE, roles_sync, user_assign_role
from dialogs.models import Script
from dialogs.services import script_save
from training.models import Scenario, Trainee
from training.services import scorecard_default_ensure

SCRIPTS_DIR = Path(__file__).resolve().parent.parent.parent / "dialogs" / "data"


@dataclass(frozen=True)
class DemoSummary:
    users: int
    scripts: int
    contacts: int
    campaigns: int
    scenarios: int
    trainees: int


def _demo_phone(index: int) -> str:
    return f"+7916550{index:04d}"


@transaction.atomic
def demo_seed(*, password: str = data.DEMO_PASSWORD_DEFAULT) -> DemoSummary:
    roles_sync()
    user_model = get_user_model()
    for username, first, last, role in data.USERS:
        user, created = user_model.objects.get_or_create(
            username=username, defaults={"first_name": first, "last_name": last, "email": f"{username}@example.com"}
        )
        if created:
            user.set_password(password)
            user.save()
        user_assign_role(user=user, role=role)
        if role == TRAINEE:
            Trainee.objects.get_or_create(user=user, defaults={"team": "Отдел продаж — Москва"})

    scripts = {}
    for name, language, filename in data.SCRIPTS:
        dialogue_map = json.loads((SCRIPTS_DIR / filename).read_text(encoding="utf-8"))
        script = Script.objects.filter(name=name).first()
        if script is None or script.dialogue_map != dialogue_map:
            script = script or Script(name=name, language=language)
            script.dialogue_map = dialogue_map
            script.description = dialogue_map.get("description", "") if isinstance(dialogue_map, dict) else ""
            script_save(script=script)
        scripts[language] = script

    contact_list, _ = ContactList.objects.get_or_create(
        name=data.CONTACT_LIST, defaults={"description": "Демо-база импортёров в разных часовых поясах"}
    )
    for index, (name, company, tz, city, product) in enumerate(data.CONTACTS, start=1):
        Contact.objects.update_or_create(
            contact_list=contact_list,
            phone=_demo_phone(index),
            defaults={
                "name": name,
                "company": company,
                "timezone": tz,
                "variables": {"city": city, "product": product},
            },
        )

    campaign, _ = Campaign.objects.get_or_create(
        name=data.CAMPAIGN,
        defaults={
            "script": scripts["ru"],
            "contact_list": contact_list,
            "language": "ru",
            "telephony_provider": Campaign.Provider.SIMULATED,
            "status": Campaign.Status.ACTIVE,
            "max_concurrent_calls": 3,
        },
    )
    campaign_schedule_sync(campaign=campaign)  # its nightly plan shows up in the admin's periodic tasks

    for title, difficulty, persona, description in data.SCENARIOS:
        Scenario.objects.update_or_create(
            title=title,
            defaults={
                "language": "ru",
                "product_description": data.PRODUCT,
                "persona": persona,
                "persona_description": description,
                "difficulty": difficulty,
                "script": scripts["ru"],
            },
        )

    scorecard_default_ensure()  # reviews use it; a database emptied by hand gets it back
    for title, difficulty, persona, description in data.SCENARIOS_EN:
        Scenario.objects.update_or_create(
            title=title,
            defaults={
                "language": "en",
                "product_description": data.PRODUCT_EN,
                "persona": persona,
                "persona_description": description,
                "difficulty": difficulty,
                "script": scripts["en"],
            },
        )

    return DemoSummary(
        users=user_model.objects.filter(username__in=[u[0] for u in data.USERS]).count(),
        scripts=Script.objects.filter(name__in=[s[0] for s in data.SCRIPTS]).count(),
        contacts=contact_list.contacts.count(),
        campaigns=Campaign.objects.filter(name=data.CAMPAIGN).count(),
        scenarios=Scenario.objects.filter(title__in=[s[0] for s in data.SCENARIOS + data.SCENARIOS_EN]).count(),
        trainees=Trainee.objects.filter(user__username__in=[u[0] for u in data.USERS]).count(),
    )
