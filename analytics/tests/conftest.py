"""A small, hand-written set of calls whose every KPI is worked out in the tests by hand."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from calls.models import Call, Campaign, Contact, ContactList, Turn
from dialogs.models import Script, ScriptVersion

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 3, 10, 15, 0, tzinfo=MSK)

# outcome, disposition, crm, duration, contact obtained, quote requested, stage, objections
CALLS = [
    ("completed", "interested", "lead", 121, True, True, "contact_collection",
     [{"type": "objection_has_supplier", "handled": True}]),
    ("completed", "interested", "task", 90, True, False, "closing", []),
    ("completed", "not_interested", "none", 30, False, False, "presentation",
     [{"type": "objection_too_expensive", "handled": False}, {"type": "objection_has_supplier", "handled": False}]),
    ("completed", "callback", "task", 45, False, False, "qualification",
     [{"type": "objection_busy", "handled": True}]),
    ("completed", "voicemail", "none", 20, False, False, "", []),
    ("voicemail", "voicemail", "", None, False, False, "", []),
    ("no_answer", "", "", None, False, False, "", []),
    ("busy", "", "", None, False, False, "", []),
    ("failed", "", "", None, False, False, "", []),
    ("", "", "", None, False, False, "", []),  # still queued: not a finished call, not counted
]
OTHER_TURNS = {2: "а вы вообще кто такие", 3: "а вы вообще кто такие", 0: "сколько стоит слон"}


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)
    return NOW


@pytest.fixture
def campaign(db):
    script = Script.objects.create(name="Скрипт А", language="ru", dialogue_map={}, version=1)
    ScriptVersion.objects.create(script=script, version=1, dialogue_map={})
    contacts = ContactList.objects.create(name="База")
    return Campaign.objects.create(name="Кампания", script=script, contact_list=contacts, language="ru")


TRANSFERRED = 1  # the index in CALLS of the call handed to a person


def make_calls(campaign: Campaign, queued_at: datetime, *, provider: str = "simulated") -> list[Call]:
    version = ScriptVersion.objects.get(script=campaign.script, version=campaign.script.version)
    made = []
    for i, (outcome, disposition, crm, duration, contact, quote, stage, objections) in enumerate(CALLS):
        n = Contact.objects.count()
        person = Contact.objects.create(contact_list=campaign.contact_list, phone=f"+7916{n:07d}", name=f"Контакт {i}")
        call = Call.objects.create(
            campaign=campaign, contact=person, script_version=version, provider=provider, outcome=outcome,
            status="done" if outcome else "queued", disposition=disposition, crm_status=crm, duration_s=duration,
            analysis={"contact_obtained": contact, "quote_requested": quote, "stage_reached": stage,
                      "objections": objections},
        )
        Call.objects.filter(pk=call.pk).update(queued_at=queued_at)
        if i == TRANSFERRED:  # the bot put this one through to a person
            Call.objects.filter(pk=call.pk).update(transferred_at=queued_at, transfer_target="queue:sales")
        if i in OTHER_TURNS:
            Turn.objects.create(call=call, index=0, speaker="user", text=OTHER_TURNS[i], intent="other")
            Turn.objects.create(call=call, index=1, speaker="user", text="да", intent="agree")
        made.append(call)
    return made
