"""Exports of calls, leads and training sessions as streamed CSV or XLSX, under the dashboard's filters.

CSV is written row by row into a ``StreamingHttpResponse``; XLSX is written by openpyxl's
write-only workbook into a temporary file on disk and streamed from there, so neither holds the
rows in memory. Rows come from the database in chunks (a server-side cursor on PostgreSQL).
"""

from __future__ import annotations

import csv
import json
import tempfile
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models.fields.json import KT
from django.http import FileResponse, Http404, HttpRequest, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from openpyxl import Workbook

from analytics.filters import CallFilters, day_bounds
from analytics.selectors import _prefixed, training_export_rows
from calls.models import Call
from crm.models import Lead

CHUNK = 2000
CALL_FIELDS = (
    "id", "queued_at", "campaign__name", "contact__name", "contact__phone", "contact__company",
    "script_version__script__name", "script_version__version", "campaign__language", "provider", "attempt",
    "status", "outcome", "answered_at", "ended_at", "duration_s", "disposition", "interest", "crm_status",
    "contact_obtained", "quote_requested", "stage_reached", "analysis__objections", "summary", "follow_up",
    "recording",
)
TRUE = (True, 1, "1", "true")
CALL_HEADER = (
    "call", "queued_at", "campaign", "contact", "phone", "company", "script", "script_version", "language",
    "provider", "attempt", "status", "outcome", "answered_at", "ended_at", "duration_s", "disposition",
    "interest", "crm_status", "contact_obtained", "quote_requested", "stage_reached", "objections", "summary",
    "follow_up", "transcript_url", "recording_url",
)
LEAD_FIELDS = ("id", "created_at", "title", "name", "company", "phone", "email", "status", "interest", "call_id",
               "call__campaign__name", "notes")
LEAD_HEADER = ("lead", "created_at", "title", "name", "company", "phone", "email", "status", "interest", "call",
               "campaign", "notes", "transcript_url")


def _when(value: datetime | None, tz=None) -> datetime | None:
    """Local, naive (spreadsheets have no time zones), to the second."""
    if not value:
        return None
    return value.astimezone(tz or timezone.get_default_timezone()).replace(tzinfo=None, microsecond=0)


def _objections(value: Any) -> str:
    if isinstance(value, str):
        value = json.loads(value)
    return "; ".join(f"{o.get('type', '')}{'' if o.get('handled') else ' (unhandled)'}"
                     for o in value or () if isinstance(o, dict))


def filtered_calls(filters: CallFilters):
    start, end = day_bounds(filters.date_from, filters.date_to)
    return Call.objects.filter(queued_at__gte=start, queued_at__lt=end).filter(filters.call_q())


def call_rows(*, filters: CallFilters, base_url: str) -> Iterator[list[Any]]:
    """The header, then one row per call under the filters (oldest first)."""
    detail = reverse("calls:call_detail", args=[0]).removesuffix("0/")
    media = base_url.rstrip("/") + settings.MEDIA_URL
    yield list(CALL_HEADER)
    tz = timezone.get_default_timezone()
    calls = filtered_calls(filters).annotate(
        contact_obtained=KT("analysis__contact_obtained"), quote_requested=KT("analysis__quote_requested"),
        stage_reached=KT("analysis__stage_reached"),
    ).order_by("queued_at", "id").values_list(*CALL_FIELDS)
    for row in calls.iterator(chunk_size=CHUNK):
        (pk, queued, campaign, name, phone, company, script, version, language, provider, attempt, status, outcome,
         answered, ended, duration, disposition, interest, crm, contact, quote, stage, objections, summary,
         follow_up, recording) = row
        yield [pk, _when(queued, tz), campaign, name, phone, company, script or "", version or "", language,
               provider, attempt, status, outcome, _when(answered, tz), _when(ended, tz), duration, disposition,
               interest, crm, contact in TRUE, quote in TRUE, stage or "", _objections(objections), summary, follow_up,
               f"{base_url.rstrip('/')}{detail}{pk}/", f"{media}{recording}" if recording else ""]


def lead_rows(*, filters: CallFilters, base_url: str) -> Iterator[list[Any]]:
    """Leads created in the date range; the other filters apply to the call that made the lead."""
    detail = reverse("calls:call_detail", args=[0]).removesuffix("0/")
    start, end = day_bounds(filters.date_from, filters.date_to)
    leads = Lead.objects.filter(created_at__gte=start, created_at__lt=end)
    q = filters.call_q()
    if q:
        leads = leads.filter(_prefixed(q, "call__"))
    yield list(LEAD_HEADER)
    tz = timezone.get_default_timezone()
    for row in leads.order_by("created_at", "id").values_list(*LEAD_FIELDS).iterator(chunk_size=CHUNK):
        pk, created, *rest, call_id, campaign, notes = row
        yield [pk, _when(created, tz), *rest, call_id or "", campaign or "", notes,
               f"{base_url.rstrip('/')}{detail}{call_id}/" if call_id else ""]


def session_rows(*, filters: CallFilters, base_url: str) -> Iterator[list[Any]]:
    """Training sessions started in the date range (and in the chosen language); call filters do not apply."""
    start, end = day_bounds(filters.date_from, filters.date_to)
    return training_export_rows(start=start, end=end, language=filters.language)


KINDS = {"calls": call_rows, "leads": lead_rows, "training": session_rows}


class _Echo:
    """A file-like that hands each CSV line straight back, for streaming."""

    def write(self, value: str) -> str:
        return value


def _csv_cell(value: Any) -> Any:
    return value.isoformat(sep=" ") if isinstance(value, datetime) else value


def csv_response(rows: Iterable[list[Any]], *, filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield "\ufeff"  # the BOM lets Excel open Cyrillic text correctly
        for row in rows:
            yield writer.writerow([_csv_cell(v) for v in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def xlsx_file(rows: Iterable[list[Any]], *, title: str):
    """Write the rows into a write-only workbook in a temporary file; returns the file, rewound."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    for row in rows:
        sheet.append(row)
    out = tempfile.TemporaryFile(suffix=".xlsx")
    workbook.save(out)
    out.seek(0)
    return out


def xlsx_response(rows: Iterable[list[Any]], *, filename: str, title: str) -> FileResponse:
    return FileResponse(
        xlsx_file(rows, title=title), as_attachment=True, filename=filename,
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


def export_response(*, kind: str, fmt: str, filters: CallFilters, request: HttpRequest):
    if kind not in KINDS or fmt not in ("csv", "xlsx"):
        raise Http404("unknown export")
    rows = KINDS[kind](filters=filters, base_url=request.build_absolute_uri("/"))
    name = f"{kind}-{filters.date_from:%Y%m%d}-{filters.date_to:%Y%m%d}.{fmt}"
    if fmt == "csv":
        return csv_response(rows, filename=name)
    return xlsx_response(rows, filename=name, title=kind)
