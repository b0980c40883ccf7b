"""The model loop as lineage: dataset version → training → model version → auto-label run → labels → next
dataset version → release, from a model, a version and a label (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
from sqlmodel import Session

from lineage import labels as ann
from lineage.audit.chain import record_event
from lineage.audit.deep import deep_verify
from lineage.context import Actor
from lineage.errors import InvalidInput, NotFound, PermissionDenied
from lineage.model_lineage import LoopGraph, label_loop, model_loop, version_loop
from lineage.models import (
    AutoLabelRun,
    DatasetVersion,
    GateEvaluation,
    GatePolicy,
    ModelTrainingData,
    ModelVersion,
    ProvenanceKind,
    Release,
    RunState,
)
from lineage.provenance import annotation_lineage, version_lineage
from service.actions.context import Context, Principal
from service.actions.model_lineage import model_lineage
from service.api.app import create_app
from service.settings import Settings
from tests.factories import World, actor_for
from tests.lineage.conftest import items_of, quick_schema, quick_version

ITEMS = {"a.png": (64, 48), "b.png": (64, 48)}
TRAINING = {
    "trainer": "ultralytics",
    "hyperparameters": {"epochs": 30, "imgsz": 640, "lr0": 0.01},
    "metrics": {"mAP50": 0.81, "mAP50-95": 0.55},
    "started_at": "2026-11-30T10:00:00+00:00",
    "finished_at": "2026-11-30T11:30:00+00:00",
}


@dataclass
class Loop:
    v1: DatasetVersion
    val: DatasetVersion
    v2: DatasetVersion
    v3: DatasetVersion
    model: ModelVersion
    next_model: ModelVersion
    run: AutoLabelRun
    labels: list[int]
    release: Release


def _register(
    session: Session, actor: Actor, pid: int, version: str, data: list[tuple[DatasetVersion, str]]
) -> ModelVersion:
    """A model version and its training data, recorded as registration records them (one audited event)."""
    model = ModelVersion(
        project_id=pid,
        name="tiny-shapes",
        version=version,
        weights_uri="models/tiny-shapes.pt",
        weights_sha256=version * 64,
        created_by=actor.user_id,
        weights_bytes=6_200_000,
        ultralytics_version="8.3.0",
        torch_version="2.4.1",
        imgsz=640,
        training=TRAINING,
        card={"intended_use": "shapes on streets"},
    )
    session.add(model)
    session.flush()
    rows = [
        ModelTrainingData(
            model_version_id=model.id or 0,
            dataset_version_id=v.id or 0,
            role=role,
            manifest_hash="m" * 64,
            dvc_hash=f"{v.version}.dir",
            item_count=v.item_count,
        )
        for v, role in data
    ]
    session.add_all(rows)
    session.flush()
    record_event(
        session,
        actor,
        "model.register",
        ("model_version", str(model.id)),
        project_id=pid,
        payload={"name": model.name, "version": model.version, "training_data": [[r.dataset_version_id, r.role]
                 for r in rows]},
        rows=[model, *rows],
    )  # fmt: skip
    return model


def _release(session: Session, version: DatasetVersion, pid: int, uid: int) -> Release:
    policy = GatePolicy(project_id=pid, name="default", version=1, yaml_text="x", policy_hash="0" * 64, created_by=uid)
    session.add(policy)
    session.flush()
    evaluation = GateEvaluation(
        dataset_version_id=version.id or 0, policy_id=policy.id or 0, policy_hash="0" * 64, passed=True, created_by=uid
    )
    session.add(evaluation)
    session.flush()
    release = Release(
        dataset_version_id=version.id or 0,
        evaluation_id=evaluation.id or 0,
        released_by=uid,
        git_tag=f"release/p{pid}/street/{version.version}",
    )
    session.add(release)
    session.flush()
    return release


def _model_labels(session: Session, actor: Actor, version: DatasetVersion, run: AutoLabelRun, n: int) -> list[int]:
    ids = items_of(session, version)
    prov = ann.Provenance(
        kind=ProvenanceKind.model,
        model_version_id=run.model_version_id,
        weights_sha256="2" * 64,
        threshold=run.threshold,
        autolabel_run_id=run.id,
    )
    new = [ann.NewLabel(ids["a.png"], "circle", 1 + i, 1, 5, 5, confidence=0.8) for i in range(n)]
    return list(ann.add_annotations(session, actor=actor, version=version, labels=new, provenance=prov))


@pytest.fixture
def loop(session: Session, world: World, ml: Actor) -> Loop:
    """street@v1 (and the golden val@1) → training → tiny-shapes@2 → run on street@v2 → 2 labels in street@v2
    (released) and carried into street@v3; tiny-shapes@3 is trained on street@v2."""
    pid = world.project.id or 0
    sv = quick_schema(session, project_id=pid, name="shapes", classes=["circle"], user_id=ml.user_id)
    _, v1 = quick_version(session, actor=ml, project_id=pid, items=ITEMS, dataset="street", schema_version_id=sv.id)
    _, val = quick_version(session, actor=ml, project_id=pid, items=ITEMS, dataset="val", version="1", golden=True)
    model = _register(session, ml, pid, "2", [(v1, "train"), (val, "val")])
    _, v2 = quick_version(
        session, actor=ml, project_id=pid, items=ITEMS, dataset="street", version="v2", parent=v1,
        schema_version_id=sv.id,
    )  # fmt: skip
    run = AutoLabelRun(
        dataset_version_id=v2.id or 0,
        model_version_id=model.id or 0,
        threshold=0.25,
        state=RunState.succeeded,
        created_by=ml.user_id,
    )
    session.add(run)
    session.flush()
    labels = _model_labels(session, ml, v2, run, 2)
    release = _release(session, v2, pid, ml.user_id)
    _, v3 = quick_version(
        session, actor=ml, project_id=pid, items=ITEMS, dataset="street", version="v3", parent=v2,
        schema_version_id=sv.id,
    )  # fmt: skip
    ann.inherit_labels(session, parent_id=v2.id or 0, child_id=v3.id or 0, created_by=ml.user_id)
    next_model = _register(session, ml, pid, "3", [(v2, "train")])
    session.commit()
    return Loop(v1, val, v2, v3, model, next_model, run, labels, release)


def _edges(graph: LoopGraph) -> set[tuple[str, str, str]]:
    return {(e.source, e.target, e.relation) for e in graph.edges}


def _names(graph: LoopGraph) -> dict[str, str]:
    return {n.id: n.name for n in graph.nodes}


def _the_loop(lp: Loop) -> list[tuple[str, str, str]]:
    """The whole loop as edges: dataset version → training → model → run → labels → next version → release."""
    m, r, v1, v2 = lp.model.id, lp.run.id, lp.v1.id, lp.v2.id
    return [
        (f"dataset_version:{v1}", f"training:{m}", "trained on"),
        (f"training:{m}", f"model_version:{m}", "produced"),
        (f"model_version:{m}", f"autolabel_run:{r}", "ran"),
        (f"autolabel_run:{r}", f"labels:{r}", "wrote"),
        (f"labels:{r}", f"dataset_version:{v2}", "in"),
        (f"dataset_version:{v2}", f"release:{lp.release.id}", "released as"),
    ]


def test_a_models_lineage_is_the_whole_loop(session: Session, loop: Loop) -> None:
    graph = model_loop(session, model_version_id=loop.model.id or 0)
    edges, names = _edges(graph), _names(graph)
    assert set(_the_loop(loop)) <= edges
    m, v3 = loop.model.id, loop.v3.id
    assert (f"dataset_version:{loop.val.id}", f"training:{m}", "validated on") in edges
    assert (f"labels:{loop.run.id}", f"dataset_version:{v3}", "in") in edges  # carried into the next version
    assert (f"dataset_version:{loop.v1.id}", f"dataset_version:{loop.v2.id}", "parent of") in edges
    # a round further: the model trained on the version this model's labels went into
    assert (f"dataset_version:{loop.v2.id}", f"training:{loop.next_model.id}", "trained on") in edges
    assert names[f"dataset_version:{loop.v1.id}"] == "street@v1" and names[f"model_version:{m}"] == "tiny-shapes@2"
    assert names[f"dataset_version:{loop.val.id}"] == "val@1"
    assert names[f"autolabel_run:{loop.run.id}"] == f"run {loop.run.id} on street@v2"
    assert names[f"release:{loop.release.id}"] == "release of street@v2"
    training = next(n for n in graph.nodes if n.id == f"training:{m}")
    assert training.detail["hyperparameters"]["epochs"] == 30 and training.detail["metrics"]["mAP50"] == 0.81
    pins = next(e for e in graph.edges if e.relation == "trained on" and e.target == f"training:{m}")
    assert pins.detail == {"manifest_hash": "m" * 64, "dvc_hash": "v1.dir", "item_count": 2}
    counts = {e.target: e.detail["count"] for e in graph.edges if e.relation == "in"}
    assert counts == {f"dataset_version:{loop.v2.id}": 2, f"dataset_version:{v3}": 2}
    assert not graph.truncated
    assert len({n.id for n in graph.nodes}) == len(graph.nodes)
    assert {e.source for e in graph.edges} | {e.target for e in graph.edges} <= set(names)  # no dangling edge


def test_one_round_stops_at_the_models_own_neighbours(session: Session, loop: Loop) -> None:
    edges = _edges(model_loop(session, model_version_id=loop.model.id or 0, rounds=1))
    assert set(_the_loop(loop)) <= edges
    assert not any(t == f"training:{loop.next_model.id}" for _, t, _ in edges)


def test_a_versions_lineage_shows_models_trained_on_it_and_where_their_labels_went(
    session: Session, loop: Loop
) -> None:
    down = _edges(version_loop(session, version_id=loop.v1.id or 0))
    assert set(_the_loop(loop)) <= down  # street@v1 → training → model → run → labels → street@v2 → release
    up = version_lineage(session, version_id=loop.v2.id or 0).loop
    assert up is not None
    edges = _edges(up)
    assert set(_the_loop(loop)) <= edges  # street@v2's labels back to the data their model was trained on
    assert (f"dataset_version:{loop.v2.id}", f"training:{loop.next_model.id}", "trained on") in edges


def test_a_labels_chain_continues_from_its_model_to_the_training_data(session: Session, loop: Loop) -> None:
    copy = next(a for a in ann.list_live(session, version_id=loop.v3.id or 0) if a.origin_id == loop.labels[0])
    lin = annotation_lineage(session, annotation_id=copy.id or 0)
    assert lin.loop is not None
    edges = _edges(lin.loop)
    assert set(_the_loop(loop)) <= edges
    assert (f"labels:{loop.run.id}", f"dataset_version:{loop.v3.id}", "in") in edges
    assert not any(t.startswith("training:") and t != f"training:{loop.model.id}" for _, t, _ in edges)
    assert annotation_lineage(session, annotation_id=copy.id or 0, loop=False).loop is None


def test_a_human_labels_chain_has_no_loop(session: Session, loop: Loop, world: World, ml: Actor) -> None:
    ids = items_of(session, loop.v1)
    prov = ann.Provenance(kind=ProvenanceKind.human, annotator_id=ml.user_id)
    [aid] = ann.add_annotations(
        session, actor=ml, version=loop.v1, labels=[ann.NewLabel(ids["b.png"], "circle", 1, 1, 2, 2)], provenance=prov
    )
    session.commit()
    assert annotation_lineage(session, annotation_id=aid).loop is None
    assert label_loop(session, run_ids=[]) is None


def test_golden_versions_are_left_out_when_hidden(session: Session, loop: Loop) -> None:
    shown = model_loop(session, model_version_id=loop.model.id or 0)
    hidden = model_loop(session, model_version_id=loop.model.id or 0, hide_golden=True)
    golden = f"dataset_version:{loop.val.id}"
    assert golden in _names(shown) and golden not in _names(hidden)
    assert all(golden not in (e.source, e.target) for e in hidden.edges)
    assert set(_the_loop(loop)) <= _edges(hidden)


@contextmanager
def _selects(session: Session) -> Iterator[list[str]]:
    seen: list[str] = []
    engine = session.get_bind()

    def on_execute(*args: Any) -> None:
        if str(args[2]).lstrip().upper().startswith("SELECT"):
            seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)


def test_queries_do_not_grow_with_labels_runs_or_versions(
    session: Session, loop: Loop, world: World, ml: Actor
) -> None:
    with _selects(session) as before:
        small = model_loop(session, model_version_id=loop.model.id or 0)
    pid = world.project.id or 0
    for i in range(3):  # three more runs of the model, each writing labels into a new version
        _, v = quick_version(session, actor=ml, project_id=pid, items=ITEMS, dataset="street", version=f"x{i}")
        run = AutoLabelRun(
            dataset_version_id=v.id or 0, model_version_id=loop.model.id or 0, threshold=0.3, created_by=ml.user_id
        )
        session.add(run)
        session.flush()
        _model_labels(session, ml, v, run, 5)
    session.commit()
    with _selects(session) as after:
        big = model_loop(session, model_version_id=loop.model.id or 0)
    assert len(big.nodes) >= len(small.nodes) + 9  # 3 runs, 3 label groups, 3 versions
    assert len(after) == len(before)


def test_registration_records_keep_deep_verify_clean(session: Session, loop: Loop) -> None:
    report = deep_verify(session)
    assert report.rows.get("model_versions") == 2 and report.rows.get("model_training_data") == 3
    assert [p for p in report.problems if p.table in ("model_versions", "model_training_data")] == []


def test_the_api_answers_the_loop_and_hides_golden_versions_from_annotators(
    session: Session, loop: Loop, world: World, settings: Settings, engine: Engine
) -> None:
    pid = world.project.id or 0
    label = next(a for a in ann.list_live(session, version_id=loop.v3.id or 0) if a.origin_id == loop.labels[0])
    label_id, item_id = label.id, label.item_id
    session.rollback()  # the test's own read transaction ends before the API's (SQLite locks the file)
    with TestClient(create_app(settings, engine=engine)) as client:
        version_url = f"/api/v1/projects/{pid}/datasets/street/versions/v2/lineage"
        label_url = f"/api/v1/projects/{pid}/annotations/{label_id}/lineage"
        item_url = f"/api/v1/projects/{pid}/items/{item_id}/lineage"
        answers = {
            (who, url): client.get(url, headers=world.headers(who))
            for who in ("ml_engineer", "annotator")
            for url in (version_url, label_url, item_url)
        }
    for (who, url), r in answers.items():
        assert r.status_code == 200, (who, url, r.text)
        graph = r.json()["loop"]
        names = {n["name"] for n in graph["nodes"]}
        edges = {(e["source"], e["target"], e["relation"]) for e in graph["edges"]}
        assert {"street@v1", "tiny-shapes@2", f"run {loop.run.id} on street@v2", "street@v2"} <= names, url
        assert set(_the_loop(loop)) <= edges, url
        assert ("val@1" in names) is (who == "ml_engineer"), (who, url)  # a golden set, hidden from annotators


def _ctx(session: Session, world: World, who: str, settings: Settings) -> Context:
    user = world.users[who]
    return Context(session=session, principal=Principal(user=user, actor=actor_for(user)), settings=settings)


def test_a_models_lineage_by_name_for_whoever_may_list_models(
    session: Session, loop: Loop, world: World, settings: Settings
) -> None:
    pid = world.project.id or 0
    graph = model_lineage(_ctx(session, world, "ml_engineer", settings), pid, "tiny-shapes@2")
    assert set(_the_loop(loop)) <= _edges(graph)
    with pytest.raises(PermissionDenied):
        model_lineage(_ctx(session, world, "annotator", settings), pid, "tiny-shapes@2")
    with pytest.raises(NotFound):
        model_lineage(_ctx(session, world, "ml_engineer", settings), pid, "tiny-shapes@9")
    with pytest.raises(InvalidInput):
        model_lineage(_ctx(session, world, "ml_engineer", settings), pid, "tiny-shapes")
