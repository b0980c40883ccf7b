"""Keyset pages through the API (SQLite and PostgreSQL): walking a list by ``next_cursor`` gives each row once,
in order, rows added between pages included; a bad or foreign cursor is 422; bare lists are cut at ``limit``
with a ``Link: rel="next"`` header that walks the rest."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from lineage.labels.annotations import NewLabel, Provenance, add_annotations
from lineage.models import AutoLabelRun, DatasetVersion, ModelVersion, ProvenanceKind, RunState
from service.actions.paging import encode_cursor
from tests.factories import World, actor_for, make_user
from tests.lineage.conftest import items_of, quick_version

API = "/api/v1"
VERSION = "/datasets/pets/versions/v1"


@dataclass
class Scene:
    version: DatasetVersion
    label_ids: list[int]
    uris: list[str]


def _label(engine: Engine, world: World, version: DatasetVersion, uri: str, n: int = 1) -> list[int]:
    with Session(engine, expire_on_commit=False) as s:
        ml = actor_for(world.users["ml_engineer"])
        item = items_of(s, version)[uri]
        ids = add_annotations(
            s,
            actor=ml,
            version=version,
            labels=[NewLabel(item, "cat", i, 1, 2, 2) for i in range(n)],
            provenance=Provenance(kind=ProvenanceKind.human, annotator_id=ml.user_id),
        )
        s.commit()
    return list(ids)


@pytest.fixture
def scene(engine: Engine, world: World) -> Scene:
    """``pets@v1`` with 7 items (paths out of id order) and 11 labels spread over them."""
    uris = ["g.png", "a.png", "f.png", "b.png", "e.png", "c.png", "d.png"]
    with Session(engine, expire_on_commit=False) as s:
        ml = actor_for(world.users["ml_engineer"])
        _, v = quick_version(s, actor=ml, project_id=world.project.id or 0, items={u: (8, 8) for u in uris})
        s.commit()
    ids = [i for uri, n in (("a.png", 5), ("g.png", 4), ("c.png", 2)) for i in _label(engine, world, v, uri, n)]
    return Scene(v, ids, sorted(uris))


def _get(client: TestClient, world: World, path: str, who: str = "admin", **params: Any) -> Any:
    r = client.get(API + path, params=params, headers=world.headers(who))
    assert r.status_code == 200, r.text
    return r.json()


def _walk(client: TestClient, world: World, path: str, limit: int, between: Any = None) -> list[dict[str, Any]]:
    """Every row of a paged list, by cursor; ``between(page_number)`` runs after each page."""
    page = _get(client, world, path, limit=limit)
    assert page["total"] is not None  # the first page (no cursor) is counted, as before
    rows = list(page["items"])
    n = 0
    while page["next_cursor"] is not None:
        if between is not None:
            between(n)
        n += 1
        page = _get(client, world, path, limit=limit, cursor=page["next_cursor"])
        assert page["total"] is None  # a cursor page does not count every row
        rows.extend(page["items"])
    return rows


def _project(world: World, tail: str) -> str:
    return f"/projects/{world.project.id}{tail}"


@pytest.mark.parametrize("limit", [1, 3, 11, 50])
def test_labels_walked_by_cursor_come_once_each_in_id_order(
    client: TestClient, world: World, scene: Scene, limit: int
) -> None:
    rows = _walk(client, world, _project(world, VERSION + "/annotations"), limit)
    assert [r["id"] for r in rows] == sorted(scene.label_ids)


def test_labels_added_between_pages_are_met_once(
    client: TestClient, world: World, engine: Engine, scene: Scene
) -> None:
    added: list[int] = []

    def add(_: int) -> None:
        added.extend(_label(engine, world, scene.version, "b.png"))

    rows = _walk(client, world, _project(world, VERSION + "/annotations"), 4, between=add)
    ids = [r["id"] for r in rows]
    assert ids == sorted(scene.label_ids + added)  # every label added behind the cursor comes, none twice
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("limit", [1, 2, 7])
def test_items_walked_by_cursor_come_in_path_order_with_their_label_counts(
    client: TestClient, world: World, scene: Scene, limit: int
) -> None:
    rows = _walk(client, world, _project(world, VERSION + "/items"), limit)
    assert [r["uri"] for r in rows] == scene.uris
    assert {r["uri"]: r["labels"] for r in rows if r["labels"]} == {"a.png": 5, "g.png": 4, "c.png": 2}
    by_offset = _get(client, world, _project(world, VERSION + "/items"), limit=200)
    assert by_offset["items"] == rows  # the keyset walk answers what one offset page does


def test_users_walked_by_cursor_come_once_each_with_users_added_between(
    client: TestClient, world: World, engine: Engine
) -> None:
    before = [u["id"] for u in _get(client, world, "/users", limit=500)["items"]]
    added: list[int] = []

    def add(n: int) -> None:
        with Session(engine, expire_on_commit=False) as s:
            added.append(make_user(s, f"late_{n}").id or 0)
            s.commit()

    rows = _walk(client, world, "/users", 2, between=add)
    assert [u["id"] for u in rows] == before + added


def test_an_offset_page_still_works_and_hands_a_cursor_on(client: TestClient, world: World, scene: Scene) -> None:
    path = _project(world, VERSION + "/annotations")
    page = _get(client, world, path, offset=3, limit=4)
    ordered = sorted(scene.label_ids)
    assert [r["id"] for r in page["items"]] == ordered[3:7]
    assert page["total"] == len(ordered)
    rest = _get(client, world, path, cursor=page["next_cursor"], limit=100, with_total="true")
    assert [r["id"] for r in rest["items"]] == ordered[7:]
    assert rest["total"] == len(ordered) and rest["next_cursor"] is None


def _b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


BAD_CURSORS = [
    "not-a-cursor!",
    "%%%%",
    _b64("[1,"),
    _b64('{"a":1}'),
    _b64('[2,"labels",5]'),
    _b64('[1,"labels"]'),
    _b64('[1,"labels",-1]'),
    _b64('[1,"labels",true]'),
    _b64('[1,"labels",9223372036854775808]'),
    _b64('[1,"labels",2147483648]'),  # past the 32-bit ids: a PostgreSQL error, were it queried
    _b64('[1,"labels","5"]'),
    encode_cursor("users", 3),  # another list's cursor
    "x" * 2049,
]


@pytest.mark.parametrize("cursor", BAD_CURSORS)
def test_a_bad_or_foreign_cursor_is_422_naming_the_cursor(
    client: TestClient, world: World, scene: Scene, cursor: str
) -> None:
    r = client.get(
        API + _project(world, VERSION + "/annotations"), params={"cursor": cursor}, headers=world.headers("admin")
    )
    assert r.status_code == 422, r.text
    assert "cursor" in r.text


@pytest.mark.parametrize("key", ["a\\u0000b", "\\ud800", "x" * 1001])
def test_an_item_cursor_holding_unstorable_text_is_422(
    client: TestClient, world: World, scene: Scene, key: str
) -> None:
    cursor = _b64(json.dumps([1, "items"]).rstrip("]") + f',"{key}"]')
    r = client.get(API + _project(world, VERSION + "/items"), params={"cursor": cursor}, headers=world.headers("admin"))
    assert r.status_code == 422, r.text


def test_cursor_paging_is_authorized_as_the_route(client: TestClient, world: World, scene: Scene) -> None:
    page = _get(client, world, _project(world, VERSION + "/annotations"), limit=2)
    r = client.get(
        API + f"/projects/{world.other_project.id}/datasets/pets/versions/v1/annotations",
        params={"cursor": page["next_cursor"]},
        headers=world.headers("outsider"),
    )
    assert r.status_code == 404  # the cursor names a place in a list, never a right to read it
    r = client.get("/api/v1/users", params={"cursor": encode_cursor("users", 0)}, headers=world.headers("annotator"))
    assert r.status_code == 403


_LINK = re.compile(r'<([^>]+)>; rel="next"')


def _follow(client: TestClient, world: World, path: str, **params: Any) -> tuple[list[Any], int]:
    """Every row of a bare list, following ``Link: rel="next"``, and how many requests it took."""
    r = client.get(API + path, params=params, headers=world.headers("admin"))
    assert r.status_code == 200, r.text
    rows, calls = list(r.json()), 1
    while (link := r.headers.get("link")) is not None:
        found = _LINK.fullmatch(link)
        assert found is not None, link
        r = client.get(found.group(1), headers=world.headers("admin"))
        assert r.status_code == 200, r.text
        rows.extend(r.json())
        calls += 1
    return rows, calls


@pytest.mark.parametrize(
    "tail",
    ["/projects", "/projects/{pid}/datasets", "/projects/{pid}/datasets/pets/versions"],
)
def test_bare_lists_cut_at_limit_walk_whole_by_their_link(
    client: TestClient, world: World, engine: Engine, scene: Scene, tail: str
) -> None:
    path = tail.format(pid=world.project.id)
    with Session(engine, expire_on_commit=False) as s:
        ml = actor_for(world.users["ml_engineer"])
        pid = world.project.id or 0
        for v in ("v2", "v3"):
            quick_version(s, actor=ml, project_id=pid, items={"a.png": (8, 8)}, version=v)
            quick_version(s, actor=ml, project_id=pid, items={"a.png": (8, 8)}, dataset=f"more{v}")
        s.commit()
    r = client.get(API + path, headers=world.headers("admin"))
    whole = r.json()
    assert "link" not in r.headers  # a list under the default limit comes whole, as before
    assert len(whole) >= 2
    rows, calls = _follow(client, world, path, limit=1)
    assert rows == whole and calls == len(whole)


def _runs(engine: Engine, world: World, version: DatasetVersion, n: int) -> list[int]:
    with Session(engine, expire_on_commit=False) as s:
        model = ModelVersion(
            project_id=world.project.id or 0,
            name="det",
            version=f"{version.id}-{n}",
            framework="simulated",
            weights_uri="simulated://det/1",
            weights_sha256="0" * 64,
            created_by=world.admin.id or 0,
        )
        s.add(model)
        s.flush()
        runs = [
            AutoLabelRun(
                dataset_version_id=version.id or 0,
                model_version_id=model.id or 0,
                threshold=0.3,
                state=RunState.succeeded,
                created_by=world.admin.id or 0,
            )
            for _ in range(n)
        ]
        s.add_all(runs)
        s.commit()
        return [r.id or 0 for r in runs]


def test_runs_walked_by_link_come_newest_first_once_each(
    client: TestClient, world: World, engine: Engine, scene: Scene
) -> None:
    path = _project(world, "/autolabel-runs")
    r = client.get(API + path, params={"limit": 1}, headers=world.headers("admin"))
    assert r.status_code == 200 and r.json() == [] and "link" not in r.headers
    ids = _runs(engine, world, scene.version, 5)
    rows, calls = _follow(client, world, path, limit=2)
    assert [row["id"] for row in rows] == sorted(ids, reverse=True) and calls == 3
    rows, calls = _follow(client, world, path, limit=5)
    assert len(rows) == 5 and calls == 1  # a full last page names no next one


def test_an_after_that_is_no_row_of_the_list_is_422(client: TestClient, world: World) -> None:
    r = client.get(API + "/projects", params={"after": 999_999}, headers=world.headers("admin"))
    assert r.status_code == 422 and "after" in r.text
