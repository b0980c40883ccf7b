"""The API client's contract: error mapping, route availability, paths; the configuration; roles → pages."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from dashboard import config
from dashboard.access import UNDISCLOSED, Viewer, load_viewer, probe_roles
from dashboard.client import (
    ENDPOINTS,
    GATE_REPORT_KINDS,
    PROJECT_REPORT_KINDS,
    REPORT_KINDS,
    Api,
    ApiError,
    AuditQuery,
    Forbidden,
    NotAvailable,
    Unauthorized,
    path_of,
    token_key,
)
from service.cli.dashboard import APP_PATH, streamlit_command
from tests.factories import World


def fake(status: int, body: Any) -> httpx.Client:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body)

    return httpx.Client(transport=httpx.MockTransport(handle), base_url="http://api")


def err(message: str, field: str | None = None, status: int = 404) -> dict[str, Any]:
    return {"error": {"status": status, "message": message, "field": field}, "request_id": "r"}


@pytest.mark.parametrize(
    ("status", "body", "kind", "message"),
    [
        (404, err("Not Found"), NotAvailable, "not available yet on this server"),
        (405, err("Method Not Allowed", status=405), NotAvailable, "not available yet on this server"),
        (404, err("project not found", "project_id"), ApiError, "project not found"),
        (401, err("invalid token: unknown token", status=401), Unauthorized, "invalid token: unknown token"),
        (403, err("this action needs the admin role", status=403), Forbidden, "this action needs the admin role"),
        (422, err("unknown field", "limit", status=422), ApiError, "unknown field"),
        (500, {"detail": "boom"}, ApiError, "boom"),
    ],
)
def test_error_answers_become_typed_errors(status: int, body: Any, kind: type, message: str) -> None:
    with pytest.raises(ApiError) as info:
        Api(fake(status, body), "tok").me()
    assert type(info.value) is kind
    assert info.value.message == message and info.value.path == "/api/v1/me"
    if status == 404 and body["error"]["field"]:
        assert info.value.field == "project_id" and not isinstance(info.value, NotAvailable)


def test_transport_failure_is_an_api_error_with_status_0() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = httpx.Client(transport=httpx.MockTransport(refuse), base_url="http://api:1")
    with pytest.raises(ApiError) as info:
        Api(client, "tok").projects()
    assert info.value.status == 0 and "cannot reach the API at http://api:1" in info.value.message


def test_requests_carry_the_bearer_token_and_drop_empty_filters() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"items": [], "total": 0, "offset": 0, "limit": 10})

    client = httpx.Client(transport=httpx.MockTransport(handle), base_url="http://api")
    Api(client, "lg_secret").audit_events(AuditQuery(actor="alice", action=""), project_id=3, limit=10)
    (req,) = seen
    assert req.headers["authorization"] == "Bearer lg_secret"
    assert req.url.path == "/api/v1/projects/3/audit/events"
    assert dict(req.url.params) == {"actor": "alice", "offset": "0", "limit": "10"}


def test_getter_hook_receives_every_get() -> None:
    calls: list[tuple[str, Any]] = []
    api = Api(fake(500, {}), "tok", getter=lambda path, params: calls.append((path, params)) or [])
    assert api.projects() == [] and api.datasets(4) == []
    assert calls == [("/api/v1/projects", None), ("/api/v1/projects/4/datasets", None)]


def test_paths_quote_names_and_every_template_is_absolute() -> None:
    assert path_of("version", project_id=1, dataset="a b/c", version="v1") == (
        "/api/v1/projects/1/datasets/a%20b%2Fc/versions/v1"
    )
    assert all(p.startswith("/") for p in ENDPOINTS.values())


def test_offers_reads_the_openapi_document_whatever_the_parameter_names(api_http: TestClient) -> None:
    api = Api(api_http, "unused")
    assert api.offers("audit_events") and api.offers("version_lineage")
    assert api.offers("version_state", "POST") and not api.offers("version_state", "GET")
    assert api.offers("reject", "POST") and not api.offers("reject", "GET")
    spec = {"paths": {"/api/v1/projects/{pid}/datasets/{name}/versions/{v}/bundle": {"get": {}}}}
    assert Api(fake(200, spec), "t").offers("evidence_bundle")
    assert not Api(fake(200, {"paths": {}}), "t").offers("evidence_bundle")


#: Every endpoint the dashboard calls and the methods it calls it with.
CALLED: dict[str, tuple[str, ...]] = {
    "health": ("GET",), "me": ("GET",), "my_memberships": ("GET",), "my_capabilities": ("GET",),
    "project_capabilities": ("GET",), "users": ("GET",), "tokens": ("GET",),
    "projects": ("GET",), "project": ("GET",), "members": ("GET",), "audit_events": ("GET",),
    "project_audit_events": ("GET",), "audit_verify": ("GET",), "datasets": ("GET",), "versions": ("GET",),
    "version": ("GET",), "version_lineage": ("GET",), "version_state": ("POST",), "annotation_lineage": ("GET",),
    "item_image": ("GET",),
    "version_evaluations": ("GET",), "version_evidence": ("GET",), "evaluation": ("GET",),
    "confusion_cell": ("GET",),
    "project_evaluations": ("GET",), "approvals": ("GET", "POST"),
    "signable": ("GET",), "reject": ("POST",), "evidence_bundle": ("GET",), "report": ("GET",),
    "project_report": ("GET",), "models": ("GET",), "model": ("GET",), "model_lineage": ("GET",),
    "autolabel_runs": ("GET",), "review_queue": ("GET",),
    "version_annotations": ("GET",), "schema_version": ("GET",),
    "version_items": ("GET",), "item_lineage": ("GET",),
    "project_overview": ("GET",), "version_signoff": ("GET",), "my_signing_secret": ("PUT",),
}  # fmt: skip


def test_every_endpoint_is_a_route_the_server_has(api_http: TestClient) -> None:
    """The contract: each path template (with each report kind filled in) is in the server's OpenAPI document
    with the methods the dashboard uses; a renamed or removed route fails here, not in a browser."""
    paths = api_http.get("/openapi.json").json()["paths"]
    served = {re.sub(r"\{[^}]*\}", "{}", path): set(ops) for path, ops in paths.items()}
    assert set(CALLED) == set(ENDPOINTS) - {"openapi"}
    for name, methods in CALLED.items():
        templates = [ENDPOINTS[name]]
        if name == "project_report":  # the server has one route per project report kind
            templates = [ENDPOINTS[name].replace("{kind}", kind) for kind in PROJECT_REPORT_KINDS]
        for template in templates:
            shape = re.sub(r"\{[^}]*\}", "{}", template)
            assert shape in served, f"{name}: {template} is not served"
            assert {m.lower() for m in methods} <= served[shape], (name, methods, served[shape])


def test_report_kinds_are_the_servers(api_http: TestClient, world: World) -> None:
    """An unknown kind answers 404 naming the kinds the server has: they are exactly :data:`REPORT_KINDS`."""
    r = api_http.get(
        path_of("report", project_id=world.project.id, dataset="train", version="v2", kind="nope.pdf"),
        headers=world.headers("compliance_officer"),
    )
    assert r.status_code == 404 and r.json()["error"]["field"] == "kind"
    listed = r.json()["error"]["message"].split("available: ")[1]
    assert listed.split(", ") == list(REPORT_KINDS)
    assert set(REPORT_KINDS) > GATE_REPORT_KINDS


def test_review_queue_size_pages_through_a_list_without_a_total() -> None:
    seen: list[dict[str, str]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        seen.append(params)
        offset, limit = int(params["offset"]), int(params["limit"])
        return httpx.Response(200, json=[{"id": i} for i in range(offset, min(offset + limit, 1234))])

    api = Api(httpx.Client(transport=httpx.MockTransport(handle), base_url="http://api"), "t")
    assert api.review_queue_size(7) == (1234, False)
    assert [(p["offset"], p["limit"], p["resolved"]) for p in seen] == [
        ("0", "500", "false"), ("500", "500", "false"), ("1000", "500", "false")
    ]  # fmt: skip
    assert api.review_queue_size(7, cap=1000) == (1000, True)


def test_decisions_and_downloads_use_the_real_routes_and_bodies() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/bundle"):
            return httpx.Response(200, json={"content": {"x": 1}, "signature": "s"})
        if "/reports/" in request.url.path:
            return httpx.Response(200, content=b"<html></html>")
        return httpx.Response(200, json={"state": "rejected"})

    api = Api(httpx.Client(transport=httpx.MockTransport(handle), base_url="http://api"), "t")
    api.reject(1, "street", "v2", reason="too noisy")
    assert api.evidence_bundle(1, "street", "v3") == {"content": {"x": 1}, "signature": "s"}
    assert api.report(1, "street", "v3", "governance.html") == b"<html></html>"
    api.project_report(1, "audit-trail.html", since="2026-01-01T00:00:00Z")
    reject, bundle, report, trail = seen
    assert (reject.method, reject.url.path) == ("POST", "/api/v1/projects/1/datasets/street/versions/v2/reject")
    assert json.loads(reject.content) == {"reason": "too noisy"}
    assert bundle.url.path == "/api/v1/projects/1/datasets/street/versions/v3/bundle"
    assert report.url.path == "/api/v1/projects/1/datasets/street/versions/v3/reports/governance.html"
    assert trail.url.path == "/api/v1/projects/1/reports/audit-trail.html"
    assert dict(trail.url.params) == {"since": "2026-01-01T00:00:00Z"}


def test_token_key_is_a_hash_not_the_token() -> None:
    assert token_key("lg_abc") != token_key("lg_abd") and "lg_abc" not in token_key("lg_abc")
    assert len(token_key("lg_abc")) == 64


# ---- configuration ---------------------------------------------------------------------------------------


def test_api_url_argument_wins_over_environment_and_default() -> None:
    env = {"LABELGATE_API_URL": "http://env:1/"}
    assert config.api_url(["--api-url", "http://arg:2/", "--other"], env) == "http://arg:2"
    assert config.api_url(["--other"], env) == "http://env:1"
    assert config.api_url([], {}) == config.DEFAULT_API_URL


def test_cli_command_runs_streamlit_headless_without_usage_stats() -> None:
    cmd = streamlit_command(host="0.0.0.0", port=8600, api_url="http://api:8000")
    assert cmd[:5] == [sys.executable, "-m", "streamlit", "run", str(APP_PATH)]
    assert APP_PATH.is_file()
    opts = dict(zip(cmd[5:-3:2], cmd[6:-3:2], strict=True))
    assert opts["--server.headless"] == "true" and opts["--browser.gatherUsageStats"] == "false"
    assert opts["--server.address"] == "0.0.0.0" and opts["--server.port"] == "8600"
    assert cmd[-3:] == ["--", "--api-url", "http://api:8000"]


# ---- roles → pages ---------------------------------------------------------------------------------------


EVERY_PAGE = ["overview", "audit_trail", "dataset_version", "lineage", "autolabel", "reports", "annotators"]
READ_ONLY = ["overview", "dataset_version", "lineage"]


def viewer(roles: set[str], *, admin: bool = False) -> Viewer:
    """A viewer holding ``roles`` in project 1, with the capabilities the server's one permission table gives
    those roles (what ``/capabilities`` would answer): the dashboard's pages follow the server's rules."""
    from service.permissions import ACTIONS

    def allowed(rule: Any) -> bool:
        if admin:
            return True
        return rule.kind == "authenticated" or bool({r.value for r in rule.roles} & roles)

    project = frozenset(n for n, rule in ACTIONS.items() if rule.kind == "project" and allowed(rule))
    anywhere = frozenset(
        n
        for n, rule in ACTIONS.items()
        if rule.kind != "project" and rule.kind != "public" and (allowed(rule) if rule.kind != "admin" else admin)
    )
    return Viewer(user={"username": "u", "is_admin": admin}, projects=({"id": 1, "name": "p"},),
                  roles={1: frozenset(roles)}, capabilities={1: project}, anywhere=anywhere)  # fmt: skip


@pytest.mark.parametrize(
    ("roles", "admin", "pages", "verify", "sign"),
    [
        (set(), True, EVERY_PAGE, True, True),
        ({"compliance_officer"}, False,
         ["overview", "audit_trail", "dataset_version", "lineage", "reports", "annotators"], True, True),
        ({"reviewer"}, False, EVERY_PAGE, False, True),
        ({"ml_engineer"}, False, EVERY_PAGE, False, True),
        ({"ci"}, False, [*READ_ONLY, "reports", "annotators"], False, False),
        ({"annotator"}, False, [*READ_ONLY, "annotators"], False, False),
        ({UNDISCLOSED}, False, READ_ONLY, False, False),
    ],
)  # fmt: skip
def test_roles_decide_pages_and_actions(
    roles: set[str], admin: bool, pages: list[str], verify: bool, sign: bool
) -> None:
    v = viewer(roles, admin=admin)
    assert v.pages() == pages
    assert v.can_verify_chain() is verify and v.can_approve(1) is sign
    assert v.can_approve(2) is False  # the server gave no capabilities in an unknown project


def test_probe_roles_reads_memberships_or_falls_back_to_member_lists(api_http: TestClient, world: World) -> None:
    def as_(who: str) -> Viewer:
        return load_viewer(Api(api_http, world.tokens[who]))

    assert as_("reviewer").roles == {world.project.id: frozenset({"reviewer"})}
    assert as_("annotator").roles == {world.project.id: frozenset({"annotator"})}  # via /me/memberships
    assert as_("outsider").roles == {world.other_project.id: frozenset({"ml_engineer"})}
    assert as_("admin").is_admin
    # capabilities come from the server: a reviewer may sign in alpha, not verify the chain; cora may
    assert as_("reviewer").can_approve(world.project.id) and not as_("reviewer").can_verify_chain()
    assert as_("compliance_officer").can_verify_chain() and not as_("annotator").can_read_audit()
    assert as_("outsider").capabilities.keys() == {world.other_project.id}

    memberships = [{"project_id": 1, "role": "reviewer"}, {"project_id": 1, "role": "annotator"}]
    api = Api(fake(200, memberships), "t")
    assert probe_roles(api, me={"id": 5}, projects=[{"id": 1}]) == {1: frozenset({"reviewer", "annotator"})}


def test_audit_query_params_leave_out_empty_filters() -> None:
    q = AuditQuery(actor="a", object_id="7", since="2026-01-01T00:00:00Z")
    assert q.params() == {"actor": "a", "object_id": "7", "since": "2026-01-01T00:00:00Z"}
    assert json.dumps(AuditQuery().params()) == "{}"
