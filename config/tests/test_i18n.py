"""The console speaks Russian by default and English on request."""

import pytest

pytestmark = pytest.mark.django_db


def test_login_page_is_russian_by_default(client):
    html = client.get("/accounts/login/").content.decode()
    assert 'lang="ru"' in html and "Войти" in html


def test_english_is_available(client):
    client.post("/i18n/setlang/", {"language": "en", "next": "/accounts/login/"})
    html = client.get("/accounts/login/").content.decode()
    assert 'lang="en"' in html and "Sign in" in html
