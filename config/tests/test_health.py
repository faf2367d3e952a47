"""/healthz reports the database, Redis and a Celery worker; /metrics is guarded."""

import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db(transaction=True)


def test_healthz_all_green_with_a_worker(client, celery_worker_thread):
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True, "redis": True, "celery": True,
    }


def test_healthz_fails_without_a_worker(client):
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 503
    assert body["checks"]["database"]["ok"] and body["checks"]["redis"]["ok"]
    assert body["checks"]["celery"]["ok"] is False
    assert "no worker" in body["checks"]["celery"]["error"]


@override_settings(REDIS_URL="redis://127.0.0.1:1/0")
def test_healthz_reports_redis_down(client):
    body = client.get("/healthz").json()
    assert body["checks"]["redis"]["ok"] is False


def test_metrics_needs_token_or_staff(client, manager, trainee, settings):
    assert client.get("/metrics").status_code == 403
    client.force_login(trainee)
    assert client.get("/metrics").status_code == 403
    client.force_login(manager)
    response = client.get("/metrics")
    assert response.status_code == 200 and b"django_http_requests" in response.content
    client.logout()
    settings.METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200


@pytest.mark.django_db
def test_favicon_is_served_to_anyone_instead_of_a_404(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml" and response.content.startswith(b"<svg")
    assert "max-age" in response["Cache-Control"]
    assert client.post("/favicon.ico").status_code == 405
