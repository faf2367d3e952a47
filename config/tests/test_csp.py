"""Content-Security-Policy: scripts only from this site, sockets to this site; every page still works under it."""

from __future__ import annotations

import json
import re
import time
import wave
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django_celery_beat.models import PeriodicTask
from playwright.sync_api import sync_playwright

from calls.models import Call, Campaign, ContactList
from calls.tests.conftest import SCRIPTS
from config.live_server import live_server_url
from dialogs.models import Script
from dialogs.services import script_save
from training import services
from training.models import Scenario

CHROMIUM = Path("/usr/bin/chromium")
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")(?![^>]*\bnonce=)[^>]*>",
                           re.IGNORECASE)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)


def _directives(header: str) -> dict[str, list[str]]:
    out = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


@pytest.mark.django_db
def test_every_page_carries_the_policy(client, manager):
    client.force_login(manager)
    header = client.get(reverse("calls:board"))["Content-Security-Policy"]
    policy = _directives(header)
    assert policy["script-src"] == ["'self'"]  # no nonce where no template asked for one
    assert "'self'" in policy["connect-src"] and "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-eval'" not in header and policy["object-src"] == ["'none'"]
    assert "Content-Security-Policy" in client.get("/api/docs/")
    assert "Content-Security-Policy" in client.get("/accounts/login/")


@pytest.fixture
def pages(db, manager, operator, trainee, make_user, settings):
    """One of each page, with the objects it shows."""
    script = script_save(script=Script(name="S", language="ru",
                                       dialogue_map=json.loads((SCRIPTS / "freight_ru.json").read_text("utf-8"))))
    contacts = ContactList.objects.create(name="L")
    contact = contacts.contacts.create(phone="+79160000001", name="Иван", timezone="Europe/Moscow")
    campaign = Campaign.objects.create(name="C", script=script, contact_list=contacts)
    call = Call.objects.create(campaign=campaign, contact=contact)
    scenario = Scenario.objects.create(title="T", product_description="Грузы из Китая.")
    session = services.session_create(trainee=trainee.trainee, scenario=scenario)
    task = PeriodicTask.objects.filter(task__startswith="calls.").first()
    root = get_user_model().objects.create_superuser("root-csp", password="pw-for-tests-123")
    return {
        manager: [reverse("calls:board"), reverse("calls:call_detail", args=[call.pk]), reverse("analytics:dashboard"),
                  "/api/docs/", "/api/redoc/", "/admin/", f"/admin/calls/campaign/{campaign.pk}/change/",
                  "/admin/calls/contact/", f"/admin/dialogs/script/{script.pk}/change/"],
        operator: [reverse("calls:board")],
        trainee: [reverse("training:home"), reverse("training:session_live", args=[session.pk]),
                  reverse("training:history")],
        root: ["/admin/django_celery_beat/periodictask/add/", "/admin/calls/contact/export/",
               *([f"/admin/django_celery_beat/periodictask/{task.pk}/change/"] if task else [])],
    }


def test_no_page_has_an_inline_script_or_handler_without_a_nonce(client, pages):
    anonymous = ["/accounts/login/"]
    checked = 0
    for user, urls in [(None, anonymous), *pages.items()]:
        client.logout()
        if user is not None:
            client.force_login(user)
        for url in urls:
            page = client.get(url)
            assert page.status_code == 200, url
            html = page.content.decode()
            assert not INLINE_SCRIPT.findall(html), (url, INLINE_SCRIPT.findall(html))
            handlers = INLINE_HANDLER.findall(html)
            assert not handlers, (url, handlers[:3])
            nonce = re.search(r'nonce="([^"]+)"', html)
            if nonce:
                assert f"'nonce-{nonce.group(1)}'" in page["Content-Security-Policy"], url
            checked += 1
    assert checked >= 15


# --- in Chromium, with the policy enforced -----------------------------------------------------------


@pytest.fixture(scope="module")
def daphne_url(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        yield live_server_url()


def _until(page, expression: str, timeout_s: float) -> object:
    """Poll with evaluate (CDP, not page script): wait_for_function would need 'unsafe-eval'."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = page.evaluate(expression)
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (/usr/bin/chromium)")
def test_pages_work_in_chromium_under_the_policy(daphne_url, transactional_db, make_user, tmp_path):
    make_user("csp-trainee", "Trainee")
    make_user("csp-manager", "Manager")
    scenario = Scenario.objects.create(title="CSP", language="en", persona="john_en", difficulty="easy",
                                       product_description="Door-to-door freight from China in 25 days.")
    contacts = ContactList.objects.create(name="L")
    contact = contacts.contacts.create(phone="+79160000001", name="Ivan", timezone="Europe/Moscow")
    script = script_save(script=Script(name="S", language="ru",
                                       dialogue_map=json.loads((SCRIPTS / "freight_ru.json").read_text("utf-8"))))
    call = Call.objects.create(campaign=Campaign.objects.create(name="C", script=script, contact_list=contacts),
                               contact=contact)
    wav = tmp_path / "silence.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(bytes(16000 * 2 * 3))
    violations: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[
            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}", "--no-sandbox", "--disable-background-networking",
            "--autoplay-policy=no-user-gesture-required"])
        try:
            for username, check in (("csp-trainee", "trainer"), ("csp-manager", "calls")):
                page = browser.new_page()
                page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
                page.goto(f"{daphne_url}/accounts/login/")
                page.fill("#id_username", username)
                page.fill("#id_password", "pw-for-tests-123")
                with page.expect_navigation():
                    page.click("button[type=submit]")
                # the language switch (a script file now, not an inline handler) still switches
                with page.expect_navigation():
                    page.select_option("form.lang select", "en")
                assert _until(page, "document.documentElement.lang === 'en'", 10), "language switch"
                if check == "trainer":
                    page.goto(f"{daphne_url}/training/start/?scenario={scenario.pk}")
                    page.click("#start-button")  # htmx posts the form; HX-Redirect opens the live page
                    page.wait_for_url("**/live/")
                    page.click("#start-button")  # microphone (an AudioWorklet module) and the socket
                    assert _until(page, "window.trainer && window.trainer.sentFrames > 10", 30), \
                        page.evaluate("JSON.stringify(window.trainer || null)")
                else:
                    page.goto(f"{daphne_url}/calls/{call.pk}/")
                    assert _until(page, "(document.getElementById('live-status') || {}).textContent === "
                                        "(document.getElementById('live-status') || {dataset: {}}).dataset.on", 15)
                    page.goto(f"{daphne_url}/api/docs/")
                    assert _until(page, "document.querySelectorAll('.opblock').length > 5", 20), "Swagger UI"
                    page.goto(f"{daphne_url}/api/redoc/")
                    assert _until(page, "document.querySelectorAll('[data-section-id]').length > 5", 30), "Redoc"
                    page.fill("input[placeholder='Search...']", "lead")  # its search worker, built from a blob
                    assert _until(page, "document.querySelectorAll('[role=search] li, .search-results li')"
                                        ".length > 0 || document.body.innerText.includes('No results')", 15), "search"
                page.close()
        finally:
            browser.close()
    # Redoc's side menu shows Redocly's logo from their CDN: blocked on purpose (the image hides itself)
    assert not [v for v in violations if "cdn.redoc.ly/redoc/logo-mini.svg" not in v], violations
