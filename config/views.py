"""Project-wide pages: the role router at /, health, and the guarded Prometheus endpoint."""

from __future__ import annotations

import hmac
import logging

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseServerError, JsonResponse
from django.shortcuts import redirect, render
from django.template import loader
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django.views.defaults import page_not_found
from rest_framework.exceptions import NotFound

from config.health import health_checks
from config.metrics import metrics_exposition
from config.roles import MANAGER, OPERATOR, TRAINEE, user_role

log = logging.getLogger(__name__)
ROLE_HOME = {MANAGER: "analytics:dashboard", OPERATOR: "calls:board", TRAINEE: "training:home"}


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each role to its console; a user with no role gets a page saying whom to ask."""
    role = user_role(request.user)
    if role in ROLE_HOME:
        return redirect(ROLE_HOME[role])
    return render(request, "no_role.html", status=403)


# A small icon at the address every browser asks for on its first page (the console and the admin alike):
# without it each first visit logged «Failed to load resource: 404» in the browser console.
FAVICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    '<rect width="16" height="16" rx="3" fill="#1f5fbf"/>'
    '<path d="M5 4v8M8 2v12M11 5v6" stroke="#fff" stroke-width="1.6" stroke-linecap="round"/></svg>'
)


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(FAVICON_SVG, content_type="image/svg+xml")
    response["Cache-Control"] = "public, max-age=86400"
    return response


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Public on purpose (load balancers, orchestrators); it reveals states, never configuration."""
    checks = health_checks()
    ok = all(c.ok for c in checks)
    body = {
        "status": "ok" if ok else "fail",
        "checks": {c.name: {"ok": c.ok, "ms": c.ms, **({} if c.ok else {"error": c.detail[:200]})} for c in checks},
    }
    return JsonResponse(body, status=200 if ok else 503)


@require_GET
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus scrape: a bearer token when METRICS_TOKEN is set, else a signed-in staff user."""
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    allowed = bool(token) and hmac.compare_digest(header, f"Bearer {token}")
    if not (allowed or (request.user.is_authenticated and request.user.is_staff)):
        return HttpResponseForbidden("metrics require a token or a staff login")
    body, content_type = metrics_exposition()
    return HttpResponse(body, content_type=content_type)


def server_error(request: HttpRequest) -> HttpResponse:
    """The styled 500 page with the menu; when even that fails (the database is down), a plain one."""
    try:
        return render(request, "500.html", status=500)
    except Exception:
        log.exception("the styled 500 page failed; serving the plain one")
        try:
            return HttpResponseServerError(loader.get_template("500.html").render())
        except Exception:
            return HttpResponseServerError("<h1>Server error (500)</h1>")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """An ``/api/`` path no route matches (``/api/calls/1.5/``) answers JSON like the API's own 404s; else the page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": str(NotFound.default_detail), "code": NotFound.default_code}, status=404)
    return page_not_found(request, exception)
