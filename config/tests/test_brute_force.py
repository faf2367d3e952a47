"""Wrong passwords on the login page, the admin and the API token endpoint end in a lockout (429)."""

from __future__ import annotations

import pytest
import time_machine
from django.test import Client
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

RIGHT = "pw-for-tests-123"  # conftest.make_user's


def _login_page(client, password):
    return client.post("/accounts/login/", {"username": "mgr", "password": password})


def _admin(client, password):
    return client.post("/admin/login/", {"username": "mgr", "password": password, "next": "/admin/"})


def _token(client, password):
    return client.post("/api/auth/token/", {"username": "mgr", "password": password}, format="json")


@pytest.mark.parametrize(("door", "client_class"), [(_login_page, Client), (_admin, Client), (_token, APIClient)])
def test_wrong_passwords_lock_the_username_out_with_429(manager, settings, door, client_class):
    settings.AXES_FAILURE_LIMIT = 5
    client = client_class()
    answers = [door(client, f"wrong-{n}").status_code for n in range(settings.AXES_FAILURE_LIMIT)]
    assert 429 not in answers[:-1] and answers[-1] == 429
    locked = door(client, RIGHT)  # even the right password is refused while locked
    assert locked.status_code == 429 and int(locked["Retry-After"]) > 0
    # the other doors are closed too: the lockout is the account's (from this address), not the page's
    assert _token(APIClient(), RIGHT).status_code == 429
    text = locked.json()["detail"] if locked["Content-Type"].startswith("application/json") else locked.content.decode()
    assert "Слишком много" in text  # Russian by default


def test_the_lockout_ends_after_the_cool_off(manager, settings):
    settings.AXES_FAILURE_LIMIT = 3
    with time_machine.travel("2026-03-02 10:00:00+03:00", tick=False) as clock:
        for n in range(3):
            _token(APIClient(), f"wrong-{n}")
        assert _token(APIClient(), RIGHT).status_code == 429
        clock.shift(settings.AXES_COOLOFF_TIME.total_seconds() + 60)
        assert _token(APIClient(), RIGHT).status_code == 200


def test_a_right_password_resets_the_count(manager, settings):
    settings.AXES_FAILURE_LIMIT = 3
    client = Client()
    for _ in range(5):
        assert _login_page(client, "wrong").status_code == 200
        assert _login_page(client, RIGHT).status_code == 302
        client.logout()
