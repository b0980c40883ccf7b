"""Streamed exports (SQLite and PostgreSQL): the audit trail as JSON Lines and CSV equals the list route walked
page by page, batch after batch; a label export streams what the verbs write; a refusal is answered before
any byte of a body."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from dashboard.export import EVENT_COLUMNS as DASHBOARD_COLUMNS
from dashboard.export import events_csv, events_jsonl
from lineage.audit.chain import append_event
from lineage.audit.query import AuditFilter
from lineage.labels.annotations import NewLabel, Provenance, add_annotations
from lineage.models import ProvenanceKind, User
from service import actions
from service.actions.audit_export import audit_export_rows, plan_audit_export
from service.actions.context import Context, Principal
from service.api.routes.audit_export import EVENT_COLUMNS
from service.settings import Settings
from tests.factories import World, actor_for
from tests.lineage.conftest import items_of, quick_schema, quick_version

API = "/api/v1"
VERSION = "/datasets/pets/versions/v1"


@pytest.fixture
def labelled(engine: Engine, world: World) -> None:
    """``pets@v1`` (schema cat, dog) with three items and four labels; audit events with awkward payloads
    (a comma, a quote, a newline, non-ASCII text) in project ``alpha`` and outside any project."""
    pid = world.project.id or 0
    with Session(engine, expire_on_commit=False) as s:
        ml = actor_for(world.users["ml_engineer"])
        sv = quick_schema(s, project_id=pid, name="animals", classes=["cat", "dog"], user_id=ml.user_id)
        _, v = quick_version(
            s, actor=ml, project_id=pid, items={"a.png": (40, 30), "b.png": (20, 10), "c.png": (8, 8)},
            schema_version_id=sv.id,
        )  # fmt: skip
        items = items_of(s, v)
        add_annotations(
            s,
            actor=ml,
            version=v,
            labels=[
                NewLabel(items["a.png"], "cat", 1, 2, 3, 4),
                NewLabel(items["a.png"], "dog", 5, 5, 10, 10),
                NewLabel(items["b.png"], "dog", 0, 0, 20, 10),
                NewLabel(items["c.png"], "cat", 1, 1, 2, 2),
            ],
            provenance=Provenance(kind=ProvenanceKind.human, annotator_id=ml.user_id),
        )
        for n in range(5):
            append_event(
                s,
                actor="root_admin",
                action="note.add",
                object_type="project",
                object_id=str(pid),
                project_id=pid if n % 2 else None,
                payload={"text": f'say "hi", {n}\nthen — café ✓'},
            )
        s.commit()


def _walk(client: TestClient, world: World, path: str, who: str, **params: Any) -> list[dict[str, Any]]:
    """Every event of the list route, by cursor."""
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 2, **({"cursor": cursor} if cursor else {})}
        r = client.get(API + path, params=query, headers=world.headers(who))
        assert r.status_code == 200, r.text
        out.extend(r.json()["items"])
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return out


SCOPES = [("/audit/events", "admin"), ("/projects/{pid}/audit/events", "compliance_officer")]
FILTERS = [{}, {"action": "note"}, {"q": "café"}, {"actor": "root"}]


@pytest.mark.parametrize("params", FILTERS)
@pytest.mark.parametrize(("path", "who"), SCOPES)
def test_streamed_jsonl_and_csv_equal_the_list_walked(
    client: TestClient, world: World, labelled: None, path: str, who: str, params: dict[str, str]
) -> None:
    path = path.format(pid=world.project.id)
    events = _walk(client, world, path, who, **params)
    assert events  # every filter here selects something
    jsonl = client.get(API + path + "/export", params=params, headers=world.headers(who))
    assert jsonl.status_code == 200, jsonl.text
    assert jsonl.headers["content-type"] == "application/x-ndjson"
    assert [json.loads(line) for line in jsonl.text.splitlines()] == events
    assert jsonl.content == events_jsonl(events)  # what the dashboard's own export wrote from the pages
    table = client.get(API + path + "/export", params={**params, "format": "csv"}, headers=world.headers(who))
    assert table.status_code == 200, table.text
    assert table.headers["content-type"].startswith("text/csv")
    assert table.content == events_csv(events)
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert [int(r["seq"]) for r in rows] == [e["seq"] for e in events]


def test_the_csv_columns_are_the_dashboards() -> None:
    assert EVENT_COLUMNS == DASHBOARD_COLUMNS


def _ctx(session: Session, settings: Settings, user: User) -> Context:
    return Context(session=session, principal=Principal(user=user, actor=actor_for(user)), settings=settings)


@pytest.mark.parametrize("batch", [1, 2, 3, 1000])
def test_batches_read_by_keyset_give_every_event_once_and_stop_at_the_head_asked(
    engine: Engine, settings: Settings, world: World, labelled: None, batch: int
) -> None:
    with Session(engine, expire_on_commit=False) as s:
        ctx = _ctx(s, settings, world.admin)
        plan = plan_audit_export(ctx, AuditFilter(), batch=batch)
        s.commit()
    with Session(engine) as s:
        append_event(s, actor="root_admin", action="note.late", object_type="project", object_id="1", payload={})
        s.commit()
    seqs = [row["seq"] for row in audit_export_rows(engine, plan, batch=batch)]
    assert seqs == list(range(1, plan.head_seq + 1))  # every event up to the head asked, none after it


def test_a_free_text_export_goes_past_empty_scan_windows(
    engine: Engine, settings: Settings, world: World, labelled: None
) -> None:
    with Session(engine, expire_on_commit=False) as s:
        plan = plan_audit_export(_ctx(s, settings, world.admin), AuditFilter(q="café"), batch=1)
    found = list(audit_export_rows(engine, plan, batch=1))
    assert len(found) == 5 and all("café" in e["payload"]["text"] for e in found)


@pytest.mark.parametrize(
    ("path", "who", "status"),
    [
        ("/audit/events/export", "compliance_officer", 403),
        ("/audit/events/export", "annotator", 403),
        ("/projects/{pid}/audit/events/export", "annotator", 403),
        ("/projects/{pid}/audit/events/export", "outsider", 404),
        ("/projects/{pid}" + VERSION + "/export", "outsider", 404),
        ("/projects/{pid}/datasets/nope/versions/v1/export", "admin", 404),
    ],
)
def test_a_refusal_is_answered_before_any_body(
    client: TestClient, world: World, labelled: None, path: str, who: str, status: int
) -> None:
    url = API + path.format(pid=world.project.id)
    with client.stream("GET", url, headers=world.headers(who)) as r:
        assert r.status_code == status
        assert r.headers["content-type"] == "application/json"
        body = json.loads(r.read())
    assert body["error"]["message"]


def test_without_a_token_nothing_streams(client: TestClient, world: World, labelled: None) -> None:
    r = client.get(API + "/audit/events/export")
    assert r.status_code == 401 and "seq" not in r.text


def test_a_bad_export_format_is_422(client: TestClient, world: World, labelled: None) -> None:
    r = client.get(API + "/audit/events/export", params={"format": "xml"}, headers=world.headers("admin"))
    assert r.status_code == 422
    url = f"{API}/projects/{world.project.id}{VERSION}/export"
    r = client.get(url, params={"format": "classes-folder"}, headers=world.headers("admin"))
    assert r.status_code == 422 and "images" in r.json()["error"]["message"]


def test_the_streamed_coco_is_the_documents_bytes(
    client: TestClient, engine: Engine, settings: Settings, world: World, labelled: None
) -> None:
    url = f"{API}/projects/{world.project.id}{VERSION}/export"
    r = client.get(url, params={"format": "coco"}, headers=world.headers("reviewer"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    with Session(engine, expire_on_commit=False) as s:
        doc = actions.coco_document(_ctx(s, settings, world.admin), world.project.id or 0, "pets", "v1")
    # JSONResponse's encoding, as the route answered before it streamed
    assert r.content == json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    assert len(r.json()["annotations"]) == 4


@pytest.mark.parametrize("fmt", ["yolo", "voc", "cvat", "classes-csv", "classes-json"])
def test_a_streamed_zip_holds_the_files_the_export_writes(
    client: TestClient, engine: Engine, settings: Settings, world: World, labelled: None, tmp_path: Path, fmt: str
) -> None:
    url = f"{API}/projects/{world.project.id}{VERSION}/export"
    r = client.get(url, params={"format": fmt}, headers=world.headers("reviewer"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"] == f'attachment; filename="pets-v1-{fmt}.zip"'
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert zf.testzip() is None
        streamed = {name: zf.read(name) for name in zf.namelist()}
    out = tmp_path / "written"
    with Session(engine, expire_on_commit=False) as s:
        ctx = _ctx(s, settings, world.admin)
        actions.export_labels(ctx, world.project.id or 0, "pets", "v1", fmt=fmt, out=out, yolo_root=".")
    written = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert streamed == written and written
