"""The audit log's filters, names and keyset pages through the API (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from lineage import identity
from lineage.audit.chain import append_event
from lineage.audit.query import AuditFilter, Order, decode_cursor, page_events
from tests.factories import World, actor_for
from tests.lineage.conftest import quick_version

API = "/api/v1"


@dataclass
class Scene:
    project_id: int
    v1: int
    v2: int
    v20: int


@pytest.fixture
def scene(engine: Engine, world: World) -> Scene:
    """Project ``street-scenes`` with dataset ``street`` at v1, v2 and v20, two gate evaluations of v2 (one by
    ``reviewer_user``), and a payload holding ``%`` and ``_``."""
    with Session(engine, expire_on_commit=False) as s:
        admin = actor_for(world.admin)
        project = identity.create_project(s, actor=admin, name="street-scenes")
        pid = project.id or 0
        versions = {}
        for v in ("v1", "v2", "v20"):
            _, row = quick_version(s, actor=admin, project_id=pid, items={"a.png": (4, 4)}, dataset="street", version=v)
            versions[v] = row.id or 0
        for actor in ("root_admin", "reviewer_user"):
            append_event(
                s,
                actor=actor,
                action="gate.evaluate",
                object_type="dataset_version",
                object_id=versions["v2"],
                project_id=pid,
                payload={"passed": True},
            )
        append_event(
            s,
            actor="root_admin",
            action="dataset_version.state",
            object_type="dataset_version",
            object_id=versions["v20"],
            project_id=pid,
            payload={"note": "Discount 5%_OFF applied"},
        )
        s.commit()
    return Scene(pid, versions["v1"], versions["v2"], versions["v20"])


def events(client: TestClient, world: World, **params: Any) -> dict[str, Any]:
    r = client.get(f"{API}/audit/events", params={"limit": 500, **params}, headers=world.headers("admin"))
    assert r.status_code == 200, r.text
    page: dict[str, Any] = r.json()
    return page


def actions_of(page: dict[str, Any]) -> list[str]:
    return [e["action"] for e in page["items"]]


def test_events_carry_the_names_of_their_object_and_project(client: TestClient, world: World, scene: Scene) -> None:
    page = events(client, world, action="gate.evaluate,dataset_version.state")
    by_object = {(e["object_type"], e["object_id"]): e for e in page["items"]}
    assert by_object[("dataset_version", str(scene.v2))]["object_name"] == "street@v2"
    assert by_object[("dataset_version", str(scene.v20))]["object_name"] == "street@v20"
    assert {e["project_name"] for e in page["items"]} == {"street-scenes"}
    user_events = events(client, world, action="user.create")["items"]
    assert {e["object_name"] for e in user_events} >= {"root_admin", "outsider"}
    assert all(e["project_name"] is None for e in user_events)


@pytest.mark.parametrize("typed", ["gate", "evaluate", "GATE.Eval", "gate.evaluate"])
def test_action_substring_finds_gate_evaluate(client: TestClient, world: World, scene: Scene, typed: str) -> None:
    page = events(client, world, action=typed)
    assert actions_of(page) == ["gate.evaluate", "gate.evaluate"] and page["total"] == 2


def test_action_list_is_exact_and_wildcards_are_literal(client: TestClient, world: World, scene: Scene) -> None:
    assert sorted(set(actions_of(events(client, world, action="gate.evaluate, project.create")))) == [
        "gate.evaluate",
        "project.create",
    ]
    assert actions_of(events(client, world, action="gate.eval,project.create")) == ["project.create"] * 3
    for typed in ("%", "g_te", "gate%", "%evaluate"):
        assert events(client, world, action=typed)["total"] == 0, typed
    prefix = events(client, world, action="project.")  # the old prefix form still works
    assert set(actions_of(prefix)) == {"project.create", "project.member.add"} and prefix["total"] > 3


def test_actor_and_object_filters(client: TestClient, world: World, scene: Scene) -> None:
    assert [e["actor"] for e in events(client, world, action="gate", actor="REVIEWER")["items"]] == ["reviewer_user"]
    assert events(client, world, actor="nobody")["total"] == 0
    v2 = events(client, world, object="street@v2")
    assert {e["object_name"] for e in v2["items"]} == {"street@v2"} and v2["total"] == 2  # not street@v20
    typed_id = events(client, world, object=f"dataset_version:{scene.v20}")
    assert actions_of(typed_id) == ["dataset_version.state"]
    street = {e["object_name"] for e in events(client, world, object="street")["items"]}
    assert street == {"street", "street@v2", "street@v20"}  # the dataset and its versions' events
    assert {e["object_type"] for e in events(client, world, object="user")["items"]} == {"user"}


def test_free_text_matches_action_actor_name_and_payload_literally(
    client: TestClient, world: World, scene: Scene
) -> None:
    assert actions_of(events(client, world, q="5%_off")) == ["dataset_version.state"]  # payload, any case
    assert actions_of(events(client, world, q="%_o")) == ["dataset_version.state"]
    assert events(client, world, q="5_%")["total"] == 0  # as a LIKE pattern it would match "5%_OFF"
    assert set(actions_of(events(client, world, q="evaluate"))) == {"gate.evaluate"}
    assert {e["actor"] for e in events(client, world, q="reviewer_u")["items"]} >= {"reviewer_user"}
    assert {e["object_name"] for e in events(client, world, q="street@v2")["items"]} == {"street@v2"}


def test_date_range(client: TestClient, world: World, scene: Scene) -> None:
    every = events(client, world)["items"]
    ts = every[-3]["ts"]
    since = events(client, world, since=ts)["items"]
    assert [e["seq"] for e in since] == [e["seq"] for e in every[-3:]]
    until = events(client, world, until=ts)["items"]
    assert [e["seq"] for e in until] == [e["seq"] for e in every[:-3]]


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_keyset_pages_walk_every_event_both_ways(client: TestClient, world: World, scene: Scene, order: str) -> None:
    every = [e["seq"] for e in events(client, world)["items"]]
    expected = every if order == "asc" else every[::-1]
    pages: list[dict[str, Any]] = []
    params: dict[str, Any] = {"order": order, "limit": 4}
    while True:
        page = events(client, world, **params)
        pages.append(page)
        if page["next_cursor"] is None:
            break
        params = {"order": order, "limit": 4, "cursor": page["next_cursor"]}
    assert [e["seq"] for p in pages for e in p["items"]] == expected
    assert pages[0]["prev_cursor"] is None and all(len(p["items"]) == 4 for p in pages[:-1])
    # Back again: each page's prev_cursor gives the page before it.
    for before, page in itertools.pairwise(pages):
        back = events(client, world, order=order, limit=4, cursor=page["prev_cursor"])
        assert [e["seq"] for e in back["items"]] == [e["seq"] for e in before["items"]]
    assert all(p["total"] is None for p in pages[1:])  # keyset pages count only when asked


def test_totals_and_bounds(client: TestClient, world: World, scene: Scene) -> None:
    every = [e["seq"] for e in events(client, world)["items"]]
    assert events(client, world)["total"] == len(every)  # offset pages keep their total
    assert events(client, world, offset=2, limit=3)["items"][0]["seq"] == every[2]
    middle = every[len(every) // 2]
    after = events(client, world, after_seq=middle, with_total=True)
    assert [e["seq"] for e in after["items"]] == [s for s in every if s > middle] and after["total"] == len(every)
    assert events(client, world, after_seq=middle)["total"] is None
    before = events(client, world, before_seq=middle, order="desc", limit=2)
    assert [e["seq"] for e in before["items"]] == [middle - 1, middle - 2]
    assert events(client, world, action="gate", with_total=True, cursor=f"before:{every[-1] + 1}")["total"] == 2


@pytest.mark.parametrize("cursor", ["nonsense", "after:", "sideways:3", "after:-1", "after:1e3"])
def test_a_bad_cursor_is_one_clear_422(client: TestClient, world: World, cursor: str) -> None:
    r = client.get(f"{API}/audit/events", params={"cursor": cursor}, headers=world.headers("admin"))
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["field"] == "query.cursor" and "cursor" in error["message"] and "\n" not in error["message"]


def test_project_scope_applies_with_every_filter(client: TestClient, world: World, scene: Scene) -> None:
    h = world.headers("compliance_officer")
    r = client.get(f"{API}/projects/{world.project.id}/audit/events", params={"action": "gate"}, headers=h)
    assert r.status_code == 200 and r.json()["items"] == []  # the gate events are street-scenes'
    admin = world.headers("admin")
    mine = client.get(f"{API}/projects/{scene.project_id}/audit/events", params={"q": "evaluate"}, headers=admin)
    assert actions_of(mine.json()) == ["gate.evaluate", "gate.evaluate"]


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_free_text_pages_read_a_bounded_window_and_say_where_to_go_on(
    engine: Engine, world: World, scene: Scene, order: Order
) -> None:
    """A window of 3 seqs: pages may come short (or empty) yet carry a cursor, and following the cursors finds
    every match exactly once, in order."""
    f = AuditFilter(q="evaluate")  # the two gate evaluations, among some 27 events
    with Session(engine) as s:
        every = [e.seq for e in page_events(s, f, order=order, limit=500).events]
        found: list[int] = []
        short = False
        after = before = None
        while True:
            page = page_events(s, f, order=order, after_seq=after, before_seq=before, limit=2, scan_window=3)
            found += [e.seq for e in page.events]
            short = short or (len(page.events) < 2 and page.next_cursor is not None)
            if page.next_cursor is None:
                break
            side, seq = decode_cursor(page.next_cursor)
            after, before = (seq, None) if side == "after" else (None, seq)
    assert found == every and len(every) == 2 and short
