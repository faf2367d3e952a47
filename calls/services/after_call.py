"""After the call: the turns and recording it leaves, the analysis, the follow-up and CRM steps, callbacks."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import models, transaction

from calls.models import ACTIVE_STATUSES, Call, CallEvent, CallOutcome, Turn
from calls.selectors import call_event_data, campaign_script_version_id
from calls.services.lifecycle import call_transition
from config.metrics import record_turn_metrics
from config.voice import openai_llm_config
from crm.outbox import webhooks_enqueue
from crm.services import follow_up_enqueue, lead_create_from_call
from dialogs.analysis import analyse_transcript

log = logging.getLogger(__name__)

S = Call.Status


def call_turn_add(*, call_id: int, index: int, speaker: str, text: str, **fields: Any) -> None:
    """Store one utterance (idempotent per index)."""
    call_turns_add(turns=[{"call_id": call_id, "index": index, "speaker": speaker, "text": text, **fields}])


_TURN_FIELDS = frozenset(f.name for f in Turn._meta.fields) - {"id", "call", "index", "speaker", "text", "created_at"}


def call_turns_add(*, turns: list[dict[str, Any]]) -> None:
    """Store utterances of any calls at once, each idempotent per (call, index), in one transaction.

    One INSERT ... ON CONFLICT statement per set of fields given: a busy call server writes turns for every
    live call (``calls.db_batch`` gathers them), and update_or_create's locked read, insert and savepoint
    were the largest database cost under load. A field a turn does not give is left as it was on a rewrite.
    """
    by_fields: dict[tuple[str, ...], dict[tuple[int, int], Turn]] = {}
    metrics = []
    for turn in turns:
        values = {k: v for k, v in turn.items() if k in _TURN_FIELDS and v is not None}
        row = Turn(call_id=turn["call_id"], index=turn["index"], speaker=turn["speaker"], text=turn["text"], **values)
        # one statement may not touch a row twice (PostgreSQL refuses): the later of two writes of a turn wins
        by_fields.setdefault(tuple(sorted(values)), {})[(row.call_id, row.index)] = row
        metrics.append(values)
    with transaction.atomic():
        for names, rows in by_fields.items():
            Turn.objects.bulk_create(list(rows.values()), update_conflicts=True, unique_fields=["call", "index"],
                                     update_fields=["speaker", "text", *names])
    for values in metrics:
        record_turn_metrics(values, channel="call")


def call_recording_save(*, call_id: int, wav: bytes) -> None:
    call = Call.objects.filter(pk=call_id).first()
    if call is None or not wav:
        return
    call.recording.save(f"call_{call_id}.wav", ContentFile(wav), save=False)
    Call.objects.filter(pk=call_id).update(recording=call.recording.name)


def call_analyse(*, call_id: int) -> Call:
    """ended|analysing -> analysing -> follow_up: run the transcript analysis and store its fields."""
    call = call_transition(call_id=call_id, to=S.ANALYSING)
    call = Call.objects.select_related("campaign__script", "script_version", "contact").get(pk=call_id)
    turns = list(call.turns.order_by("index").values_list("speaker", "text"))
    script_map = call.script_version.dialogue_map if call.script_version else call.campaign.script.dialogue_map
    provider = settings.DIALOG.get("ANALYSIS", "offline")
    contact = call.contact
    variables = {"contact": {**(contact.variables or {}), "name": contact.name, "company": contact.company,
                             "first_name": (contact.name or "").split(" ")[0]}}
    # a bot turn marked stt_missed answered customer words the STT could not recognise at all
    unrecognised = call.turns.filter(stt_missed=True).count()
    result = analyse_transcript(turns, script_map=script_map, language=call.language or call.campaign.language,
                                provider=provider,
                                config=openai_llm_config() if provider == "openai" else None,
                                unrecognised=unrecognised, variables=variables)
    valid = {c.value for c in Call.Disposition}
    call.disposition = result.disposition if result.disposition in valid else call.disposition
    call.summary, call.follow_up = result.summary, result.follow_up
    call.interest = max(0, min(100, int(result.interest)))
    call.crm_status = result.crm_status if result.crm_status in {c.value for c in Call.CrmStatus} else ""
    call.analysis, call.analysis_error = result.to_dict(), result.error
    with transaction.atomic():
        current = Call.objects.select_for_update().only("status").get(pk=call_id)
        if current.status != S.ANALYSING:  # another worker finished the analysis first: keep its result
            return Call.objects.get(pk=call_id)
        call.save(update_fields=["disposition", "summary", "follow_up", "interest", "crm_status", "analysis",
                                 "analysis_error"])
        webhooks_enqueue(event="call.analyzed", campaign_id=call.campaign_id, object_id=call.pk, call_id=call.pk,
                         data=call_event_data(call=call))
        return call_transition(call_id=call_id, to=S.FOLLOW_UP, disposition=call.disposition,
                               interest=call.interest, crm_status=call.crm_status)


def call_after_work(*, call_id: int) -> str:
    """Analysis, follow-up message, CRM, done: each step resumes where a crashed run stopped.

    Each step's outside work (the message, the CRM copy, webhooks) is an outbox row written in the same
    transaction as the step's move on, so a vendor failure can neither lose the lead nor stop the call.
    """
    call = Call.objects.filter(pk=call_id).only("status", "outcome").first()
    if call is None:
        log.warning("after-call work: call %s is gone", call_id)
        return "gone"
    if call.status == S.ENDED and call.outcome != CallOutcome.COMPLETED:
        return call_transition(call_id=call_id, to=S.DONE).status
    if call.status in (S.ENDED, S.ANALYSING):
        call = call_analyse(call_id=call_id)
    call = Call.objects.select_related("contact", "campaign").get(pk=call_id)
    if call.status == S.FOLLOW_UP:
        with transaction.atomic():
            message = follow_up_enqueue(call=call)
            call = call_transition(call_id=call_id, to=S.CRM, follow_up_id=message.pk if message else None)
    if call.status == S.CRM:
        with transaction.atomic():
            lead_id = None
            call = Call.objects.select_related("contact", "campaign").get(pk=call_id)
            if call.crm_status in (Call.CrmStatus.LEAD, Call.CrmStatus.TASK) and not (call.analysis or {}).get(
                    "unintelligible"):
                lead_id = lead_create_from_call(call=call).pk
            call = call_transition(call_id=call_id, to=S.DONE, lead_id=lead_id)
    return call.status


def callback_schedule(*, call_id: int, due_at: datetime) -> Call | None:
    """Queue a call back to the contact at ``due_at`` (already inside the calling window), once."""
    call = Call.objects.select_related("campaign").get(pk=call_id)
    campaign = call.campaign
    if Call.objects.filter(campaign_id=campaign.pk, contact_id=call.contact_id, status__in=ACTIVE_STATUSES).exists():
        return None
    attempt = (Call.objects.filter(campaign_id=campaign.pk, contact_id=call.contact_id)
               .aggregate(m=models.Max("attempt"))["m"] or 0) + 1
    callback = Call.objects.create(campaign_id=campaign.pk, contact_id=call.contact_id, attempt=attempt,
                                   scheduled_for=due_at, provider=campaign.telephony_provider,
                                   script_version_id=campaign_script_version_id(campaign=campaign))
    CallEvent.objects.create(call_id=call_id, kind="callback_planned",
                             data={"call_id": callback.pk, "at": due_at.isoformat()})
    return callback
