"""Experiment statistics against values worked out by hand (and scipy), and the experiment pages."""

import math
from datetime import datetime, timedelta

import pytest
from django.conf import settings
from scipy import stats

from analytics.experiments import compare, experiment_results, probability_to_beat, sample_size, wilson
from analytics.tests.conftest import MSK
from calls.experiments import experiment_start
from calls.models import Call, Campaign, Contact, ContactList
from dialogs.models import Script, ScriptVersion


def test_two_proportion_z_test_matches_the_pooled_formula():
    # 250/1000 against 200/1000: pooled p = 0.225, se = sqrt(0.225 * 0.775 * 2/1000) = 0.018675
    result = compare((200, 1000), (250, 1000))
    assert result.difference == pytest.approx(0.05)
    assert result.z == pytest.approx(2.677398, abs=1e-5)
    assert result.p_value == pytest.approx(0.0074196, abs=1e-6)
    assert result.p_value == pytest.approx(2 * stats.norm.sf(0.05 / math.sqrt(0.225 * 0.775 * 0.002)))
    assert result.low < 0.05 < result.high and result.low > 0  # significant: the interval excludes zero


def test_wilson_interval_matches_the_textbook_value():
    # 200/1000, 95 %: (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n) = 0.17638 … 0.22592
    low, high = wilson(200, 1000)
    assert low == pytest.approx(0.176377, abs=1e-5) and high == pytest.approx(0.225919, abs=1e-5)


def test_sample_size_matches_cohens_h_power_analysis():
    # 10 % -> 12 %: h = 2·asin(sqrt(.12)) - 2·asin(sqrt(.10)) = 0.063982; n = 2·((z.975 + z.8) / h)² = 3834.6
    h = 2 * math.asin(math.sqrt(0.12)) - 2 * math.asin(math.sqrt(0.10))
    by_hand = 2 * ((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) / h) ** 2
    assert sample_size(baseline=0.10, minimum_effect=0.02) == math.ceil(by_hand) == 3835


def test_probability_to_beat_is_seeded_and_sensible():
    assert probability_to_beat((200, 1000), (250, 1000)) == probability_to_beat((200, 1000), (250, 1000))
    assert probability_to_beat((200, 1000), (250, 1000)) == pytest.approx(0.9963, abs=0.002)
    assert probability_to_beat((50, 100), (50, 100)) == pytest.approx(0.5, abs=0.01)


def test_no_variance_means_no_test():
    result = compare((0, 50), (0, 50))
    assert result.p_value is None and result.difference == 0


@pytest.fixture
def experiment(db, frozen):
    maps = {}
    a = Script.objects.create(name="Скрипт А", language="ru", dialogue_map=maps, version=1)
    b = Script.objects.create(name="Скрипт Б", language="ru", dialogue_map=maps, version=1)
    va = ScriptVersion.objects.create(script=a, version=1, dialogue_map=maps)
    vb = ScriptVersion.objects.create(script=b, version=1, dialogue_map=maps)
    campaign = Campaign.objects.create(name="A/B", script=a, contact_list=ContactList.objects.create(name="L"))
    experiment = experiment_start(campaign=campaign, name="Приветствие", variants=[("A", a.pk, 50), ("B", b.pk, 50)],
                                  primary_metric="lead", minimum_effect=0.05, baseline_rate=0.2)
    before = Contact.objects.create(contact_list=campaign.contact_list, phone="+79160000000")
    Call.objects.create(campaign=campaign, contact=before, script_version=va, outcome="completed", crm_status="lead")
    Call.objects.filter(contact=before).update(queued_at=frozen - timedelta(days=1))  # before the start
    n = 0
    for version, leads, total in ((va, 20, 100), (vb, 35, 100)):
        for i in range(total):
            n += 1
            c = Contact.objects.create(contact_list=campaign.contact_list, phone=f"+7916{n:07d}")
            Call.objects.create(campaign=campaign, contact=c, script_version=version, outcome="completed",
                                crm_status="lead" if i < leads else "none", queued_at=frozen)
    return experiment


def test_results_per_variant(experiment):
    results = experiment_results(experiment=experiment)
    a, b = results.variants
    assert (a.calls, a.successes, b.calls, b.successes) == (100, 20, 100, 35)
    assert a.is_control and a.comparison is None
    expected = compare((20, 100), (35, 100))
    assert b.comparison.p_value == pytest.approx(expected.p_value) and b.significant
    assert results.baseline == 0.2 and results.baseline_observed  # the control's own rate, from 100 calls
    assert results.needed_per_variant == sample_size(baseline=0.2, minimum_effect=0.05) == 1092
    assert not results.planned_reached


@pytest.mark.django_db
def test_experiment_page_warns_against_stopping_early_in_both_languages(client, manager, experiment):
    client.force_login(manager)
    html = client.get(f"/analytics/experiments/{experiment.pk}/").content.decode()
    assert "Запланированная выборка ещё не набрана (100 из 1092 звонков" in html
    assert 'data-variant="B"' in html and "35,00%" in html and "значимо" in html
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = client.get(f"/analytics/experiments/{experiment.pk}/").content.decode()
    assert "The planned sample is not reached yet (100 of 1092 calls" in html and "35.00%" in html
    listing = client.get("/analytics/experiments/").content.decode()
    assert "Приветствие" in listing and "Script experiments (A/B)" in listing


@pytest.mark.django_db
def test_manager_stops_and_promotes_from_the_page(client, manager, operator, experiment):
    b = experiment.variants.get(name="B")
    client.force_login(operator)
    assert client.post(f"/analytics/experiments/{experiment.pk}/stop/", {"promote": b.pk}).status_code == 403
    client.force_login(manager)
    response = client.post(f"/analytics/experiments/{experiment.pk}/stop/", {"promote": b.pk}, follow=True)
    assert "кампания теперь работает по скрипту «Скрипт Б»" in response.content.decode()
    experiment.refresh_from_db()
    assert experiment.status == "stopped" and experiment.campaign.script_id == b.script_id
    assert Campaign.objects.get(pk=experiment.campaign_id).script_id == b.script_id
    assert datetime.now(MSK)  # frozen clock in force
