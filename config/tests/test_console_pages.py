"""Every console page, for every role, in Russian: no catalogue message left in English, no raw state code."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from pathlib import Path

import polib
import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse
from django.utils import translation

from calls.models import Call, CallEvent, Campaign, ContactList
from config.demo.services import demo_seed
from config.templatetags.console import object_count
from config.views import server_error
from crm.models import Lead
from training import services
from training.models import Scenario, Trainee
from training.services import TurnRecord

pytestmark = pytest.mark.django_db

# status codes and pipeline states a person should never read in the Russian console
RAW_STATES = re.compile(
    r"(?<![\w/-])(queued|dialing|ringing|in_progress|analysing|follow_up|scoring|scored|IDLE|LISTENING|"
    r"ANALYZING_SPEECH|CHECKING_CACHE|ROUTING_TO_LLM|GENERATING_SPEECH|SPEAKING|late_report)(?![\w/-])"
)


class _VisibleText(HTMLParser):
    """The text a person reads: no scripts, styles, JSON blocks or the map editor's raw JSON."""

    SKIP = {"script", "style", "textarea", "svg"}

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.depth += 1
        for name, value in attrs:  # what the reader sees in attributes: placeholders, tooltips, button labels
            if name in ("title", "placeholder", "aria-label") or (name == "value" and ("type", "submit") in attrs):
                self.parts.append(value or "")

    def handle_endtag(self, tag):
        if tag in self.SKIP and self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if not self.depth:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _VisibleText()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def _english_messages() -> list[str]:
    """Literal pieces of catalogue messages (placeholders cut out) long enough to be unmistakable."""
    po = polib.pofile(str(Path(__file__).resolve().parents[2] / "locale/ru/LC_MESSAGES/django.po"))
    pieces = set()
    for e in po:
        if e.obsolete or e.msgid_plural or e.msgstr == e.msgid:
            continue
        for piece in re.split(r"%\(\w+\)[sd]|%[sd]|\{\{[^}]*\}\}|\{[^}]*\}|<[^>]+>", e.msgid):
            piece = " ".join(piece.split()).strip(" .,:;«»“”()—-")
            if len(piece) >= 12 and " " in piece:
                pieces.add(piece)
    return sorted(pieces)


@pytest.fixture
def console(db, django_user_model):
    """The demo (users of every role, scripts, campaign, scenarios) plus a call, a scored session, an assignment."""
    demo_seed(password="pw-for-tests-123")
    campaign = Campaign.objects.get()
    contact = campaign.contact_list.contacts.first()
    call = Call.objects.create(campaign=campaign, contact=contact, status=Call.Status.DONE)
    for a, b in (("", "queued"), ("queued", "dialing"), ("dialing", "in_progress"), ("in_progress", "ended"),
                 ("ended", "analysing"), ("analysing", "done")):
        CallEvent.objects.create(call=call, from_status=a, to_status=b)
    CallEvent.objects.create(call=call, kind="provider", data={"event": "completed"})
    # why it ended and how an operator's takeover ended, as the media socket and the listen-in record them
    CallEvent.objects.filter(call=call, to_status="ended").update(data={"end_reason": "limit: max_duration"})
    CallEvent.objects.create(call=call, kind="takeover_ended", data={"user": "operator", "reason": "operator gone"})
    anna = Trainee.objects.get(user__username="anna")
    scenario = Scenario.objects.filter(language="ru").first()
    scored = services.session_create(trainee=anna, scenario=scenario)
    services.session_transcript_import(session_id=scored.pk, turns=[
        TurnRecord(speaker="bot", text="Алло."),
        TurnRecord(speaker="user", text="Здравствуйте, меня зовут Анна, компания КаргоЛайн. Как вы возите грузы?"),
        TurnRecord(speaker="bot", text="Дорого у вас, наверное."),
        TurnRecord(speaker="user", text="Понимаю. Давайте завтра в 11 созвонимся? Спасибо!"),
    ])
    services.session_score(session_id=scored.pk)
    live = services.session_create(trainee=anna, scenario=scenario)
    services.assignment_create(scenario=scenario, trainees=[anna], due_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    return {"call": call, "scored": scored, "live": live, "anna": anna}


def _pages(user, data) -> list[str]:
    pages = ["/", "/training/", "/training/history/", "/training/start/",
             f"/training/sessions/{data['scored'].pk}/", f"/training/sessions/{data['live'].pk}/live/",
             "/calls/", f"/calls/{data['call'].pk}/", "/analytics/", "/analytics/training/",
             f"/analytics/training/trainees/{data['anna'].pk}/", "/no-such-page/"]
    if user.is_staff:
        pages.append(reverse("admin:index"))
        for model, model_admin in admin.site._registry.items():
            if not model_admin.has_view_permission(_request_for(user)):
                continue
            info = (model._meta.app_label, model._meta.model_name)
            pages.append(reverse("admin:{}_{}_changelist".format(*info)))
            if model_admin.has_add_permission(_request_for(user)):
                pages.append(reverse("admin:{}_{}_add".format(*info)))
            first = model_admin.get_queryset(_request_for(user)).first()
            if first is not None:
                pages.append(reverse("admin:{}_{}_change".format(*info), args=[first.pk]))
    return pages


def _request_for(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


@pytest.mark.parametrize("username", ["manager", "operator", "anna"])
def test_every_page_for_every_role_reads_in_russian(client, console, username, django_user_model):
    user = django_user_model.objects.get(username=username)
    client.force_login(user)
    english = _english_messages()
    seen = 0
    problems: list[str] = []
    for url in _pages(user, console):
        response = client.get(url, HTTP_ACCEPT_LANGUAGE="ru", follow=True)
        if response.status_code not in (200, 403, 404) or "text/html" not in response.get("Content-Type", ""):
            continue
        seen += 1
        text = visible_text(response.content.decode())
        problems += [f"{url}: English «{m}»" for m in english if m in text]
        problems += [f"{url}: raw state «{m.group(0)}»" for m in RAW_STATES.finditer(text)]
    assert seen >= 10
    assert problems == [], "\n".join(problems)


def test_the_pages_are_checked_for_what_they_say(client, console, django_user_model):
    """The check itself: an English message and a raw state are caught."""
    assert "Every contact has been called and every call is done" in _english_messages()
    text = visible_text("<p>queued → dialing</p><script>var s='IDLE'</script><textarea>scored</textarea>")
    assert [m.group(0) for m in RAW_STATES.finditer(text)] == ["queued", "dialing"]


def test_forbidden_and_missing_pages_are_styled_with_the_menu_and_log_no_traceback(client, console,
                                                                                   django_user_model, caplog):
    client.force_login(django_user_model.objects.get(username="operator"))
    with caplog.at_level("WARNING", logger="django.request"):
        response = client.get("/analytics/", HTTP_ACCEPT_LANGUAGE="ru")
    assert response.status_code == 403
    html = response.content.decode()
    assert 'id="error-403"' in html and "Доступ запрещён" in html and 'class="topbar"' in html
    assert "/calls/" in html  # the operator's menu is on the page
    records = [r for r in caplog.records if r.name == "django.request"]
    assert records and all(r.exc_info is None for r in records)
    missing = client.get("/calls/999999/", HTTP_ACCEPT_LANGUAGE="ru")
    assert missing.status_code == 404 and 'id="error-404"' in missing.content.decode()


def test_a_calls_page_says_in_russian_why_it_ended_and_why_a_takeover_ended(client, console, django_user_model):
    client.force_login(django_user_model.objects.get(username="operator"))
    text = visible_text(client.get(f"/calls/{console['call'].pk}/", HTTP_ACCEPT_LANGUAGE="ru").content.decode())
    assert "лимит длительности звонка" in text and "связь с оператором пропала" in text
    assert "max_duration" not in text and "operator gone" not in text


def test_server_error_page_is_styled(rf, console, django_user_model):
    request = rf.get("/boom/")
    request.user = django_user_model.objects.get(username="manager")
    response = server_error(request)
    assert response.status_code == 500 and "Что-то пошло не так" in response.content.decode()


def test_each_role_menu_shows_what_it_may_use(client, console, django_user_model):
    expected = {
        "manager": {"/training/": True, "/calls/": True, "/analytics/": True, "/admin/": True},
        "operator": {"/training/": False, "/calls/": True, "/analytics/": False, "/admin/": True},
        "anna": {"/training/": True, "/calls/": False, "/analytics/": False, "/admin/": False},
    }
    for username, links in expected.items():
        client.force_login(django_user_model.objects.get(username=username))
        html = client.get("/training/history/" if username != "operator" else "/calls/").content.decode()
        nav = html.split("<nav>", 1)[1].split("</nav>", 1)[0]
        for href, shown in links.items():
            assert (f'href="{href}"' in nav) is shown, (username, href)
            if shown:  # and what is shown opens
                assert client.get(href, follow=True).status_code == 200, (username, href)


def test_counts_use_russian_plurals(client, console, django_user_model):
    with translation.override("ru"):
        assert object_count(Lead._meta, 2) == "2 лида"
        assert object_count(Call._meta, 5) == "5 звонков"
        assert object_count(ContactList._meta, 2) == "2 списка контактов"
        assert object_count(Call._meta, 21) == "21 звонок"
    client.force_login(django_user_model.objects.get(username="manager"))
    html = client.get("/admin/calls/call/", HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert '<span class="result-count">1 звонок</span>' in html
