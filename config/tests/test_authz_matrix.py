"""Every route declares who may use it, and the routes keep their word (roles × every URL and WebSocket route).

``ACCESS`` is the declaration: for each URL name, the roles that may open it (``public``: anyone,
``signed``: a carrier with a signature, never a session). A route added without a line here fails
``test_every_route_declares_its_access``. Then, for every route, an anonymous visitor must be refused,
unless it is public, and each role must be let into what it is declared for and kept out of the rest.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from config.routing import websocket_urlpatterns

MGR, OPS, TRN = "manager", "operator", "trainee"
ACCESS: dict[str, set[str]] = {
    "home": {"public"},  # the landing page sends each role (or the login) on
    "healthz": {"public"},
    "favicon": {"public"},  # the icon browsers ask for on their first page
    "metrics": {MGR, OPS},  # a bearer token, or staff (managers and operators)
    "login": {"public"},
    "logout": {"public"},
    "set_language": {"public"},
    "api-analytics": {MGR},
    "script-list": {MGR, OPS}, "script-detail": {MGR, OPS},
    "campaign-list": {MGR, OPS}, "campaign-detail": {MGR, OPS},
    "contactlist-list": {MGR, OPS}, "contactlist-detail": {MGR, OPS},
    "contact-list": {MGR, OPS}, "contact-detail": {MGR, OPS},
    "donotcall-list": {MGR, OPS}, "donotcall-detail": {MGR, OPS},
    "call-list": {MGR, OPS}, "call-detail": {MGR, OPS},
    "scenario-list": {MGR, TRN}, "scenario-detail": {MGR, TRN},
    "trainingsession-list": {MGR, TRN}, "trainingsession-detail": {MGR, TRN},
    "lead-list": {MGR, OPS}, "lead-detail": {MGR, OPS},
    "api-root": {"public"},  # the browsable index only lists links; every endpoint checks itself
    "api-token": {"public"}, "api-token-refresh": {"public"}, "api-token-revoke": {"public"},  # POST with credentials
    "api-schema": {MGR, OPS, TRN}, "api-docs": {MGR, OPS, TRN}, "api-redoc": {MGR, OPS, TRN},
    "training:home": {MGR, TRN}, "training:history": {MGR, TRN}, "training:session_start": {TRN},
    "training:session_detail": {MGR, TRN}, "training:session_live": {TRN}, "training:session_review": {MGR, TRN},
    "training:session_end": {TRN}, "training:session_rescore": {MGR}, "training:session_audio": {MGR, TRN},
    "training:elevenlabs_signed_url": {TRN}, "training:session_transcript": {TRN},
    "calls:board": {MGR, OPS}, "calls:call_detail": {MGR, OPS}, "calls:call_recording": {MGR, OPS},
    "calls:rehearse": {MGR}, "calls:single_call": {MGR},
    "calls:twilio_status": {"signed"}, "calls:twilio_amd": {"signed"}, "calls:voximplant_status": {"signed"},
    "telegram_webhook": {"signed"},  # Telegram's X-Telegram-Bot-Api-Secret-Token (setWebhook secret_token)
    "analytics:dashboard": {MGR}, "analytics:other_intents": {MGR}, "analytics:experiments": {MGR},
    "analytics:experiment": {MGR}, "analytics:experiment_stop": {MGR}, "analytics:export": {MGR},
    "analytics:training": {MGR}, "analytics:trainee_progress": {MGR}, "analytics:training_csv": {MGR},
}
# WebSocket routes: how each one authenticates (checked by the consumers' own tests).
WS_ACCESS = {
    "ws/training/<int:session_id>/": "session: the session's trainee, Origin checked",
    "ws/training/<int:session_id>/review/": "session: the trainee or a manager, Origin checked",
    "ws/calls/<int:call_id>/media/": "signed per-call media token, one socket per call",
    "ws/calls/live/": "session: calls.monitor_call, Origin checked",
    "ws/calls/<int:call_id>/live/": "session: calls.monitor_call, Origin checked",
    "ws/calls/<int:call_id>/listen/": "session: calls.monitor_call (operators, managers), Origin checked",
    "": "refused: an unknown path closes with 4404",
}
REFUSED = {302, 401, 403, 405}
SAMPLE = {"pk": "999999", "call_id": "999999", "session_id": "999999", "kind": "calls", "fmt": "csv"}


def _routes(patterns=None, prefix: str = "", namespace: str = ""):
    for p in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(p, URLResolver):
            ns = namespace + (f"{p.namespace}:" if p.namespace else "")
            if ns.startswith("admin") or str(p.pattern).startswith("admin"):
                continue  # Django's admin checks staff and model permissions itself (config/tests/test_roles.py)
            yield from _routes(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern) and p.name:
            yield namespace + p.name, prefix + str(p.pattern)


def _url(pattern: str) -> str | None:
    if "format" in pattern:
        return None  # the .json twins of the API routes answer like their plain ones
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: SAMPLE[m.group(1)], pattern)  # DRF's regex routes
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: SAMPLE[m.group(1)], path)
    return "/" + path.replace("^", "").replace("$", "")


def test_every_route_declares_its_access():
    names = {name for name, _ in _routes()}
    assert not names - set(ACCESS), f"routes without a declared permission: {sorted(names - set(ACCESS))}"
    assert not set(ACCESS) - names, f"declarations of routes that are gone: {sorted(set(ACCESS) - names)}"
    ws = {str(p.pattern) for p in websocket_urlpatterns}
    assert ws == set(WS_ACCESS), f"WebSocket routes without a declared permission: {sorted(ws - set(WS_ACCESS))}"


@pytest.mark.django_db
def test_anonymous_visitors_are_refused_everywhere_but_public_routes():
    client = Client()
    for name, pattern in _routes():
        url = _url(pattern)
        if url is None or ACCESS[name] & {"public"}:
            continue
        status = client.get(url).status_code
        if "signed" in ACCESS[name]:
            assert status in REFUSED | {400}, (name, url, status)  # an unsigned callback is refused
        else:
            assert status in REFUSED, (name, url, status)


@pytest.mark.django_db
def test_each_role_gets_what_it_is_declared_for_and_nothing_else(manager, operator, trainee):
    for role, user in ((MGR, manager), (OPS, operator), (TRN, trainee)):
        client = Client()
        client.force_login(user)
        for name, pattern in _routes():
            url = _url(pattern)
            declared = ACCESS[name]
            if url is None or declared & {"public", "signed"}:
                continue
            status = client.get(url).status_code
            if role in declared:
                # let in: the page, or a missing sample object, or a POST-only action
                assert status not in (401, 403), (role, name, url, status)
            else:
                # kept out; a view that scopes objects to their owner may answer 404 for a foreign id
                assert status in REFUSED | {404}, (role, name, url, status)
