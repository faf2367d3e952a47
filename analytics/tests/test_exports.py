"""Exports hold exactly the rows under the dashboard's filters, as CSV and as XLSX, for managers only."""

import csv
import io
from datetime import datetime

import pytest
from django.http import StreamingHttpResponse
from openpyxl import load_workbook

from analytics.tests.conftest import MSK, make_calls
from crm.models import Lead
from training.models import Scenario, Trainee, TrainingSession

pytestmark = pytest.mark.django_db


@pytest.fixture
def calls(frozen, campaign):
    older = make_calls(campaign, datetime(2026, 3, 1, 10, 0, tzinfo=MSK))  # outside the range below
    simulated = make_calls(campaign, datetime(2026, 3, 9, 10, 0, tzinfo=MSK))
    twilio = make_calls(campaign, datetime(2026, 3, 10, 10, 0, tzinfo=MSK), provider="twilio")
    for call in (older[0], simulated[0], twilio[0], twilio[1]):
        Lead.objects.create(call=call, contact=call.contact, title=f"Лид {call.pk}", name=call.contact.name)
    Lead.objects.filter(call=older[0]).update(created_at=datetime(2026, 3, 1, 11, 0, tzinfo=MSK))
    return {"older": older, "simulated": simulated, "twilio": twilio}


def read_csv(response) -> list[dict]:
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def read_xlsx(response) -> list[dict]:
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    rows = list(book.active.iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


@pytest.mark.parametrize("reader,fmt", [(read_csv, "csv"), (read_xlsx, "xlsx")])
def test_calls_export_holds_exactly_the_filtered_calls(client, manager, calls, reader, fmt):
    client.force_login(manager)
    rows = reader(client.get(f"/analytics/export/calls.{fmt}?date_from=2026-03-05&date_to=2026-03-10"))
    expected = [c.pk for c in calls["simulated"] + calls["twilio"]]
    assert [int(r["call"]) for r in rows] == expected
    rows = reader(client.get(f"/analytics/export/calls.{fmt}?date_from=2026-03-05&date_to=2026-03-10&provider=twilio"))
    assert [int(r["call"]) for r in rows] == [c.pk for c in calls["twilio"]]
    first = rows[0]
    assert first["disposition"] == "interested" and first["crm_status"] == "lead"
    assert str(first["contact_obtained"]) in {"True", "1"} and first["stage_reached"] == "contact_collection"
    assert first["objections"] == "objection_has_supplier"
    assert rows[2]["objections"] == "objection_too_expensive (unhandled); objection_has_supplier (unhandled)"
    assert first["transcript_url"] == f"http://testserver/calls/{calls['twilio'][0].pk}/"
    assert first["recording_url"] in ("", None)


@pytest.mark.parametrize("reader,fmt", [(read_csv, "csv"), (read_xlsx, "xlsx")])
def test_leads_export_follows_the_filters(client, manager, calls, reader, fmt):
    client.force_login(manager)
    rows = reader(client.get(f"/analytics/export/leads.{fmt}?date_from=2026-03-05&date_to=2026-03-10"))
    assert sorted(int(r["call"]) for r in rows) == sorted(
        [calls["simulated"][0].pk, calls["twilio"][0].pk, calls["twilio"][1].pk])
    rows = reader(client.get(f"/analytics/export/leads.{fmt}?date_from=2026-03-05&date_to=2026-03-10&provider=twilio"))
    assert sorted(int(r["call"]) for r in rows) == sorted([calls["twilio"][0].pk, calls["twilio"][1].pk])


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_training_export_follows_the_dates(client, manager, trainee, frozen, fmt):
    me = Trainee.objects.get(user=trainee)
    scenario = Scenario.objects.create(title="S", product_description="p", persona="p")
    inside = TrainingSession.objects.create(trainee=me, scenario=scenario)
    outside = TrainingSession.objects.create(trainee=me, scenario=scenario)
    TrainingSession.objects.filter(pk=outside.pk).update(created_at=datetime(2026, 2, 1, tzinfo=MSK))
    client.force_login(manager)
    reader = read_csv if fmt == "csv" else read_xlsx
    rows = reader(client.get(f"/analytics/export/training.{fmt}?date_from=2026-03-05&date_to=2026-03-10"))
    assert [int(r["session"]) for r in rows] == [inside.pk]


def test_bad_export_requests(client, manager, operator, calls):
    client.force_login(manager)
    assert client.get("/analytics/export/contacts.csv").status_code == 404
    assert client.get("/analytics/export/calls.pdf").status_code == 404
    bad = client.get("/analytics/export/calls.csv?date_from=2026-03-10&date_to=2026-03-01")
    assert bad.status_code == 400 and "Дата начала позже даты конца." in bad.content.decode()
    client.force_login(operator)
    assert client.get("/analytics/export/leads.xlsx").status_code == 403
