"""The role matrix: who reaches which console, page and API, and who may edit scripts."""

import json
from pathlib import Path

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from dialogs.models import Script
from dialogs.services import script_save
from training.models import TrainingSession

pytestmark = pytest.mark.django_db

VALID_MAP_FILE = "freight_ru.json"


@pytest.fixture
def script(manager):
    data = json.loads((Path(__file__).resolve().parents[2] / "dialogs" / "data" / VALID_MAP_FILE).read_text("utf-8"))
    return script_save(script=Script(name="S", language="ru", dialogue_map=data), user=manager)


def login(client, user):
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("role_fixture", "target"),
    [("manager", "/analytics/"), ("operator", "/calls/"), ("trainee", "/training/")],
)
def test_home_sends_each_role_to_its_console(client, request, role_fixture, target):
    login(client, request.getfixturevalue(role_fixture))
    response = client.get("/")
    assert response.status_code == 302
    assert response.url == target
    assert client.get(target).status_code == 200


def test_user_without_role_is_told_so(client, make_user):
    login(client, make_user("nobody"))
    response = client.get("/")
    assert response.status_code == 403
    assert "роль" in response.content.decode().lower() or "role" in response.content.decode().lower()


def test_anonymous_is_sent_to_login(client):
    response = client.get("/training/")
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


@pytest.mark.parametrize(
    ("role_fixture", "path", "expected"),
    [
        ("manager", "/calls/", 200),
        ("operator", "/calls/", 200),
        ("trainee", "/calls/", 403),
        ("manager", "/analytics/", 200),
        ("operator", "/analytics/", 403),
        ("trainee", "/analytics/", 403),
        ("trainee", "/training/", 200),
        ("operator", "/training/", 403),
        ("manager", "/admin/", 200),
        ("operator", "/admin/", 200),
        ("trainee", "/admin/", 302),  # not staff: back to the admin login
        ("manager", "/admin/django_celery_beat/periodictask/", 200),  # beat schedules, editable
        ("manager", "/admin/django_celery_beat/periodictask/add/", 200),
        ("operator", "/admin/django_celery_beat/periodictask/", 403),
        ("manager", "/admin/calls/contactlist/", 200),
        ("operator", "/admin/dialogs/script/add/", 403),
    ],
)
def test_console_access_matrix(client, request, role_fixture, path, expected):
    login(client, request.getfixturevalue(role_fixture))
    assert client.get(path).status_code == expected


def test_operator_cannot_edit_scripts_but_manager_can(client, manager, operator, script):
    change_url = reverse("admin:dialogs_script_change", args=[script.pk])
    login(client, operator)
    assert client.get(change_url).status_code == 200  # may look
    response = client.post(change_url, {"name": "Hacked", "language": "ru", "dialogue_map": "{}"})
    assert response.status_code == 403
    script.refresh_from_db()
    assert script.name == "S"

    api = APIClient()
    api.force_authenticate(operator)
    assert api.get(f"/api/scripts/{script.pk}/").status_code == 200
    assert api.patch(f"/api/scripts/{script.pk}/", {"name": "Hacked"}, format="json").status_code == 403

    api.force_authenticate(manager)
    response = api.patch(f"/api/scripts/{script.pk}/", {"description": "Updated"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["version"] == 2


def test_trainee_cannot_read_scripts_or_calls_by_api(trainee, script):
    api = APIClient()
    api.force_authenticate(trainee)
    assert api.get("/api/scripts/").status_code == 403
    assert api.get("/api/calls/").status_code == 403
    assert api.get("/api/scenarios/").status_code == 200


def test_trainee_sees_only_own_sessions(client, trainee, other_trainee, manager):
    mine = TrainingSession.objects.create(trainee=trainee.trainee)
    theirs = TrainingSession.objects.create(trainee=other_trainee.trainee)

    login(client, trainee)
    assert client.get(reverse("training:session_detail", args=[mine.pk])).status_code == 200
    assert client.get(reverse("training:session_detail", args=[theirs.pk])).status_code == 404
    page = client.get(reverse("training:home")).content.decode()
    assert f'sessions/{mine.pk}/' in page and f'sessions/{theirs.pk}/' not in page

    api = APIClient()
    api.force_authenticate(trainee)
    ids = [row["id"] for row in api.get("/api/training-sessions/").json()["results"]]
    assert ids == [mine.pk]
    assert api.get(f"/api/training-sessions/{theirs.pk}/").status_code == 404

    api.force_authenticate(manager)
    ids = {row["id"] for row in api.get("/api/training-sessions/").json()["results"]}
    assert ids == {mine.pk, theirs.pk}


TEST_PASSWORD = "pw-for-tests-123"  # conftest.make_user's


def _token_pair(api, username="mgr", password=TEST_PASSWORD):
    answer = api.post("/api/auth/token/", {"username": username, "password": password}, format="json")
    assert answer.status_code == 200, answer.content
    return answer.json()


def test_token_auth(manager):
    api = APIClient()
    assert api.get("/api/campaigns/").status_code in (401, 403)
    pair = _token_pair(api)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
    assert api.get("/api/campaigns/").status_code == 200
    api.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert api.get("/api/campaigns/").status_code == 401


def test_api_tokens_expire_and_a_login_lasts_seven_days(manager):
    with time_machine.travel("2026-03-02 10:00:00+03:00", tick=False) as clock:
        api = APIClient()
        pair = _token_pair(api)
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
        assert api.get("/api/campaigns/").status_code == 200
        clock.shift(16 * 60)  # the access token lives 15 minutes
        assert api.get("/api/campaigns/").status_code == 401
        refreshed = APIClient().post("/api/auth/token/refresh/", {"refresh": pair["refresh"]}, format="json")
        assert refreshed.status_code == 200
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {refreshed.json()['access']}")
        assert api.get("/api/campaigns/").status_code == 200
        # the refresh token rotates: the one just used is spent
        again = APIClient().post("/api/auth/token/refresh/", {"refresh": pair["refresh"]}, format="json")
        assert again.status_code == 401
        clock.shift(7 * 24 * 3600 + 60)  # and the login itself ends after seven days
        late = APIClient().post("/api/auth/token/refresh/", {"refresh": refreshed.json()["refresh"]}, format="json")
        assert late.status_code == 401


def test_api_tokens_are_revoked_by_logout_and_by_a_password_change(manager):
    api = APIClient()
    pair = _token_pair(api)
    assert APIClient().post("/api/auth/token/revoke/", {"refresh": pair["refresh"]}, format="json").status_code == 200
    refreshed = APIClient().post("/api/auth/token/refresh/", {"refresh": pair["refresh"]}, format="json")
    assert refreshed.status_code == 401
    pair = _token_pair(api)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
    assert api.get("/api/campaigns/").status_code == 200
    manager.set_password("a-new-password-2026")
    manager.save()
    assert api.get("/api/campaigns/").status_code == 401
    assert APIClient().post("/api/auth/token/refresh/", {"refresh": pair["refresh"]},
                            format="json").status_code == 401


def test_nobody_reads_api_tokens_in_the_admin(client, manager, make_user):
    pair = _token_pair(APIClient())
    login(client, manager)
    assert client.get("/admin/authtoken/tokenproxy/").status_code == 404
    assert client.get("/admin/token_blacklist/outstandingtoken/").status_code == 403
    admin = get_user_model().objects.create_superuser("root", password="pw-for-tests-123")
    login(client, admin)
    row = OutstandingToken.objects.get(user=manager)
    listing = client.get("/admin/token_blacklist/outstandingtoken/").content.decode()
    page = client.get(f"/admin/token_blacklist/outstandingtoken/{row.pk}/change/")
    assert page.status_code == 200 and row.jti in page.content.decode()
    for html in (listing, page.content.decode()):
        assert pair["refresh"] not in html and pair["refresh"].split(".")[1] not in html
    revoked = client.post("/admin/token_blacklist/outstandingtoken/",
                          {"action": "revoke", "_selected_action": [row.pk]})
    assert revoked.status_code == 302
    assert APIClient().post("/api/auth/token/refresh/", {"refresh": pair["refresh"]},
                            format="json").status_code == 401


def test_schema_and_offline_docs(client, manager):
    login(client, manager)
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/campaigns/" in schema.content
    docs = client.get("/api/docs/").content.decode()
    # Swagger UI comes from drf-spectacular-sidecar's static files, not a CDN.
    assert "drf_spectacular_sidecar" in docs and "cdn" not in docs.lower()
