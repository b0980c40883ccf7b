"""Dashboard fixtures: the real API (``create_app``) on seeded SQLite databases, and AppTest helpers.

The dashboard reaches the API only through the ``httpx.Client`` in ``st.session_state["lg_http"]``; here that
is a ``fastapi.testclient.TestClient`` (an ``httpx.Client``) on one of two seeded worlds:

- ``world`` / ``api_http``: make_world plus hand-written audit events and lineage rows (project alpha:
  ``train`` v1 released, v2 candidate with a schema change; ``golden-ref``), for the audit and lineage pages.
- ``gate_world`` / ``gate_http``: make_world plus the real gate scenario (``service.demo.scenario``): DVC-versioned
  images, three annotators, ``street`` v1 (parent), v2 and v3 as candidates, each evaluated with the stored
  ``default`` policy (v2 blocked, v3 passing), and the compliance officer's signing secret :data:`SECRET`.
  It is built once per session and copied (database and workspace) into each test's ``settings``.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import streamlit as st
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from lineage import datasets, identity
from lineage.audit.chain import append_event
from lineage.db import make_engine
from lineage.gates import evaluate_version
from lineage.models import Annotation, DatasetVersion, Item, LabelSchema, LabelSchemaVersion, Role, VersionState
from lineage.schemas import LabelClass, classes_hash
from service.api.app import create_app
from service.demo.scenario import build_gate_scenario
from service.settings import Settings
from service.workspace import init_workspace
from tests.factories import World, actor_for, make_user, make_world

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
HTTP_KEY = "lg_http"
SECRET = "correct horse battery"
"""The compliance officer's signing secret in ``gate_world``."""


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


@dataclass(frozen=True)
class GateTemplate:
    root: Path
    world: World


@pytest.fixture(scope="session")
def gate_template(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> GateTemplate:
    """The gate scenario built once: a database file and a workspace (git + DVC repository, signing key)."""
    root = tmp_path_factory.mktemp("gate-template")
    db = root / "labelgate.db"
    shutil.copy(sqlite_template, db)
    settings = Settings(workspace=root / "ws", database_url=f"sqlite:///{db}", env="test")
    init_workspace(settings)
    engine = make_engine(settings.database_url)
    try:
        with Session(engine, expire_on_commit=False) as s:
            world = make_world(s)
            admin = actor_for(world.admin)
            annotators = {}
            for name in ("alice", "bob", "carol"):
                user = make_user(s, name)
                identity.add_member(s, actor=admin, project=world.project, user=user, role=Role.annotator)
                annotators[name] = user
            identity.set_signing_secret(
                s, actor=admin, user=world.users["compliance_officer"], secret=SECRET, operator=True
            )
            ml = actor_for(world.users["ml_engineer"])
            scenario = build_gate_scenario(
                s,
                project_id=world.project.id or 0,
                ml=ml,
                reviewer=actor_for(world.users["reviewer"]),
                annotators=annotators,
                repo_dir=settings.repo_dir,
                work_dir=root / "work",
                n_images=20,
            )
            ci = actor_for(world.users["ci"])
            for version in (scenario.blocked, scenario.passing):
                datasets.change_state(s, actor=ml, version=version, to=VersionState.candidate)
                evaluate_version(s, actor=ci, version=version, policy_record=scenario.policy)
            s.commit()
    finally:
        engine.dispose()
    return GateTemplate(root, world)


@pytest.fixture
def gate_world(gate_template: GateTemplate, db_url: str, settings: Settings) -> World:
    """This test's copy of the gate scenario, in ``settings``' database and workspace (request it before
    ``engine``)."""
    src = sqlite3.connect(gate_template.root / "labelgate.db")
    dst = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    shutil.copytree(gate_template.root / "ws", settings.workspace)
    return gate_template.world


@pytest.fixture
def gate_http(gate_world: World, settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """The real API on the gate scenario."""
    with TestClient(create_app(settings, engine=engine)) as client:
        yield client


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> dict[str, Callable[[], Any]]:
    """File name → the data callable of every deferred ``st.download_button`` rendered (what a click runs)."""
    found: dict[str, Callable[[], Any]] = {}
    original = MediaFileManager.add_deferred

    def record(self: MediaFileManager, data_callable: Callable[[], Any], *args: Any, **kwargs: Any) -> str:
        found[str(kwargs.get("file_name"))] = data_callable
        return original(self, data_callable, *args, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", record)
    return found


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


def texts(at: AppTest, kind: str) -> list[str]:
    return [str(e.value) for e in at.get(kind)]


def all_text(at: AppTest) -> str:
    parts = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success"):
        parts += texts(at, kind)
    return "\n".join(parts)


def table(at: AppTest, index: int = 0) -> list[dict[str, object]]:
    return at.dataframe[index].value.to_dict("records")  # type: ignore[no-any-return]


def button(at: AppTest, label: str) -> object:
    return next(b for b in at.button if b.label == label)


def labels(at: AppTest) -> list[str]:
    return [b.label for b in at.button]


def signed_in(http: httpx.Client, token: str) -> AppTest:
    at = sign_in(new_app(http), token)
    assert_clean(at)
    assert texts(at, "title") == ["Overview"], all_text(at)
    return at


def table_with(at: AppTest, column: str) -> list[dict[str, object]]:
    """The rows of the first table that has ``column`` (AssertionError when none has it)."""
    for frame in at.dataframe:
        if column in frame.value.columns:
            return frame.value.to_dict("records")  # type: ignore[no-any-return]
    raise AssertionError(f"no table with a column {column!r}: {[list(f.value.columns) for f in at.dataframe]}")
