"""Managers start experiments in the admin; fewer than two variants, or one script twice, is refused."""

import pytest

from calls.models import Experiment
from dialogs.models import Script

pytestmark = pytest.mark.django_db


def form(campaign, variants):
    data = {"campaign": campaign.pk, "name": "Приветствие", "primary_metric": "lead", "baseline_rate": "0.1",
            "minimum_effect": "0.03", "alpha": "0.05", "power": "0.8",
            "variants-TOTAL_FORMS": str(len(variants)), "variants-INITIAL_FORMS": "0",
            "variants-MIN_NUM_FORMS": "2", "variants-MAX_NUM_FORMS": "1000"}
    for i, (name, script, weight) in enumerate(variants):
        data.update({f"variants-{i}-name": name, f"variants-{i}-script": script.pk, f"variants-{i}-weight": weight})
    return data


def test_experiment_admin(client, manager, campaign):
    other = Script.objects.create(name="Скрипт Б", language="ru", dialogue_map={}, version=1)
    client.force_login(manager)
    assert client.get("/admin/calls/experiment/add/").status_code == 200
    same = client.post("/admin/calls/experiment/add/", form(campaign, [("A", other, 50), ("B", other, 50)]))
    assert same.status_code == 200 and "повторяющееся значение" in same.content.decode()  # the unique check
    one = client.post("/admin/calls/experiment/add/", form(campaign, [("A", other, 50)]))
    assert one.status_code == 200 and Experiment.objects.count() == 0
    ok = client.post("/admin/calls/experiment/add/", form(campaign, [("A", campaign.script, 50), ("B", other, 50)]))
    assert ok.status_code == 302
    experiment = Experiment.objects.get()
    assert experiment.created_by == manager and experiment.variants.count() == 2
    again = client.post("/admin/calls/experiment/add/", form(campaign, [("A", campaign.script, 1), ("B", other, 1)]))
    assert again.status_code == 200 and Experiment.objects.count() == 1  # one running experiment per campaign
    assert "В этой кампании уже идёт эксперимент" in again.content.decode()
