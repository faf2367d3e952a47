"""Every KPI on a hand-written set of ten calls (see conftest.CALLS), live and from the daily rollup."""

from datetime import date, datetime, timedelta

import pytest
from django.core.cache import cache
from django.test import override_settings

from analytics.filters import CallFilters
from analytics.models import DailyCallRollup, RollupDay
from analytics.selectors import call_analytics, call_analytics_cached, other_intents
from analytics.services import rollup_day, rollups_refresh
from analytics.tests.conftest import MSK, make_calls
from calls.models import Call

pytestmark = pytest.mark.django_db

TODAY = date(2026, 3, 10)
# Worked out by hand from conftest.CALLS: 9 finished calls (the queued one does not count),
# 5 completed, 4 of them with a person (one completed call was a machine), 2 interested, 1 lead,
# 2 contacts, 1 quote; voicemail = the voicemail outcome + the completed machine = 2.
EXPECTED = {
    "calls": 9, "connect_rate": 55.6, "talk_rate": 44.4, "interest_rate": 22.2, "lead_rate": 11.1,
    "contact_obtained_rate": 22.2, "quote_requested_rate": 11.1,
    "average_talk_s": 71.5,  # (121 + 90 + 30 + 45) / 4
    "median_talk_s": 67.5,  # (45 + 90) / 2
    "voicemail_share": 22.2, "no_answer_share": 11.1, "busy_share": 11.1,
    "transfer_rate": 11.1,  # one call put through to a person
}


def check(data):
    assert data.kpis() == EXPECTED
    funnel = [(s.key, s.count, s.step_rate, s.dropped) for s in data.funnel()]
    assert funnel == [("calls", 9, None, 0), ("connected", 5, 55.6, 4), ("talked", 4, 80.0, 1),
                      ("interested", 2, 50.0, 2), ("leads", 1, 50.0, 1)]
    assert [(s.stage, s.ended, s.share) for s in data.stages()] == [
        ("qualification", 1, 25.0), ("presentation", 1, 25.0), ("contact_collection", 1, 25.0), ("closing", 1, 25.0)]
    objections = [(o.kind, o.raised, o.share, o.handled, o.converted, o.converted_rate) for o in data.objections()]
    assert objections == [
        ("objection_has_supplier", 2, 50.0, 1, 1, 50.0),  # raised in calls 1 and 3; handled and sold in call 1
        ("objection_busy", 1, 25.0, 1, 0, 0.0),
        ("objection_too_expensive", 1, 25.0, 0, 0, 0.0),
    ]
    assert data.totals.other_turns == 3


def test_every_kpi_live_for_today(frozen, campaign):
    make_calls(campaign, datetime(2026, 3, 10, 9, 0, tzinfo=MSK))
    data = call_analytics(filters=CallFilters(date_from=TODAY - timedelta(days=6), date_to=TODAY))
    check(data)
    assert data.live_days == 7 and data.rolled_days == 0
    assert [(d.day, d.calls) for d in data.trend][-2:] == [(TODAY - timedelta(days=1), 0), (TODAY, 9)]
    assert data.trend[-1].lead_rate == 11.1


def test_the_rollup_gives_the_same_figures(frozen, campaign):
    yesterday = TODAY - timedelta(days=1)
    make_calls(campaign, datetime(2026, 3, 9, 23, 30, tzinfo=MSK))  # late evening Moscow = still the 9th
    assert rollups_refresh() == [yesterday]
    assert RollupDay.objects.get().calls == 9 and DailyCallRollup.objects.count() == 1
    data = call_analytics(filters=CallFilters(date_from=yesterday, date_to=TODAY))
    assert data.rolled_days == 1 and data.live_days == 1
    check(data)
    assert rollups_refresh() == []  # nothing changed: nothing redone


def test_a_late_analysis_reopens_its_day(frozen, campaign, time_machine):
    calls = make_calls(campaign, datetime(2026, 3, 9, 10, 0, tzinfo=MSK))
    rollups_refresh()
    time_machine.shift(timedelta(minutes=5))
    queued = calls[-1]
    Call.objects.filter(pk=queued.pk).update(outcome="busy", status="done", ended_at=datetime.now(MSK))
    assert rollups_refresh() == [TODAY - timedelta(days=1)]
    data = call_analytics(filters=CallFilters(date_from=TODAY - timedelta(days=1), date_to=TODAY))
    assert data.totals.calls == 10 and data.totals.busy == 2


def test_today_is_never_rolled_up(frozen):
    with pytest.raises(ValueError):
        rollup_day(day=TODAY)


def test_filters_narrow_every_figure(frozen, campaign):
    make_calls(campaign, datetime(2026, 3, 9, 10, 0, tzinfo=MSK))
    make_calls(campaign, datetime(2026, 3, 10, 10, 0, tzinfo=MSK), provider="twilio")
    rollups_refresh()
    both = CallFilters(date_from=TODAY - timedelta(days=1), date_to=TODAY)
    assert call_analytics(filters=both).totals.calls == 18
    for f in (CallFilters(date_from=both.date_from, date_to=both.date_to, provider="twilio"),
              CallFilters(date_from=TODAY, date_to=TODAY),
              CallFilters(date_from=both.date_from, date_to=both.date_from, provider="simulated",
                          campaign=campaign.pk, script=campaign.script_id, language="ru")):
        check(call_analytics(filters=f))
    none = CallFilters(date_from=both.date_from, date_to=both.date_to, language="en")
    assert call_analytics(filters=none).totals.calls == 0
    assert call_analytics(filters=none).kpis()["connect_rate"] is None


def test_other_intents_are_listed_with_examples(frozen, campaign):
    calls = make_calls(campaign, datetime(2026, 3, 10, 9, 0, tzinfo=MSK))
    rows = other_intents(filters=CallFilters(date_from=TODAY, date_to=TODAY))
    assert [(r.text, r.count) for r in rows] == [("а вы вообще кто такие", 2), ("сколько стоит слон", 1)]
    assert rows[0].call_id in {calls[2].pk, calls[3].pk}


@override_settings(ANALYTICS_CACHE_SECONDS=20)
def test_figures_are_cached_per_filter_combination(frozen, campaign):
    cache.clear()
    f = CallFilters(date_from=TODAY, date_to=TODAY)
    assert call_analytics_cached(filters=f).totals.calls == 0
    make_calls(campaign, datetime(2026, 3, 10, 9, 0, tzinfo=MSK))
    assert call_analytics_cached(filters=f).totals.calls == 0  # within the cache's life
    assert call_analytics_cached(filters=CallFilters(date_from=TODAY, date_to=TODAY, language="ru")).totals.calls == 9
    cache.delete(f.cache_key("dashboard"))
    assert call_analytics_cached(filters=f).totals.calls == 9
