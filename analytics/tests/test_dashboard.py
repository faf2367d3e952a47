"""The manager's dashboard opens on the last 30 days of calls with the training leaderboard below."""

import pytest

from calls.models import Call, Campaign, Contact
from config.demo.services import demo_seed

pytestmark = pytest.mark.django_db


def test_dashboard_opens_on_the_last_30_days(client, manager):
    demo_seed()
    campaign = Campaign.objects.get()
    for contact in Contact.objects.filter(contact_list=campaign.contact_list)[:3]:
        Call.objects.create(campaign=campaign, contact=contact, outcome="busy", status="done")
    client.force_login(manager)
    html = client.get("/analytics/").content.decode()
    assert 'data-kpi="calls"><div class="value">3<' in html
    assert 'data-kpi="busy_share"><div class="value">100,0%' in html
    assert "Рейтинг команды" in html and "/calls/" in html
