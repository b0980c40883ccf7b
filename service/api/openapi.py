"""The OpenAPI document the API serves: FastAPI's, completed centrally so that the route files stay thin.

Each operation gets its summary and description (``service.api.operations``, plus who may call it from the
permission table), a description for every parameter, an example for every request body, and every error
status it can answer with the body the API really sends (:class:`~service.api.schemas.common.ErrorBody`, in
place of FastAPI's ``HTTPValidationError``, which this API never sends). The bearer scheme is required only
by operations that are not public (``/health`` needs no token).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from fastapi import FastAPI

from service.api.operations import OPERATIONS, PARAMETER_OVERRIDES, PARAMETERS, REQUEST_EXAMPLES
from service.api.schemas.common import ErrorBody
from service.permissions import ACTIONS, ALL_PROJECT_ROLES, Rule

__all__ = ["ERROR_STATUSES", "document", "error_statuses", "install_openapi", "route_name"]

_SCHEMAS = "#/components/schemas/"
#: FastAPI's default 422 schemas: never sent by this API (its 422 is an ``ErrorBody``).
_FASTAPI_422 = ("HTTPValidationError", "ValidationError")

#: Every error status an operation may document, and what it means here.
ERROR_STATUSES: dict[int, str] = {
    401: "No valid credentials: the bearer token is missing, unknown, expired or revoked.",
    403: "Authenticated, but the caller's role may not do this (or a check of the action refused it).",
    404: "Not found: the project (also for a project the caller is no member of) or the row the path names.",
    409: "Conflict with the record's state: a duplicate, a state change the workflow forbids, a race lost.",
    413: "The request body is larger than the server accepts.",
    415: "The request body's Content-Type is not one this operation reads.",
    422: "Invalid input: a parameter or body field refused (named in `field`; `details` lists each).",
}

_REQUEST_ID = "4f1c2b7e9d0a4e6b8c3d5f7a9b1c3e5d"


def install_openapi(app: FastAPI) -> None:
    """Serve :func:`document` of FastAPI's schema; rebuilt whenever FastAPI rebuilds its own."""
    built: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        raw = FastAPI.openapi(app)
        if built.get("raw") is not raw:
            built["raw"], built["doc"] = raw, document(copy.deepcopy(raw))
        doc: dict[str, Any] = built["doc"]
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def route_name(operation_id: str, path: str, method: str) -> str | None:
    """The route name (= permission action) FastAPI's default operation id was made from, if any."""
    for name in ACTIONS:
        if re.sub(r"\W", "_", name + path) + "_" + method.lower() == operation_id:
            return name
    return None


def document(spec: dict[str, Any]) -> dict[str, Any]:
    """Complete ``spec`` (FastAPI's generated schema, changed in place and returned)."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for unused in _FASTAPI_422:
        schemas.pop(unused, None)
    error_schema = ErrorBody.model_json_schema(ref_template=_SCHEMAS + "{model}")
    schemas.update(error_schema.pop("$defs", {}))
    schemas["ErrorBody"] = error_schema
    bearer = sorted(spec["components"].get("securitySchemes", {}))
    for path, operations in spec.get("paths", {}).items():
        for method, op in operations.items():
            name = route_name(op.get("operationId", ""), path, method)
            if name is None:  # a route missing from the permission table: test_permissions names it
                if "422" in op.get("responses", {}):
                    op["responses"]["422"] = _error_response(422, _invalid(op, schemas))
                continue
            op["operationId"] = name
            _describe(op, name)
            _parameters(op, name)
            _request_examples(op, name, schemas)
            _responses(op, name, path, method, schemas)
            if ACTIONS[name].kind == "public":
                op.pop("security", None)
            elif bearer:
                op["security"] = [{bearer[0]: []}]
    return spec


def _roles(roles: frozenset[Any]) -> str:
    return ", ".join(f"`{r.value}`" for r in sorted(roles, key=lambda r: r.value))


def _who(name: str, rule: Rule) -> str:
    if name == "receive_labelstudio_webhook":
        return "Label Studio, with the shared secret in `X-Labelgate-Secret` (no bearer token)."
    if rule.kind == "public":
        return "anyone: no token needed."
    if rule.kind == "authenticated":
        return "any user with a valid bearer token."
    if rule.kind == "admin":
        return "admins only."
    if rule.kind == "self_or_admin":
        return "the user named in the path, or an admin."
    if rule.kind == "any_project_role":
        return f"admins, and users holding {_roles(rule.roles)} in any project."
    if rule.roles == ALL_PROJECT_ROLES:
        return "any member of the project, and admins (others get 404: the project's existence does not leak)."
    return f"members holding {_roles(rule.roles)} in the project, and admins; other members get 403, non-members 404."


def _describe(op: dict[str, Any], name: str) -> None:
    doc = OPERATIONS.get(name)
    if doc is None:
        return  # the docs test names it
    op["summary"] = doc.summary
    text = doc.description or op.get("description") or ""
    if text:
        op["description"] = f"{text.strip()}\n\n**Who may call:** {_who(name, ACTIONS[name])}"


def _parameters(op: dict[str, Any], name: str) -> None:
    for param in op.get("parameters", []):
        override = PARAMETER_OVERRIDES.get((name, param["name"]))
        if override is not None:
            param["description"] = override
        elif not param.get("description") and param["name"] in PARAMETERS:
            param["description"] = PARAMETERS[param["name"]]
        if "description" in param:
            param.get("schema", {}).pop("description", None)  # one place, not two that may disagree


def _resolve(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    found: dict[str, Any] = schemas.get(ref.removeprefix(_SCHEMAS), schema) if ref.startswith(_SCHEMAS) else schema
    return found


def _model_examples(schema: dict[str, Any], schemas: dict[str, Any]) -> list[Any]:
    """The examples a body's model declares (``json_schema_extra``), looking through ``X | None``."""
    for candidate in [schema, *schema.get("anyOf", [])]:
        examples = _resolve(candidate, schemas).get("examples")
        if isinstance(examples, list) and examples:
            return examples
    return []


def _request_examples(op: dict[str, Any], name: str, schemas: dict[str, Any]) -> None:
    for media in op.get("requestBody", {}).get("content", {}).values():
        if "example" in media or "examples" in media:
            continue
        examples = _model_examples(media.get("schema", {}), schemas)
        if not examples and name in REQUEST_EXAMPLES:
            examples = [REQUEST_EXAMPLES[name]]
        if examples:
            media["examples"] = {f"example {i}": {"value": value} for i, value in enumerate(examples, 1)}


def error_statuses(name: str, path: str, method: str, *, has_body: bool) -> list[int]:
    """The error statuses operation ``name`` can answer with: 401 unless public (the webhook's secret is a
    401 too), 403 where a role or a check of the action may refuse, 404 where the path names something,
    409 for writes, 413 and 415 where a body is read, 422 everywhere (every parameter is checked)."""
    rule = ACTIONS[name]
    statuses = {422}
    if rule.kind != "public" or name == "receive_labelstudio_webhook":
        statuses.add(401)
    refusable = rule.kind in ("admin", "self_or_admin", "any_project_role")
    if refusable or (rule.kind == "project" and rule.roles != ALL_PROJECT_ROLES) or name in _CHECKED_ACTIONS:
        statuses.add(403)
    if "{" in path:
        statuses.add(404)
    if method.lower() != "get":
        statuses.add(409)
    if has_body:
        statuses |= {413, 415}
    return sorted(statuses)


#: Actions whose verb may refuse with 403 whatever the caller's role (a second factor, a webhook user).
_CHECKED_ACTIONS = frozenset({"set_signing_secret", "annotator_kpis", "receive_labelstudio_webhook"})


def _error(status: int, message: str, field: str | None, kind: str | None, **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"status": status, "message": message, "field": field}
    if kind is not None or status != 413:  # the 413 of the size limit carries no type
        error["type"] = kind
    return {"error": {**error, **extra}, "request_id": _REQUEST_ID}


def _first_required(op: dict[str, Any], schemas: dict[str, Any]) -> str:
    for media in op.get("requestBody", {}).get("content", {}).values():
        required = _resolve(media.get("schema", {}), schemas).get("required", [])
        if required:
            return str(required[0])
    return "body"


def _example(status: int, name: str, path: str, op: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """A real body of ``status`` for operation ``name`` (the messages are the API's own)."""
    if status == 401 and name == "receive_labelstudio_webhook":
        return _error(401, "missing or wrong webhook secret (header X-Labelgate-Secret)", None, "Unauthorized")
    if status == 401:
        return _error(401, "missing bearer token (Authorization: Bearer <token>)", None, "Unauthorized")
    if status == 403:
        return _error(403, _refusal(name), None, "PermissionDenied")
    if status == 404 and "{project_id}" in path:
        return _error(404, "project not found", "project_id", "NotFound")
    if status == 404:
        return _error(404, "user not found", "user_id", "NotFound")
    if status == 409:
        message = (
            "conflict: a record with the same name already exists (stored by a concurrent request after this one "
            "checked); nothing was written: reload and retry"
        )
        return _error(409, message, "name", "Conflict")
    if status == 413:
        return _error(413, "request body larger than 4194304 bytes", "body", None)
    if status == 415:
        message = f"this endpoint takes {_media_types(op)}, not Content-Type 'text/plain'"
        return _error(415, message, "content-type", "UnsupportedMediaType")
    return _invalid(op, schemas)


def _media_types(op: dict[str, Any]) -> str:
    content = op.get("requestBody", {}).get("content", {})
    if "multipart/form-data" in content:
        return "multipart/form-data or application/x-www-form-urlencoded"
    return "application/json"


def _refusal(name: str) -> str:
    rule = ACTIONS[name]
    if rule.kind == "admin":
        return "this action needs the admin role"
    if rule.kind == "self_or_admin":
        return "you may manage only your own tokens"
    if rule.kind in ("project", "any_project_role") and rule.roles != ALL_PROJECT_ROLES:
        where = " in this project; you hold annotator" if rule.kind == "project" else ""
        return f"this action needs one of the roles {', '.join(sorted(r.value for r in rule.roles))}{where}"
    if name == "set_signing_secret":
        return "signing secret not set: the enrolment code is wrong or has expired"
    if name == "annotator_kpis":
        return "annotators cannot choose the golden set of the report"
    return "the webhook user 'labelstudio' (LABELGATE_LABELSTUDIO_WEBHOOK_USER) is not an active user"


def _invalid(op: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    if "requestBody" in op:
        field = _first_required(op, schemas)
        return _error(
            422, "Field required", field, "InvalidInput", details=[{"field": field, "message": "Field required"}]
        )
    params = op.get("parameters", [])
    field = f"{params[0]['in']}.{params[0]['name']}" if params else "query"
    return _error(422, "a NUL character (\\x00) is not accepted in text", field, "InvalidInput")


def _responses(op: dict[str, Any], name: str, path: str, method: str, schemas: dict[str, Any]) -> None:
    responses: dict[str, Any] = op.setdefault("responses", {})
    responses.pop("422", None)  # FastAPI's HTTPValidationError
    for status in error_statuses(name, path, method, has_body="requestBody" in op):
        responses[str(status)] = _error_response(status, _example(status, name, path, op, schemas))
    op["responses"] = dict(sorted(responses.items()))


def _error_response(status: int, example: dict[str, Any]) -> dict[str, Any]:
    media = {"schema": {"$ref": _SCHEMAS + "ErrorBody"}, "example": example}
    return {"description": ERROR_STATUSES[status], "content": {"application/json": media}}
