"""Every project route takes the project's name as well as its id (``/projects/alpha/datasets``), with the
same answers: the same body for a member, the same 404 for a non-member and for a name that does not exist
(so a name tells an outsider nothing an id would not), and a refused project name that is only digits."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from lineage import identity
from lineage.errors import InvalidInput
from tests.factories import World, actor_for


def _get(client: TestClient, world: World, who: str, path: str) -> tuple[int, object]:
    r = client.get(f"/api/v1{path}", headers=world.headers(who))
    return r.status_code, r.json()


@pytest.mark.parametrize(
    "tail",
    [
        "",
        "/members",
        "/audit/events",
        "/schemas",
        "/datasets",
        "/models",
        "/autolabel-runs",
        "/review-queue",
        "/policies",
        "/golden-sets",
        "/evaluations",
        "/capabilities",
    ],
)
def test_a_name_answers_as_the_id_does(client: TestClient, world: World, tail: str) -> None:
    pid = world.project.id
    by_id = _get(client, world, "admin", f"/projects/{pid}{tail}")
    by_name = _get(client, world, "admin", f"/projects/alpha{tail}")
    assert by_id[0] == 200, by_id
    assert by_name == by_id


def test_an_outsider_gets_the_same_404_by_name_as_by_id(client: TestClient, world: World) -> None:
    by_id = _get(client, world, "outsider", f"/projects/{world.project.id}/datasets")
    by_name = _get(client, world, "outsider", "/projects/alpha/datasets")
    unknown = _get(client, world, "outsider", "/projects/no-such-project/datasets")
    assert by_id[0] == by_name[0] == unknown[0] == 404
    assert by_id[1]["error"]["message"] == by_name[1]["error"]["message"] == unknown[1]["error"]["message"]  # type: ignore[index]


def test_names_with_url_characters_and_writes_by_name(client: TestClient, world: World, engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as s:
        odd = identity.create_project(s, actor=actor_for(world.admin), name="street scenes/ü")
        s.commit()
    r = client.get("/api/v1/projects/street%20scenes%2F%C3%BC", headers=world.headers("admin"))
    # A slash inside a path segment is not routable; the name is reachable through its id instead.
    assert r.status_code == 404
    r = client.get(f"/api/v1/projects/{odd.id}", headers=world.headers("admin"))
    assert r.status_code == 200 and r.json()["name"] == "street scenes/ü"
    r = client.post("/api/v1/projects/alpha/datasets", json={"name": "street"}, headers=world.headers("ml_engineer"))
    assert r.status_code == 201, r.text
    listed = client.get(f"/api/v1/projects/{world.project.id}/datasets", headers=world.headers("ml_engineer"))
    assert [d["name"] for d in listed.json()] == ["street"]


def test_a_name_with_a_nul_is_refused_not_looked_up(client: TestClient, world: World) -> None:
    r = client.get("/api/v1/projects/al%00pha/datasets", headers=world.headers("admin"))
    assert r.status_code == 422 and r.json()["error"]["field"] == "path.project_id"


@pytest.mark.parametrize("name", ["7", "-3", "+12", "0042"])
def test_a_project_name_of_digits_is_refused(engine: Engine, world: World, name: str) -> None:
    with Session(engine) as s, pytest.raises(InvalidInput, match="may not be a number"):
        identity.create_project(s, actor=actor_for(world.admin), name=name)


def test_the_spec_says_a_project_is_an_id_or_a_name(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    params = [
        p
        for path, ops in spec["paths"].items()
        if "{project_id}" in path
        for op in ops.values()
        for p in op.get("parameters", [])
        if p["name"] == "project_id"
    ]
    assert params
    for p in params:
        kinds = {alt["type"] for alt in p["schema"]["anyOf"]}
        assert kinds == {"integer", "string"}
