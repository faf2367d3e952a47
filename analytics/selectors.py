"""Reads for the analytics pages: headline KPIs, call analytics (rollup + live), leaderboards, export rows."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Avg, Count, Max, Q
from django.db.models.fields.json import KT
from django.db.models.functions import Floor, TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from analytics.filters import CallFilters, day_bounds, today
from analytics.models import DailyCallRollup, RollupDay
from analytics.tally import COUNT_FIELDS, TALKED, TALLY_SQL, HistogramSum, Tally
from calls.models import Call, Campaign, Turn
from dialogs.scriptmap import CANONICAL_STAGES
from training.models import Score, Trainee, TrainingSession


@dataclass(frozen=True)
class LeaderRow:
    trainee: str
    sessions: int
    best: int | None
    average: float | None
    trainee_id: int | None = None
    team: str = ""


@dataclass(frozen=True)
class TeamSummary:
    campaigns_active: int
    sessions_scored: int
    average_score: float | None


def team_summary() -> TeamSummary:
    """Active campaigns and the trainer's average score (the call figures come from ``call_analytics``)."""
    scores = Score.objects.aggregate(n=Count("id"), avg=Avg("total"))
    return TeamSummary(
        campaigns_active=Campaign.objects.filter(status=Campaign.Status.ACTIVE).count(),
        sessions_scored=scores["n"],
        average_score=round(scores["avg"], 1) if scores["avg"] is not None else None,
    )


def leaderboard(*, limit: int = 20) -> list[LeaderRow]:
    rows = (
        Trainee.objects.annotate(
            n=Count("sessions__score"), best=Max("sessions__score__total"), avg=Avg("sessions__score__total")
        )
        .select_related("user")
        .order_by("-avg", "-best")[:limit]
    )
    return [
        LeaderRow(str(t), t.n, t.best, round(t.avg, 1) if t.avg is not None else None, trainee_id=t.pk, team=t.team)
        for t in rows
    ]


EXPORT_STAGES = ("greeting", "discovery", "presentation", "objections", "closing")
EXPORT_METRICS = (
    "talk_ratio", "longest_monologue_s", "questions_asked", "open_questions", "filler_rate", "interruptions",
    "objections_met", "objections_handled",
)
EXPORT_HEADER = (
    "session", "trainee", "username", "team", "scenario", "language", "difficulty", "status", "created", "ended",
    "end_reason", "score", *(f"stage_{k}" for k in EXPORT_STAGES), *EXPORT_METRICS,
)


def training_export_rows(*, trainee_id: int | None = None, start: datetime | None = None,
                         end: datetime | None = None, language: str = "") -> Iterator[list[Any]]:
    """Every training session as a CSV row (header first); stage points and metrics as columns."""
    yield list(EXPORT_HEADER)
    sessions = TrainingSession.objects.select_related("trainee__user", "scenario", "score").order_by("created_at")
    if trainee_id is not None:
        sessions = sessions.filter(trainee_id=trainee_id)
    if start is not None:
        sessions = sessions.filter(created_at__gte=start)
    if end is not None:
        sessions = sessions.filter(created_at__lt=end)
    if language:
        sessions = sessions.filter(language=language)
    for s in sessions.iterator(chunk_size=500):
        score = getattr(s, "score", None)
        stages = {st["key"]: st for st in (score.rubric.get("stages", []) if score else [])}
        metrics = score.metrics if score else {}
        yield [
            s.pk, str(s.trainee), s.trainee.user.get_username(), s.trainee.team,
            s.scenario.title if s.scenario else s.product_description[:80], s.language, s.difficulty, s.status,
            s.created_at.isoformat(), s.ended_at.isoformat() if s.ended_at else "", s.end_reason,
            score.total if score else "",
            *((stages[k]["points"] if k in stages and stages[k].get("applicable") else "") for k in EXPORT_STAGES),
            *(metrics.get(k, "") for k in EXPORT_METRICS),
        ]


# --- call analytics ----------------------------------------------------------------------------------------

SLICE_FIELDS = ("campaign_id", "script_version__script_id", "script_version_id", "campaign__language", "provider")
SliceKey = tuple[date, int, int | None, int | None, str, str]  # day, campaign, script, version, language, provider


def live_tallies(*, start: datetime, end: datetime, q: Q | None = None) -> dict[SliceKey, Tally]:
    """Count the calls queued in [start, end) straight from the call table, per day and slice.

    The counting happens in the database (``analytics.tally`` defines each figure; ``TALLY_SQL``
    mirrors it); only the objection lists of talked calls that have some are read row by row.
    """
    tz = timezone.get_default_timezone()
    out: dict[SliceKey, Tally] = defaultdict(Tally)
    calls = Call.objects.filter(queued_at__gte=start, queued_at__lt=end).exclude(outcome="")
    if q is not None:
        calls = calls.filter(q)
    calls = calls.order_by().annotate(day=TruncDate("queued_at", tzinfo=tz))
    keys = ("day", *SLICE_FIELDS)

    def key(row: dict[str, Any]) -> SliceKey:
        return (row["day"], row["campaign_id"], row["script_version__script_id"], row["script_version_id"],
                row["campaign__language"], row["provider"])

    for row in calls.values(*keys).annotate(**TALLY_SQL):
        t = out[key(row)]
        for name in COUNT_FIELDS:
            setattr(t, name, getattr(t, name) + row[name])
        t.talk_seconds += row["talk_seconds"] or 0.0
    talked = calls.filter(TALKED)
    for row in talked.filter(duration_s__isnull=False).values(*keys, second=Floor("duration_s")).annotate(
            n=Count("id")):
        out[key(row)].talk_histogram[int(row["second"])] += row["n"]
    for row in talked.values(*keys, stage=KT("analysis__stage_reached")).annotate(n=Count("id")):
        out[key(row)].stages[row["stage"] or ""] += row["n"]
    for row in talked.filter(analysis__objections__0__isnull=False).values(
            *keys, "analysis__objections", "disposition", "crm_status").iterator(chunk_size=5000):
        objections = row["analysis__objections"]
        if isinstance(objections, str):  # some backends hand nested JSON back as text
            objections = json.loads(objections)
        out[key(row)].add_objections(objections, converted=row["disposition"] == "interested"
                                     or row["crm_status"] == "lead")
    turns = Turn.objects.filter(call__queued_at__gte=start, call__queued_at__lt=end, speaker="user", intent="other")
    if q is not None:
        turns = turns.filter(_prefixed(q, "call__"))
    turns = turns.order_by().annotate(day=TruncDate("call__queued_at", tzinfo=tz))
    for row in turns.values("day", *(f"call__{f}" for f in SLICE_FIELDS)).annotate(n=Count("id")):
        k = (row["day"], *(row[f"call__{f}"] for f in SLICE_FIELDS))
        out[k].other_turns += row["n"]
    return out


def _prefixed(q: Q, prefix: str) -> Q:
    """The same condition over a related call: ``Q(campaign_id=1)`` -> ``Q(call__campaign_id=1)``."""
    clone = Q()
    clone.connector, clone.negated = q.connector, q.negated
    clone.children = [_prefixed(c, prefix) if isinstance(c, Q) else (prefix + c[0], c[1]) for c in q.children]
    return clone


@dataclass
class DayTrend:
    day: date
    calls: int
    connect_rate: float | None
    talk_rate: float | None
    interest_rate: float | None
    lead_rate: float | None


@dataclass
class FunnelStep:
    key: str
    label: str
    count: int
    share: float | None  # of all calls, percent
    step_rate: float | None  # of the previous step, percent
    dropped: int  # lost since the previous step


@dataclass
class StageRow:
    stage: str
    label: str
    ended: int
    share: float | None


@dataclass
class ObjectionRow:
    kind: str
    label: str
    raised: int
    share: float | None  # of talked calls
    handled: int
    handled_rate: float | None
    converted: int
    converted_rate: float | None


@dataclass
class CallAnalytics:
    filters: CallFilters
    totals: Tally
    trend: list[DayTrend]
    live_days: int  # days counted from the call table (today, and any day not rolled up yet)
    rolled_days: int

    def kpis(self) -> dict[str, Any]:
        t = self.totals
        return {
            "calls": t.calls, "connect_rate": t.rate("connected"), "talk_rate": t.rate("talked"),
            "interest_rate": t.rate("interested"), "lead_rate": t.rate("leads"),
            "contact_obtained_rate": t.rate("contact_obtained"), "quote_requested_rate": t.rate("quote_requested"),
            "average_talk_s": t.average_talk_s, "median_talk_s": t.median_talk_s,
            "voicemail_share": t.rate("voicemail"), "no_answer_share": t.rate("no_answer"),
            "busy_share": t.rate("busy"), "transfer_rate": t.rate("transferred"),
        }

    def funnel(self) -> list[FunnelStep]:
        t = self.totals
        steps = [("calls", _("Called"), t.calls), ("connected", _("Connected"), t.connected),
                 ("talked", _("Talked"), t.talked), ("interested", _("Interested"), t.interested),
                 ("leads", _("Lead"), t.leads)]
        out, previous = [], None
        for key, label, count in steps:
            out.append(FunnelStep(
                key, str(label), count, _pct(count, t.calls),
                _pct(count, previous) if previous is not None else None,
                max(0, previous - count) if previous is not None else 0,
            ))
            previous = count
        return out

    def stages(self) -> list[StageRow]:
        order = [*CANONICAL_STAGES, *sorted(set(self.totals.stages) - set(CANONICAL_STAGES))]
        return [StageRow(s, str(STAGE_LABELS.get(s, s or _("unknown"))), self.totals.stages[s],
                         _pct(self.totals.stages[s], self.totals.talked))
                for s in order if self.totals.stages.get(s)]

    def objections(self) -> list[ObjectionRow]:
        rows = [ObjectionRow(k, str(OBJECTION_NAMES.get(k, k)), r, _pct(r, self.totals.talked), h, _pct(h, r),
                             c, _pct(c, r))
                for k, (r, h, c) in self.totals.objections.items()]
        return sorted(rows, key=lambda row: (-row.raised, row.kind))


def _pct(part: int, whole: int | None) -> float | None:
    return round(100 * part / whole, 1) if whole else None


STAGE_LABELS = {
    "greeting": _("Greeting"), "qualification": _("Qualification"), "presentation": _("Presentation"),
    "objection_handling": _("Objection handling"), "contact_collection": _("Contact collection"),
    "closing": _("Closing"),
}
OBJECTION_NAMES = {
    "objection_not_interested": _("Not interested"), "objection_has_supplier": _("Already has a supplier"),
    "objection_send_email": _("Send it by email"), "objection_busy": _("Busy now"),
    "objection_too_expensive": _("Too expensive"), "objection_not_decision_maker": _("Not the decision maker"),
    "objection_no_need": _("No need"),
}
ROLLUP_VALUES = ("day", *COUNT_FIELDS, "talk_seconds", "talk_histogram", "stages", "objections", "other_turns")


def call_analytics(*, filters: CallFilters) -> CallAnalytics:
    """The dashboard's figures: rolled-up days from ``DailyCallRollup``, the rest (today) live from the calls."""
    current = today()
    rolled = set(RollupDay.objects.filter(day__gte=filters.date_from, day__lte=min(filters.date_to, current),
                                          day__lt=current).values_list("day", flat=True))
    totals, per_day = Tally(), defaultdict(Tally)
    rollups = DailyCallRollup.objects.filter(filters.rollup_q(), day__in=rolled)
    histogram = HistogramSum()
    for row in rollups.values(*ROLLUP_VALUES):
        totals.add(row, histogram=False)
        histogram.add(row["talk_histogram"])
        per_day[row["day"]].add_counts(row)
    totals.talk_histogram.update(histogram.counter())
    live_days = [d for d in filters.days() if d not in rolled and d <= current]
    for first, last in _runs(live_days):
        start, end = day_bounds(first, last)
        for key, tally in live_tallies(start=start, end=end, q=filters.call_q()).items():
            totals.add(tally)
            per_day[key[0]].add_counts(tally)
    trend = [DayTrend(d, t.calls, t.rate("connected"), t.rate("talked"), t.rate("interested"), t.rate("leads"))
             for d in filters.days() if d <= current for t in (per_day.get(d) or Tally(),)]
    return CallAnalytics(filters, totals, trend, len(live_days), len(rolled))


def call_analytics_cached(*, filters: CallFilters) -> CallAnalytics:
    """``call_analytics`` behind a short cache keyed by the filters (``ANALYTICS_CACHE_SECONDS``)."""
    seconds = getattr(settings, "ANALYTICS_CACHE_SECONDS", 20)
    if not seconds:
        return call_analytics(filters=filters)
    return cache.get_or_set(filters.cache_key("dashboard"), lambda: call_analytics(filters=filters), seconds)


def _runs(days: list[date]) -> Iterator[tuple[date, date]]:
    """Consecutive days as (first, last) pairs, so the live query is one range per run."""
    start = previous = None
    for d in sorted(days):
        if previous is not None and d == previous + timedelta(days=1):
            previous = d
            continue
        if start is not None:
            yield start, previous
        start = previous = d
    if start is not None:
        yield start, previous


@dataclass
class OtherIntent:
    text: str
    count: int
    call_id: int


def other_intents(*, filters: CallFilters, limit: int = 15) -> list[OtherIntent]:
    """What callees said that the classifier could not place (``other``), most frequent first, with a call each."""
    start, end = day_bounds(filters.date_from, filters.date_to)
    turns = (Turn.objects.filter(speaker="user", intent="other", call__queued_at__gte=start, call__queued_at__lt=end)
             .filter(_prefixed(filters.call_q(), "call__")))
    rows = (turns.order_by().values("text").annotate(n=Count("id"), call=Max("call_id"))
            .order_by("-n", "text")[:limit])
    return [OtherIntent(r["text"], r["n"], r["call"]) for r in rows]
