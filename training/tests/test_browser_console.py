"""The manager's side of the trainer in real Chromium: scorecards, assignments and the map editor.

The trainee's conversation goes through the transcript endpoint, as the ElevenLabs mode's page posts
it at the end (no microphone needed): the page itself calls it with its CSRF token, a Celery worker
thread scores the session, and the review arrives on the page by itself.
"""

from __future__ import annotations

import contextlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connection
from playwright.sync_api import sync_playwright

from config.live_server import live_server_url
from dialogs.models import Script
from dialogs.scriptmap import demo_map
from dialogs.services import script_save
from training.models import Assignment, Certification, Scenario, Trainee
from training.services import scorecard_default_ensure, session_start

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (/usr/bin/chromium)"),
]
PASSWORD = "pw-for-tests-123"

GOOD_CALL = [
    ("bot", "Hello?"),
    ("user", "Hello, my name is Anna from CargoLine. I'm calling about freight from China."),
    ("bot", "We already have a carrier."),
    ("user", "I understand. What matters most to you in delivery?"),
    ("bot", "Speed, we ship furniture from Foshan every month."),
    ("user", "You said speed: furniture from Foshan in 25 days, insured, which means you save two weeks. "
             "Let's meet tomorrow at 11? Thank you!"),
]


@pytest.fixture(scope="module")
def daphne_url(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        yield live_server_url()


@contextlib.contextmanager
def _browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=["--no-sandbox", "--disable-background-networking"])
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def _page(browser, base: str, username: str, tmp_path: Path):
    context = browser.new_context(locale="ru-RU")
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    try:
        yield page
    except Exception:
        print("\n".join(console[-30:]))
        with contextlib.suppress(Exception):
            page.screenshot(path=str(tmp_path / f"{username}.png"))
            print(page.inner_text("body", timeout=3000)[:3000])
        raise
    finally:
        context.close()


def _practise(page, base: str, scenario_id: int, turns) -> int:
    """Start a session from the form, hand the conversation in as the agent mode does, open the review."""
    page.goto(f"{base}/training/start/?scenario={scenario_id}")
    page.click("#start-button")
    page.wait_for_url("**/live/")
    session_id = int(page.url.rstrip("/").split("/")[-2])
    # The agent conversation itself is not the subject here: the session starts as the signed-URL
    # handout starts it (no ElevenLabs stand-in), then the page posts the transcript as the agent mode does.
    def start() -> None:  # off Playwright's event loop, where Django refuses database work
        try:
            session_start(session_id=session_id)
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(start).result()
    result = page.evaluate(
        """async ([url, turns]) => {
            const token = document.querySelector('input[name=csrfmiddlewaretoken]').value;
            const r = await fetch(url, {method: 'POST', credentials: 'same-origin',
              headers: {'Content-Type': 'application/json', 'X-CSRFToken': token},
              body: JSON.stringify({turns: turns.map(([speaker, text]) => ({speaker, text}))})});
            return {status: r.status, body: await r.json()};
        }""",
        [f"/training/sessions/{session_id}/transcript/", turns],
    )
    assert result["status"] == 200, result
    page.goto(base + result["body"]["review_url"])
    page.wait_for_selector("#score-total", timeout=60000)
    return session_id


def test_a_manager_edits_the_scorecard_and_the_trainee_sees_the_new_checks(
    daphne_url, celery_worker_thread, make_user, tmp_path
):
    boss = make_user("boss1", "Manager")
    boss.is_staff = True
    boss.save()
    make_user("trainee1", "Trainee")
    scenario = Scenario.objects.create(title="Freight (scorecard)", language="en", persona="john_en",
                                       mode=Scenario.Mode.ELEVENLABS, elevenlabs_agent_id="agent_console_test",
                                       product_description="Door-to-door freight from China in 25 days.")
    card = scorecard_default_ensure()
    prefix = f"checks-{card.checks.count()}"  # the empty row after the existing checks
    with _browser() as browser:
        with _page(browser, daphne_url, "boss1", tmp_path) as page:
            page.goto(f"{daphne_url}/admin/training/scorecard/{card.pk}/change/")
            page.fill("#id_pass_threshold", "60")
            # a check of the manager's own, in the empty row
            page.fill(f"input[name='{prefix}-order']", "200")
            page.fill(f"input[name='{prefix}-stage']", "Insurance")
            page.fill(f"input[name='{prefix}-label']", "Mentioned cargo insurance")
            page.fill(f"textarea[name='{prefix}-description']", "Says the cargo is insured.")
            page.fill(f"input[name='{prefix}-points']", "10")
            page.select_option(f"select[name='{prefix}-rule']", "phrases")
            page.fill(f"input[name='{prefix}-phrases']", "insured, insurance")
            page.click("input[name=_save]")
            page.wait_for_selector(".messagelist .success, ul.messagelist li")
    # (Django refuses database calls while Playwright's loop runs in this thread: check between browsers)
    assert card.checks.filter(label="Mentioned cargo insurance", rule="phrases").exists()
    with _browser() as browser:
        with _page(browser, daphne_url, "trainee1", tmp_path) as page:
            _practise(page, daphne_url, scenario.pk, GOOD_CALL)
            page.wait_for_selector("#scorecard")
            checks = page.inner_text("#scorecard")
            assert "Mentioned cargo insurance" in checks  # the new check, by the manager's words
            assert "Поздоровался" in checks  # the shipped checks, in the trainee's language
            assert "проходной балл 60" in page.inner_text("#score-verdict")


def test_a_manager_assigns_a_scenario_the_trainee_passes_and_is_certified(
    daphne_url, celery_worker_thread, make_user, tmp_path
):
    boss = make_user("boss2", "Manager")
    boss.is_staff = True
    boss.save()
    make_user("trainee2", "Trainee")
    Trainee.objects.filter(user__username="trainee2").update(team="North")
    scenario = Scenario.objects.create(title="Freight (assigned)", language="en", persona="john_en",
                                       mode=Scenario.Mode.ELEVENLABS, elevenlabs_agent_id="agent_console_test",
                                       product_description="Door-to-door freight from China in 25 days.")
    with _browser() as browser:
        with _page(browser, daphne_url, "boss2", tmp_path) as page:
            page.goto(f"{daphne_url}/training/")
            page.click("#assignments-overview a.button")  # «Assign a scenario» opens the admin form
            page.wait_for_url("**/admin/training/assignment/add/")
            page.select_option("#id_scenario", str(scenario.pk))
            page.select_option("#id_team", "North")
            page.fill("#id_due_at_0", "31.12.2030")
            page.fill("#id_due_at_1", "18:00:00")
            page.fill("#id_pass_threshold", "60")
            page.fill("#id_max_attempts", "2")
            page.click("input[name=_save]")
            page.wait_for_url("**/admin/training/assignment/")
    assignment = Assignment.objects.get()
    assert assignment.team == "North" and assignment.max_attempts == 2 and assignment.created_by == boss
    with _browser() as browser:
        with _page(browser, daphne_url, "trainee2", tmp_path) as page:
            page.goto(f"{daphne_url}/training/")
            row = page.locator(f"#my-assignments tr.assignment[data-scenario='{scenario.pk}']")
            assert "Freight (assigned)" in row.inner_text() and "Открыто" in row.inner_text()
            assert "0 / 2" in row.inner_text()
            row.locator("a").click()  # «Practise» opens the start form with the scenario chosen
            page.wait_for_url("**/training/start/**")
            _practise(page, daphne_url, scenario.pk, GOOD_CALL)
            assert int(page.inner_text("#score-total")) >= 60
            page.wait_for_selector("#certified-badge")
            page.goto(f"{daphne_url}/training/")
            assert "Freight (assigned)" in page.inner_text("#certifications")
            assert page.locator("#my-assignments tr.assignment").count() == 0  # passed: no longer open
    assert Certification.objects.filter(scenario=scenario, assignment=assignment).count() == 1
    with _browser() as browser:
        with _page(browser, daphne_url, "boss2", tmp_path) as page:
            page.goto(f"{daphne_url}/training/")
            cell = page.locator("#assignments-overview tr[data-trainee='trainee2']")
            assert cell.get_attribute("data-status") == "passed" and "Сдано" in cell.inner_text()


def test_a_manager_opens_the_map_editor_and_sees_the_stage_graph(daphne_url, transactional_db, make_user, tmp_path):
    boss = make_user("boss3", "Manager")
    boss.is_staff = True
    boss.save()
    script = Script(name="Freight map", language="en", dialogue_map=demo_map("en"))
    script_save(script=script)
    stages = list(demo_map("en")["stages"])
    with _browser() as browser, _page(browser, daphne_url, "boss3", tmp_path) as page:
        page.goto(f"{daphne_url}/admin/dialogs/script/{script.pk}/change/")
        page.wait_for_selector("#stage-graph[data-drawn='1'] svg")
        for stage in stages:
            assert page.locator(f"#stage-graph g.stage[data-stage='{stage}']").count() == 1
        assert page.locator("#stage-graph g.unreachable").count() == 0
        text = page.input_value("textarea.map-editor")
        assert text.startswith('{\n  "language": "en"')  # pretty-printed, not one line
        assert page.get_attribute(".map-editor-status", "data-state") == "ok"
        # a stage nothing leads to: the graph redraws and marks it
        data = json.loads(text)
        data["stages"]["upsell"] = {"phrases": ["And storage, too."], "transitions": {"agree": "closing"}}
        page.fill("textarea.map-editor", json.dumps(data, indent=2))
        page.wait_for_selector("#stage-graph g.unreachable[data-stage='upsell']", timeout=10000)
        # a typo in the JSON is shown with its line, and the page keeps the text
        page.fill("textarea.map-editor", '{\n  "start": "greeting",\n  oops\n}')
        page.wait_for_function("document.querySelector('.map-editor-status').dataset.state === 'error'")
        assert "строка 3" in page.inner_text(".map-editor-status")
