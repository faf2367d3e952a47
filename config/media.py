"""Recordings and other private media: handed out only by views that checked the role, never by URL alone.

With ``MEDIA_X_ACCEL_REDIRECT`` set (production, behind nginx), the view answers with an
``X-Accel-Redirect`` to an ``internal`` location and the proxy streams the file; otherwise Django streams
it itself (development, tests, a deployment without the proxy).
"""

from __future__ import annotations

from urllib.parse import quote

from django.conf import settings
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404, HttpResponse


def private_file_response(*, file: FieldFile, filename: str, content_type: str = "audio/wav") -> HttpResponse:
    if not file:
        raise Http404
    prefix = getattr(settings, "MEDIA_X_ACCEL_REDIRECT", "")
    disposition = f"inline; filename=\"{filename}\""
    if prefix:
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = prefix.rstrip("/") + "/" + quote(file.name)
        response["Content-Disposition"] = disposition
        response["Cache-Control"] = "private, no-store"
        return response
    try:
        handle = file.open("rb")
    except FileNotFoundError as exc:
        raise Http404 from exc
    response = FileResponse(handle, content_type=content_type, filename=filename, as_attachment=False)
    response["Cache-Control"] = "private, no-store"
    return response
