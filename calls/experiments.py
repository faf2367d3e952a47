"""Services for A/B experiments on scripts: sticky assignment of contacts to variants, stop and promote."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from calls.models import Campaign, Experiment, ExperimentAssignment, ExperimentVariant
from dialogs.models import Script, ScriptVersion


def variant_for(*, experiment_id: int, contact_id: int, variants: Sequence[tuple[int, int]]) -> int:
    """The variant id a contact falls into: a hash of (experiment, contact) spread over the weights.

    ``variants`` are (id, weight) pairs in a fixed order. Deterministic: the same inputs always give
    the same variant, on any machine and in any process.
    """
    total = sum(w for _, w in variants)
    if total <= 0:
        raise ValueError("an experiment needs a variant with a positive weight")
    digest = hashlib.sha256(f"experiment:{experiment_id}:contact:{contact_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") % total
    for variant_id, weight in variants:
        if point < weight:
            return variant_id
        point -= weight
    raise AssertionError("unreachable")


def experiment_assign(*, experiment: Experiment, contact_ids: Iterable[int]) -> dict[int, int]:
    """contact id -> variant id for these contacts; a contact already assigned keeps its variant."""
    contact_ids = list(contact_ids)
    variants = list(experiment.variants.order_by("id").values_list("id", "weight"))
    existing = dict(ExperimentAssignment.objects.filter(experiment=experiment, contact_id__in=contact_ids)
                    .values_list("contact_id", "variant_id"))
    new = [ExperimentAssignment(experiment=experiment, contact_id=c,
                                variant_id=variant_for(experiment_id=experiment.pk, contact_id=c, variants=variants))
           for c in contact_ids if c not in existing]
    ExperimentAssignment.objects.bulk_create(new, batch_size=2000, ignore_conflicts=True)
    if new:  # a concurrent planner may have won a row: read back what is stored
        existing = dict(ExperimentAssignment.objects.filter(experiment=experiment, contact_id__in=contact_ids)
                        .values_list("contact_id", "variant_id"))
    return existing


def _current_version_ids(script_ids: Iterable[int]) -> dict[int, int]:
    out = {}
    for script_id, version in Script.objects.filter(pk__in=list(script_ids)).values_list("id", "version"):
        vid = ScriptVersion.objects.filter(script_id=script_id, version=version).values_list("id", flat=True).first()
        if vid is not None:
            out[script_id] = vid
    return out


def experiment_script_versions(*, campaign: Campaign, contact_ids: Iterable[int]) -> dict[int, int]:
    """For the planner: contact id -> the script version its variant uses, when the campaign runs an experiment."""
    experiment = Experiment.objects.filter(campaign=campaign, status=Experiment.Status.RUNNING).first()
    if experiment is None:
        return {}
    assigned = experiment_assign(experiment=experiment, contact_ids=contact_ids)
    scripts = dict(experiment.variants.values_list("id", "script_id"))
    versions = _current_version_ids(scripts.values())
    return {c: versions[scripts[v]] for c, v in assigned.items() if scripts.get(v) in versions}


@transaction.atomic
def experiment_start(*, campaign: Campaign, name: str, variants: Sequence[tuple[str, int, int]],
                     primary_metric: str = "lead", minimum_effect: float = 0.03, baseline_rate: float = 0.1,
                     user=None) -> Experiment:
    """Start an experiment: ``variants`` are (name, script id, weight); at least two, distinct scripts."""
    if len(variants) < 2:
        raise ValidationError(_("An experiment needs at least two variants."))
    if len({s for _, s, _ in variants}) != len(variants):
        raise ValidationError(_("Each variant needs its own script."))
    if any(w <= 0 for _, _, w in variants):
        raise ValidationError(_("Every variant needs a positive allocation weight."))
    if not 0 < minimum_effect < 1 or not 0 < baseline_rate < 1:
        raise ValidationError(_("Rates are shares between 0 and 1."))
    if Experiment.objects.filter(campaign=campaign, status=Experiment.Status.RUNNING).exists():
        raise ValidationError(_("This campaign already runs an experiment; stop it first."))
    experiment = Experiment.objects.create(campaign=campaign, name=name, primary_metric=primary_metric,
                                           minimum_effect=minimum_effect, baseline_rate=baseline_rate,
                                           created_by=user)
    ExperimentVariant.objects.bulk_create(
        [ExperimentVariant(experiment=experiment, name=n, script_id=s, weight=w) for n, s, w in variants]
    )
    return experiment


@transaction.atomic
def experiment_stop(*, experiment_id: int, promote_variant_id: int | None = None) -> Experiment:
    """Stop an experiment; with ``promote_variant_id`` the campaign's script becomes that variant's script."""
    experiment = Experiment.objects.select_for_update().select_related("campaign").get(pk=experiment_id)
    if promote_variant_id is not None:
        variant = experiment.variants.filter(pk=promote_variant_id).first()
        if variant is None:
            raise ValidationError(_("That variant is not part of this experiment."))
        Campaign.objects.filter(pk=experiment.campaign_id).update(script_id=variant.script_id)
        experiment.winner = variant
    if experiment.status == Experiment.Status.RUNNING:
        experiment.status, experiment.stopped_at = Experiment.Status.STOPPED, timezone.now()
    experiment.save(update_fields=["status", "stopped_at", "winner"])
    return experiment
