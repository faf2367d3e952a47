"""The API's writes of contact lists, contacts and the do-not-call list go through the contacts services."""

from __future__ import annotations

import pytest

from calls.models import Contact, ContactList, DoNotCall

pytestmark = pytest.mark.django_db


def test_a_contact_list_and_its_contact_are_created_changed_and_deleted(api):
    made = api.post("/api/contact-lists/", {"name": "Стройторг", "description": "Москва"}, format="json")
    assert made.status_code == 201
    listed = ContactList.objects.get(pk=made.json()["id"])
    changed = api.patch(f"/api/contact-lists/{listed.pk}/", {"description": "МО"}, format="json")
    assert changed.json()["description"] == "МО"
    contact = api.post("/api/contacts/", {"contact_list": listed.pk, "phone": "8 916 000-00-07", "name": "Иван"},
                       format="json")
    assert contact.status_code == 201 and contact.json()["phone"] == "+79160000007"
    contact_id = contact.json()["id"]
    assert api.put(f"/api/contacts/{contact_id}/", {"contact_list": listed.pk, "phone": "+79160000006",
                                                   "name": "Пётр"}, format="json").status_code == 200
    assert Contact.objects.values_list("phone", "name").get(pk=contact_id) == ("+79160000006", "Пётр")
    assert api.delete(f"/api/contacts/{contact_id}/").status_code == 204
    assert api.delete(f"/api/contact-lists/{listed.pk}/").status_code == 204
    assert not ContactList.objects.filter(pk=listed.pk).exists() and not Contact.objects.filter(pk=contact_id).exists()


def test_a_number_put_on_the_do_not_call_list_records_who_did_it(api, manager):
    answer = api.post("/api/do-not-call/", {"phone": "8 916 000-00-05", "reason": "asked"}, format="json")
    assert answer.status_code == 201
    entry = DoNotCall.objects.get(pk=answer.json()["id"])
    assert (entry.phone, entry.reason, entry.added_by) == ("+79160000005", "asked", manager)
    assert api.patch(f"/api/do-not-call/{entry.pk}/", {"reason": "complaint"}, format="json").status_code == 200
    entry.refresh_from_db()
    assert (entry.reason, entry.added_by) == ("complaint", manager)
    assert api.delete(f"/api/do-not-call/{entry.pk}/").status_code == 204
    assert not DoNotCall.objects.filter(pk=entry.pk).exists()
