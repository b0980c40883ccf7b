"""Display names of audit objects, read in batch from real rows (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import Session, select

from lineage import identity
from lineage.models import (
    Annotation,
    ApiToken,
    AutoLabelRun,
    DatasetVersion,
    GateEvaluation,
    GatePolicy,
    GoldenSet,
    Item,
    ModelVersion,
    Project,
    ProvenanceKind,
    Release,
    ReviewQueueItem,
)
from lineage.naming import display_names, find_refs, project_names
from tests.factories import World, actor_for
from tests.lineage.conftest import quick_schema, quick_version


@dataclass
class Names:
    project: Project
    v1: DatasetVersion
    v2: DatasetVersion
    v20: DatasetVersion
    model: ModelVersion
    run: AutoLabelRun
    annotations: list[Annotation]
    evaluation: GateEvaluation
    release: Release
    golden: GoldenSet
    policy: GatePolicy
    schema_version_id: int
    queue_item: ReviewQueueItem
    token: ApiToken


@pytest.fixture
def names(session: Session, world: World) -> Names:
    admin = actor_for(world.admin)
    project = identity.create_project(session, actor=admin, name="street-scenes")
    pid = project.id or 0
    uid = world.admin.id or 0
    sv = quick_schema(session, project_id=pid, name="shapes", classes=["car"], user_id=uid)
    items = {f"img{i}.png": (10, 10) for i in range(3)}
    _, v1 = quick_version(session, actor=admin, project_id=pid, items=items, dataset="street", version="v1")
    _, v2 = quick_version(session, actor=admin, project_id=pid, items=items, dataset="street", version="v2")
    _, v20 = quick_version(session, actor=admin, project_id=pid, items=items, dataset="street", version="v20")
    model = ModelVersion(
        project_id=pid, name="tiny-shapes", version="2", weights_uri="x", weights_sha256="0" * 64, created_by=uid
    )
    session.add(model)
    session.flush()
    run = AutoLabelRun(dataset_version_id=v2.id or 0, model_version_id=model.id or 0, threshold=0.5, created_by=uid)
    session.add(run)
    session.flush()
    item_id = session.exec(select(Item.id).where(Item.dataset_version_id == v2.id)).first()
    annotations = [
        Annotation(
            dataset_version_id=v2.id or 0,
            item_id=item_id or 0,
            category="car",
            x=1,
            y=1,
            w=2,
            h=2,
            kind=ProvenanceKind.human,
            annotator_id=uid,
        )
        for _ in range(30)
    ]
    session.add_all(annotations)
    policy = GatePolicy(project_id=pid, name="default", version=3, yaml_text="x", policy_hash="0" * 64, created_by=uid)
    golden = GoldenSet(project_id=pid, name="gold", version=1, dataset_version_id=v1.id or 0, created_by=uid)
    session.add_all([policy, golden])
    session.flush()
    evaluation = GateEvaluation(
        dataset_version_id=v2.id or 0, policy_id=policy.id or 0, policy_hash="0" * 64, passed=True, created_by=uid
    )
    session.add(evaluation)
    session.flush()
    release = Release(dataset_version_id=v2.id or 0, evaluation_id=evaluation.id or 0, released_by=uid)
    queue_item = ReviewQueueItem(dataset_version_id=v2.id or 0, item_id=item_id or 0, reason="low_confidence")
    session.add_all([release, queue_item])
    session.flush()
    token = identity.list_tokens(session, user_id=uid)[0]
    session.commit()
    return Names(
        project,
        v1,
        v2,
        v20,
        model,
        run,
        annotations,
        evaluation,
        release,
        golden,
        policy,
        sv.id or 0,
        queue_item,
        token,
    )


@contextmanager
def counted(session: Session) -> Iterator[list[str]]:
    """The SELECTs run on ``session``'s engine inside the block."""
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


def test_every_kind_of_object_gets_its_display_name(session: Session, world: World, names: Names) -> None:
    n = names
    refs = {
        ("project", str(n.project.id)): "street-scenes",
        ("dataset", str(n.v2.dataset_id)): "street",
        ("dataset_version", str(n.v2.id)): "street@v2",
        ("model_version", str(n.model.id)): "tiny-shapes@2",
        ("label_schema_version", str(n.schema_version_id)): "shapes@1",
        ("gate_policy", str(n.policy.id)): "default@3",
        ("golden_set", str(n.golden.id)): "gold@1",
        ("user", str(world.admin.id)): "root_admin",
        ("api_token", str(n.token.id)): f"token test ({n.token.prefix}) of root_admin",
        ("gate_evaluation", str(n.evaluation.id)): f"evaluation {n.evaluation.id} of street@v2",
        ("release", str(n.release.id)): f"release {n.release.id} of street@v2",
        ("annotation", str(n.annotations[0].id)): f"annotation {n.annotations[0].id} on street@v2",
        ("autolabel_run", str(n.run.id)): f"run {n.run.id} (tiny-shapes@2 on street@v2)",
        ("review_queue_item", str(n.queue_item.id)): f"review item {n.queue_item.id} on street@v2",
    }
    assert display_names(session, refs) == refs


def test_unknown_types_missing_rows_and_odd_ids_fall_back_to_type_and_id(session: Session, names: Names) -> None:
    refs = [("workspace", "record"), ("dataset_version", "999999"), ("dataset_version", "abc"), ("webhook", "7")]
    assert display_names(session, refs) == {r: f"{r[0]}:{r[1]}" for r in refs}
    assert display_names(session, []) == {}


def test_names_are_read_in_batch_not_one_query_per_event(session: Session, names: Names) -> None:
    """Three annotations or thirty (plus runs and versions): the same number of queries."""

    def refs(k: int) -> list[tuple[str, str]]:
        return [("annotation", str(a.id)) for a in names.annotations[:k]] + [
            ("autolabel_run", str(names.run.id)),
            ("dataset_version", str(names.v1.id)),
        ]

    with counted(session) as few:
        small = display_names(session, refs(3))
    with counted(session) as many:
        large = display_names(session, refs(30))
    assert len(small) == 5 and len(large) == 32
    assert len(few) == len(many) <= 6


def test_project_names(session: Session, names: Names) -> None:
    pid = names.project.id or 0
    assert project_names(session, [pid, None, 999999]) == {pid: "street-scenes"}


def test_find_refs_prefers_an_exact_name_and_keeps_its_versions(session: Session, names: Names) -> None:
    v2 = ("dataset_version", str(names.v2.id))
    assert set(find_refs(session, "street@v2")) == {v2, ("autolabel_run", str(names.run.id))}
    assert ("dataset_version", str(names.v20.id)) not in find_refs(session, "STREET@V2")  # exact wins, any case
    street = set(find_refs(session, "street"))
    assert ("dataset", str(names.v2.dataset_id)) in street
    assert {("dataset_version", str(v.id)) for v in (names.v1, names.v2, names.v20)} <= street
    assert ("project", str(names.project.id)) not in street  # "street-scenes" is not "street" nor a version of it
    assert ("project", str(names.project.id)) in find_refs(session, "scenes")  # no exact name: a part matches
    assert ("model_version", str(names.model.id)) in find_refs(session, "tiny-shapes@2")


@pytest.mark.parametrize("typed", ["%", "s_r", "street@v_", "str%", ""])
def test_find_refs_takes_wildcards_literally(session: Session, names: Names, typed: str) -> None:
    assert find_refs(session, typed) == []
