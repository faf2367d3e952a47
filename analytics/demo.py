"""Rehearsal data that looks real: N analysed calls over 90 days in an A/B test of two script variants.

Used by ``seed_demo --calls N`` (so the dashboard and the experiments page show something on a fresh
``make run``) and by ``analytics_bench``. Deterministic for a given seed. On PostgreSQL the rows go in
with COPY, elsewhere with ``bulk_create`` in batches.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb

from analytics.services import rollups_refresh
from calls.experiments import variant_for
from calls.models import Call, Campaign, Contact, ContactList, Experiment, ExperimentAssignment, ExperimentVariant, Turn
from crm.models import Lead
from dialogs.models import Script, ScriptVersion
from dialogs.scriptmap import OBJECTION_LABELS
from dialogs.services import script_save

DATA = Path(__file__).resolve().parent.parent / "dialogs" / "data"
LIST_NAME = "Демо: история звонков (A/B)"
CAMPAIGN_PREFIX = "Демо: A/B-тест приветствия"
VARIANT_B = "Фрахт из Китая — вариант Б (короткое приветствие)"
VARIANT_B_EN = "Freight from China — variant B (short greeting)"
BATCH = 5000
OTHER_PHRASES = (
    "а вы вообще кто такие", "сколько стоит доставка слона", "перезвоните моему бухгалтеру", "у нас склад в Казани",
    "а вы по белой работаете", "это про кредит?", "мы торгуем только с Турцией", "а сертификаты вы делаете",
)
STAGE_BY_DISPOSITION = {
    "interested": ("contact_collection", "closing"), "callback": ("qualification", "presentation", "closing"),
    "not_interested": ("greeting", "qualification", "presentation", "objection_handling"),
    "no_decision_maker": ("greeting", "qualification"), "wrong_number": ("greeting",),
}


@dataclass
class HistorySummary:
    calls: int
    contacts: int
    campaigns: int
    experiment_id: int


def _variant_scripts(language: str) -> tuple[Script, Script]:
    filename = f"freight_{language}.json"
    dialogue_map = json.loads((DATA / filename).read_text(encoding="utf-8"))
    a = Script.objects.filter(language=language, is_active=True).exclude(name__in=(VARIANT_B, VARIANT_B_EN)).first()
    if a is None:
        a = script_save(script=Script(name=f"Freight {language}", language=language, dialogue_map=dialogue_map))
    name_b = VARIANT_B if language == "ru" else VARIANT_B_EN
    b = Script.objects.filter(name=name_b).first()
    if b is None:
        b = script_save(script=Script(name=name_b, language=language, dialogue_map=dialogue_map,
                                      description="Variant B of the demo A/B test"))
    return a, b


def _version(script: Script) -> int:
    return ScriptVersion.objects.get(script=script, version=script.version).pk


def _copy_or_bulk(model, fields: list[str], rows: list[tuple]) -> None:
    if connection.vendor == "postgresql":
        # COPY fills no Django default: every other NOT NULL column with one ("" for text) gets it here,
        # so a column added to the model later never breaks the seed
        rest = [f for f in model._meta.concrete_fields
                if f.name not in fields and not f.primary_key and not f.null and f.get_default() is not None]
        tail = tuple(Jsonb(v) if isinstance(v, dict | list) else v for v in (f.get_default() for f in rest))
        table = model._meta.db_table
        columns = ", ".join([model._meta.get_field(f).column for f in fields] + [f.column for f in rest])
        with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row + tail)
    else:
        # history keeps its own times: bulk_create would stamp auto_now(_add) fields given here with "now"
        stamped = [f for f in model._meta.concrete_fields
                   if f.name in fields and (getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False))]
        saved = [(f, f.auto_now, f.auto_now_add) for f in stamped]
        for f in stamped:
            f.auto_now = f.auto_now_add = False
        try:
            model.objects.bulk_create([model(**dict(zip(fields, row, strict=True))) for row in rows], batch_size=1000)
        finally:
            for f, auto_now, auto_now_add in saved:
                f.auto_now, f.auto_now_add = auto_now, auto_now_add


def calls_history_generate(*, calls: int, days: int = 90, campaigns: int = 1, seed: int = 1,
                           now: datetime | None = None, turns: int = 300) -> HistorySummary:
    """Generate ``calls`` finished, analysed calls spread over the last ``days`` days.

    ``campaigns`` > 1 spreads them over several campaigns (alternating Russian/English and the
    simulated/Twilio/Voximplant providers) so filters have something to cut. The first campaign runs
    an A/B experiment of two script variants (B converts a little better); ``turns`` unrecognised
    callee answers are attached for the "other" list.
    """
    rng = random.Random(seed)
    now = now or timezone.now()
    contacts_n = max(1, (calls * 2 + 2) // 3)  # about 1.5 attempts per contact
    contact_list, _ = ContactList.objects.get_or_create(name=LIST_NAME)
    first_id = (Contact.objects.order_by("-id").values_list("id", flat=True).first() or 0)
    base = Contact.objects.filter(contact_list=contact_list).count()
    created = timezone.now()
    with transaction.atomic():
        for first in range(0, contacts_n, BATCH * 4):
            rows = [(contact_list.pk, f"+7900{base + i:07d}", f"Клиент {base + i}", f"ООО «Демо {base + i}»",
                     "Europe/Moscow", "{}", False, False, created)
                    for i in range(first, min(contacts_n, first + BATCH * 4))]
            _copy_or_bulk(Contact, ["contact_list_id", "phone", "name", "company", "timezone", "variables",
                                    "do_not_call", "finished", "created_at"], rows)
    contact_ids = list(Contact.objects.filter(contact_list=contact_list, id__gt=first_id).order_by("id")
                       .values_list("id", flat=True))

    start = now - timedelta(days=days)
    made: list[tuple[Campaign, list[tuple[int, int]], dict[int, int]]] = []  # campaign, (version, weight), variant
    experiment = None
    for k in range(campaigns):
        language = "ru" if k % 2 == 0 else "en"
        a, b = _variant_scripts(language)
        provider = ("simulated", "twilio", "voximplant")[k % 3]
        campaign, _ = Campaign.objects.get_or_create(
            name=f"{CAMPAIGN_PREFIX} #{k + 1}" if campaigns > 1 else CAMPAIGN_PREFIX,
            defaults={"script": a, "contact_list": contact_list, "language": language,
                      "telephony_provider": provider, "status": Campaign.Status.PAUSED},
        )
        if k == 0:
            experiment = Experiment.objects.filter(campaign=campaign).first()
            if experiment is None:
                experiment = Experiment.objects.create(campaign=campaign, name="Короткое приветствие против длинного",
                                                       primary_metric="lead", baseline_rate=0.12, minimum_effect=0.02)
                ExperimentVariant.objects.bulk_create([
                    ExperimentVariant(experiment=experiment, name="A", script=a, weight=50),
                    ExperimentVariant(experiment=experiment, name="B", script=b, weight=50),
                ])
                Experiment.objects.filter(pk=experiment.pk).update(started_at=start - timedelta(hours=1))
            variants = list(experiment.variants.order_by("id").values_list("id", "weight"))
            version = {v: _version(s) for v, s in
                       zip((v for v, _ in variants), (a, b), strict=True)}
            made.append((campaign, variants, version))
        else:
            made.append((campaign, [], {0: _version(a)}))

    # contact -> variant for the experiment's campaign, stored like the planner stores it
    variants0 = made[0][1]
    assigned = {c: variant_for(experiment_id=experiment.pk, contact_id=c, variants=variants0) for c in contact_ids}
    existing = set(ExperimentAssignment.objects.filter(experiment=experiment).values_list("contact_id", flat=True))
    todo = [(c, v) for c, v in assigned.items() if c not in existing]
    for first in range(0, len(todo), BATCH * 4):
        _copy_or_bulk(ExperimentAssignment, ["experiment_id", "contact_id", "variant_id", "created_at"],
                      [(experiment.pk, c, v, created) for c, v in todo[first:first + BATCH * 4]])
    lead_boost = {variants0[0][0]: 0.0, variants0[1][0]: 0.04}

    fields = ["campaign_id", "contact_id", "script_version_id", "attempt", "provider", "status", "outcome",
              "queued_at", "scheduled_for", "answered_at", "ended_at", "done_at", "duration_s", "disposition",
              "summary", "follow_up", "interest", "crm_status", "analysis", "analysis_error", "recording", "error",
              "provider_call_id"]
    span = (now - start).total_seconds()
    batch: list[tuple] = []
    with transaction.atomic():
        for i in range(calls):
            contact = contact_ids[i % len(contact_ids)]
            attempt = i // len(contact_ids) + 1
            campaign, variants, versions = made[i % len(made)]
            if variants:
                variant = assigned[contact]
                version, boost = versions[variant], lead_boost[variant]
            else:
                version, boost = versions[0], 0.0
            day = start + timedelta(seconds=span * i / calls)
            queued = datetime.combine(day.date(), time(9), day.tzinfo) + timedelta(seconds=rng.randint(0, 10 * 3600))
            queued = min(queued, now - timedelta(minutes=5))
            row = _one_call(rng, boost)
            outcome, disposition, crm, duration, analysis, interest = row
            answered = queued + timedelta(seconds=20) if outcome == "completed" else None
            ended = queued + timedelta(seconds=25 + (duration or 0))
            analysis_json = json.dumps(analysis, ensure_ascii=False)
            batch.append((campaign.pk, contact, version, attempt, campaign.telephony_provider, "done", outcome, queued,
                          queued, answered, ended, ended + timedelta(seconds=5), duration, disposition,
                          "", "", interest, crm, analysis_json, "", "", "", ""))
            if len(batch) >= BATCH:
                _flush(fields, batch)
                batch = []
        if batch:
            _flush(fields, batch)
    _leads_for(contact_list=contact_list)
    if turns:
        talked = (Call.objects.filter(campaign__contact_list=contact_list, outcome="completed",
                                      disposition__in=("not_interested", "callback", "interested"))
                  .order_by("-id").values_list("id", flat=True)[:turns])
        _copy_or_bulk(Turn, ["call_id", "index", "speaker", "text", "interrupted", "stage", "intent", "objection",
                             "stt_missed", "created_at"],
                      [(pk, 90, "user", rng.choice(OTHER_PHRASES), False, "", "other", "", False, created)
                       for pk in talked])
    return HistorySummary(calls=calls, contacts=len(contact_ids), campaigns=len(made), experiment_id=experiment.pk)


def _leads_for(*, contact_list: ContactList) -> None:
    """The lead of each generated call the CRM took as a lead (``crm_status`` "lead"), as analysis makes one
    (``crm.services.lead_create_from_call``, without its outbox), made when the call was done: the board and
    the lead list count these."""
    rows = [(call_id, contact_id, f"{company or name or phone}: {campaign}"[:255], name, company, phone,
             Lead.Status.NEW, interest, done, done)
            for call_id, contact_id, name, company, phone, campaign, interest, done in
            Call.objects.filter(campaign__contact_list=contact_list, crm_status="lead", lead__isnull=True)
            .values_list("id", "contact_id", "contact__name", "contact__company", "contact__phone", "campaign__name",
                         "interest", "done_at").iterator(chunk_size=BATCH)]
    for first in range(0, len(rows), BATCH * 4):
        _copy_or_bulk(Lead, ["call_id", "contact_id", "title", "name", "company", "phone", "status", "interest",
                             "created_at", "updated_at"], rows[first:first + BATCH * 4])


def _flush(fields: list[str], rows: list[tuple]) -> None:
    if connection.vendor != "postgresql":  # COPY takes the analysis as JSON text, the ORM as a dict
        at = fields.index("analysis")
        rows = [(*row[:at], json.loads(row[at]), *row[at + 1:]) for row in rows]
    _copy_or_bulk(Call, fields, rows)


def _one_call(rng: random.Random, boost: float) -> tuple:
    roll = rng.random()
    if roll < 0.22:
        return "no_answer", "no_answer", "none", None, {}, 0
    if roll < 0.30:
        return "busy", "busy", "task", None, {}, 0
    if roll < 0.40:
        return "voicemail", "voicemail", "none", None, {}, 0
    if roll < 0.44:
        return "failed", "", "", None, {}, None
    r = rng.random()
    interested = 0.12 + boost
    if r < 0.04:
        disposition = "voicemail"
    elif r < 0.04 + interested:
        disposition = "interested"
    elif r < 0.14 + interested:
        disposition = "callback"
    elif r < 0.24 + interested:
        disposition = "no_decision_maker"
    elif r < 0.27 + interested:
        disposition = "wrong_number"
    else:
        disposition = "not_interested"
    if disposition == "voicemail":
        return "completed", "voicemail", "none", round(rng.uniform(8, 25), 1), {"stage_reached": ""}, 0
    duration = round(min(600.0, rng.lognormvariate(4.3 if disposition == "interested" else 3.8, 0.5)), 1)
    objections = []
    for kind in rng.sample(OBJECTION_LABELS, k=rng.choice((0, 0, 1, 1, 2))):
        objections.append({"type": kind, "handled": rng.random() < (0.8 if disposition == "interested" else 0.45)})
    contact = disposition == "interested" and rng.random() < 0.8
    quote = disposition == "interested" and rng.random() < 0.5
    if disposition == "interested":  # now and then the interest is only worth a task, not a lead
        crm = "lead" if rng.random() < 0.85 else "task"
    else:
        crm = "task" if disposition in ("callback", "no_decision_maker") else "none"
    analysis = {"disposition": disposition, "objections": objections,
                "stage_reached": rng.choice(STAGE_BY_DISPOSITION[disposition]), "contact_obtained": contact,
                "quote_requested": quote, "provider": "offline", "status": "ok"}
    interest = {"interested": 80, "callback": 50}.get(disposition, 20)
    return "completed", disposition, crm, duration, analysis, interest


def history_seed(*, calls: int) -> HistorySummary | None:
    """``seed_demo --calls N``: generate the history once, then roll up the finished days."""
    if Campaign.objects.filter(name=CAMPAIGN_PREFIX, calls__isnull=False).exists():
        return None
    summary = calls_history_generate(calls=calls)
    rollups_refresh()
    return summary
