"""Recordings leave only through views that check the role; nothing under /media/ is public in any setting."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import pytest
from django.core.files.base import ContentFile
from django.urls import clear_url_caches

import config.urls
from calls.models import Call
from config.tests.test_deploy import PRODUCTION_ENV, ROOT
from training.tests.conftest import scenario_ru, session_of  # noqa: F401

pytestmark = pytest.mark.django_db
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 28


@pytest.fixture
def recorded_call(make_campaign, make_contact):
    call = Call.objects.create(campaign=make_campaign(), contact=make_contact())
    call.recording.save(f"call_{call.pk}.wav", ContentFile(WAV))
    return call


@pytest.fixture
def recorded_session(trainee, scenario_ru, session_of):  # noqa: F811
    session = session_of(trainee, scenario_ru)
    session.audio.save(f"session_{session.pk}.wav", ContentFile(WAV))
    return session


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_anonymous_is_refused_everything(client, recorded_call, recorded_session):
    for url in (f"/calls/{recorded_call.pk}/recording/", f"/training/sessions/{recorded_session.pk}/audio/"):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.get("/media/" + recorded_call.recording.name).status_code == 404
    assert client.get("/media/" + recorded_session.audio.name).status_code == 404


def test_managers_and_operators_hear_calls(client, manager, operator, recorded_call):
    for user in (manager, operator):
        client.force_login(user)
        response = client.get(f"/calls/{recorded_call.pk}/recording/")
        assert response.status_code == 200 and response["Content-Type"] == "audio/wav"
        assert _body(response) == WAV and "no-store" in response["Cache-Control"]


def test_a_trainee_hears_only_their_own_sessions_and_no_calls(
    client, trainee, other_trainee, recorded_call, recorded_session
):
    client.force_login(trainee)
    assert client.get(f"/calls/{recorded_call.pk}/recording/").status_code == 403
    assert _body(client.get(f"/training/sessions/{recorded_session.pk}/audio/")) == WAV
    client.force_login(other_trainee)
    assert client.get(f"/training/sessions/{recorded_session.pk}/audio/").status_code == 404


def test_media_is_not_routed_even_with_debug_on(client, settings, recorded_call):
    settings.DEBUG = True
    clear_url_caches()


    importlib.reload(config.urls)
    try:
        assert client.get("/media/" + recorded_call.recording.name).status_code == 404
    finally:
        settings.DEBUG = False
        importlib.reload(config.urls)
        clear_url_caches()


def test_under_production_settings_the_call_page_plays_it_through_the_proxy(client, settings, manager,
                                                                            recorded_call):
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c",
         "import json; from django.conf import settings; from django.urls import resolve, Resolver404\n"
         "try:\n    resolve('/media/calls/x.wav'); media = True\nexcept Resolver404:\n    media = False\n"
         "print(json.dumps({'accel': settings.MEDIA_X_ACCEL_REDIRECT, 'media_routed': media,"
         " 'view': resolve('/calls/1/recording/').url_name}))"],
        cwd=ROOT, env={**os.environ, **PRODUCTION_ENV}, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    production = json.loads(result.stdout.strip().splitlines()[-1])
    assert production == {"accel": "/protected-media/", "media_routed": False, "view": "call_recording"}

    settings.MEDIA_X_ACCEL_REDIRECT = production["accel"]
    client.force_login(manager)
    page = client.get(f"/calls/{recorded_call.pk}/").content.decode()
    assert f'src="/calls/{recorded_call.pk}/recording/"' in page
    response = client.get(f"/calls/{recorded_call.pk}/recording/")
    assert response.status_code == 200 and response.content == b""  # nginx streams the file
    assert response["X-Accel-Redirect"] == "/protected-media/" + recorded_call.recording.name
    assert response["Content-Type"] == "audio/wav"
