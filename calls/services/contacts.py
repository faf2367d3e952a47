"""Contacts and who may be called: contact lists, contacts, the do-not-call list, and CSV/XLSX import."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import tablib
from django.db import transaction
from django.db.models import Model
from django.utils.translation import gettext as _

from calls.models import Contact, ContactList, DoNotCall
from calls.resources import ContactResource

log = logging.getLogger(__name__)


def _save(instance: Model, fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        setattr(instance, name, value)
    instance.save()


@transaction.atomic
def contact_list_save(*, fields: dict[str, Any], contact_list: ContactList | None = None) -> ContactList:
    """Create (no ``contact_list``) or update a contact list from validated ``fields``."""
    contact_list = contact_list or ContactList()
    _save(contact_list, fields)
    return contact_list


@transaction.atomic
def contact_list_delete(*, contact_list: ContactList) -> None:
    contact_list.delete()


@transaction.atomic
def contact_save(*, fields: dict[str, Any], contact: Contact | None = None) -> Contact:
    """Create (no ``contact``) or update a contact from validated ``fields`` (the phone already in E.164)."""
    contact = contact or Contact()
    _save(contact, fields)
    return contact


@transaction.atomic
def contact_delete(*, contact: Contact) -> None:
    contact.delete()


@transaction.atomic
def do_not_call_save(*, fields: dict[str, Any], entry: DoNotCall | None = None, added_by: Any = None) -> DoNotCall:
    """Put a number on the do-not-call list (no ``entry``; ``added_by`` is who did) or change its entry."""
    if entry is None:
        entry = DoNotCall(added_by=added_by)
    _save(entry, fields)
    return entry


@transaction.atomic
def do_not_call_delete(*, entry: DoNotCall) -> None:
    entry.delete()


# --- import from a spreadsheet -----------------------------------------------------------------------------

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
    except UnicodeDecodeError:
        report.fatal = str(_("The file is not UTF-8 text: save it as “CSV UTF-8” or upload an XLSX file."))
        return report
    except Exception:  # a corrupt or binary file is the user's to see, in words, not a 500 or a traceback
        log.info("contact import: unreadable %s file", file_format, exc_info=True)
        report.fatal = str(_("The file could not be read as %(format)s. Check that it is a CSV or XLSX file.")
                           % {"format": file_format.upper()})
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
