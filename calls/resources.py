"""django-import-export resource for contacts: normalises phones, validates rows, collects extra columns."""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from import_export import fields, resources, widgets

from calls.models import Contact, ContactList, DoNotCall
from calls.validators import normalize_phone

KNOWN_COLUMNS = {"phone", "name", "company", "timezone", "variables", "do_not_call"}
# Spreadsheet headers people actually use, mapped to our columns.
HEADER_ALIASES = {
    "телефон": "phone", "номер": "phone", "имя": "name", "фио": "name", "компания": "company",
    "организация": "company", "часовой пояс": "timezone", "tz": "timezone", "не звонить": "do_not_call",
}


# «Не звонить» as people write it; anything else refuses the row (a misread «да» would call someone who opted out)
DNC_TRUE = {"1", "true", "yes", "y", "да", "д", "+", "x", "х", "✓", "v"}
DNC_FALSE = {"", "0", "false", "no", "n", "нет", "н", "-"}


class DoNotCallWidget(widgets.BooleanWidget):
    def clean(self, value, row=None, **kwargs):
        if isinstance(value, bool):
            return value
        text = "" if value is None else str(value).strip().lower()
        if text in DNC_TRUE:
            return True
        if text in DNC_FALSE:
            return False
        raise ValueError(_("unknown value «%(value)s»: write да/нет (yes/no, 1/0)") % {"value": value})


class ContactResource(resources.ModelResource):
    variables = fields.Field(attribute="variables", column_name="variables", widget=widgets.JSONWidget())
    do_not_call = fields.Field(attribute="do_not_call", column_name="do_not_call", widget=DoNotCallWidget())

    def __init__(self, contact_list: ContactList | None = None, **kwargs):
        super().__init__(**kwargs)
        self.contact_list = contact_list
        self._dnc: set[str] | None = None
        self._seen: set[str] = set()

    class Meta:
        model = Contact
        fields = ("phone", "name", "company", "timezone", "variables", "do_not_call")
        import_id_fields = ()  # every row is a new contact; a repeated phone is an error, not an update
        clean_model_instances = True
        skip_diff = True

    def before_import(self, dataset, **kwargs):
        if dataset.headers:
            names = [str(h).strip().lower() for h in dataset.headers]
            dataset.headers = [HEADER_ALIASES.get(name, name) for name in names]
        self._dnc = set(DoNotCall.objects.values_list("phone", flat=True))
        self._seen = set(Contact.objects.filter(contact_list=self.contact_list).values_list("phone", flat=True))

    def before_import_row(self, row, **kwargs):
        raw_phone = row.get("phone") or ""
        try:
            row["phone"] = normalize_phone(str(raw_phone))
        except ValidationError:
            row["phone"] = str(raw_phone).strip()  # full_clean reports it on this row
        if row["phone"] in self._seen:  # reported against the phone, not as a nameless "__all__" error
            raise ValidationError({"phone": [_("This phone number is already in the list.")]})
        self._seen.add(row["phone"])
        if not row.get("timezone"):
            row["timezone"] = "Europe/Moscow"
        extra = {k: v for k, v in row.items() if k not in KNOWN_COLUMNS and k and v not in (None, "")}
        base = row.get("variables") or {}
        if isinstance(base, str):
            try:
                base = json.loads(base)
            except json.JSONDecodeError:
                raise ValidationError({"variables": ["Not valid JSON."]}) from None
        if extra:
            row["variables"] = json.dumps({**base, **{k: str(v) for k, v in extra.items()}}, ensure_ascii=False)
        elif isinstance(base, dict):
            row["variables"] = json.dumps(base, ensure_ascii=False)

    def init_instance(self, row=None):
        instance = super().init_instance(row)
        instance.contact_list = self.contact_list
        return instance

    def before_save_instance(self, instance, row, **kwargs):
        if self._dnc and instance.phone in self._dnc:
            instance.do_not_call = True
