"""The console speaks Russian by default and English on request."""

from pathlib import Path

import polib
import pytest

pytestmark = pytest.mark.django_db


def test_login_page_is_russian_by_default(client):
    html = client.get("/accounts/login/").content.decode()
    assert 'lang="ru"' in html and "Войти" in html


def test_english_is_available(client):
    client.post("/i18n/setlang/", {"language": "en", "next": "/accounts/login/"})
    html = client.get("/accounts/login/").content.decode()
    assert 'lang="en"' in html and "Sign in" in html


def test_an_english_browser_still_gets_russian_until_the_user_switches(client):
    html = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert 'lang="ru"' in html and "Войти" in html
    client.post("/i18n/setlang/", {"language": "en", "next": "/accounts/login/"})
    html = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert 'lang="en"' in html


def test_the_russian_catalogue_translates_every_message_in_every_plural_form():
    po = polib.pofile(str(Path(__file__).resolve().parents[2] / "locale/ru/LC_MESSAGES/django.po"))
    missing = [e.msgid for e in po if not e.obsolete and (
        "fuzzy" in e.flags or (any(not s for s in e.msgstr_plural.values()) if e.msgid_plural else not e.msgstr))]
    assert missing == []
