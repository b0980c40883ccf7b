"""Dashboard fixtures: the real API (``create_app``) on a seeded SQLite database, and AppTest helpers.

The dashboard reaches the API only through the ``httpx.Client`` in ``st.session_state["lg_http"]``; here that
is a ``fastapi.testclient.TestClient`` (an ``httpx.Client``), or a client whose transport answers the routes
the server does not have yet from :mod:`tests.dashboard.future_api` and forwards the rest to the real app.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import streamlit as st
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session
from streamlit.testing.v1 import AppTest

from lineage import datasets
from lineage.audit import append_event
from lineage.models import Annotation, DatasetVersion, Item, LabelSchema, LabelSchemaVersion, VersionState
from lineage.schemas import LabelClass, classes_hash
from service.app import create_app
from service.settings import Settings
from tests.dashboard import future_api
from tests.factories import World, actor_for, make_world

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
HTTP_KEY = "lg_http"


@pytest.fixture
def db_url(sqlite_template: Path, tmp_path: Path) -> str:
    """SQLite only (overrides the root fixture's SQLite/PostgreSQL parameters): the dashboard reads the API."""
    path = tmp_path / "labelgate.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def seed_extra_events(session: Session, world: World) -> None:
    """Audit events beyond make_world's: several actors and actions, old/new values, both projects."""
    alpha, beta = world.project.id, world.other_project.id
    rows = [
        ("ml_engineer_user", "dataset.create", "dataset", "1", alpha, {"name": "train", "is_golden": False}),
        ("ml_engineer_user", "dataset_version.state", "dataset_version", "1", alpha,
         {"version": "train@v1", "from": "draft", "to": "candidate", "reason": "ready for review"}),
        ("annotator_user", "annotation.correct", "annotation", "7", alpha,
         {"supersedes": 3, "category": {"old": "cat", "new": "dog"}}),
        ("reviewer_user", "annotation.review", "annotation", "7", alpha, {"decision": "accept", "comment": "ok"}),
        ("outsider", "dataset.create", "dataset", "2", beta, {"name": "beta-secret-dataset", "is_golden": False}),
    ]  # fmt: skip
    for actor, action, otype, oid, pid, payload in rows:
        append_event(session, actor=actor, action=action, object_type=otype, object_id=oid, project_id=pid,
                     payload=payload)  # fmt: skip


def seed_lineage(session: Session, world: World) -> dict[str, int]:
    """Project alpha: schema ``animals`` v1 → v2 (kitty renamed cat, bird added); dataset ``train`` with v1
    (released) and v2 (candidate, child of v1); a label copied into v2 then corrected; a golden dataset.

    Rows are written directly (no DVC content): the dashboard only reads them. Returns the annotation ids.
    """
    alpha = world.project.id or 0
    ml = actor_for(world.users["ml_engineer"])
    annotator = world.users["annotator"].id
    schema = LabelSchema(project_id=alpha, name="animals")
    session.add(schema)
    session.flush()
    svs: list[LabelSchemaVersion] = []
    for number, names in ((1, ["kitty", "dog"]), (2, ["cat", "dog", "bird"])):
        classes = [LabelClass(name=n) for n in names]
        sv = LabelSchemaVersion(
            schema_id=schema.id or 0, version=number, parent_id=svs[-1].id if svs else None,
            classes=[c.model_dump() for c in classes], content_hash=classes_hash(classes), created_by=ml.user_id,
        )  # fmt: skip
        session.add(sv)
        session.flush()
        svs.append(sv)
    train = datasets.create_dataset(session, actor=ml, project_id=alpha, name="train")
    golden = datasets.create_dataset(session, actor=ml, project_id=alpha, name="golden-ref", is_golden=True)
    rows: dict[str, DatasetVersion] = {}
    for key, ds, version, parent, sv, st_ in (
        ("v1", train, "v1", None, svs[0], VersionState.released),
        ("v2", train, "v2", "v1", svs[1], VersionState.candidate),
        ("g1", golden, "v1", None, svs[1], VersionState.draft),
    ):
        row = DatasetVersion(
            dataset_id=ds.id or 0, version=version, parent_id=rows[parent].id if parent else None,
            schema_version_id=sv.id, state=st_, git_revision=f"{len(rows) + 1:040d}", dvc_hash=f"{key}dvc.dir",
            data_path=f"data/p{alpha}/{ds.name}", item_count=1, created_by=ml.user_id,
        )  # fmt: skip
        session.add(row)
        session.flush()
        rows[key] = row
    items = {}
    for key, row in rows.items():
        item = Item(dataset_version_id=row.id or 0, uri="img/0001.png", sha256="0" * 64, size_bytes=10, width=64,
                    height=64)  # fmt: skip
        session.add(item)
        session.flush()
        items[key] = item.id or 0

    def label(key: str, category: str, **kw: object) -> int:
        a = Annotation(dataset_version_id=rows[key].id or 0, item_id=items[key], category=category,
                       x=1.0, y=2.0, w=10.0, h=12.0, **kw)  # type: ignore[arg-type]  # fmt: skip
        session.add(a)
        session.flush()
        return a.id or 0

    first = label("v1", "kitty", kind="human", annotator_id=annotator)
    copied = label("v2", "kitty", kind="human", annotator_id=annotator, origin_id=first)
    corrected = label("v2", "cat", kind="human", annotator_id=annotator, supersedes_id=copied)
    imported = label("v2", "dog", kind="import", source_sha256="1" * 64, source_format="coco")
    return {"first": first, "copied": copied, "corrected": corrected, "imported": imported}


@pytest.fixture
def world(engine: Engine) -> World:
    with Session(engine, expire_on_commit=False) as s:
        w = make_world(s)
        seed_extra_events(s, w)
        w.labels = seed_lineage(s, w)  # type: ignore[attr-defined]
        s.commit()
        return w


@pytest.fixture
def api_http(settings: Settings, engine: Engine, world: World) -> Iterator[TestClient]:
    """The real API in-process; responses carry real permissions and data."""
    with TestClient(create_app(settings, engine=engine)) as client:
        yield client


@pytest.fixture
def future_state() -> dict[str, Any]:
    """What the canned routes received: ``approve_bodies`` (POSTed approvals), ``approvals``."""
    return {"approvals": [], "approve_bodies": []}


@pytest.fixture
def future_http(api_http: TestClient, future_state: dict[str, Any]) -> Iterator[httpx.Client]:
    """The real API plus canned answers for the routes the server does not have yet (see future_api)."""
    transport = httpx.MockTransport(future_api.handler(api_http, future_state))
    with httpx.Client(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    st.cache_data.clear()
    yield
    st.cache_data.clear()


AppFactory = Callable[[httpx.Client], AppTest]


def new_app(http: httpx.Client) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state[HTTP_KEY] = http
    return at


def sign_in(at: AppTest, token: str) -> AppTest:
    """Run the app, type the token into the sign-in form, submit."""
    at.run()
    at.text_input(key="sign_in_token").input(token)
    next(b for b in at.button if b.label == "Sign in").click()
    return at.run()


def open_page(at: AppTest, page: str) -> AppTest:
    return at.switch_page(f"views/{page}.py").run()


def assert_clean(at: AppTest) -> None:
    """No exception element and no uncaught error on the page."""
    assert not at.exception, [e.value for e in at.exception]
