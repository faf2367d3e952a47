"""The dashboard's filters: parsed from the query string, validated, and turned into querysets and cache keys."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from django import forms
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from calls.models import Campaign
from dialogs.models import Language, Script, ScriptVersion

DEFAULT_DAYS = 30
MAX_DAYS = 400


@dataclass(frozen=True)
class CallFilters:
    date_from: date
    date_to: date  # inclusive
    campaign: int | None = None
    script: int | None = None
    script_version: int | None = None
    language: str = ""
    provider: str = ""

    def cache_key(self, prefix: str) -> str:
        raw = "|".join(f"{k}={v}" for k, v in sorted(asdict(self).items()))
        return f"analytics:{prefix}:{hashlib.sha256(raw.encode()).hexdigest()}"

    def querystring(self) -> str:
        """The filters as URL parameters, for links to exports and the API."""
        params = {"date_from": self.date_from.isoformat(), "date_to": self.date_to.isoformat()}
        for key in ("campaign", "script", "script_version", "language", "provider"):
            value = getattr(self, key)
            if value not in (None, ""):
                params[key] = value
        return urlencode(params)

    def days(self) -> list[date]:
        return [self.date_from + timedelta(days=i) for i in range((self.date_to - self.date_from).days + 1)]

    def call_q(self, prefix: str = "") -> Q:
        """Everything but the dates, as a Q over Call (or over a model pointing to a call via ``prefix``)."""
        q = Q()
        if self.campaign:
            q &= Q(**{f"{prefix}campaign_id": self.campaign})
        if self.script:
            q &= Q(**{f"{prefix}script_version__script_id": self.script})
        if self.script_version:
            q &= Q(**{f"{prefix}script_version_id": self.script_version})
        if self.language:
            q &= Q(**{f"{prefix}campaign__language": self.language})
        if self.provider:
            q &= Q(**{f"{prefix}provider": self.provider})
        return q

    def rollup_q(self) -> Q:
        q = Q(day__gte=self.date_from, day__lte=self.date_to)
        for key, field in (("campaign", "campaign_id"), ("script", "script_id"),
                           ("script_version", "script_version_id"), ("language", "language"),
                           ("provider", "provider")):
            value = getattr(self, key)
            if value not in (None, ""):
                q &= Q(**{field: value})
        return q


def day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """[start of ``first``, start of the day after ``last``) in the project's time zone."""
    tz = timezone.get_default_timezone()
    return (datetime.combine(first, time(0), tz), datetime.combine(last + timedelta(days=1), time(0), tz))


def today() -> date:
    return timezone.localdate()


class FilterForm(forms.Form):
    # a date input wants ISO dates whatever the page's language
    date_from = forms.DateField(label=_("From"), required=False,
                                widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    date_to = forms.DateField(label=_("To"), required=False,
                              widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    campaign = forms.ModelChoiceField(label=_("Campaign"), queryset=Campaign.objects.all(), required=False,
                                      empty_label=_("All campaigns"))
    script = forms.ModelChoiceField(label=_("Script"), queryset=Script.objects.all(), required=False,
                                    empty_label=_("All scripts"))
    script_version = forms.ModelChoiceField(
        label=_("Script version"), queryset=ScriptVersion.objects.select_related("script"), required=False,
        empty_label=_("All versions"),
    )
    language = forms.ChoiceField(label=_("Language"), required=False,
                                 choices=[("", _("All languages")), *Language.choices])
    provider = forms.ChoiceField(label=_("Telephony provider"), required=False,
                                 choices=[("", _("All providers")), *Campaign.Provider.choices])

    def clean(self):
        data = super().clean()
        first, last = data.get("date_from"), data.get("date_to")
        if first and last and first > last:
            raise forms.ValidationError(_("The start date is after the end date."))
        if first and last and (last - first).days > MAX_DAYS:
            raise forms.ValidationError(_("Choose at most %(days)s days.") % {"days": MAX_DAYS})
        return data

    def filters(self) -> CallFilters:
        """The validated filters; call after ``is_valid()`` returned True."""
        data = self.cleaned_data
        last = data.get("date_to") or today()
        first = data.get("date_from") or last - timedelta(days=DEFAULT_DAYS - 1)
        return CallFilters(
            date_from=first, date_to=last,
            campaign=data["campaign"].pk if data.get("campaign") else None,
            script=data["script"].pk if data.get("script") else None,
            script_version=data["script_version"].pk if data.get("script_version") else None,
            language=data.get("language") or "", provider=data.get("provider") or "",
        )


def default_filters() -> CallFilters:
    last = today()
    return CallFilters(date_from=last - timedelta(days=DEFAULT_DAYS - 1), date_to=last)
