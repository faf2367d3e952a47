"""Validators for what people type or import: phone numbers (E.164) and IANA time zones."""

from __future__ import annotations

import zoneinfo

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

DEFAULT_REGION = "RU"


def normalize_phone(raw: str, *, region: str = DEFAULT_REGION) -> str:
    """Return the number in E.164 or raise ``ValidationError`` saying why not."""
    text = (raw or "").strip()
    if not text:
        raise ValidationError(_("Phone number is required."), code="required")
    if text.startswith("8") and len(phonenumbers.normalize_digits_only(text)) == 11 and region == "RU":
        text = "+7" + phonenumbers.normalize_digits_only(text)[1:]  # Russian trunk prefix 8 means +7
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(_("“%(value)s” is not a phone number."), code="invalid", params={"value": raw}) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(_("“%(value)s” is not a valid phone number."), code="invalid", params={"value": raw})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def validate_e164(value: str) -> None:
    if normalize_phone(value) != value:
        raise ValidationError(_("Store phone numbers in E.164 form, e.g. +74951234567."), code="not_e164")


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("“%(value)s” is not a known time zone."), code="invalid_tz", params={"value": value})
