"""/metrics shows the business metrics after real activity; the Grafana dashboard asks only for exposed metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from calls.models import Call, CallOutcome
from calls.services.after_call import call_turn_add
from calls.services.dialing import call_place
from calls.services.lifecycle import call_progress
from calls.simulation import campaign_rehearse
from calls.tests.carrier_servers import TWILIO_SID, TWILIO_TOKEN, CarrierServer
from config.live_server import live_server_url
from config.metrics import observe_stt_queue_wait, record_carrier_error, record_turn_metrics
from crm.models import FollowUp, Lead
from integrations.errors import ProviderUnavailable
from training.models import TrainingSession
from training.services import TurnRecord, session_turn_add

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "voice-sales.json"
NAMED_METRICS = {
    "voice_live_calls", "voice_turn_eou_seconds", "voice_turn_stt_seconds", "voice_turn_ttft_seconds",
    "voice_turn_tts_first_byte_seconds", "voice_turn_v2v_seconds", "voice_stt_queue_wait_seconds",
    "voice_carrier_errors", "voice_outbox_backlog", "voice_campaign_leads",
}


def scrape(client, token: str) -> dict[str, dict[tuple, float]]:
    """Prometheus' own parser over the response: {sample name: {sorted labels: value}}."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for s in family.samples:
            samples.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get(name, {}).get(tuple(sorted(labels.items())), 0.0)


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = "scrape-token"
    return settings.METRICS_TOKEN


@pytest.fixture
def twilio_campaign(settings, make_campaign):
    with CarrierServer() as server:
        settings.TELEPHONY = {**settings.TELEPHONY, "PUBLIC_BASE_URL": "https://calls.example.test", "TWILIO": {
            "ACCOUNT_SID": TWILIO_SID, "AUTH_TOKEN": TWILIO_TOKEN, "FROM_NUMBER": "+15550001111",
            "API_URL": server.url, "TIMEOUT_S": 2}}
        yield make_campaign(telephony_provider="twilio"), server


@pytest.mark.django_db
def test_metrics_after_turns_calls_carrier_errors_and_leads(client, token, twilio_campaign, make_contact, trainee):
    campaign, server = twilio_campaign
    before = scrape(client, token)
    v2v_before = value(before, "voice_turn_v2v_seconds_count", channel="call")

    # a live call with two bot turns carrying the pipeline's figures (ms), one user turn without
    live = Call.objects.create(campaign=campaign, contact=make_contact(), status=Call.Status.IN_PROGRESS)
    call_turn_add(call_id=live.pk, index=0, speaker="bot", text="Здравствуйте", voice_to_voice_ms=850.0,
                  eou_ms=300.0, stt_ms=420.0, ttft_ms=15.0, tts_ttfb_ms=4.0)
    call_turn_add(call_id=live.pk, index=1, speaker="user", text="Да, слушаю")
    call_turn_add(call_id=live.pk, index=2, speaker="bot", text="Мы возим грузы", voice_to_voice_ms=1250.0,
                  eou_ms=500.0, stt_ms=600.0, ttft_ms=30.0, tts_ttfb_ms=5.0, stt_queue_wait_ms=40.0)
    # a trainer turn counts under its own channel
    session = TrainingSession.objects.create(trainee=trainee.trainee, language="ru")
    session_turn_add(session_id=session.pk, turn=TurnRecord(speaker="bot", text="Алло", voice_to_voice_ms=700.0))
    observe_stt_queue_wait(0.12)

    # the carrier refuses a dial (HTTP 500, retried by the task) and reports another call failed
    queued = Call.objects.create(campaign=campaign, contact=make_contact())
    server.force_status = 500
    with pytest.raises(ProviderUnavailable):
        call_place(call_id=queued.pk)
    server.force_status = None
    ringing = Call.objects.create(campaign=campaign, contact=make_contact(), status=Call.Status.RINGING,
                                  provider="twilio")
    call_progress(call_id=ringing.pk, event="failed", code="480")
    # an answered call with a lead and a follow-up that has not left yet
    done = Call.objects.create(campaign=campaign, contact=make_contact(), status=Call.Status.DONE,
                               outcome=CallOutcome.COMPLETED)
    Lead.objects.create(call=done, contact=done.contact, title="Lead")
    FollowUp.objects.create(call=done, text="Спасибо за разговор", status=FollowUp.Status.PENDING)

    after = scrape(client, token)
    assert value(after, "voice_turn_v2v_seconds_count", channel="call") == v2v_before + 2
    assert value(after, "voice_turn_v2v_seconds_sum", channel="call") - value(
        before, "voice_turn_v2v_seconds_sum", channel="call") == pytest.approx(2.1)
    # 850 ms falls in the 1 s bucket and not in the 0.75 s one; 1250 ms in neither
    assert value(after, "voice_turn_v2v_seconds_bucket", channel="call", le="1.0") - value(
        before, "voice_turn_v2v_seconds_bucket", channel="call", le="1.0") == 1
    for stage in ("eou", "stt", "ttft", "tts_first_byte"):
        assert value(after, f"voice_turn_{stage}_seconds_count", channel="call") - value(
            before, f"voice_turn_{stage}_seconds_count", channel="call") == 2, stage
    assert value(after, "voice_turn_v2v_seconds_count", channel="training") - value(
        before, "voice_turn_v2v_seconds_count", channel="training") == 1
    # one wait stored with a turn, one observed directly
    assert value(after, "voice_stt_queue_wait_seconds_count") - value(before, "voice_stt_queue_wait_seconds_count") == 2
    assert value(after, "voice_carrier_errors_total", provider="twilio", code="500") - value(
        before, "voice_carrier_errors_total", provider="twilio", code="500") == 1
    assert value(after, "voice_carrier_errors_total", provider="twilio", code="480") - value(
        before, "voice_carrier_errors_total", provider="twilio", code="480") == 1
    # read from the database at scrape time: the absolute figures
    assert value(after, "voice_live_calls", status="in_progress") == 1
    assert value(after, "voice_live_calls", status="ringing") == 0  # the failed one ended
    assert value(after, "voice_live_calls", status="dialing") == 1  # the refused dial, waiting for its retry
    assert value(after, "voice_outbox_backlog", kind="follow_up", status="pending") == 1
    assert value(after, "voice_campaign_leads", campaign_id=str(campaign.pk), campaign=campaign.name) == 1


def _metric_names_in(expr: str) -> set[str]:
    """Identifiers in a PromQL expression that are not functions, keywords, labels or label values."""
    expr = re.sub(r'"[^"]*"', "", expr)  # label values
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range selectors
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for match in re.finditer(r"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        if expr[match.end():].lstrip().startswith("("):
            continue  # a function or an aggregation
        names.add(match.group())
    return names - {"and", "or", "unless", "offset", "bool"}


def test_the_metric_name_finder_reads_promql():
    assert _metric_names_in('histogram_quantile(0.95, sum by (le, channel) (rate(a_seconds_bucket[5m])))') == {
        "a_seconds_bucket"}
    assert _metric_names_in('sum by (status) (voice_live_calls{status="x"}) / b_total') == {"voice_live_calls",
                                                                                           "b_total"}


@pytest.mark.django_db
def test_grafana_dashboard_asks_only_for_exposed_metrics(client, token, make_campaign, make_contact):
    # every labelled family gets a series (Prometheus shows a labelled family only once it has one)
    call = Call.objects.create(campaign=make_campaign(), contact=make_contact())
    call_turn_add(call_id=call.pk, index=0, speaker="bot", text="x", voice_to_voice_ms=1.0)
    record_turn_metrics({"eou_ms": 1, "stt_ms": 1, "ttft_ms": 1, "tts_ttfb_ms": 1})
    record_carrier_error(provider="twilio", code="500")
    exposed = set(scrape(client, token))

    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] and dashboard["title"]
    panels = dashboard["panels"]
    asked: set[str] = set()
    for panel in panels:
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "prometheus"
        for target in panel["targets"]:
            names = _metric_names_in(target["expr"])
            assert names, target["expr"]
            missing = names - exposed
            assert not missing, f"panel {panel['title']!r} asks for {missing}"
            asked |= names
    # every named business metric has a panel
    base = {re.sub(r"_(bucket|count|sum|total)$", "", n) for n in asked}
    assert NAMED_METRICS <= base, NAMED_METRICS - base
    # panels do not overlap on the grid
    cells = set()
    for panel in panels:
        g = panel["gridPos"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & mine, panel["title"]
        cells |= mine


def test_monitoring_profile_is_provisioned_with_the_dashboard():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["monitoring"], name
        for mount in services[name]["volumes"]:
            source = mount.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source
            else:
                assert source in compose["volumes"], source
    # the app's services stay outside the profile
    assert "profiles" not in services["web"]
    prom = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text(encoding="utf-8"))
    job = prom["scrape_configs"][0]
    assert job["metrics_path"] == "/metrics" and job["static_configs"][0]["targets"] == ["web:8000", "media:8000"]
    assert {"web", "media"} <= set(services)  # the targets are services of the stack
    assert job["authorization"]["credentials_file"] == "/prometheus/metrics_token"
    datasource = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert datasource["datasources"][0]["uid"] == "prometheus"
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/voice-sales.yml").read_text())
    grafana_mounts = dict(m.split(":")[:2] for m in services["grafana"]["volumes"])
    assert grafana_mounts["./deploy/grafana/dashboards"] == provider["providers"][0]["options"]["path"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_rehearsal_fills_the_latency_histograms_from_the_real_pipeline(rehearsal_worker, settings):
    """The worker's simulated carrier calls the in-process daphne; the media consumer's turns feed the histograms."""

    settings.METRICS_TOKEN = "scrape-token"
    base = live_server_url()

    def scrape_live() -> dict[str, dict[tuple, float]]:
        response = httpx.get(f"{base}/metrics", headers={"Authorization": "Bearer scrape-token"}, timeout=10)
        assert response.status_code == 200
        samples: dict[str, dict[tuple, float]] = {}
        for family in text_string_to_metric_families(response.text):
            for s in family.samples:
                samples.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
        return samples

    before = scrape_live()
    result = campaign_rehearse(contacts=2, seed=5, pace_speed=6.0, concurrency=2, timeout_s=170,
                               shares={"answer": 1.0, "no_answer": 0, "busy": 0, "voicemail": 0})
    assert result.completed >= 1, result
    after = scrape_live()
    bot_turns = sum(Call.objects.get(pk=pk).turns.filter(speaker="bot", voice_to_voice_ms__isnull=False).count()
                    for pk in Call.objects.filter(campaign_id=result.campaign_id).values_list("pk", flat=True))
    assert bot_turns >= 1
    for stage in ("v2v", "tts_first_byte"):
        grown = value(after, f"voice_turn_{stage}_seconds_count", channel="call") - value(
            before, f"voice_turn_{stage}_seconds_count", channel="call")
        assert grown >= bot_turns if stage == "v2v" else grown >= 1, (stage, grown, bot_turns)
    assert value(after, "voice_live_calls", status="in_progress") == 0  # all ended
    leads = value(after, "voice_campaign_leads", campaign_id=str(result.campaign_id),
                  campaign=Call.objects.filter(campaign_id=result.campaign_id).first().campaign.name)
    assert leads == result.leads
