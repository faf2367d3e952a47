"""Fixtures for calls tests: a saved demo script, a contact list and a campaign factory."""

from __future__ import annotations

import json
from datetime import time
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from calls.models import Campaign, Contact, ContactList
from calls.telephony.fake import FakeTelephony
from calls.tests.worker_process import Worker, worker_env
from config.celery import app
from config.live_server import live_server_url
from dialogs.models import Script
from dialogs.services import script_save

SCRIPTS = Path(__file__).resolve().parents[2] / "dialogs" / "data"


@pytest.fixture
def api(manager):
    """The API as a manager sees it (a test module may define its own ``api``)."""
    client = APIClient()
    client.force_authenticate(manager)
    return client


@pytest.fixture
def script(db):
    s = Script(name="Freight RU", language="ru",
               dialogue_map=json.loads((SCRIPTS / "freight_ru.json").read_text(encoding="utf-8")))
    return script_save(script=s)


@pytest.fixture
def contact_list(db):
    return ContactList.objects.create(name="Test list")


@pytest.fixture
def make_contact(contact_list):
    counter = iter(range(1, 100000))

    def make(**kw):
        n = next(counter)
        defaults = {"contact_list": contact_list, "phone": f"+7916000{n:04d}", "name": f"Контакт {n}",
                    "company": f"ООО «Ромашка {n}»", "timezone": "Europe/Moscow"}
        defaults.update(kw)
        return Contact.objects.create(**defaults)

    return make


@pytest.fixture
def make_campaign(script, contact_list):
    def make(**kw):
        defaults = {"name": f"Campaign {Campaign.objects.count() + 1}", "script": script,
                    "contact_list": contact_list, "status": Campaign.Status.ACTIVE,
                    "window_start": time(10), "window_end": time(19), "weekdays": [0, 1, 2, 3, 4, 5, 6],
                    "max_concurrent_calls": 2, "average_call_seconds": 120, "telephony_provider": "fake"}
        defaults.update(kw)
        return Campaign.objects.create(**defaults)

    return make


@pytest.fixture
def fake_telephony():
    FakeTelephony.reset()
    yield FakeTelephony
    FakeTelephony.reset()


@pytest.fixture
def rehearsal_worker(transactional_db, tmp_path):
    """The running stack a rehearsal needs: daphne in this process and a real ``celery worker`` process.

    The worker's simulated callees dial this process's daphne (``PUBLIC_BASE_URL``); the broker holds
    nothing of earlier tests before, nor of this one after.
    """
    base_url = live_server_url()
    app.control.purge()
    worker = Worker(worker_env(PUBLIC_BASE_URL=base_url), tmp_path / "worker.log", "rehearsal")
    try:
        worker.wait_ready()
        yield worker
    finally:
        worker.stop()
        app.control.purge()
