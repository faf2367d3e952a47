"""Reads for script A/B experiments: per-variant results, confidence intervals, significance and sample size.

The statistics come from statsmodels and scipy: Wilson intervals for each rate, a two-proportion
z-test and a Newcombe interval for the difference against the control (the first variant), the
Bayesian probability that a variant beats the control (Beta(1, 1) priors), and the per-variant
sample size needed to detect the manager's smallest effect (Cohen's h, normal power analysis).
The unit is the call: every finished attempt in the campaign since the experiment started.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from django.db.models import Count, Q

from calls.models import Call, Experiment, ExperimentMetric

METRIC_Q = {
    ExperimentMetric.CONNECT: Q(outcome="completed"),
    ExperimentMetric.TALK: Q(outcome="completed") & ~Q(disposition__in=("voicemail", "no_answer")),
    ExperimentMetric.INTEREST: Q(disposition="interested"),
    ExperimentMetric.LEAD: Q(crm_status="lead"),
    ExperimentMetric.CONTACT: Q(analysis__contact_obtained=True),
    ExperimentMetric.QUOTE: Q(analysis__quote_requested=True),
}
BAYES_DRAWS = 200_000
MIN_CALLS_FOR_OBSERVED_BASELINE = 100


@dataclass
class Comparison:
    difference: float  # variant rate - control rate
    low: float
    high: float
    z: float | None
    p_value: float | None
    probability_to_beat: float

    @property
    def difference_pp(self) -> float:
        return round(100 * self.difference, 2)

    @property
    def low_pp(self) -> float:
        return round(100 * self.low, 2)

    @property
    def high_pp(self) -> float:
        return round(100 * self.high, 2)


# scipy and statsmodels are imported where used: the web and export processes need them only on this page.


def wilson(successes: int, n: int, *, alpha: float = 0.05) -> tuple[float, float]:
    from statsmodels.stats.proportion import proportion_confint  # noqa: PLC0415  statsmodels (~2 s): loaded on the first experiment read

    low, high = proportion_confint(successes, n, alpha=alpha, method="wilson")
    return float(low), float(high)


def compare(control: tuple[int, int], variant: tuple[int, int], *, alpha: float = 0.05,
            seed: int = 2026) -> Comparison:
    """A variant (successes, n) against the control (successes, n)."""
    from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest  # noqa: PLC0415  statsmodels (~2 s): loaded on the first experiment read

    (s0, n0), (s1, n1) = control, variant
    diff = s1 / n1 - s0 / n0
    low, high = confint_proportions_2indep(s1, n1, s0, n0, compare="diff", method="newcomb", alpha=alpha)
    if 0 < s0 + s1 < n0 + n1:
        z, p = proportions_ztest([s1, s0], [n1, n0])
        z, p = float(z), float(p)
    else:  # every call succeeded or none did: no variance, nothing to test
        z = p = None
    return Comparison(diff, float(low), float(high), z, p, probability_to_beat(control, variant, seed=seed))


def probability_to_beat(control: tuple[int, int], variant: tuple[int, int], *, seed: int = 2026,
                        draws: int = BAYES_DRAWS) -> float:
    """P(variant's true rate > control's) under Beta(1, 1) priors, by a seeded Monte Carlo."""
    from scipy import stats  # noqa: PLC0415  scipy.stats (~1.5 s): loaded on the first experiment read

    rng = np.random.default_rng(seed)
    (s0, n0), (s1, n1) = control, variant
    a = stats.beta(1 + s0, 1 + n0 - s0).rvs(draws, random_state=rng)
    b = stats.beta(1 + s1, 1 + n1 - s1).rvs(draws, random_state=rng)
    return float((b > a).mean())


def sample_size(*, baseline: float, minimum_effect: float, alpha: float = 0.05, power: float = 0.8,
                ratio: float = 1.0) -> int:
    """Calls per variant (the control's; the other arm needs ``ratio`` times as many) to detect the effect."""
    from statsmodels.stats.power import NormalIndPower  # noqa: PLC0415  statsmodels (~2 s): loaded on the first experiment read
    from statsmodels.stats.proportion import proportion_effectsize  # noqa: PLC0415  statsmodels (~2 s): loaded on the first experiment read

    target = min(baseline + minimum_effect, 0.999)
    effect = abs(proportion_effectsize(target, baseline))
    if effect == 0:
        raise ValueError("the effect to detect must be larger than zero")
    n = NormalIndPower().solve_power(effect_size=effect, alpha=alpha, power=power, ratio=ratio,
                                     alternative="two-sided")
    return math.ceil(n)


@dataclass
class VariantResult:
    id: int
    name: str
    script: str
    weight: int
    calls: int
    successes: int
    rate: float | None
    low: float | None
    high: float | None
    is_control: bool
    comparison: Comparison | None
    significant: bool

    @property
    def rate_pct(self) -> float | None:
        return None if self.rate is None else round(100 * self.rate, 2)

    @property
    def low_pct(self) -> float | None:
        return None if self.low is None else round(100 * self.low, 2)

    @property
    def high_pct(self) -> float | None:
        return None if self.high is None else round(100 * self.high, 2)


@dataclass
class ExperimentResults:
    experiment: Experiment
    metric_label: str
    variants: list[VariantResult]
    baseline: float
    baseline_observed: bool
    needed_per_variant: int
    planned_reached: bool
    leader: VariantResult | None  # the best significant variant, if any

    @property
    def baseline_pct(self) -> float:
        return round(100 * self.baseline, 2)

    @property
    def effect_pp(self) -> float:
        return round(100 * self.experiment.minimum_effect, 2)

    @property
    def smallest_sample(self) -> int:
        return min((v.calls for v in self.variants), default=0)


def experiment_results(*, experiment: Experiment) -> ExperimentResults:
    variants = list(experiment.variants.select_related("script").order_by("id"))
    calls = Call.objects.filter(campaign_id=experiment.campaign_id, queued_at__gte=experiment.started_at).exclude(
        outcome="")
    if experiment.stopped_at:
        calls = calls.filter(queued_at__lt=experiment.stopped_at)
    metric = METRIC_Q[ExperimentMetric(experiment.primary_metric)]
    counts = {r["script_version__script_id"]: (r["s"], r["n"]) for r in calls.order_by().values(
        "script_version__script_id").annotate(n=Count("id"), s=Count("id", filter=metric))}
    rows, control = [], None
    for i, v in enumerate(variants):
        s, n = counts.get(v.script_id, (0, 0))
        low, high = wilson(s, n, alpha=experiment.alpha) if n else (None, None)
        comparison = None
        if i == 0:
            control = (s, n)
        elif n and control and control[1]:
            comparison = compare(control, (s, n), alpha=experiment.alpha)
        significant = bool(comparison and comparison.p_value is not None and comparison.p_value < experiment.alpha)
        rows.append(VariantResult(v.pk, v.name, v.script.name, v.weight, n, s, s / n if n else None, low, high,
                                  i == 0, comparison, significant))
    observed = bool(control and control[1] >= MIN_CALLS_FOR_OBSERVED_BASELINE and 0 < control[0] < control[1])
    baseline = control[0] / control[1] if observed else experiment.baseline_rate
    needed = sample_size(baseline=baseline, minimum_effect=experiment.minimum_effect, alpha=experiment.alpha,
                         power=experiment.power)
    reached = bool(rows) and all(r.calls >= needed for r in rows)
    winners = [r for r in rows if r.significant and r.comparison and r.comparison.difference > 0]
    leader = max(winners, key=lambda r: r.rate or 0) if winners else None
    return ExperimentResults(experiment, str(ExperimentMetric(experiment.primary_metric).label), rows, baseline,
                             observed, needed, reached, leader)
