"""The CRM benchmark's parts: N analysed calls with leads, pushed through the outbox, counted when it drained."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from calls.models import Call, CallOutcome, Campaign, Contact, ContactList
from calls.services import call_after_work
from crm.models import Lead, OutboxMessage
from dialogs.models import Script
from dialogs.services import script_save

SCRIPT = Path(__file__).resolve().parents[1] / "dialogs" / "data" / "freight_ru.json"


@transaction.atomic
def bench_calls_create(*, count: int) -> list[int]:
    """A campaign of ``count`` calls that were answered and analysed as interested, waiting at the CRM step."""
    tag = uuid.uuid4().hex[:8]
    script = script_save(script=Script(name=f"CRM bench {tag}", language="ru",
                                       dialogue_map=json.loads(SCRIPT.read_text(encoding="utf-8"))))
    contact_list = ContactList.objects.create(name=f"CRM bench {tag}")
    campaign = Campaign.objects.create(name=f"CRM bench {tag}", script=script, contact_list=contact_list,
                                       status=Campaign.Status.PAUSED, telephony_provider="simulated")
    contacts = Contact.objects.bulk_create([
        Contact(contact_list=contact_list, phone=f"+7999{int(tag[:4], 16) % 1000:03d}{i:04d}", name=f"Клиент {i}",
                company=f"ООО «Бенч {i}»") for i in range(count)])
    now = timezone.now()
    calls = Call.objects.bulk_create([
        Call(campaign=campaign, contact=c, status=Call.Status.CRM, outcome=CallOutcome.COMPLETED, ended_at=now,
             answered_at=now, duration_s=60, disposition=Call.Disposition.INTERESTED, interest=80,
             crm_status=Call.CrmStatus.LEAD, summary="Клиент заинтересован, оставил контакт.",
             analysis={"slots": {"email": f"client{i}@example.ru", "name": c.name,
                                 # every fourth asked to be called back: a task with a deadline too
                                 **({"callback_time": "завтра в 10"} if i % 4 == 0 else {})}})
        for i, c in enumerate(contacts)])
    return [c.pk for c in calls]


def bench_push(*, call_ids: list[int]) -> None:
    """The CRM step of each call: lead + outbox row in one transaction; delivery tasks go out on commit."""
    for call_id in call_ids:
        call_after_work(call_id=call_id)


def bench_result(*, call_ids: list[int], deadline_s: float, started: float) -> dict[str, Any]:
    rows = OutboxMessage.objects.filter(kind=OutboxMessage.Kind.CRM_LEAD, call_id__in=call_ids)
    end = time.monotonic() + deadline_s
    while time.monotonic() < end and rows.filter(status=OutboxMessage.Status.PENDING).exists():
        time.sleep(0.5)
    seconds = round(time.monotonic() - started, 1)
    delivered = rows.filter(status=OutboxMessage.Status.DELIVERED).count()
    failed = rows.filter(status=OutboxMessage.Status.FAILED).count()
    attempts = rows.aggregate(n=Sum("attempts"))["n"] or 0
    leads = Lead.objects.filter(call_id__in=call_ids)
    return {"leads": leads.count(), "outbox": rows.count(), "delivered": delivered, "failed": failed,
            "pending": rows.filter(status=OutboxMessage.Status.PENDING).count(),
            "retries": attempts - delivered - failed if attempts else 0, "attempts": attempts,
            "with_external_id": leads.exclude(external_id="").count(), "seconds": seconds,
            "failures": sorted(set(rows.filter(status=OutboxMessage.Status.FAILED)
                                   .values_list("final_reason", flat=True)))[:5]}
