"""One permission table decides every route: no route escapes it, and every role gets what it says."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from lineage.models import Role
from service.api.app import create_app
from service.permissions import ACTIONS, LOCAL_ACTIONS, Rule
from tests.factories import World

CALLERS = [r.value for r in Role] + ["outsider", "anonymous"]


def iter_api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # FastAPI's lazily included routers
            yield from iter_api_routes(route.original_router.routes)


def _api_routes(app: FastAPI) -> list[APIRoute]:
    return list(iter_api_routes(app.routes))


def test_every_route_has_an_explicit_permission() -> None:
    routes = _api_routes(create_app())
    assert routes, "no API routes found"
    missing = sorted(r.name for r in routes if r.name not in ACTIONS)
    assert missing == [], f"routes without a permission rule: {missing}"
    names = [r.name for r in routes]
    assert len(names) == len(set(names)), "route names must be unique (they key the permission table)"


def test_permission_table_has_no_stale_entries() -> None:
    names = {r.name for r in _api_routes(create_app())}
    assert sorted(set(ACTIONS) - names) == sorted(LOCAL_ACTIONS)  # the rest have no route on purpose
    assert not LOCAL_ACTIONS & names


def _expected(rule: Rule, caller: str) -> bool:
    if rule.kind == "public":
        return True
    if caller == "anonymous":
        return False
    if caller == "admin":
        return True
    if rule.kind in ("authenticated", "self_or_admin"):
        return True
    if rule.kind == "admin":
        return False
    if caller == "outsider":
        return rule.kind == "any_project_role" and Role.ml_engineer in rule.roles
    return Role(caller) in rule.roles


def _denied(status: int, body: dict[str, Any]) -> bool:
    if status in (401, 403):
        return True
    return status == 404 and body.get("error", {}).get("field") == "project_id"


def _call(
    client: TestClient, route: APIRoute, world: World, caller: str, *, user_id: int | None = None
) -> tuple[int, dict[str, Any]]:
    me = world.users.get(caller)
    params = {"project_id": world.project.id, "user_id": user_id or (me.id if me else world.admin.id)}
    path = "/api/v1" + re.sub(r"{(\w+)(:\w+)?}", lambda m: str(params.get(m.group(1), 999_999)), route.path_format)
    method = sorted(route.methods - {"HEAD"})[0]
    headers = world.headers(caller) if caller in world.tokens else {}
    kwargs: dict[str, Any] = {"headers": headers}
    if method in ("POST", "PUT", "PATCH"):
        kwargs["json"] = {}
    r = client.request(method, path, **kwargs)
    try:
        body = r.json()
    except ValueError:
        body = {}
    return r.status_code, body


#: Public routes whose caller proves itself with a shared secret, not a token (the matrix sends none, so every
#: caller must be refused): Label Studio's webhooks.
SECRET_ROUTES = {"receive_labelstudio_webhook"}


@pytest.mark.parametrize("caller", CALLERS)
def test_role_route_matrix(client: TestClient, world: World, caller: str) -> None:
    mismatches = []
    for route in _api_routes(client.app):  # type: ignore[arg-type]
        rule = ACTIONS[route.name]
        status, body = _call(client, route, world, caller)
        if _denied(status, body) == (_expected(rule, caller) and route.name not in SECRET_ROUTES):
            mismatches.append(f"{route.name} ({rule.kind}): got {status} {body.get('error')}")
        assert status < 500, f"{route.name} as {caller}: {status} {body}"
    assert mismatches == [], f"{caller}: " + "; ".join(mismatches)


@pytest.mark.parametrize("caller", ["annotator", "ml_engineer", "outsider", "admin"])
def test_self_or_admin_routes_refuse_other_users(client: TestClient, world: World, caller: str) -> None:
    victim = world.users["reviewer"].id
    for route in _api_routes(client.app):  # type: ignore[arg-type]
        if ACTIONS[route.name].kind != "self_or_admin":
            continue
        status, body = _call(client, route, world, caller, user_id=victim)
        assert _denied(status, body) == (caller != "admin"), f"{route.name} as {caller}: {status} {body}"


# Written by hand, not derived from the table: changing who may do these must change this test too.
PINNED = {
    "list_users": {"admin"},
    "create_user": {"admin"},
    "create_project": {"admin"},
    "add_member": {"admin"},
    "list_audit_events": {"admin"},
    "list_project_audit_events": {"admin", "compliance_officer", "ml_engineer", "reviewer"},
    "verify_audit_chain": {"admin", "compliance_officer"},
    "get_project": {"admin", "ml_engineer", "annotator", "reviewer", "compliance_officer", "ci"},
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_pinned_permissions(name: str) -> None:
    rule = ACTIONS[name]
    allowed = {c for c in CALLERS if _expected(rule, c)}
    assert allowed == PINNED[name]


def test_outsider_gets_404_not_403_for_another_project(client: TestClient, world: World) -> None:
    r = client.get(f"/api/v1/projects/{world.project.id}", headers=world.headers("outsider"))
    assert r.status_code == 404 and r.json()["error"]["message"] == "project not found"
    r = client.get("/api/v1/projects/424242", headers=world.headers("outsider"))
    assert r.status_code == 404 and r.json()["error"]["message"] == "project not found"


def test_annotator_cannot_read_the_audit_trail_but_compliance_can(client: TestClient, world: World) -> None:
    url = f"/api/v1/projects/{world.project.id}/audit/events"
    assert client.get(url, headers=world.headers("annotator")).status_code == 403
    assert client.get(url, headers=world.headers("compliance_officer")).status_code == 200
    assert client.get("/api/v1/audit/events", headers=world.headers("compliance_officer")).status_code == 403


def test_tokens_of_another_user_are_off_limits(client: TestClient, world: World) -> None:
    other = world.users["reviewer"].id
    r = client.post(f"/api/v1/users/{other}/tokens", json={"name": "x"}, headers=world.headers("annotator"))
    assert r.status_code == 403


def test_projects_list_is_filtered_by_membership(client: TestClient, world: World) -> None:
    names = [p["name"] for p in client.get("/api/v1/projects", headers=world.headers("outsider")).json()]
    assert names == ["beta"]
    names = [p["name"] for p in client.get("/api/v1/projects", headers=world.headers("admin")).json()]
    assert names == ["alpha", "beta"]
