"""API errors: a row still in use (ProtectedError) or a conflicting write answers 409 with what is in the way."""

from __future__ import annotations

import logging

from django.db import IntegrityError
from django.db.models import ProtectedError, RestrictedError
from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

log = logging.getLogger(__name__)


def _in_use(exc: ProtectedError | RestrictedError) -> list[str]:
    objs = exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
    seen: dict[str, int] = {}
    for obj in objs:
        label = str(obj._meta.verbose_name_plural)
        seen[label] = seen.get(label, 0) + 1
    return [f"{label}: {count}" for label, count in sorted(seen.items())]


def api_exception_handler(exc, context):
    if isinstance(exc, ProtectedError | RestrictedError):
        return Response({"detail": _("It is still in use and cannot be deleted."), "in_use_by": _in_use(exc)},
                        status=status.HTTP_409_CONFLICT)
    if isinstance(exc, IntegrityError):
        # validators catch the known conflicts (400 with the field); this is a race or an unforeseen constraint
        log.warning("API write conflicted with a database constraint: %s", exc)
        return Response({"detail": _("The change conflicts with existing data.")}, status=status.HTTP_409_CONFLICT)
    return drf_exception_handler(exc, context)
