"""The capabilities a caller is told are exactly what the server lets them do: every project action listed
for a role is one the role matrix allows, every one left out is refused (checked against the one table)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from service.permissions import ACTIONS, ALL_PROJECT_ROLES
from tests.factories import World

ROLES = sorted(r.value for r in ALL_PROJECT_ROLES)


@pytest.mark.parametrize("who", [*ROLES, "admin"])
def test_project_capabilities_follow_the_permission_table(client: TestClient, world: World, who: str) -> None:
    pid = world.project.id
    r = client.get(f"/api/v1/projects/{pid}/capabilities", headers=world.headers(who))
    assert r.status_code == 200, r.text
    got = set(r.json())
    project_actions = {name for name, rule in ACTIONS.items() if rule.kind == "project"}
    expected = (
        project_actions
        if who == "admin"
        else {name for name in project_actions if who in {role.value for role in ACTIONS[name].roles}}
    )
    assert got == expected
    assert "project_capabilities" in got  # every member may ask


def test_capabilities_of_a_project_one_is_not_in_do_not_leak_it(client: TestClient, world: World) -> None:
    r = client.get(f"/api/v1/projects/{world.other_project.id}/capabilities", headers=world.headers("annotator"))
    assert r.status_code == 404
    r = client.get(f"/api/v1/projects/{world.project.id}/capabilities", headers=world.headers("outsider"))
    assert r.status_code == 404


def test_capabilities_outside_projects(client: TestClient, world: World) -> None:
    mine = set(client.get("/api/v1/me/capabilities", headers=world.headers("annotator")).json())
    admin = set(client.get("/api/v1/me/capabilities", headers=world.headers("admin")).json())
    assert "list_users" in admin and "list_users" not in mine
    assert {"whoami", "my_capabilities"} <= mine
    assert "verify_audit_chain" in set(
        client.get("/api/v1/me/capabilities", headers=world.headers("compliance_officer")).json()
    )
    assert "verify_audit_chain" not in mine
