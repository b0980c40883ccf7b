"""The dashboard's only door to labelgate: typed calls to the REST API over ``httpx`` with a bearer token.

Every path lives in :data:`ENDPOINTS`, one line each. Pages call :class:`Api` methods and never build URLs.
A method whose route the server does not have (yet) raises :class:`NotAvailable`, which pages render as
"not available yet on this server"; so a page fills in once its route exists, or once its path here is
corrected to the route's real one.

Routes the server has today: health, me, users, tokens, projects, members, audit events, audit verify,
datasets, versions, version state, version lineage, annotation lineage. Routes the pages expect next (shapes
in each method's docstring): gate evaluations (per version and per project), approvals, evidence bundle,
reports, auto-label runs, review queue, and ``/me/memberships`` (the caller's own roles; until it exists
roles are probed, see :func:`dashboard.access.probe_roles`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

__all__ = [
    "ENDPOINTS",
    "REPORT_KINDS",
    "SIGNATURE_MEANINGS",
    "Api",
    "ApiError",
    "AuditQuery",
    "Forbidden",
    "Getter",
    "NotAvailable",
    "Unauthorized",
    "token_key",
]

#: name → path template. ``{dataset}``/``{version}`` are names (``train``, ``v2``), ``{project_id}`` an id.
ENDPOINTS: dict[str, str] = {
    # present today
    "openapi": "/openapi.json",
    "health": "/api/v1/health",
    "me": "/api/v1/me",
    "users": "/api/v1/users",
    "tokens": "/api/v1/users/{user_id}/tokens",
    "projects": "/api/v1/projects",
    "project": "/api/v1/projects/{project_id}",
    "members": "/api/v1/projects/{project_id}/members",
    "audit_events": "/api/v1/audit/events",
    "project_audit_events": "/api/v1/projects/{project_id}/audit/events",
    "audit_verify": "/api/v1/audit/verify",
    "datasets": "/api/v1/projects/{project_id}/datasets",
    "versions": "/api/v1/projects/{project_id}/datasets/{dataset}/versions",
    "version": "/api/v1/projects/{project_id}/datasets/{dataset}/versions/{version}",
    "version_lineage": "/api/v1/projects/{project_id}/datasets/{dataset}/versions/{version}/lineage",
    "version_state": "/api/v1/projects/{project_id}/datasets/{dataset}/versions/{version}/state",
    "annotation_lineage": "/api/v1/projects/{project_id}/annotations/{annotation_id}/lineage",
    # expected next
    "my_memberships": "/api/v1/me/memberships",
    "version_evaluations": "/api/v1/projects/{project_id}/datasets/{dataset}/versions/{version}/evaluations",
    "approvals": "/api/v1/projects/{project_id}/datasets/{dataset}/versions/{version}/approvals",
    "evidence_bundle": "/api/v1/projects/{project_id}/datasets/{dataset}/versions/{version}/bundle",
    "report": "/api/v1/projects/{project_id}/datasets/{dataset}/versions/{version}/reports/{kind}",
    "project_evaluations": "/api/v1/projects/{project_id}/evaluations",
    "autolabel_runs": "/api/v1/projects/{project_id}/autolabel/runs",
    "review_queue": "/api/v1/projects/{project_id}/review-queue",
}

#: Signature meanings an approver chooses from (21 CFR Part 11 style: what the signature attests).
SIGNATURE_MEANINGS: tuple[str, ...] = ("review", "approval", "responsibility")

#: Report kind → (file name suffix, MIME type) offered on the Reports page.
REPORT_KINDS: dict[str, tuple[str, str]] = {
    "gate-report.json": ("gate-report.json", "application/json"),
    "gate-report.txt": ("gate-report.txt", "text/plain"),
    "gate-report.junit.xml": ("gate-report.junit.xml", "application/xml"),
    "lineage.json": ("lineage.json", "application/json"),
    "audit.jsonl": ("audit.jsonl", "application/x-ndjson"),
}


class ApiError(Exception):
    """An error answer of the API, with the message and field it gave (or a transport failure, status 0)."""

    def __init__(self, status: int, message: str, *, field: str | None = None, path: str = "") -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status
        self.message = message
        self.field = field
        self.path = path


class Unauthorized(ApiError):
    """401: the token is missing, unknown, expired or revoked."""


class Forbidden(ApiError):
    """403: the caller's roles do not allow this."""


class NotAvailable(ApiError):
    """The route itself does not exist on this server (404 "Not Found" with no field, or 405)."""


def token_key(token: str) -> str:
    """SHA-256 hex of a token: the part of every cache key that says whose answer it is."""
    return hashlib.sha256(token.encode()).hexdigest()


def _error_of(response: httpx.Response, path: str) -> ApiError:
    message, field = response.reason_phrase or "error", None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            message, field = str(err.get("message", message)), err.get("field")
        elif "detail" in body:
            message = str(body["detail"])
    status = response.status_code
    if status == 405 or (status == 404 and field is None and message == "Not Found"):
        return NotAvailable(status, "not available yet on this server", path=path)
    if status == 401:
        return Unauthorized(status, message, field=field, path=path)
    if status == 403:
        return Forbidden(status, message, field=field, path=path)
    return ApiError(status, message, field=field, path=path)


def send(
    http: httpx.Client,
    token: str | None,
    method: str,
    path: str,
    *,
    params: Mapping[str, Any] | None = None,
    json: Any = None,
    raw: bool = False,
) -> Any:
    """One request; the decoded JSON (or bytes with ``raw``), or an :class:`ApiError`."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    clean = {k: v for k, v in (params or {}).items() if v is not None and v != ""}
    try:
        response = http.request(method, path, params=clean, json=json, headers=headers)
    except httpx.HTTPError as exc:
        raise ApiError(0, f"cannot reach the API at {http.base_url}: {exc}", path=path) from None
    if response.status_code >= 400:
        raise _error_of(response, path)
    if raw:
        return response.content
    return response.json() if response.content else None


def _shape(template: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", template)


def path_of(name: str, **values: Any) -> str:
    """The path of endpoint ``name`` with each ``{value}`` URL-quoted."""
    return ENDPOINTS[name].format(**{k: quote(str(v), safe="") for k, v in values.items()})


#: A GET hook: ``(path, params) -> JSON``. The dashboard passes one cached per caller (see dashboard.state).
Getter = Callable[[str, Mapping[str, Any] | None], Any]


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters of ``/audit/events``: each narrows; ``action`` ending with '.' is a prefix; times ISO 8601."""

    actor: str | None = None
    action: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    since: str | None = None
    until: str | None = None

    def params(self) -> dict[str, str]:
        """The set filters as query parameters (empty ones left out)."""
        names = ("actor", "action", "object_type", "object_id", "since", "until")
        return {n: str(getattr(self, n)) for n in names if getattr(self, n)}


class Api:
    """Calls of one caller (``token``). GETs go through ``getter`` when given, so callers may cache them."""

    def __init__(self, http: httpx.Client, token: str, *, getter: Getter | None = None) -> None:
        self.http = http
        self.token = token
        self._getter = getter

    @property
    def who(self) -> str:
        return token_key(self.token)

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        if self._getter is not None:
            return self._getter(path, params)
        return send(self.http, self.token, "GET", path, params=params)

    def post(self, path: str, body: Any) -> Any:
        return send(self.http, self.token, "POST", path, json=body)

    # ---- present today ------------------------------------------------------------------------------
    def offers(self, name: str, method: str = "GET") -> bool:
        """Whether the server's OpenAPI document lists endpoint ``name`` (parameter names may differ)."""
        spec = self.get(path_of("openapi"))
        wanted = _shape(ENDPOINTS[name])
        return any(
            _shape(path) == wanted and method.lower() in ops for path, ops in (spec or {}).get("paths", {}).items()
        )

    def health(self) -> dict[str, Any]:
        """``GET /health`` → ``{"status": "ok"}``; needs no token."""
        result: dict[str, Any] = send(self.http, None, "GET", path_of("health"))
        return result

    def me(self) -> dict[str, Any]:
        """``GET /me`` → ``{id, username, full_name, email, is_admin, is_active, created_at}``."""
        return dict(self.get(path_of("me")))

    def projects(self) -> list[dict[str, Any]]:
        """``GET /projects`` → the projects the caller may see: ``[{id, name, description, created_at}]``."""
        return list(self.get(path_of("projects")))

    def members(self, project_id: int) -> list[dict[str, Any]]:
        """``GET /projects/{id}/members`` → ``[{user_id, username, role}]`` (ml_engineer, compliance, reviewer)."""
        return list(self.get(path_of("members", project_id=project_id)))

    def my_memberships(self) -> list[dict[str, Any]]:
        """Expected ``GET /me/memberships`` → ``[{project_id, role}]``: the caller's own roles."""
        return list(self.get(path_of("my_memberships")))

    def users(self, *, offset: int = 0, limit: int = 100) -> dict[str, Any]:
        """``GET /users`` (admin) → ``Page[{id, username, full_name, ...}]``."""
        return dict(self.get(path_of("users"), {"offset": offset, "limit": limit}))

    def audit_events(
        self, query: AuditQuery, *, project_id: int | None = None, offset: int = 0, limit: int = 100
    ) -> dict[str, Any]:
        """``GET /audit/events`` (admin) or ``/projects/{id}/audit/events`` → ``{items, total, offset, limit}``.

        Items (oldest first): ``{seq, ts, actor, action, object_type, object_id, project_id, request_id,
        payload, prev_hash, hash}``.
        """
        path = path_of("audit_events") if project_id is None else path_of("project_audit_events", project_id=project_id)
        return dict(self.get(path, {**query.params(), "offset": offset, "limit": limit}))

    def verify_chain(self, *, fresh: bool = True) -> dict[str, Any]:
        """``GET /audit/verify`` → ``{ok, events, head_seq, head_hash, broken_seq, kind, reason}``.

        ``fresh`` (True) bypasses the cache: an on-demand verification must re-read the chain.
        """
        if not fresh:
            return dict(self.get(path_of("audit_verify")))
        result: dict[str, Any] = send(self.http, self.token, "GET", path_of("audit_verify"))
        return result

    # ---- expected next ------------------------------------------------------------------------------
    def datasets(self, project_id: int) -> list[dict[str, Any]]:
        """``GET /projects/{id}/datasets`` → ``[{id, name, description, is_golden, created_at}]``."""
        return list(self.get(path_of("datasets", project_id=project_id)))

    def versions(self, project_id: int, dataset: str) -> list[dict[str, Any]]:
        """``GET .../datasets/{dataset}/versions`` → ``[{id, version, state, parent_id, created_at, ...}]``."""
        return list(self.get(path_of("versions", project_id=project_id, dataset=dataset)))

    def version(self, project_id: int, dataset: str, version: str) -> dict[str, Any]:
        """``GET .../versions/{version}`` → ``{id, version, state, parent_id, schema_version_id, git_revision,
        dvc_hash, data_path, item_count, manifest_hash, created_at}``."""
        return dict(self.get(path_of("version", project_id=project_id, dataset=dataset, version=version)))

    def version_lineage(self, project_id: int, dataset: str, version: str) -> dict[str, Any]:
        """``GET .../versions/{version}/lineage`` → ``lineage.lineage_query.VersionLineage`` as JSON: ``{version,
        state, dvc: {git_revision, dvc_hash, data_path, items, git_tag}, manifest_hash, labels,
        by_kind: {kind: {count, share}}, by_model, by_import, by_annotator,
        ancestry: [{version, state, git_revision, dvc_hash, schema, schema_changed, schema_diff}]}``."""
        path = path_of("version_lineage", project_id=project_id, dataset=dataset, version=version)
        return dict(self.get(path))

    def evaluations(self, project_id: int, dataset: str, version: str) -> list[dict[str, Any]]:
        """``GET .../versions/{version}/evaluations`` → newest first: ``[{id, passed, policy_name, policy_hash,
        gates: [{name, metric, value, threshold, op, passed, explanation, evidence}], metrics, per_class,
        evidence: {pr_curves?, confusion_matrix?}, data_hashes, created_at}]`` (``GateReport.to_dict()`` plus
        the row's fields)."""
        path = path_of("version_evaluations", project_id=project_id, dataset=dataset, version=version)
        return list(self.get(path))

    def project_evaluations(self, project_id: int, *, limit: int = 20) -> list[dict[str, Any]]:
        """``GET /projects/{id}/evaluations`` → newest first: ``[{id, version (dataset@v), passed, policy_name,
        created_at}]``."""
        return list(self.get(path_of("project_evaluations", project_id=project_id), {"limit": limit}))

    def approvals(self, project_id: int, dataset: str, version: str) -> list[dict[str, Any]]:
        """``GET .../versions/{version}/approvals`` → ``[{printed_name, role, meaning, signed_at, content_hash}]``."""
        return list(self.get(path_of("approvals", project_id=project_id, dataset=dataset, version=version)))

    def approve(
        self, project_id: int, dataset: str, version: str, *, meaning: str, signing_secret: str
    ) -> dict[str, Any]:
        """``POST .../versions/{version}/approvals`` with ``{meaning, signing_secret}`` → the approval."""
        path = path_of("approvals", project_id=project_id, dataset=dataset, version=version)
        return dict(self.post(path, {"meaning": meaning, "signing_secret": signing_secret}))

    def reject(self, project_id: int, dataset: str, version: str, *, reason: str) -> dict[str, Any]:
        """``POST .../versions/{version}/state`` with ``{state: "rejected", reason}`` → the version."""
        path = path_of("version_state", project_id=project_id, dataset=dataset, version=version)
        return dict(self.post(path, {"state": "rejected", "reason": reason}))

    def annotation_lineage(self, project_id: int, annotation_id: int) -> dict[str, Any]:
        """``GET /projects/{id}/annotations/{aid}/lineage`` → ``AnnotationLineage`` as JSON: ``{annotation_id,
        version, live, schema, history: [{id, version, category, bbox, kind, provenance, supersedes_id,
        origin_id, created_at, reviews}], superseded_by: [...], versions: [{version, state, annotation_id,
        live}]}``."""
        return dict(self.get(path_of("annotation_lineage", project_id=project_id, annotation_id=annotation_id)))

    def autolabel_runs(self, project_id: int) -> list[dict[str, Any]]:
        """``GET /projects/{id}/autolabel/runs`` → ``[{id, version, model, threshold, review_band_low, nms_iou,
        device, batch_size, state, items_total, items_done, images_per_s, error, created_at, started_at,
        finished_at}]``."""
        return list(self.get(path_of("autolabel_runs", project_id=project_id)))

    def review_queue_size(self, project_id: int) -> int:
        """``GET /projects/{id}/review-queue?limit=1`` → ``Page``; its ``total`` is the queue size."""
        page = self.get(path_of("review_queue", project_id=project_id), {"limit": 1})
        if isinstance(page, dict):
            return int(page["total"])
        # A server that answers with a bare list has no total: count what a full listing returns.
        return len(self.get(path_of("review_queue", project_id=project_id), {"limit": 500}))

    def evidence_bundle(self, project_id: int, dataset: str, version: str) -> bytes:
        """``GET .../versions/{version}/bundle`` → the signed evidence bundle (zip bytes)."""
        path = path_of("evidence_bundle", project_id=project_id, dataset=dataset, version=version)
        result: bytes = send(self.http, self.token, "GET", path, raw=True)
        return result

    def report(self, project_id: int, dataset: str, version: str, kind: str) -> bytes:
        """``GET .../versions/{version}/reports/{kind}`` → the report's bytes (kinds: :data:`REPORT_KINDS`)."""
        path = path_of("report", project_id=project_id, dataset=dataset, version=version, kind=kind)
        result: bytes = send(self.http, self.token, "GET", path, raw=True)
        return result
