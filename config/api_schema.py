"""The API's error answers in the OpenAPI schema: drf-spectacular documents only the successful ones.

Every operation may answer 401 (no or a bad token) and 403 (the role may not); one with an ``{id}``,
or a paginated list, 404; one that takes input, 400 with the fields and their errors; a write, 409
when the row is in use or the change conflicts (``config.api_errors``); the token endpoints, 429
after too many failed sign-ins (``config.lockout``). With these in the schema, clients and the
schemathesis fuzz test (``config/tests/test_api_fuzz.py``) can hold every answer to it.
"""

from __future__ import annotations

from typing import Any

ERROR = {
    "type": "object",
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "in_use_by": {"type": "array", "items": {"type": "string"}, "description": "What still uses the row (409)."},
    },
    "required": ["detail"],
}
VALIDATION_ERROR = {
    "type": "object",
    "additionalProperties": True,
    "description": "Each field with a list of its errors (``non_field_errors`` for the whole object).",
}
WRITES = ("post", "put", "patch", "delete")


def _response(description: str, ref: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": ref}}}}


def document_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: add the error answers each operation can give."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", ERROR)
    schemas.setdefault("ValidationError", VALIDATION_ERROR)
    error, invalid = "#/components/schemas/Error", "#/components/schemas/ValidationError"
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if method not in ("get", *WRITES):
                continue
            responses = operation.setdefault("responses", {})
            token = path.startswith("/api/auth/")
            add = {"401": _response("Not signed in, or the token is invalid or expired.", error)}
            if not token:
                add["403"] = _response("The user's role may not do this.", error)
            if "{" in path or method == "get":
                add["404"] = _response("No such object (or page).", error)
            if method in WRITES or operation.get("parameters") or operation.get("requestBody"):
                add["400"] = _response("Invalid input.", invalid)
            if method in WRITES and not token:
                add["409"] = _response("The row is still in use, or the change conflicts with existing data.", error)
            if token:
                add["429"] = _response("Too many failed sign-in attempts; try again later.", error)
            for status, response in add.items():
                responses.setdefault(status, response)
    return result
