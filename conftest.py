"""Shared fixtures: one user per role, API clients, and a real Celery worker when a test needs one."""

from __future__ import annotations

import pytest
from celery.contrib.testing.worker import start_worker
from django.contrib.auth import get_user_model

from config.celery import app
from config.roles import roles_sync, user_assign_role
from training.models import Trainee


@pytest.fixture
def make_user(db):
    roles_sync()

    def make(username: str, role: str | None = None):
        user = get_user_model().objects.create_user(username=username, password="pw-for-tests-123")
        if role:
            user_assign_role(user=user, role=role)
            if role == "Trainee":
                Trainee.objects.create(user=user)
        return user

    return make


@pytest.fixture
def manager(make_user):
    return make_user("mgr", "Manager")


@pytest.fixture
def operator(make_user):
    return make_user("op", "Operator")


@pytest.fixture
def trainee(make_user):
    return make_user("tr1", "Trainee")


@pytest.fixture
def other_trainee(make_user):
    return make_user("tr2", "Trainee")


@pytest.fixture
def celery_worker_thread(transactional_db):
    """A real Celery worker (in a thread) on the configured broker, for tests that ping or run tasks."""
    app.loader.import_module("celery.contrib.testing.tasks")
    with start_worker(app, pool="solo", perform_ping_check=True, shutdown_timeout=10) as worker:
        yield worker
