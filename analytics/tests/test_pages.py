"""The dashboard, its partials and the API render the figures, in Russian and in English, for managers only."""

import json
import re
from datetime import date, datetime

import pytest
from django.conf import settings

from analytics.tests.conftest import MSK, make_calls
from training.models import Scenario, Score, Trainee, TrainingSession

pytestmark = pytest.mark.django_db
QUERY = "date_from=2026-03-04&date_to=2026-03-10"


@pytest.fixture
def data(frozen, campaign):
    return make_calls(campaign, datetime(2026, 3, 10, 9, 0, tzinfo=MSK))


def charts(html: str) -> dict:
    return json.loads(re.search(r'<script id="analytics-charts" type="application/json">(.*?)</script>', html,
                                re.S).group(1))


def test_dashboard_in_russian_with_dot_decimals_in_the_chart_data(client, manager, data):
    client.force_login(manager)
    html = client.get(f"/analytics/?{QUERY}").content.decode()
    assert "Аналитика звонков" in html and "Конверсия в лид" in html and "Где заканчиваются разговоры" in html
    assert 'data-kpi="connect_rate"><div class="value">55,6%' in html  # Russian text shows a decimal comma
    raw = re.search(r'<script id="analytics-charts" type="application/json">(.*?)</script>', html, re.S).group(1)
    assert "55.6" in raw and "55,6" not in raw  # the chart's data keeps dots
    assert charts(html)["trend"]["connect"][-1] == 55.6
    assert charts(html)["funnel"]["counts"] == [9, 5, 4, 2, 1]
    assert "vendor/chartjs/chart.umd.min.js" in html
    assert 'name="date_from" value="2026-03-04"' in html  # ISO in the date input, even in Russian
    stage_bar = re.search(r'data-stage="closing">.*?width:([^%]+)%', html, re.S).group(1)
    assert stage_bar == "25.0"
    assert "/analytics/export/calls.csv?" + QUERY.replace("&", "&amp;") in html


def test_dashboard_in_english(client, manager, data):
    client.force_login(manager)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = client.get(f"/analytics/?{QUERY}").content.decode()
    assert "Call analytics" in html and "Lead rate" in html and "Where conversations end" in html
    assert 'data-kpi="connect_rate"><div class="value">55.6%' in html
    assert 'data-objection="objection_has_supplier"><td>Already has a supplier</td><td>2</td>' in html


def test_filters_arrive_by_htmx_as_the_partial(client, manager, data):
    client.force_login(manager)
    html = client.get(f"/analytics/?{QUERY}&provider=twilio", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in html and 'id="kpis"' in html
    assert 'data-kpi="calls"><div class="value">0<' in html  # all the calls were simulated
    bad = client.get("/analytics/?date_from=2026-03-10&date_to=2026-03-01").content.decode()
    assert "Дата начала позже даты конца." in bad  # shown, and the default range is used meanwhile


def test_other_intents_partial(client, manager, data):
    client.force_login(manager)
    html = client.get(f"/analytics/other-intents/?{QUERY}").content.decode()
    assert "а вы вообще кто такие" in html and "сколько стоит слон" in html
    assert f"/calls/{data[2].pk}/" in html or f"/calls/{data[3].pk}/" in html


def test_api_returns_the_dashboard_figures(client, manager, data):
    client.force_login(manager)
    body = client.get(f"/api/analytics/?{QUERY}").json()
    assert body["kpis"]["calls"] == 9 and body["kpis"]["median_talk_s"] == 67.5
    assert body["filters"]["date_from"] == "2026-03-04"
    assert [s["count"] for s in body["funnel"]] == [9, 5, 4, 2, 1]
    assert body["objections"][0]["kind"] == "objection_has_supplier" and body["other_turns"] == 3
    assert len(body["trend"]) == 7
    assert client.get("/api/analytics/?date_from=nope").status_code == 400
    schema = client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/analytics/"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"date_from", "campaign", "script_version", "provider"}


def test_managers_only(client, operator, trainee, data):
    for user in (operator, trainee):
        client.force_login(user)
        for url in ("/analytics/", "/analytics/experiments/", "/api/analytics/", "/analytics/export/calls.csv"):
            assert client.get(url).status_code == 403, (user, url)
    client.logout()
    assert client.get("/analytics/").status_code == 302


def test_trainer_chart_writes_dot_decimals_in_russian(client, manager, trainee):
    me = Trainee.objects.get(user=trainee)
    scenario = Scenario.objects.create(title="S", product_description="p", persona="p")
    for total in (41, 77, 63):
        s = TrainingSession.objects.create(trainee=me, scenario=scenario, status="scored")
        Score.objects.create(session=s, total=total, rubric={}, metrics={})
    client.force_login(manager)
    html = client.get(f"/analytics/training/trainees/{me.pk}/").content.decode()
    svg = re.search(r"<svg.*?</svg>", html, re.S).group(0)
    coordinates = re.findall(r'(?:x1|x2|y1|y2|cx|cy|y)="([^"]+)"', svg)
    assert coordinates and all(re.fullmatch(r"\d+(\.\d+)?", c) for c in coordinates), coordinates
    assert date.today()  # the page rendered under the default (Russian) locale
