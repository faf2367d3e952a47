"""Admin pages of calls and contact lists as a manager and an operator see them in Russian."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from calls.models import Call, Turn
from calls.services import campaign_schedule_sync

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="ru")
    client.force_login(user)
    return client


def test_call_page_names_its_turns_instead_of_turn_object(manager, make_campaign, make_contact):
    call = Call.objects.create(campaign=make_campaign(), contact=make_contact())
    Turn.objects.create(call=call, index=0, speaker="bot", text="Добрый день!")
    Turn.objects.create(call=call, index=1, speaker="user", text="Да, слушаю.")

    page = _client(manager).get(reverse("admin:calls_call_change", args=[call.pk])).content.decode()

    assert "Turn object" not in page
    with translation.override("ru"):
        assert [str(t) for t in call.turns.order_by("index")] == ["1. Бот", "2. Собеседник"]
    assert "1. Бот" in page and "2. Собеседник" in page


def test_contact_list_page_offers_the_import_only_to_who_may_import(manager, operator, contact_list):
    url = reverse("admin:calls_contactlist_changelist")
    import_url = reverse("admin:calls_contactlist_import", args=[contact_list.pk])

    assert import_url in _client(manager).get(url).content.decode()
    assert _client(manager).get(import_url).status_code == 200

    page = _client(operator).get(url)
    assert page.status_code == 200 and contact_list.name in page.content.decode()
    assert import_url not in page.content.decode()  # no link to a page that answers 403
    assert _client(operator).get(import_url).status_code == 403


def test_contact_export_page_wires_select_all_without_an_inline_handler(manager):
    page = _client(manager).get(reverse("admin:calls_contact_export"))
    html = page.content.decode()

    assert page.status_code == 200
    # the policy (script-src 'self' + nonce) blocks inline handlers: the toggle is wired by a static script
    assert "onchange=" not in html and "onSelectToggleChange" not in html
    assert 'class="select-toggle" name="select-all-toggle" id="select-all-toggle"' in html
    assert "/static/js/export_select_all.js" in html
    assert "import_export/export_selectable_fields.js" in html  # defines onSelectToggleChange, which it calls
    assert "Выбрать все" in html and "Select all" not in html


def test_a_campaign_page_links_its_schedule_and_author_only_for_who_may_open_them(manager, operator, make_campaign):
    campaign = make_campaign()
    campaign.created_by = manager
    campaign.save()
    campaign_schedule_sync(campaign=campaign)
    task_url = reverse("admin:django_celery_beat_periodictask_change", args=[campaign.schedule_id])
    user_url = reverse("admin:auth_user_change", args=[manager.pk])
    url = reverse("admin:calls_campaign_change", args=[campaign.pk])

    as_manager = _client(manager).get(url).content.decode()
    assert task_url in as_manager or f'value="{campaign.schedule_id}" selected' in as_manager  # the manager edits it
    assert user_url not in as_manager and manager.username in as_manager  # who made it, as text
    assert _client(manager).get(user_url).status_code == 403

    page = _client(operator).get(url)
    html = page.content.decode()
    assert page.status_code == 200
    assert task_url not in html and user_url not in html  # no link that leads to a 403
    assert str(campaign.schedule) in html and manager.username in html
    assert _client(operator).get(task_url).status_code == 403
