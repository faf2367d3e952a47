"""``seed_demo --calls N`` leaves a dashboard and an experiments page with something on them, once."""

import pytest
from django.core.management import call_command

from analytics.experiments import experiment_results
from analytics.models import RollupDay
from calls.models import Call, Campaign, Experiment, ExperimentAssignment
from calls.selectors import campaign_progress_list
from crm.models import Lead

pytestmark = pytest.mark.django_db


def leads_on_the_board(campaign: Campaign) -> int:
    return next(p.leads for p in campaign_progress_list() if p.campaign.pk == campaign.pk)


def test_seed_demo_with_calls(client, manager, frozen):
    call_command("seed_demo", "--calls", "600")
    assert Call.objects.filter(campaign__name__startswith="Демо: A/B").count() == 600
    assert Call.objects.exclude(outcome="").count() == 600 and Call.objects.filter(crm_status="lead").exists()
    # every call the CRM took as a lead has its lead, made when the call was done (the board and the lead list
    # count these; the dashboard counts the calls)
    leads = Lead.objects.select_related("call")
    assert sorted(lead.call_id for lead in leads) == sorted(Call.objects.filter(crm_status="lead").values_list(
        "id", flat=True))
    assert all(lead.created_at == lead.call.done_at and lead.contact_id == lead.call.contact_id for lead in leads)
    assert leads_on_the_board(Campaign.objects.get(name__startswith="Демо: A/B")) == leads.count()
    experiment = Experiment.objects.get()
    results = experiment_results(experiment=experiment)
    assert [v.name for v in results.variants] == ["A", "B"] and all(v.calls > 200 for v in results.variants)
    assigned = dict(ExperimentAssignment.objects.values_list("contact_id", "variant__script_id"))
    for contact, script in Call.objects.values_list("contact_id", "script_version__script_id"):
        assert assigned[contact] == script  # every attempt of a contact used its variant's script
    assert RollupDay.objects.count() >= 89  # 90 days back, today stays live
    call_command("seed_demo", "--calls", "600")
    assert Call.objects.count() == 600  # once only
    client.force_login(manager)
    html = client.get("/analytics/?date_from=2025-12-01&date_to=2026-03-10").content.decode()
    assert 'data-kpi="calls"><div class="value">600<' in html
