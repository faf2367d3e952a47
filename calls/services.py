"""Writes for campaigns and contacts. Call lifecycle changes live here too (see ``call_transition``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import tablib

from calls.models import ContactList
from calls.resources import ContactResource


@dataclass
class RowProblem:
    row: int
    field: str
    message: str


@dataclass
class ImportReport:
    created: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    fatal: str = ""

    @property
    def rejected_rows(self) -> int:
        return len({p.row for p in self.problems})


IMPORT_FORMATS = {"csv", "xlsx"}


def _load_dataset(content: bytes, file_format: str) -> tablib.Dataset:
    if file_format == "csv":
        text = content.decode("utf-8-sig")
        return tablib.Dataset().load(text, format="csv")
    return tablib.Dataset().load(content, format="xlsx")


def contacts_import(*, contact_list: ContactList, content: bytes, file_format: str) -> ImportReport:
    """Import contacts; good rows go in, each bad row is reported with its row number and reason.

    Row numbers count the header as row 1, as a spreadsheet shows them.
    """
    report = ImportReport()
    if file_format not in IMPORT_FORMATS:
        report.fatal = f"unsupported format {file_format!r}; use CSV or XLSX"
        return report
    try:
        dataset = _load_dataset(content, file_format)
    except Exception as exc:  # a corrupt file is the user's problem to see, not a 500
        report.fatal = f"could not read the file: {exc}"
        return report
    headers = {str(h).strip().lower() for h in (dataset.headers or [])}
    if not headers & {"phone", "телефон", "номер"}:
        report.fatal = "the file has no “phone” column"
        return report
    resource = ContactResource(contact_list=contact_list)
    # No enclosing transaction: each good row commits on its own, so one bad row (even one that
    # trips a database constraint) cannot take the others down with it.
    result = resource.import_data(dataset, dry_run=False, raise_errors=False, use_transactions=False)
    for invalid in result.invalid_rows:
        for field_name, messages in invalid.error_dict.items():
            for message in messages:
                report.problems.append(RowProblem(row=invalid.number + 1, field=str(field_name), message=str(message)))
    for number, row in enumerate(result.rows, start=1):
        for error in row.errors:
            report.problems.append(RowProblem(row=number + 1, field="", message=f"{type(error.error).__name__}"))
    report.created = result.totals.get("new", 0)
    report.problems.sort(key=lambda p: p.row)
    return report
