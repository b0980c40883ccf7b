"""The dashboard's only door to labelgate: typed calls to the REST API over ``httpx`` with a bearer token.

Every path lives in :data:`dashboard.endpoints.ENDPOINTS` (re-exported here), one line each. Pages call
:class:`Api` methods and never build URLs. A method whose route the server does not have raises
:class:`NotAvailable` (an older server), which pages render as "not available yet on this server".

Every path and answer shape here is the server's (``service/api/routes``): identity and projects, the audit
trail and its verification, datasets, versions, their live labels and lineage, label schema versions, gate
evaluations (per version and per project), electronic signatures (approvals), rejection, the evidence bundle
(JSON) and the reports (:data:`REPORT_KINDS`, :data:`PROJECT_REPORT_KINDS`), auto-label runs, registered models
and the review queue. Each method's docstring gives the shape it returns.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from dashboard.endpoints import (
    ENDPOINTS,
    GATE_REPORT_KINDS,
    PROJECT_REPORT_KINDS,
    REPORT_KINDS,
    SIGNATURE_MEANINGS,
    path_of,
    shape,
)

__all__ = [
    "ENDPOINTS",
    "GATE_REPORT_KINDS",
    "PROJECT_REPORT_KINDS",
    "REPORT_KINDS",
    "SIGNATURE_MEANINGS",
    "Api",
    "ApiError",
    "AuditQuery",
    "Forbidden",
    "Getter",
    "NotAvailable",
    "Unauthorized",
    "path_of",
    "token_key",
]


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


#: A GET hook: ``(path, params) -> JSON``. The dashboard passes one cached per caller (see dashboard.state).
Getter = Callable[[str, Mapping[str, Any] | None], Any]


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters of ``/audit/events``: each narrows; ``action`` is a substring (or a comma-separated list of exact
    actions), ``actor`` a part of a username, ``object`` a type, id or display name (``street@v2``), ``q`` free
    text; times ISO 8601."""

    actor: str | None = None
    action: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    since: str | None = None
    until: str | None = None
    object: str | None = None
    q: str | None = None

    def params(self) -> dict[str, str]:
        """The set filters as query parameters (empty ones left out)."""
        names = ("actor", "action", "object_type", "object_id", "object", "q", "since", "until")
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

    def offers(self, name: str, method: str = "GET") -> bool:
        """Whether the server's OpenAPI document lists endpoint ``name`` (parameter names may differ)."""
        spec = self.get(path_of("openapi"))
        wanted = shape(ENDPOINTS[name])
        return any(
            shape(path) == wanted and method.lower() in ops for path, ops in (spec or {}).get("paths", {}).items()
        )

    # ---- identity, projects, audit --------------------------------------------------------------------
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
        """``GET /me/memberships`` → ``[{project_id, project_name, role}]``: the caller's own roles (admin: [])."""
        return list(self.get(path_of("my_memberships")))

    def capabilities(self, project_id: int | None = None) -> frozenset[str]:
        """``GET /me/capabilities`` (outside projects) or ``GET /projects/{id}/capabilities`` → the actions of
        the server's permission table the caller may take (``sign_version``, ``verify_audit_chain``, ...)."""
        if project_id is None:
            return frozenset(self.get(path_of("my_capabilities")))
        return frozenset(self.get(path_of("project_capabilities", project_id=project_id)))

    def users(self, *, offset: int = 0, limit: int = 100, cursor: str | None = None) -> dict[str, Any]:
        """``GET /users`` (admin) → ``Page[{id, username, full_name, ...}]`` with ``next_cursor`` (pass it as
        ``cursor`` for the next page; ``total`` is then ``None``)."""
        return dict(self.get(path_of("users"), {"offset": offset, "limit": limit, "cursor": cursor}))

    def audit_events(
        self, query: AuditQuery, *, project_id: int | None = None, offset: int = 0, limit: int = 100
    ) -> dict[str, Any]:
        """``GET /audit/events`` (admin) or ``/projects/{id}/audit/events`` → ``{items, total, offset, limit}``.

        Items (oldest first): ``{seq, ts, actor, action, object_type, object_id, project_id, request_id,
        payload, prev_hash, hash}``.
        """
        path = path_of("audit_events") if project_id is None else path_of("project_audit_events", project_id=project_id)
        return dict(self.get(path, {**query.params(), "offset": offset, "limit": limit}))

    def audit_page(
        self,
        query: AuditQuery,
        *,
        project_id: int | None = None,
        cursor: str | None = None,
        order: str = "desc",
        limit: int = 50,
        with_total: bool = False,
    ) -> dict[str, Any]:
        """One keyset page of ``/audit/events`` → ``{items, total, offset, limit, order, next_cursor,
        prev_cursor}``: ``cursor`` is a page's ``next_cursor`` or ``prev_cursor`` (``None``: the first page);
        ``order`` ``desc`` (newest first) or ``asc``; ``total`` is ``None`` unless ``with_total``. Items also
        carry ``object_name`` and ``project_name``."""
        path = path_of("audit_events") if project_id is None else path_of("project_audit_events", project_id=project_id)
        params: dict[str, Any] = {**query.params(), "order": order, "limit": limit}
        if cursor:
            params["cursor"] = cursor
        if with_total:
            params["with_total"] = "true"
        return dict(self.get(path, params))

    def verify_chain(self, *, fresh: bool = True) -> dict[str, Any]:
        """``GET /audit/verify`` → ``{ok, events, head_seq, head_hash, broken_seq, kind, reason}``.

        ``fresh`` (True) bypasses the cache: an on-demand verification must re-read the chain.
        """
        if not fresh:
            return dict(self.get(path_of("audit_verify")))
        result: dict[str, Any] = send(self.http, self.token, "GET", path_of("audit_verify"))
        return result

    # ---- datasets, versions, lineage ------------------------------------------------------------------
    def datasets(self, project_id: int) -> list[dict[str, Any]]:
        """``GET /projects/{id}/datasets`` → ``[{id, name, description, is_golden, created_at}]``."""
        return list(self.get(path_of("datasets", project_id=project_id)))

    def versions(self, project_id: int, dataset: str) -> list[dict[str, Any]]:
        """``GET .../datasets/{dataset}/versions`` → oldest first: ``[{id, dataset_id, version, state, parent_id,
        schema_version_id, git_revision, dvc_hash, data_path, item_count, manifest_hash, created_at}]``."""
        return list(self.get(path_of("versions", project_id=project_id, dataset=dataset)))

    def version(self, project_id: int, dataset: str, version: str) -> dict[str, Any]:
        """``GET .../versions/{version}`` → one version, in the shape :meth:`versions` lists."""
        return dict(self.get(path_of("version", project_id=project_id, dataset=dataset, version=version)))

    def version_lineage(self, project_id: int, dataset: str, version: str) -> dict[str, Any]:
        """``GET .../versions/{version}/lineage`` → ``lineage.provenance.VersionLineage`` as JSON: ``{version,
        state, dvc: {git_revision, dvc_hash, data_path, items, git_tag}, manifest_hash, labels,
        by_kind: {kind: {count, share}}, by_model, by_import, by_annotator,
        ancestry: [{version, state, git_revision, dvc_hash, schema, schema_changed, schema_diff}]}``."""
        path = path_of("version_lineage", project_id=project_id, dataset=dataset, version=version)
        return dict(self.get(path))

    def annotation_lineage(self, project_id: int, annotation_id: int) -> dict[str, Any]:
        """``GET /projects/{id}/annotations/{aid}/lineage`` → ``AnnotationLineage`` as JSON: ``{annotation_id,
        version, live, schema, history: [{id, version, category, bbox, kind, provenance, supersedes_id,
        origin_id, created_at, reviews}], superseded_by: [...], versions: [{version, state, annotation_id,
        live}]}``."""
        return dict(self.get(path_of("annotation_lineage", project_id=project_id, annotation_id=annotation_id)))

    def version_annotations(
        self,
        project_id: int,
        dataset: str,
        version: str,
        *,
        offset: int = 0,
        limit: int = 500,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """``GET .../versions/{version}/annotations`` → the live labels in id order, ``{items, total, offset,
        limit, next_cursor}`` (``limit`` at most 500; ``cursor``: a page's ``next_cursor``, the next page by an
        index seek, ``total`` then ``None``); items: ``{id, item_id, category, geometry_type, x, y, w, h,
        geometry, attributes, kind, confidence, ...}`` with ``geometry`` per ``dashboard.geometry``."""
        path = path_of("version_annotations", project_id=project_id, dataset=dataset, version=version)
        return dict(self.get(path, {"offset": offset, "limit": limit, "cursor": cursor}))

    def item_image(self, project_id: int, item_id: int) -> bytes:
        """``GET /projects/{id}/items/{item_id}/image`` → the item's bytes as its version committed them."""
        result: bytes = send(
            self.http, self.token, "GET", path_of("item_image", project_id=project_id, item_id=item_id), raw=True
        )
        return result

    def item_thumbnail(self, project_id: int, item_id: int, *, max_side: int = 160) -> bytes:
        """``GET /projects/{id}/items/{item_id}/image?max_side=N`` → a thumbnail (JPEG or PNG), at most
        ``max_side`` px a side (64 to 1024)."""
        path = path_of("item_image", project_id=project_id, item_id=item_id)
        result: bytes = send(self.http, self.token, "GET", path, params={"max_side": max_side}, raw=True)
        return result

    def version_items(
        self,
        project_id: int,
        dataset: str,
        version: str,
        *,
        offset: int = 0,
        limit: int = 24,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """``GET .../versions/{version}/items`` → ``{items: [{id, uri, width, height, labels}], total, offset,
        limit, next_cursor}`` in path order (``labels``: live labels on the item; ``limit`` at most 200;
        ``cursor`` as :meth:`version_annotations`)."""
        path = path_of("version_items", project_id=project_id, dataset=dataset, version=version)
        return dict(self.get(path, {"offset": offset, "limit": limit, "cursor": cursor}))

    def item_lineage(self, project_id: int, item_id: int) -> dict[str, Any]:
        """``GET /projects/{id}/items/{item_id}/lineage`` → ``{item_id, uri, width, height, version, total,
        labels: [{id, category, geometry_type, x, y, w, h, geometry, attributes, kind, confidence, threshold,
        lineage}]}``, each ``lineage`` as :meth:`annotation_lineage` answers it (with ``item_id`` and
        ``corrections``; history steps with ``author``, ``model``, ``written_by``, ``reason``)."""
        return dict(self.get(path_of("item_lineage", project_id=project_id, item_id=item_id)))

    def schema_version(self, project_id: int, name: str, version: int) -> dict[str, Any]:
        """``GET /projects/{id}/schemas/{name}/versions/{version}`` → ``{id, version, classes: [{name, geometry,
        keypoints: {names, skeleton, sigmas} | null, ...}], options: {multi_label} | null, content_hash, ...}``."""
        return dict(self.get(path_of("schema_version", project_id=project_id, name=name, version=version)))

    # ---- gates, signatures, release decisions -----------------------------------------------------------
    def evaluations(self, project_id: int, dataset: str, version: str) -> list[dict[str, Any]]:
        """``GET .../versions/{version}/evaluations`` → newest first: ``[{id, dataset_version_id, dataset, version,
        purpose, release_id, release_evidence_id, passed, policy_name, policy_version, policy_hash, golden_set:
        {id, name, version, dataset_version, items, labels, manifest_hash} | null, blocking, created_at,
        report_version, gates: [{name, metric, value, threshold, op, passed, explanation, evidence}], metrics,
        per_class: {class: {n_gt, tp, fp, fn, precision, recall, f1, ap, ap50, golden_error, ...}}, evidence:
        {golden_set[, pr_curves, confusion_matrix]}, data_hashes}]`` (``GateReport.to_dict()`` of version
        ``report_version`` plus the record's fields; an undefined value is ``null``). ``purpose``:
        ``release_evidence`` (the one the version's release rests on), ``recheck`` (made after the release) or
        ``evaluation``. ``evidence``: the golden set as the evaluation recorded it, and the plot data,
        ``pr_curves`` and ``confusion_matrix``, both or neither; every gate's ``evidence`` has the fixed keys of
        its kind. Both shapes are listed in ``dashboard.charts``."""
        path = path_of("version_evaluations", project_id=project_id, dataset=dataset, version=version)
        return list(self.get(path))

    def version_evidence(self, project_id: int, dataset: str, version: str) -> dict[str, Any]:
        """``GET .../versions/{version}/evidence`` → ``{version, state, basis: release|latest|none, release_id,
        evidence: <an evaluation as :meth:`evaluations` gives it> | null, rechecks: [id], evaluations: [{id,
        purpose, passed, policy_name, policy_version, policy_hash, golden_set, blocking, created_at, ...}]}``: the
        evaluation standing as the version's gate evidence (its release's once released; re-checks never
        replace it) and every evaluation of the version summarised, newest first."""
        path = path_of("version_evidence", project_id=project_id, dataset=dataset, version=version)
        return dict(self.get(path))

    def evaluation(self, project_id: int, evaluation_id: int) -> dict[str, Any]:
        """``GET /projects/{id}/evaluations/{evaluation_id}`` → one evaluation with its full evidence and plot
        data, as :meth:`evaluations` gives them (404 outside the caller's projects)."""
        return dict(self.get(path_of("evaluation", project_id=project_id, evaluation_id=evaluation_id)))

    def confusion_cell(
        self, project_id: int, evaluation_id: int, *, truth: str, predicted: str, limit: int = 50
    ) -> dict[str, Any]:
        """``GET /projects/{id}/evaluations/{evaluation_id}/confusion-cell`` → the items behind the cell
        ``truth`` → ``predicted`` (class names or ``background``): ``{count, stored_count, stale, total_items,
        threshold, iou, items: [{item_id, uri, width, height, count, ground_truth, predictions}]}``, labels as
        :meth:`version_annotations` gives them (422 for an unknown class; 404 for annotators)."""
        path = path_of("confusion_cell", project_id=project_id, evaluation_id=evaluation_id)
        return dict(self.get(path, {"truth": truth, "predicted": predicted, "limit": limit}))

    def project_evaluations(self, project_id: int, *, limit: int = 20) -> list[dict[str, Any]]:
        """``GET /projects/{id}/evaluations`` → newest first: evaluations as :meth:`evaluations` gives them, plus
        ``dataset`` (its name) and ``version`` (the version name, e.g. ``v3``)."""
        return list(self.get(path_of("project_evaluations", project_id=project_id), {"limit": limit}))

    def approvals(self, project_id: int, dataset: str, version: str) -> list[dict[str, Any]]:
        """``GET .../versions/{version}/approvals`` → oldest first: ``[{id, printed_name, role, meaning, signed_at,
        content_hash, signature_hash}]``."""
        return list(self.get(path_of("approvals", project_id=project_id, dataset=dataset, version=version)))

    def approve(
        self, project_id: int, dataset: str, version: str, *, meaning: str, signing_secret: str
    ) -> dict[str, Any]:
        """``POST .../versions/{version}/approvals`` with ``{meaning, signing_secret}`` → the approval (shape of
        :meth:`approvals`). Refusals: 403 for a wrong secret (field ``secret``), a role the policy does not
        let approve, or four-eyes (field ``meaning``); 409 unless the version is a candidate whose latest gate
        evaluation passed on its current content, or for a second signature with the same meaning."""
        path = path_of("approvals", project_id=project_id, dataset=dataset, version=version)
        return dict(self.post(path, {"meaning": meaning, "signing_secret": signing_secret}))

    def reject(self, project_id: int, dataset: str, version: str, *, reason: str) -> dict[str, Any]:
        """``POST .../versions/{version}/reject`` with ``{reason}`` → the version (now ``rejected``)."""
        path = path_of("reject", project_id=project_id, dataset=dataset, version=version)
        return dict(self.post(path, {"reason": reason}))

    # ---- evidence and reports (uncached: a download reads the record as it is now) -----------------------
    def evidence_bundle(self, project_id: int, dataset: str, version: str) -> dict[str, Any]:
        """``GET .../versions/{version}/bundle`` → the signed evidence bundle of a released version (JSON:
        ``{content, signature, ...}``; verify it with ``labelgate verify-bundle``). 404 (field ``version``)
        until the version is released."""
        path = path_of("evidence_bundle", project_id=project_id, dataset=dataset, version=version)
        return dict(send(self.http, self.token, "GET", path))

    def report(self, project_id: int, dataset: str, version: str, kind: str) -> bytes:
        """``GET .../versions/{version}/reports/{kind}`` → the report's bytes (kinds: :data:`REPORT_KINDS`; the
        gate reports answer 404, field ``evaluation``, while the version has no evaluation)."""
        path = path_of("report", project_id=project_id, dataset=dataset, version=version, kind=kind)
        result: bytes = send(self.http, self.token, "GET", path, raw=True)
        return result

    def project_report(
        self, project_id: int, kind: str, *, since: str | None = None, until: str | None = None
    ) -> bytes:
        """``GET /projects/{id}/reports/{kind}?since&until`` → the report's bytes (kinds:
        :data:`PROJECT_REPORT_KINDS`); ``since`` inclusive, ``until`` exclusive, ISO 8601 with a zone."""
        path = path_of("project_report", project_id=project_id, kind=kind)
        result: bytes = send(self.http, self.token, "GET", path, params={"since": since, "until": until}, raw=True)
        return result

    # ---- auto-labelling ---------------------------------------------------------------------------------
    def models(self, project_id: int) -> list[dict[str, Any]]:
        """``GET /projects/{id}/models`` (ml_engineer) → ``[{id, name, version, framework, weights_uri,
        weights_sha256, class_map, schema_version_id, created_at}]``."""
        return list(self.get(path_of("models", project_id=project_id)))

    def model(self, project_id: int, ref: str) -> dict[str, Any]:
        """``GET /projects/{id}/models/{NAME@VERSION}`` (ml_engineer) → the model with its ``training_data``."""
        return dict(self.get(path_of("model", project_id=project_id, ref=ref)))

    def model_lineage(self, project_id: int, ref: str, *, rounds: int = 2) -> dict[str, Any]:
        """``GET /projects/{id}/models/{NAME@VERSION}/lineage`` (ml_engineer) → ``LoopGraph`` as JSON."""
        return dict(self.get(path_of("model_lineage", project_id=project_id, ref=ref), {"rounds": rounds}))

    def autolabel_runs(self, project_id: int, *, limit: int = 100) -> list[dict[str, Any]]:
        """``GET /projects/{id}/autolabel-runs`` (ml_engineer) → ``[{id, dataset_version_id, model_version_id,
        threshold, review_band_low, nms_iou, device, batch_size, state, items_total, items_done, images_per_s,
        error, created_at, started_at, finished_at, class_thresholds, reused}]``."""
        return list(self.get(path_of("autolabel_runs", project_id=project_id), {"limit": limit}))

    def review_queue(
        self, project_id: int, *, resolved: bool = False, offset: int = 0, limit: int = 100
    ) -> list[dict[str, Any]]:
        """``GET /projects/{id}/review-queue`` (reviewer, ml_engineer) → a bare list (no total), lowest
        confidence first: ``[{id, dataset_version_id, item_id, uri, width, height, autolabel_run_id, reason,
        priority, resolved_at, created_at, labels: [{id, category, x, y, w, h, kind, confidence, threshold,
        model_version_id, autolabel_run_id}]}]``."""
        params = {"resolved": str(resolved).lower(), "offset": offset, "limit": limit}
        return list(self.get(path_of("review_queue", project_id=project_id), params))

    def review_queue_size(self, project_id: int, *, resolved: bool = False, cap: int = 5000) -> tuple[int, bool]:
        """How many queue entries (open ones by default): the route answers a list without a total, so this
        pages through it (500 at a time, the route's largest page) up to ``cap``. Returns ``(count, capped)``;
        ``capped`` is True when there are at least ``count`` entries but more were not counted."""
        page, count = 500, 0
        while count < cap:
            got = len(self.review_queue(project_id, resolved=resolved, offset=count, limit=page))
            count += got
            if got < page:
                return count, False
        return count, True

    # ---- signing, asked before the form is shown ----------------------------------------------------------
    def signable(self, project_id: int, dataset: str, version: str) -> dict[str, Any]:
        """``GET .../versions/{version}/signable`` → ``{meaning, can_sign, reason, meanings: {meaning: reason or
        null}}``: whether the caller may sign now (asked for ``approval``; ``meanings`` answers for each of
        :data:`SIGNATURE_MEANINGS`) and, if not, the reason the signature would be refused with. Uncached: the
        answer changes with the record (a new evaluation, a label written)."""
        path = path_of("signable", project_id=project_id, dataset=dataset, version=version)
        return dict(send(self.http, self.token, "GET", path))

    # ---- overview, four-eyes, the caller's signing secret -------------------------------------------------
    def project_overview(self, project_id: int) -> dict[str, Any]:
        """``GET /projects/{id}/overview`` → ``{project_id, awaiting_approval, blocked, stale: [{dataset,
        version, ref, state, golden, evaluation_id, evaluated_at, policy, reasons, blocking, approvals,
        approvals_needed}], stale_definition, recent_releases: [{dataset, version, ref, released_at, released_by,
        evaluation_id, git_tag}], chain: {head_seq, checkpoint_seq, checkpoint_hash, checkpoint_ts,
        checkpoint_key_id, events_after_checkpoint, problems} | null}`` (``chain`` only for those who may
        verify the audit chain)."""
        return dict(self.get(path_of("project_overview", project_id=project_id)))

    def signoff(self, project_id: int, dataset: str, version: str) -> dict[str, Any]:
        """``GET .../versions/{version}/signoff`` → ``{dataset, version, ref, evaluated, four_eyes,
        approvals_needed, approvals_counting, approver_roles, excluded: [{username, full_name}]}``: the release
        rules applying to the version and the authors four-eyes excludes from approving it. Uncached."""
        path = path_of("version_signoff", project_id=project_id, dataset=dataset, version=version)
        return dict(send(self.http, self.token, "GET", path))

    def set_signing_secret(self, *, secret: str, enrolment_code: str | None = None, current: str | None = None) -> None:
        """``PUT /me/signing-secret`` with ``{secret, enrolment_code}`` (a first secret, with the code an admin
        issued) or ``{secret, current}`` (a change). 403 for a wrong code or current secret."""
        body = {"secret": secret, "enrolment_code": enrolment_code, "current": current}
        send(self.http, self.token, "PUT", path_of("my_signing_secret"), json={k: v for k, v in body.items() if v})
