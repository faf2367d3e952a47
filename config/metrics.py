"""Business metrics for Prometheus: turn latency, STT queue wait, carrier errors, and state read from the database.

Two kinds live here:

- **Observed in the process** (histograms and counters): each process records what it saw. With a
  single web process that is what ``/metrics`` shows; with several processes (web + Celery workers),
  set ``PROMETHEUS_MULTIPROC_DIR`` to a directory they share and the scrape sums them
  (prometheus_client's multiprocess mode).
- **Collected at scrape time from the database** (gauges): live calls by status, the outbox backlog
  and leads per campaign. They are the same whichever process answers the scrape.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from typing import Any

import prometheus_client
from django.db.models import Count
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from calls.models import Call, Campaign
from crm.models import FollowUp, Lead

log = logging.getLogger(__name__)

# Voice turns: most land between 0.2 s and 2 s; the tail up to 10 s is what an operator notices.
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)

# One histogram per stage of a turn, named after the per-turn metrics the pipeline emits (the
# ``*_ms`` fields of ``voice.events.TurnMetrics`` and of ``AbstractTurn``). ``channel`` says
# whether the turn was on a phone call or in the trainer.
TURN_STAGES: dict[str, tuple[str, str]] = {
    "eou_ms": ("voice_turn_eou_seconds", "End of speech to the end-of-utterance decision"),
    "stt_ms": ("voice_turn_stt_seconds", "Speech recognition of the user's utterance"),
    "ttft_ms": ("voice_turn_ttft_seconds", "Time to the responder's first text"),
    "tts_ttfb_ms": ("voice_turn_tts_first_byte_seconds", "Speech synthesis: time to the first audio byte"),
    "voice_to_voice_ms": ("voice_turn_v2v_seconds", "Voice to voice: the callee's last voiced sample to the bot's "
                                                    "first audio sample sent"),
}
TURN_HISTOGRAMS: dict[str, Histogram] = {
    field: Histogram(name, doc, ["channel"], buckets=LATENCY_BUCKETS) for field, (name, doc) in TURN_STAGES.items()
}

STT_QUEUE_WAIT = Histogram(
    "voice_stt_queue_wait_seconds", "Time an utterance waited for a speech-recognition slot before STT started",
    buckets=(0.0, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
)

CARRIER_ERRORS = Counter(
    "voice_carrier_errors", "Errors reported by or met at the telephony carrier, by provider and code",
    ["provider", "code"],
)

CHANNELS = ("call", "training")


def record_turn_metrics(metrics: Mapping[str, Any], *, channel: str = "call") -> None:
    """Observe one turn's latency figures (milliseconds, as the pipeline emits them); ``None`` is skipped.

    ``metrics`` is anything with the ``TurnMetrics`` field names: a turn's stored fields, a
    ``TurnMetrics.to_dict()``. Never raises: metrics must not break a live call.
    """
    if channel not in CHANNELS:
        channel = "call"
    for field, histogram in TURN_HISTOGRAMS.items():
        value = metrics.get(field)
        if value is None:
            continue
        try:
            seconds = float(value) / 1000.0
        except (TypeError, ValueError):
            continue
        if seconds >= 0:
            histogram.labels(channel=channel).observe(seconds)
    wait = metrics.get("stt_queue_wait_ms")  # the pipeline's wait for an STT worker (voice.stt.admission)
    if isinstance(wait, int | float) and wait >= 0:
        STT_QUEUE_WAIT.observe(wait / 1000.0)


def observe_stt_queue_wait(seconds: float) -> None:
    """Record one STT queue wait directly (turns already carry ``stt_queue_wait_ms``: don't count those twice)."""
    STT_QUEUE_WAIT.observe(max(0.0, float(seconds)))


def record_carrier_error(*, provider: str, code: str | int | None) -> None:
    """Count one carrier error: an HTTP status, a vendor error code, a SIP code or an error class name."""
    CARRIER_ERRORS.labels(provider=provider or "unknown", code=str(code) if code not in (None, "") else "unknown").inc()


def carrier_error_code(exc: BaseException) -> str:
    """The code to count a provider exception under: its HTTP status where it has one, else its class."""
    status = getattr(exc, "status", None)
    return str(status) if status else type(exc).__name__


class DatabaseCollector(Collector):
    """Gauges read from the database when Prometheus scrapes: live calls, outbox backlog, leads per campaign."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from calls.services import ACTIVE_STATUSES  # noqa: PLC0415  cycle: calls.services imports config.metrics

        live = GaugeMetricFamily("voice_live_calls", "Calls not yet ended, by status", labels=["status"])
        counts = dict(Call.objects.filter(status__in=ACTIVE_STATUSES).values_list("status").annotate(n=Count("id")))
        for status in ACTIVE_STATUSES:
            live.add_metric([str(status)], counts.get(status, 0))
        yield live

        backlog = GaugeMetricFamily(
            "voice_outbox_backlog", "Messages waiting to leave the house (not yet delivered), by kind and status",
            labels=["kind", "status"],
        )
        pending = dict(FollowUp.objects.exclude(status=FollowUp.Status.SENT).values_list("status")
                       .annotate(n=Count("id")))
        for status in (FollowUp.Status.PENDING, FollowUp.Status.FAILED):
            backlog.add_metric(["follow_up", str(status)], pending.get(status, 0))
        yield backlog

        leads = GaugeMetricFamily("voice_campaign_leads", "Leads created from each campaign's calls",
                                  labels=["campaign_id", "campaign"])
        by_campaign = dict(Lead.objects.filter(call__isnull=False).values_list("call__campaign_id")
                           .annotate(n=Count("id")))
        for campaign_id, name in Campaign.objects.values_list("id", "name"):
            leads.add_metric([str(campaign_id), name], by_campaign.get(campaign_id, 0))
        yield leads


DATABASE_REGISTRY = CollectorRegistry(auto_describe=False)
DATABASE_REGISTRY.register(DatabaseCollector())


def _process_registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return prometheus_client.REGISTRY


def metrics_exposition() -> tuple[bytes, str]:
    """The scrape body (this process's or all processes' metrics, then the database gauges) and its type."""
    body = generate_latest(_process_registry())
    try:
        body += generate_latest(DATABASE_REGISTRY)
    except Exception:  # the database being down must not hide the process metrics
        log.exception("metrics: the database gauges could not be collected")
    return body, prometheus_client.CONTENT_TYPE_LATEST
