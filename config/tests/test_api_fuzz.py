"""schemathesis over every API operation, for every role: no 5xx, answers match the schema, refusals are 401/403.

The schema is drf-spectacular's own (the one ``/api/schema/`` serves, checked below), built without a
request so collecting the tests touches no database. Each operation is then fuzzed in-process through
Django's WSGI handler, inside the test's transaction, in the test's thread: no server, no threads.
Django closes the database connection at the end of every request (``close_old_connections``), which
inside a test's transaction is the "closed database" error a first draft met; the test client
disconnects that handler for its requests, and so does the ``wsgi_app`` fixture here.

Roles: anonymous, trainee, operator, manager (the groups in ``config.roles``) and a superuser (admin).
Who may use an operation comes from ``config/tests/test_authz_matrix.py``'s ``ACCESS``: a role
declared there must never see a 5xx or an answer outside the schema (a 403 for a write its group may
not make is fine); any other role must get 401 (anonymous) or 403, never a 2xx or a 5xx.

Half the examples of an operation with an ``{id}`` aim at a real object (a script in use by a
campaign, a number on the do-not-call list...), so the in-use and duplicate paths are reached, not only
404s. Examples are bounded and derandomized: the same cases run on every machine, in about a minute.
"""

from __future__ import annotations

import json
from datetime import time
from pathlib import Path

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from django.urls import resolve
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework_simplejwt.tokens import RefreshToken
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from calls.models import Call, Campaign, Contact, ContactList, DoNotCall
from config.tests.test_authz_matrix import ACCESS, MGR, OPS, TRN
from crm.models import Lead
from dialogs.models import Script
from dialogs.services import script_save
from training import services as training
from training.models import Scenario


def _spectacular_schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


SCHEMA = _spectacular_schema()
API = schemathesis.openapi.from_dict(json.loads(json.dumps(SCHEMA, default=str)))
OPERATIONS = [
    f"{method.upper()} {path}"
    for path, item in SCHEMA["paths"].items()
    for method in item
    if method in ("get", "post", "put", "patch", "delete")
]
ADMIN, ANON = "admin", "anonymous"
ROLES = (ANON, TRN, OPS, MGR, ADMIN)
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]
ALLOWED_EXAMPLES = 10  # per operation and role with access: valid and invalid input, some on a real object
REFUSED_EXAMPLES = 2  # a refusal does not depend on the body

KNOWN_BODIES = {
    "POST /api/do-not-call/": {"phone": "+79160000002"},  # already on the list
    "PUT /api/do-not-call/{id}/": {"phone": "+79160000003"},  # another entry's number
    "PATCH /api/do-not-call/{id}/": {"phone": "+79160000003"},
}


def _declared(role: str, path: str) -> bool:
    if role == ADMIN:
        return True
    name = resolve(path.replace("{id}", "1")).view_name
    declared = ACCESS[name]
    return "public" in declared or role in declared


@pytest.fixture
def wsgi_app():
    """Django's WSGI handler, minus the per-request connection close (as ``django.test.Client`` does)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def world(make_user, manager, operator, trainee):
    """One object of each kind, linked the way production links them; ``ids`` maps an API path to one."""
    admin = get_user_model().objects.create_superuser(username="root", password="pw-for-tests-123")
    demo = Path(django_settings.BASE_DIR) / "dialogs" / "data" / "freight_ru.json"
    script = script_save(script=Script(name="Freight RU", language="ru",
                                       dialogue_map=json.loads(demo.read_text(encoding="utf-8"))))
    contact_list = ContactList.objects.create(name="List")
    contact = Contact.objects.create(contact_list=contact_list, phone="+79160000001", name="Иван",
                                     timezone="Europe/Moscow")
    campaign = Campaign.objects.create(name="Campaign", script=script, contact_list=contact_list,
                                       window_start=time(10), window_end=time(19), weekdays=[0, 1, 2, 3, 4],
                                       telephony_provider="simulated")
    call = Call.objects.create(campaign=campaign, contact=contact)
    dnc = DoNotCall.objects.create(phone="+79160000002")
    DoNotCall.objects.create(phone="+79160000003")
    lead = Lead.objects.create(call=call, contact=contact, title="Доставка из Китая")
    scenario = Scenario.objects.create(title="Грузы", language="ru", product_description="Доставка.",
                                       persona="sergey_medium", difficulty="medium")
    session = training.session_create(trainee=trainee.trainee, scenario=scenario)
    users = {TRN: trainee, OPS: operator, MGR: manager, ADMIN: admin}
    headers = {role: {"Authorization": f"Bearer {RefreshToken.for_user(u).access_token}"} for role, u in users.items()}
    headers[ANON] = {}
    ids = {"/api/scripts/{id}/": script.pk, "/api/contact-lists/{id}/": contact_list.pk,
           "/api/contacts/{id}/": contact.pk, "/api/campaigns/{id}/": campaign.pk, "/api/calls/{id}/": call.pk,
           "/api/do-not-call/{id}/": dnc.pk, "/api/leads/{id}/": lead.pk, "/api/scenarios/{id}/": scenario.pk,
           "/api/training-sessions/{id}/": session.pk}
    return {"headers": headers, "ids": ids}


def test_the_fuzzed_schema_is_the_served_one(manager):
    client = Client()
    client.force_login(manager)
    served = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert served.status_code == 200
    assert set(json.loads(served.content)["paths"]) == set(SCHEMA["paths"])
    assert len(OPERATIONS) >= 40  # every viewset's actions, the analytics view and the token endpoints


@pytest.mark.django_db
@pytest.mark.parametrize("label", OPERATIONS)
def test_every_operation_for_every_role(label, world, wsgi_app):
    operation = API[label.split(" ", 1)[1]][label.split(" ", 1)[0]]
    for role in ROLES:  # one world per operation: a manager's DELETE may leave the admin a 404, which is fine
        seen = _fuzz(operation, label, role, world, wsgi_app)
        assert seen, (label, role)


def _fuzz(operation, label: str, role: str, world: dict, wsgi_app) -> list[int]:
    path = operation.path
    allowed = _declared(role, path)
    headers = world["headers"][role]
    strategy = operation.as_strategy()
    if allowed:
        strategy = st.one_of(strategy, operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    if "{id}" in path:
        strategy = st.one_of(strategy, operation.as_strategy(path_parameters={"id": world["ids"][path]}))
    if label in KNOWN_BODIES:  # a body that passes validation and meets a constraint (a duplicate number)
        kwargs = {"path_parameters": {"id": world["ids"][path]}} if "{id}" in path else {}
        known = operation.as_strategy(body=KNOWN_BODIES[label], media_type="application/json", **kwargs)
        strategy = st.one_of(strategy, known)
    seen: list[int] = []

    @given(case=strategy)
    @settings(max_examples=ALLOWED_EXAMPLES if allowed else REFUSED_EXAMPLES, derandomize=True, database=None,
              deadline=None, suppress_health_check=list(HealthCheck))
    def fuzz(case):
        if "Authorization" in headers:
            case.headers = {**(case.headers or {}), **headers}  # the role's token wins over a generated one
        else:
            (case.headers or {}).pop("Authorization", None)
        response = case.call(app=wsgi_app)
        seen.append(response.status_code)
        if not allowed:
            expected = 401 if role == ANON else 403
            assert response.status_code == expected, (role, label, response.status_code, response.text[:300])
        case.validate_response(response, checks=CHECKS, transport_kwargs={"app": wsgi_app})

    fuzz()
    return seen


def test_an_api_path_no_route_matches_answers_json(client):
    """``/api/calls/1.5e-13/`` (a generated id) matches no route: a JSON 404 like the API's own, not the HTML page."""
    for path in ("/api/calls/1.5e-13/", "/api/nope/"):
        response = client.get(path)
        assert response.status_code == 404 and response["Content-Type"] == "application/json", path
        assert response.json()["code"] == "not_found" and response.json()["detail"], path
    page = client.get("/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
