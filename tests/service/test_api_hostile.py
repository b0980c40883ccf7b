"""Hostile input gets a 4xx that names the problem, never a 5xx, on SQLite and PostgreSQL (issue 11, item 4).

Integers past a column's range, seeds numpy refuses, NUL and lone surrogates in text, free-form JSON too deep
or too large, numbers given as dates, LIKE wildcards in a prefix filter, bodies of the wrong media type or
size, and unique keys taken by a concurrent request between a route's check and its insert.

Most tests need only ``make_world`` (``client``, ``world``); those that reach a version's items, a run's
signals or the import route share one workspace (``env``), built once per test and database.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pytest
from fastapi import Depends, Request
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine, event, insert, text
from sqlmodel import Session, SQLModel, func, select

from inference.signals import write_batch_signals
from lineage import datasets
from lineage.formats.common import MAX_ATTRIBUTE_DEPTH, MAX_ATTRIBUTE_STRING, MAX_ATTRIBUTES_BYTES
from lineage.models import Approval, AutoLabelRun, Dataset, LabelSchema, ModelVersion, Project, RunState
from lineage.models._base import utcnow
from service.api.app import create_app
from service.api.deps import get_engine, get_session
from service.settings import Settings
from service.worker import signals_dir
from service.workspace import init_workspace
from tests.factories import World, actor_for, make_gate_world, make_world

API = "/api/v1"
JSON = {"content-type": "application/json"}


def _count(engine: Engine, table: type[SQLModel]) -> int:
    with Session(engine) as s:
        return int(s.exec(select(func.count()).select_from(table)).one())


def _audit_events(engine: Engine) -> int:
    with Session(engine) as s:
        return int(s.exec(text("SELECT count(*) FROM audit_events")).one()[0])  # type: ignore[call-overload]


def _error(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    body: dict[str, Any] = r.json()
    assert body["request_id"] == r.headers["x-request-id"]
    return dict(body["error"])


def _project(world: World) -> str:
    return f"{API}/projects/{world.project.id}"


@dataclass
class Env:
    """A workspace with ``make_world``'s people, a dataset ``pics`` whose version ``v1`` holds four
    unlabelled images, and a finished auto-label run on it with active-learning signals."""

    client: TestClient
    world: World
    engine: Engine
    run_id: int
    uris: list[str]

    @property
    def project(self) -> str:
        return _project(self.world)

    @property
    def version(self) -> str:
        return f"{self.project}/datasets/pics/versions/v1"

    def admin(self, **extra: str) -> dict[str, str]:
        return {**self.world.headers("admin"), **extra}


@pytest.fixture
def env(settings: Settings, engine: Engine) -> Iterator[Env]:
    init_workspace(settings)
    pics = settings.workspace / "incoming" / "pics"
    pics.mkdir(parents=True)
    for n in range(4):
        Image.new("RGB", (32, 24), (40 * n, 90, 200 - 40 * n)).save(pics / f"img{n}.png")
    with Session(engine, expire_on_commit=False) as s:
        world = make_world(s)
        ml = actor_for(world.users["ml_engineer"])
        dataset = datasets.create_dataset(s, actor=ml, project_id=world.project.id or 0, name="pics")
        version = datasets.create_version(
            s, actor=ml, dataset=dataset, version="v1", repo_dir=settings.repo_dir, source_dir=pics
        )
        model = ModelVersion(
            project_id=world.project.id or 0,
            name="det",
            version="1",
            framework="simulated",
            weights_uri="simulated://det/1",
            weights_sha256="0" * 64,
            created_by=world.admin.id or 0,
        )
        s.add(model)
        s.flush()
        run = AutoLabelRun(
            dataset_version_id=version.id or 0,
            model_version_id=model.id or 0,
            threshold=0.3,
            state=RunState.succeeded,
            items_total=4,
            items_done=4,
            created_by=world.admin.id or 0,
        )
        s.add(run)
        s.commit()
        items = datasets.list_items(s, version_id=version.id or 0)
        ids = np.array([i.id for i in items], dtype=np.int64)
        uris = [i.uri for i in items]
    rng = np.random.default_rng(3)
    n = len(ids)
    features = rng.random((n, 8))
    write_batch_signals(
        signals_dir(settings),
        run_id=run.id or 0,
        batch_index=0,
        item_id=ids,
        entropy=rng.random(n),
        margin=rng.random(n),
        features=features,
    )
    with TestClient(create_app(settings, engine=engine)) as client:
        yield Env(client, world, engine, run.id or 0, uris)


# --- integers -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("GET", "/projects/99999999999999999999", None, "path.project_id"),
        ("GET", f"/projects/{2**63}", None, "path.project_id"),
        ("GET", f"/projects/{2**31}/datasets", None, "path.project_id"),
        ("GET", "{project}/autolabel-runs/" + str(2**63), None, "path.run_id"),
        ("GET", "{project}/annotations/" + str(2**40) + "/lineage", None, "path.annotation_id"),
        ("GET", f"/users/{2**64}/tokens", None, "path.user_id"),
        ("DELETE", "/users/1/tokens/" + str(2**63), None, "path.token_id"),
        ("GET", f"/users?offset={2**63}", None, "query.offset"),
        ("GET", "{project}/review-queue?run_id=" + str(2**40), None, "query.run_id"),
        ("GET", "{project}/schemas/s/diff?from=1&to=" + str(2**40), None, "query.to"),
        (
            "POST",
            "{project}/datasets/d/versions/v/annotations/bulk",
            {"annotations": [{"item_id": 2**40}]},
            "annotations.0.item_id",
        ),
        (
            "POST",
            "{project}/datasets/d/versions/v/annotations/bulk",
            {"annotations": [{"item_id": 2**70}]},
            "annotations.0.item_id",
        ),
        ("POST", "{project}/autolabel-runs", {"calibration_id": 2**63}, "calibration_id"),
    ],
)
def test_integers_past_a_column_range_get_422_naming_the_parameter(
    client: TestClient, world: World, method: str, path: str, body: dict[str, Any] | None, field: str
) -> None:
    url = API + path.format(project=_project(world).removeprefix(API))
    r = client.request(method, url, json=body, headers=world.headers("admin"))
    assert _error(r, 422)["field"] == field


def test_a_seed_numpy_refuses_gets_422(env: Env) -> None:
    url = f"{env.project}/autolabel-runs/{env.run_id}/active-learning"
    for seed in (-1, 2**32, 2**70):
        r = env.client.post(url, json={"fraction": 0.5, "diversity": "kmeans", "seed": seed}, headers=env.admin())
        assert _error(r, 422)["field"] == "seed", seed
    ok = env.client.post(url, json={"fraction": 0.5, "diversity": "kmeans", "seed": 2**32 - 1}, headers=env.admin())
    assert ok.status_code == 200 and len(ok.json()) == 2, ok.text


# --- text ---------------------------------------------------------------------------------------------------


def test_nul_in_path_query_or_json_gets_422_naming_the_field(client: TestClient, world: World, engine: Engine) -> None:
    before = _audit_events(engine)
    h, project = world.headers("admin"), _project(world)
    assert _error(client.get(f"{project}/datasets/pi%00cs", headers=h), 422)["field"] == "path.dataset"
    assert (
        _error(client.get(f"{API}/audit/events", params={"actor": "a\x00"}, headers=h), 422)["field"] == "query.actor"
    )
    err = _error(client.post(f"{project}/datasets", json={"name": "fine", "description": "a\x00b"}, headers=h), 422)
    assert err["field"] == "description" and "NUL" in err["message"]
    label = {"item_uri": "a.png", "category": "c", "bbox": [1, 1, 2, 2], "attributes": {"k\x00": 1}}
    r = client.post(f"{project}/datasets/d/versions/v/annotations/bulk", json={"annotations": [label]}, headers=h)
    assert _error(r, 422)["field"] == "annotations.0.attributes.k\\x00"
    assert _audit_events(engine) == before


def test_lone_surrogates_nan_and_infinity_in_json_get_422(client: TestClient, world: World, engine: Engine) -> None:
    h = {**world.headers("admin"), **JSON}
    cases = [
        (b'{"name": "x", "description": "\\ud800"}', "description"),
        (b'{"name": "x", "description": "ok", "\\udfff": 1}', "\\udfff"),
        (b'{"name": "x", "description": NaN}', "description"),
        (b'{"name": "x", "description": -Infinity}', "description"),
    ]
    for raw, field in cases:
        err = _error(client.post(f"{_project(world)}/datasets", content=raw, headers=h), 422)
        assert err["field"] == field, (raw, err)
    assert _count(engine, Dataset) == 0


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": True}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_free_form_attributes_are_bounded(env: Env) -> None:
    too_much = [
        (_nested(MAX_ATTRIBUTE_DEPTH + 1), "nest deeper than 16"),
        (_nested(40), "nested more than 32"),
        (_nested(900), "nested more than 32"),
        ({"big": ["x" * 1000] * (MAX_ATTRIBUTES_BYTES // 1000 + 1)}, "larger than 64 KiB"),
        ({"long": "x" * (MAX_ATTRIBUTE_STRING + 1)}, "at most 4 KiB"),
        ({"long": "é" * (MAX_ATTRIBUTE_STRING // 2 + 1)}, "at most 4 KiB"),
    ]
    before = _audit_events(env.engine)
    label: dict[str, Any] = {"item_uri": env.uris[0], "category": "c", "bbox": [1, 1, 2, 2]}
    for attributes, words in too_much:
        body = {"annotations": [{**label, "attributes": attributes}]}
        err = _error(env.client.post(f"{env.version}/annotations/bulk", json=body, headers=env.admin()), 422)
        assert err["field"].startswith("annotations.0.attributes") and words in err["message"], err
        schema = {"name": "s1", "classes": [{"name": "c", "attributes": attributes}]}
        err = _error(env.client.post(f"{env.project}/schemas", json=schema, headers=env.admin()), 422)
        assert err["field"].startswith("classes.0.attributes") and words in err["message"], err
    assert _audit_events(env.engine) == before
    fits = {"deep": _nested(MAX_ATTRIBUTE_DEPTH - 1), "long": "x" * MAX_ATTRIBUTE_STRING}
    body = {"annotations": [{**label, "attributes": fits}]}
    assert env.client.post(f"{env.version}/annotations/bulk", json=body, headers=env.admin()).status_code == 201
    schema = {"name": "s1", "classes": [{"name": "c", "attributes": fits}]}
    assert env.client.post(f"{env.project}/schemas", json=schema, headers=env.admin()).status_code == 201


# --- dates and filters ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["0.5", "1700000000", "-1", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "soon"]
)
def test_dates_must_be_iso_8601_in_range(client: TestClient, world: World, value: str) -> None:
    h = world.headers("admin")
    for url in (f"{API}/audit/events", f"{_project(world)}/reports/audit-trail.html"):
        for name in ("since", "until"):
            assert _error(client.get(url, params={name: value}, headers=h), 422)["field"] == f"query.{name}"
    r = client.get(f"{API}/audit/events", params={"since": "2000-01-01T00:00:00Z"}, headers=h)
    assert r.status_code == 200 and r.json()["total"] > 0


def test_like_wildcards_in_the_action_prefix_are_literal(client: TestClient, world: World) -> None:
    def total(action: str) -> int:
        r = client.get(f"{API}/audit/events", params={"action": action}, headers=world.headers("admin"))
        assert r.status_code == 200, r.text
        return int(r.json()["total"])

    assert total("project.") > 0
    assert total("%.") == 0 and total("_roject.") == 0 and total("proj%.") == 0


# --- media types and sizes ------------------------------------------------------------------------------------

_FORM = b'--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nx\r\n--b--\r\n'


@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        ("text/plain", b'{"name": "x"}'),
        ("application/x-www-form-urlencoded", b"name=x"),
        ("multipart/form-data; boundary=b", _FORM),
        (None, b'{"name": "x"}'),
    ],
)
def test_a_json_route_given_another_media_type_gets_415(
    client: TestClient, world: World, engine: Engine, content_type: str | None, raw: bytes
) -> None:
    headers = world.headers("admin") | ({"content-type": content_type} if content_type else {})
    err = _error(client.post(f"{_project(world)}/datasets", content=raw, headers=headers), 415)
    assert err["field"] == "content-type" and "application/json" in err["message"], err
    assert _count(engine, Dataset) == 0


def test_json_bodies_over_4_mib_get_413(client: TestClient, world: World) -> None:
    big = json.dumps({"name": "x", "description": "y" * (4 * 1024 * 1024)}).encode()
    r = client.post(f"{_project(world)}/datasets", content=big, headers={**world.headers("admin"), **JSON})
    assert _error(r, 413)["field"] == "body"


def test_the_upload_route_takes_forms_only_up_to_the_configured_limit(env: Env) -> None:
    url = f"{env.version}/imports"
    for content_type, raw in (("application/json", b'{"format": "coco"}'), ("text/csv", b"format,coco")):
        err = _error(env.client.post(url, content=raw, headers=env.admin(**{"content-type": content_type})), 415)
        assert err["field"] == "content-type" and "multipart/form-data" in err["message"], err
    r = env.client.post(url, data={"format": "yolo", "path": "pics\x00/x"}, headers=env.admin())
    assert _error(r, 422)["field"] == "path"
    # A 6 MiB COCO upload (padded) is imported: uploads keep the configured 10 MiB, not the JSON routes' 4 MiB.
    coco = {
        "images": [{"id": n + 1, "file_name": uri, "width": 32, "height": 24} for n, uri in enumerate(env.uris)],
        "categories": [{"id": 1, "name": "thing"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "area": 25, "iscrowd": 0}],
    }
    raw = json.dumps(coco).encode() + b" " * (6 * 1024 * 1024)
    r = env.client.post(url, data={"format": "coco"}, files={"file": ("big.json", raw)}, headers=env.admin())
    assert r.status_code == 201, r.text[:500]


def test_server_side_paths_the_file_system_refuses_get_422(env: Env) -> None:
    """A source under ``incoming/`` longer than the file system allows (PATH_MAX) is an input error."""
    deep = "a/" * 3000
    r = env.client.post(f"{env.version}/imports", data={"format": "yolo", "path": deep}, headers=env.admin())
    assert _error(r, 422)["field"] == "path"
    body = {"version": "v2", "source_dir": deep}
    r = env.client.post(f"{env.project}/datasets/pics/versions", json=body, headers=env.admin())
    assert _error(r, 422)["field"] == "source_dir"
    body = {"version": "v2", "source_dir": "pics/none"}
    r = env.client.post(f"{env.project}/datasets/pics/versions", json=body, headers=env.admin())
    assert _error(r, 422)["field"] == "source_dir"


# --- unique keys taken between a route's check and its insert --------------------------------------------------


def _twin_inserter(model: type[SQLModel]) -> Any:
    """A ``before_flush`` hook that inserts, in the same transaction, a copy of each new ``model`` row just
    before the ORM inserts it: the row a concurrent request would have committed after this request's check
    for a duplicate and before its insert."""

    def before_flush(session: Session, *_: Any) -> None:
        for obj in list(session.new):
            if isinstance(obj, model) and not getattr(obj, "_twinned", False):
                table = model.__table__  # type: ignore[attr-defined]
                values = {c.name: getattr(obj, c.key) for c in table.columns if not c.primary_key}
                session.connection().execute(insert(table).values(**values))
                obj._twinned = True  # type: ignore[attr-defined]

    return before_flush


@contextmanager
def _racing(client: TestClient, model: type[SQLModel]) -> Iterator[None]:
    """The app's own request session (``get_session``), with a twin of every new ``model`` row inserted first."""

    def session_with_twins(request: Request, engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
        with contextmanager(get_session)(request, engine) as session:
            event.listen(session, "before_flush", _twin_inserter(model))
            yield session

    overrides = client.app.dependency_overrides  # type: ignore[attr-defined]
    overrides[get_session] = session_with_twins
    try:
        yield
    finally:
        overrides.clear()


@pytest.mark.parametrize("what", ["project", "dataset"])
def test_a_unique_key_taken_after_the_check_is_409_and_nothing_is_written(
    client: TestClient, world: World, engine: Engine, what: str
) -> None:
    model, url = (Project, f"{API}/projects") if what == "project" else (Dataset, f"{_project(world)}/datasets")
    rows, events = _count(engine, model), _audit_events(engine)
    with _racing(client, model):
        r = client.post(url, json={"name": "raced"}, headers=world.headers("admin"))
    err = _error(r, 409)
    assert err["field"] == "name" and "already exists" in err["message"], err
    assert (_count(engine, model), _audit_events(engine)) == (rows, events)
    # the session was rolled back and released: the same request now succeeds
    assert client.post(url, json={"name": "raced"}, headers=world.headers("admin")).status_code == 201


def test_a_schema_name_taken_after_the_check_is_409_and_nothing_is_written(env: Env) -> None:
    rows, events = _count(env.engine, LabelSchema), _audit_events(env.engine)
    body = {"name": "raced", "classes": [{"name": "c"}]}
    with _racing(env.client, LabelSchema):
        r = env.client.post(f"{env.project}/schemas", json=body, headers=env.admin())
    err = _error(r, 409)
    assert err["field"] == "name" and "already exists" in err["message"], err
    assert (_count(env.engine, LabelSchema), _audit_events(env.engine)) == (rows, events)
    assert env.client.post(f"{env.project}/schemas", json=body, headers=env.admin()).status_code == 201


def test_a_signature_raced_past_the_check_is_409_and_nothing_is_written(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    """``uq_approval_signer``: one signature per signer, version and meaning. Two requests of the same signer
    arriving together both pass the refusal check; the second insert must answer 409, not 500."""
    init_workspace(settings)
    secret = "correct horse battery"
    with Session(engine, expire_on_commit=False) as s:
        world, _ = make_gate_world(s, repo_dir=settings.repo_dir, work_dir=tmp_path / "work", secret=secret)
        s.commit()
    url = f"{_project(world)}/datasets/street/versions/v3"
    with TestClient(create_app(settings, engine=engine)) as client:
        r = client.post(f"{url}/state", json={"state": "candidate"}, headers=world.headers("ml_engineer"))
        assert r.status_code == 200, r.text
        r = client.post(f"{url}/evaluations", json={"policy": "default"}, headers=world.headers("ci"))
        assert r.status_code == 201 and r.json()["passed"], r.text
        rows, events = _count(engine, Approval), _audit_events(engine)
        sign = {"meaning": "approval", "signing_secret": secret}
        with _racing(client, Approval):
            r = client.post(f"{url}/approvals", json=sign, headers=world.headers("compliance_officer"))
        err = _error(r, 409)
        assert err["field"] == "meaning" and "already exists" in err["message"], err
        assert (_count(engine, Approval), _audit_events(engine)) == (rows, events)
        r = client.post(f"{url}/approvals", json=sign, headers=world.headers("compliance_officer"))
        assert r.status_code == 201, r.text


@pytest.mark.parametrize("what", ["project", "dataset"])
def test_two_requests_racing_on_postgresql_one_gets_409(
    client: TestClient, world: World, engine: Engine, db_url: str, what: str
) -> None:
    """A real race: the row is inserted, uncommitted, by another transaction; the request's check cannot see
    it, its insert waits on the unique index, and fails when that transaction commits."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE): the request's check sees the committed row")
    model: type[SQLModel] = Project if what == "project" else Dataset
    url = f"{API}/projects" if what == "project" else f"{_project(world)}/datasets"
    row: dict[str, Any] = {"name": "raced", "description": "", "created_by": world.admin.id, "created_at": utcnow()}
    if what == "dataset":
        row.update(project_id=world.project.id, is_golden=False)
    before = _audit_events(engine)
    answer: dict[str, Any] = {}

    def request() -> None:
        answer["r"] = client.post(url, json={"name": "raced"}, headers=world.headers("admin"))

    with engine.connect() as other:
        tx = other.begin()
        other.execute(insert(model.__table__).values(**row))  # type: ignore[attr-defined]
        worker = threading.Thread(target=request, daemon=True)
        worker.start()
        deadline = time.monotonic() + 20
        while not other.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar_one():
            if time.monotonic() > deadline:
                pytest.fail("the request never waited on the uncommitted row")
            time.sleep(0.05)
        tx.commit()
    worker.join(30)
    err = _error(answer["r"], 409)
    assert err["field"] == "name" and "concurrent" in err["message"], err
    assert _audit_events(engine) == before
