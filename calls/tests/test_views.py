"""The operator pages render, with their live partials, for those allowed to see calls."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from calls.models import Call, Campaign, ContactList
from calls.simulation import campaign_create_for_rehearsal

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


@pytest.mark.django_db(transaction=True)
def test_manager_starts_a_rehearsal_from_the_board(client, manager, celery_worker_thread):
    client.force_login(manager)
    assert 'id="rehearse-form"' in client.get("/calls/").content.decode()
    with transaction.atomic():  # rolled back: the planned calls never reach the worker, which would dial them
        response = client.post("/calls/rehearse/", {"contacts": 3}, follow=True)
        assert response.redirect_chain == [("/calls/", 302)]
        campaign = Campaign.objects.get(name__startswith="Репетиция")  # named in the page's language
        assert f"Репетиция «{campaign.name}» запущена" in response.content.decode()
        assert campaign.telephony_provider == Campaign.Provider.SIMULATED and campaign.schedule is not None
        assert Call.objects.filter(campaign=campaign).count() == 3  # planned at once, inside the window
        transaction.set_rollback(True)


def test_with_no_worker_the_board_says_so_and_starts_no_rehearsal(client, manager):
    """Nothing would dial its calls: the manager is told why, soon (a short ping), and nothing is created."""
    client.force_login(manager)
    response = client.post("/calls/rehearse/", {"contacts": 3}, follow=True)
    assert response.redirect_chain == [("/calls/", 302)]
    page = response.content.decode()
    assert "Репетиция не запущена: звонки некому выполнять." in page
    assert "Ни один воркер Celery не ответил" in page and "за 1.0 с" in page and "make run" in page
    assert not Campaign.objects.exists() and not ContactList.objects.exists() and not Call.objects.exists()


def test_rehearsal_refuses_bad_input_and_operators(client, manager, operator):
    client.force_login(manager)
    client.post("/calls/rehearse/", {"contacts": 500})
    assert not Campaign.objects.filter(name__startswith="Репетиция").exists()
    client.force_login(operator)
    assert 'id="rehearse-form"' not in client.get("/calls/").content.decode()
    assert client.post("/calls/rehearse/", {"contacts": 2}).status_code == 403


def test_a_rehearsal_is_named_in_local_time_as_the_page_shows_it(manager, settings):
    settings.TIME_ZONE = "Europe/Moscow"
    with time_machine.travel(dt.datetime(2026, 3, 2, 21, 30, 5, tzinfo=dt.UTC), tick=False):
        timezone.activate("Europe/Moscow")
        try:
            campaign = campaign_create_for_rehearsal(contacts=1)
        finally:
            timezone.deactivate()
    assert "2026-03-03 00:30:05" in campaign.name  # 21:30 UTC is half past midnight in Moscow
