"""The API on writes that conflict: rows in use, duplicates, campaigns with calls, times with zones; and its schema."""

from __future__ import annotations

import pytest

from calls.models import Call, Campaign, DoNotCall

pytestmark = pytest.mark.django_db


def test_deleting_a_script_or_contact_list_in_use_is_a_409(api, make_campaign, script, contact_list):
    make_campaign()
    for url in (f"/api/scripts/{script.pk}/", f"/api/contact-lists/{contact_list.pk}/"):
        answer = api.delete(url)
        assert answer.status_code == 409, url
        assert answer.json()["in_use_by"]


def test_a_number_already_on_the_do_not_call_list_is_a_400_on_the_phone_field(api):
    DoNotCall.objects.create(phone="+79160000009")
    other = DoNotCall.objects.create(phone="+79160000008")
    assert api.post("/api/do-not-call/", {"phone": "8 916 000-00-09"}, format="json").json().keys() == {"phone"}
    for method in (api.put, api.patch):
        answer = method(f"/api/do-not-call/{other.pk}/", {"phone": "+79160000009"}, format="json")
        assert answer.status_code == 400 and "phone" in answer.json()


def test_a_campaign_with_calls_is_not_deleted(api, make_campaign, make_contact):
    campaign = make_campaign()
    Call.objects.create(campaign=campaign, contact=make_contact())
    assert api.delete(f"/api/campaigns/{campaign.pk}/").status_code == 409
    assert Campaign.objects.filter(pk=campaign.pk).exists() and Call.objects.count() == 1
    empty = make_campaign()
    assert api.delete(f"/api/campaigns/{empty.pk}/").status_code == 204


def test_campaign_window_times_are_wall_clock_times(api, make_campaign):
    campaign = make_campaign()
    assert api.get(f"/api/campaigns/{campaign.pk}/").json()["window_start"] == "10:00:00"
    assert api.patch(f"/api/campaigns/{campaign.pk}/", {"window_start": "25:00"}, format="json").status_code == 400


def test_the_schema_allows_blank_enums_null_scores_and_plain_times(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    props = schema["components"]["schemas"]
    for field in ("outcome", "disposition", "crm_status"):
        refs = [item.get("$ref", "") for item in props["Call"]["properties"][field].get("oneOf", [])]
        assert any(ref.endswith("/BlankEnum") for ref in refs), field
    assert props["Campaign"]["properties"]["window_start"].get("format") != "time"
    assert props["TrainingSession"]["properties"]["score"].get("nullable") or any(
        "nullable" in str(x) or x.get("type") == "null" for x in props["TrainingSession"]["properties"]["score"].get(
            "oneOf", props["TrainingSession"]["properties"]["score"].get("allOf", [])))
