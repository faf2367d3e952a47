"""The manager's dashboard compares campaigns as funnels."""

import pytest

from calls.models import Call, Campaign, Contact
from config.demo.services import demo_seed

pytestmark = pytest.mark.django_db


def test_dashboard_shows_each_campaigns_funnel(client, manager):
    demo_seed()
    campaign = Campaign.objects.get()
    contacts = list(Contact.objects.filter(contact_list=campaign.contact_list)[:3])
    for contact in contacts:
        Call.objects.create(campaign=campaign, contact=contact)
    client.force_login(manager)
    html = client.get("/analytics/").content.decode()
    assert 'id="funnels"' in html and campaign.name in html
    assert "Воронки кампаний" in html
    assert 'title="10%"' in html  # 3 planned of 30 contacts
