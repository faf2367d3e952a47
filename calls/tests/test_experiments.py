"""A/B experiments on scripts: sticky, hash-based assignment, and the planner dials each contact's variant."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime

import pytest
from django.core.exceptions import ValidationError

from calls.experiments import experiment_assign, experiment_start, experiment_stop, variant_for
from calls.models import Call, CallOutcome, Campaign, ExperimentAssignment
from calls.services.planning import campaign_plan
from calls.tests.conftest import SCRIPTS
from dialogs.models import Script
from dialogs.services import script_save

pytestmark = pytest.mark.django_db
MONDAY, TUESDAY = date(2026, 3, 2), date(2026, 3, 3)
NIGHT_BEFORE = datetime(2026, 3, 1, 21, 0, tzinfo=UTC)


@pytest.fixture
def script_b(db):
    dialogue_map = json.loads((SCRIPTS / "freight_ru.json").read_text(encoding="utf-8"))
    return script_save(script=Script(name="Freight RU, variant B", language="ru", dialogue_map=dialogue_map))


def test_assignment_is_deterministic_and_follows_the_weights():
    variants = [(11, 80), (12, 20)]
    picks = [variant_for(experiment_id=7, contact_id=c, variants=variants) for c in range(20000)]
    assert picks == [variant_for(experiment_id=7, contact_id=c, variants=variants) for c in range(20000)]
    share = Counter(picks)[11] / len(picks)
    assert 0.78 < share < 0.82
    other = [variant_for(experiment_id=8, contact_id=c, variants=variants) for c in range(20000)]
    assert other != picks  # each experiment shuffles contacts afresh
    with pytest.raises(ValueError):
        variant_for(experiment_id=1, contact_id=1, variants=[(1, 0)])


def test_a_contact_keeps_its_variant_when_the_weights_change(make_campaign, make_contact, script_b):
    campaign = make_campaign()
    contacts = [make_contact().pk for _ in range(40)]
    experiment = experiment_start(campaign=campaign, name="A/B",
                                  variants=[("A", campaign.script_id, 50), ("B", script_b.pk, 50)])
    first = experiment_assign(experiment=experiment, contact_ids=contacts)
    assert set(first.values()) == set(experiment.variants.values_list("id", flat=True))
    experiment.variants.filter(name="A").update(weight=1)  # a manager shifts traffic mid-test
    assert experiment_assign(experiment=experiment, contact_ids=contacts) == first
    assert ExperimentAssignment.objects.count() == 40


def test_the_planner_dials_each_contacts_variant_on_every_attempt(make_campaign, make_contact, script_b):
    campaign = make_campaign(max_concurrent_calls=50, retry_interval_minutes=1)
    for _ in range(30):
        make_contact()
    experiment = experiment_start(campaign=campaign, name="A/B",
                                  variants=[("A", campaign.script_id, 50), ("B", script_b.pk, 50)])
    campaign_plan(campaign_id=campaign.pk, day=MONDAY, now=NIGHT_BEFORE, dispatch=False)
    scripts = dict(experiment.variants.values_list("id", "script_id"))
    assigned = dict(ExperimentAssignment.objects.values_list("contact_id", "variant_id"))
    calls = list(Call.objects.filter(campaign=campaign).select_related("script_version"))
    assert len(calls) == 30 and len(assigned) == 30
    for call in calls:
        assert call.script_version.script_id == scripts[assigned[call.contact_id]]
    assert {c.script_version.script_id for c in calls} == {campaign.script_id, script_b.pk}
    # nobody answered: the retry the next day uses the same variant
    Call.objects.update(status=Call.Status.DONE, outcome=CallOutcome.NO_ANSWER,
                        ended_at=datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    experiment.variants.filter(name="B").update(weight=1)
    campaign_plan(campaign_id=campaign.pk, day=TUESDAY, now=datetime(2026, 3, 2, 21, 0, tzinfo=UTC), dispatch=False)
    retries = Call.objects.filter(campaign=campaign, attempt=2).select_related("script_version")
    assert retries.count() == 30
    for call in retries:
        assert call.script_version.script_id == scripts[assigned[call.contact_id]]


def test_without_an_experiment_the_campaign_script_is_used(make_campaign, make_contact):
    campaign = make_campaign()
    make_contact()
    campaign_plan(campaign_id=campaign.pk, day=MONDAY, now=NIGHT_BEFORE, dispatch=False)
    assert Call.objects.get().script_version.script_id == campaign.script_id


def test_bad_experiments_are_refused(make_campaign, script_b):
    campaign = make_campaign()
    with pytest.raises(ValidationError):
        experiment_start(campaign=campaign, name="one", variants=[("A", campaign.script_id, 50)])
    with pytest.raises(ValidationError):
        experiment_start(campaign=campaign, name="same", variants=[("A", script_b.pk, 50), ("B", script_b.pk, 50)])
    with pytest.raises(ValidationError):
        experiment_start(campaign=campaign, name="zero", variants=[("A", campaign.script_id, 0), ("B", script_b.pk, 5)])
    experiment_start(campaign=campaign, name="ok", variants=[("A", campaign.script_id, 1), ("B", script_b.pk, 1)])
    with pytest.raises(ValidationError):
        experiment_start(campaign=campaign, name="again",
                         variants=[("A", campaign.script_id, 1), ("B", script_b.pk, 1)])


def test_stop_and_promote_the_winner(make_campaign, script_b):
    campaign = make_campaign()
    experiment = experiment_start(campaign=campaign, name="A/B",
                                  variants=[("A", campaign.script_id, 50), ("B", script_b.pk, 50)])
    b = experiment.variants.get(name="B")
    with pytest.raises(ValidationError):
        experiment_stop(experiment_id=experiment.pk, promote_variant_id=b.pk + 100)
    stopped = experiment_stop(experiment_id=experiment.pk, promote_variant_id=b.pk)
    assert stopped.status == "stopped" and stopped.stopped_at and stopped.winner == b
    assert Campaign.objects.get(pk=campaign.pk).script_id == script_b.pk
