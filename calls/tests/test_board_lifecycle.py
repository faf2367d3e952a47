"""Badges and campaign status follow the lifecycle: an ended call is not «live», a finished campaign says so."""

from __future__ import annotations

import pytest
from django.utils import timezone

from calls.models import Call, CallEvent, Campaign, Contact, ContactList
from calls.selectors import campaign_progress_list
from config.tests.test_console_pages import RAW_STATES, visible_text
from crm.models import Lead
from dialogs.models import Script
from dialogs.scriptmap import demo_map
from dialogs.services import script_save

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(db):
    script = script_save(script=Script(name="S", language="ru", dialogue_map=demo_map("ru")))
    contacts = ContactList.objects.create(name="L")
    for i in range(2):
        Contact.objects.create(contact_list=contacts, phone=f"+7916000000{i}", name=f"C{i}", timezone="Europe/Moscow")
    return Campaign.objects.create(name="Весенняя", script=script, contact_list=contacts,
                                   status=Campaign.Status.ACTIVE)


def test_a_campaign_whose_calls_are_all_done_shows_completed(client, manager, campaign):
    first, second = campaign.contact_list.contacts.all()
    Call.objects.create(campaign=campaign, contact=first, status=Call.Status.DONE)
    live = Call.objects.create(campaign=campaign, contact=second, status=Call.Status.IN_PROGRESS)
    client.force_login(manager)
    assert 'data-campaign-status="active">Активна' in client.get("/calls/").content.decode()
    (progress,) = campaign_progress_list()
    assert progress.status_code == "active"  # a call is still going
    live.status = Call.Status.DONE
    live.save()
    (progress,) = campaign_progress_list()
    assert progress.finished and progress.status_code == "completed"
    html = client.get("/calls/").content.decode()
    assert 'data-campaign-status="completed">Завершена' in html
    assert "Все контакты обзвонены, все звонки завершены." in html


def test_a_campaign_with_contacts_not_yet_called_stays_active(campaign):
    Call.objects.create(campaign=campaign, contact=campaign.contact_list.contacts.first(), status=Call.Status.DONE)
    (progress,) = campaign_progress_list()
    assert not progress.finished and progress.status_code == "active"


def test_an_ended_call_has_no_live_badge_and_its_events_read_as_words(client, manager, campaign):
    contact = campaign.contact_list.contacts.first()
    ended = Call.objects.create(campaign=campaign, contact=contact, status=Call.Status.DONE)
    CallEvent.objects.create(call=ended, from_status="queued", to_status="dialing")
    ringing = Call.objects.create(campaign=campaign, contact=contact, attempt=2, status=Call.Status.RINGING)
    client.force_login(manager)
    html = client.get(f"/calls/{ended.pk}/").content.decode()
    assert 'data-on="звонок завершён"' in html and 'data-on="в эфире"' not in html

    text = visible_text(html)
    assert "В очереди → Набор номера" in text and not RAW_STATES.search(text)
    html = client.get(f"/calls/{ringing.pk}/").content.decode()
    assert 'data-on="в эфире"' in html


def test_the_progress_of_many_campaigns_is_counted_right_in_a_fixed_number_of_queries(
        campaign, django_assert_num_queries):
    """Contacts and calls are counted in separate grouped queries: joined in one, each campaign's contacts
    multiplied its calls (the demo's 3,000 calls made the board take 20 s)."""
    first, second = campaign.contact_list.contacts.all()
    others = ContactList.objects.create(name="M")
    third = Contact.objects.create(contact_list=others, phone="+79160000009", name="C9", timezone="Europe/Moscow")
    quiet = Campaign.objects.create(name="Тихая", script=campaign.script, contact_list=others,
                                    status=Campaign.Status.PAUSED)
    Campaign.objects.create(name="Пустая", script=campaign.script, contact_list=ContactList.objects.create(name="E"))
    won = Call.objects.create(campaign=campaign, contact=first, status=Call.Status.DONE, answered_at=timezone.now(),
                              disposition=Call.Disposition.INTERESTED)
    Lead.objects.create(call=won, contact=first, title="Лид")
    Call.objects.create(campaign=campaign, contact=first, status=Call.Status.QUEUED, attempt=2)  # a retry
    Call.objects.create(campaign=campaign, contact=second, status=Call.Status.CANCELED)
    Call.objects.create(campaign=quiet, contact=third, status=Call.Status.IN_PROGRESS, answered_at=timezone.now())
    with django_assert_num_queries(3):  # campaigns, contacts by list, calls by campaign
        progress = {p.campaign.name: p for p in campaign_progress_list()}
    figures = {name: (p.contacts, p.planned, p.dialled, p.connected, p.interested, p.leads, p.open_calls,
                      p.called_contacts) for name, p in progress.items()}
    assert figures == {
        "Весенняя": (2, 3, 1, 1, 1, 1, 1, 2),
        "Тихая": (1, 1, 1, 1, 0, 0, 1, 1),
        "Пустая": (0, 0, 0, 0, 0, 0, 0, 0),
    }
