"""The operator pages render, with their live partials, for those allowed to see calls."""

from __future__ import annotations

import pytest

from calls.models import Call

pytestmark = pytest.mark.django_db


def test_board_and_partials(client, manager, make_campaign, make_contact):
    call = Call.objects.create(campaign=make_campaign(), contact=make_contact())
    client.force_login(manager)
    page = client.get("/calls/")
    assert page.status_code == 200 and b"calls_live.js" in page.content
    part = client.get("/calls/?part=calls", headers={"HX-Request": "true"})
    assert part.status_code == 200 and f'data-call="{call.pk}"'.encode() in part.content
    assert b"<html" not in part.content
    detail = client.get(f"/calls/{call.pk}/")
    assert detail.status_code == 200
    assert client.get(f"/calls/{call.pk}/?part=summary", headers={"HX-Request": "true"}).status_code == 200


def test_trainee_cannot_see_calls(client, trainee):
    client.force_login(trainee)
    assert client.get("/calls/").status_code == 403
