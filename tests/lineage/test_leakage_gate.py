"""The training-leakage gate on the record (``lineage.gates.leakage``), on SQLite and PostgreSQL.

The gate scenario (``service.demo.scenario``): golden set ``street-golden@1`` over 20 images; ``street@v2``
labelled by model ``street-detector@1``, ``street@v3`` by ``street-detector@2``; all hold the same images.
The tests record what the models were trained on (``model_training_data``, with its audit event) over
versions whose items copy golden images under other paths, and evaluate a version under a policy with the
gate: it blocks naming the model, the dataset versions and the count, and passes on clean training data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from lineage import datasets
from lineage.audit.chain import record_event
from lineage.audit.deep import deep_verify
from lineage.context import Actor
from lineage.errors import InvalidInput, NotFound
from lineage.gates import evaluate_version, report_of, store_policy
from lineage.gates.leakage import leakage_inputs
from lineage.labels.labelset import live_labels, manifest_hash
from lineage.models import (
    Annotation,
    AuditEvent,
    DatasetVersion,
    GateEvaluation,
    GatePolicy,
    Item,
    ModelTrainingData,
    ModelVersion,
)
from service.demo.scenario import GateScenario
from service.settings import Settings
from service.workspace import init_workspace
from tests.factories import World, actor_for, make_gate_world

GOLDEN_POLICY = "name: leakage\ngolden: street-golden@1\ngates:\n  training_leakage: {{{modes}}}\n"


@pytest.fixture
def scenario(settings: Settings, session: Session, tmp_path: Path) -> tuple[World, GateScenario]:
    init_workspace(settings)
    world, sc = make_gate_world(session, repo_dir=settings.repo_dir, work_dir=tmp_path / "work", secret="x" * 16)
    session.commit()
    return world, sc


def _shas(session: Session, version_id: int) -> list[str]:
    return sorted(session.exec(select(Item.sha256).where(Item.dataset_version_id == version_id)))


def _model(session: Session, name: str, version: str) -> ModelVersion:
    found = session.exec(select(ModelVersion).where(ModelVersion.name == name, ModelVersion.version == version))
    model = found.one()
    return model


def _training_version(
    session: Session, *, actor: Actor, project_id: int, dataset: str, version: str, shas: list[str]
) -> DatasetVersion:
    """A version whose items have the given content hashes under paths of their own (``copies/N.png``)."""
    try:
        ds = datasets.get_dataset(session, project_id=project_id, name=dataset)
    except NotFound:
        ds = datasets.create_dataset(session, actor=actor, project_id=project_id, name=dataset)
    v = DatasetVersion(dataset_id=ds.id or 0, version=version, item_count=len(shas), created_by=actor.user_id)
    session.add(v)
    session.flush()
    for n, sha in enumerate(shas):
        session.add(Item(dataset_version_id=v.id or 0, uri=f"copies/{n}.png", sha256=sha, size_bytes=100, width=64,
                         height=48))  # fmt: skip
    session.flush()
    return v


def _record_training(
    session: Session, *, actor: Actor, project_id: int, model: ModelVersion, data: list[tuple[DatasetVersion, str]]
) -> list[ModelTrainingData]:
    """What ``model`` was trained (``train``) and validated (``val``) on, recorded with its audit event."""
    rows = [
        ModelTrainingData(
            model_version_id=model.id or 0,
            dataset_version_id=v.id or 0,
            role=role,
            manifest_hash=manifest_hash(session, version_id=v.id or 0),
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
        project_id=project_id,
        payload={"name": model.name, "version": model.version, "training": [[v.id, r] for v, r in data]},
        rows=rows,
    )
    session.commit()
    return rows


def _policy(session: Session, actor: Actor, project_id: int, text: str) -> GatePolicy:
    record = store_policy(session, actor=actor, project_id=project_id, yaml_text=text)
    session.commit()
    return record


def _gate(record: GateEvaluation) -> dict[str, Any]:
    return next(g for g in record.gates if g["name"] == "training_leakage")


def _labelled_shas(session: Session, version: DatasetVersion, model: ModelVersion) -> set[str]:
    rows = session.exec(live_labels(version.id or 0).where(Annotation.model_version_id == model.id))
    item_ids = {a.item_id for a in rows}
    return {i.sha256 for i in session.exec(select(Item).where(col(Item.id).in_(item_ids)))}


def test_the_gate_blocks_naming_the_model_the_dataset_versions_and_the_count(
    session: Session, scenario: tuple[World, GateScenario]
) -> None:
    world, sc = scenario
    ml, ci = actor_for(world.users["ml_engineer"]), actor_for(world.users["ci"])
    golden = _shas(session, sc.golden.dataset_version_id)
    assert len(golden) == 20
    # 3 golden images copied into the training version, 2 into the validation one (golden[2] in both):
    # 4 distinct golden items leaked.
    train = _training_version(session, actor=ml, project_id=sc.project_id, dataset="train-data", version="t1",
                              shas=[*golden[:3], "a" * 64, "b" * 64])  # fmt: skip
    val = _training_version(session, actor=ml, project_id=sc.project_id, dataset="val-data", version="v1",
                            shas=[*golden[2:4], "c" * 64])  # fmt: skip
    detector = _model(session, "street-detector", "2")
    _record_training(session, actor=ml, project_id=sc.project_id, model=detector, data=[(train, "train"), (val, "val")])
    policy = _policy(session, ml, sc.project_id, GOLDEN_POLICY.format(modes="golden: block, autolabelled: warn"))

    outcome = evaluate_version(session, actor=ci, version=sc.passing, policy_record=policy)
    session.commit()

    result = outcome.report.result("training_leakage")
    assert result is not None and not result.passed and not outcome.report.passed
    assert result.value == 4.0
    assert "model street-detector@2 was trained or validated on 4 of the 20 golden items" in result.explanation
    assert "train-data@t1 (train): 3, val-data@v1 (val): 2" in result.explanation
    stored = _gate(outcome.record)
    ev = stored["evidence"]
    assert (ev["verdict"], ev["golden_items"], ev["leaked_golden"], ev["leaked_golden_in_version"]) == (
        "block", 20, 4, 4
    )  # fmt: skip
    (model,) = ev["models"]
    assert model["model"] == "street-detector@2" and model["recorded"] is True
    assert [(d["dataset_version"], d["role"], d["items"], d["golden"]) for d in model["data"]] == [
        ("train-data@t1", "train", 5, 3),
        ("val-data@v1", "val", 3, 2),
    ]
    # The model's labels on items it was trained on: warned about, counted by content.
    labelled = _labelled_shas(session, sc.passing, detector)
    assert model["labelled_items"] == len(labelled)
    assert ev["autolabelled_trained"] == len(labelled & set(golden[:3]))
    # Golden items stay hidden: the record names no golden image, by path or by hash.
    golden_uris = set(session.exec(select(Item.uri).where(Item.dataset_version_id == sc.golden.dataset_version_id)))
    text = json.dumps(stored)
    assert not any(sha in text for sha in golden) and not any(uri in text for uri in golden_uris)
    # The record reads back as the report; its audit event names the blocking gate.
    session.expire_all()
    record = session.get(GateEvaluation, outcome.record.id)
    assert record is not None and report_of(record, policy.name) == outcome.report
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "gate.evaluate")).all()[-1]
    assert event.payload["blocking"] == ["training_leakage"]
    # The training rows are sealed by their event: a deep verify of the record finds nothing amiss.
    report = deep_verify(session)
    assert report.ok and report.rows.get("model_training_data") == 2, report.problems[:3]


def test_the_gate_passes_when_the_training_data_holds_no_golden_item(
    session: Session, scenario: tuple[World, GateScenario]
) -> None:
    world, sc = scenario
    ml, ci = actor_for(world.users["ml_engineer"]), actor_for(world.users["ci"])
    clean = _training_version(session, actor=ml, project_id=sc.project_id, dataset="train-data", version="t1",
                              shas=["d" * 64, "e" * 64])  # fmt: skip
    detector = _model(session, "street-detector", "2")
    _record_training(session, actor=ml, project_id=sc.project_id, model=detector, data=[(clean, "train")])
    policy = _policy(session, ml, sc.project_id, GOLDEN_POLICY.format(modes="autolabelled: block"))

    outcome = evaluate_version(session, actor=ci, version=sc.passing, policy_record=policy)

    result = outcome.report.result("training_leakage")
    assert result is not None and result.passed and result.value == 0.0
    assert result.explanation == (
        "no leakage: the training data of 1 model (1 dataset versions) holds none of the 20 golden items and "
        "none of the items its models labelled"
    )
    ev = _gate(outcome.record)["evidence"]
    assert (ev["verdict"], ev["leaked_golden"], ev["autolabelled_trained"]) == ("pass", 0, 0)
    # A version without model labels has no model to check.
    outcome = evaluate_version(session, actor=ci, version=sc.parent, policy_record=policy)
    result = outcome.report.result("training_leakage")
    assert result is not None and result.passed and result.explanation.startswith("no model labels")


def test_a_model_trained_on_the_items_it_labels_and_one_off_the_record(
    session: Session, scenario: tuple[World, GateScenario]
) -> None:
    world, sc = scenario
    ml, ci = actor_for(world.users["ml_engineer"]), actor_for(world.users["ci"])
    # street-detector@1 (labels of street@v2) has no training data on the record: a warning by default.
    warn = _policy(session, ml, sc.project_id, GOLDEN_POLICY.format(modes=""))
    outcome = evaluate_version(session, actor=ci, version=sc.blocked, policy_record=warn)
    result = outcome.report.result("training_leakage")
    assert result is not None and result.passed
    assert result.explanation == "warning: training data not on the record for street-detector@1"
    assert _gate(outcome.record)["evidence"]["verdict"] == "warn"
    # street-detector@2 trained on street@v1, the very images it labels in street@v3: blocks when asked to,
    # with no golden set needed (the golden check is off).
    detector = _model(session, "street-detector", "2")
    _record_training(session, actor=ml, project_id=sc.project_id, model=detector, data=[(sc.parent, "train")])
    text = "name: self-trained\ngates:\n  training_leakage: {golden: off, autolabelled: block}\n"
    strict = _policy(session, ml, sc.project_id, text)
    outcome = evaluate_version(session, actor=ci, version=sc.passing, policy_record=strict)
    result = outcome.report.result("training_leakage")
    labelled = _labelled_shas(session, sc.passing, detector)
    assert result is not None and not result.passed and result.value == float(len(labelled)) > 0
    assert f"model street-detector@2 auto-labelled {len(labelled)} items it was trained on (street@v1 (train): " in (
        result.explanation
    )
    assert outcome.golden is None and _gate(outcome.record)["evidence"]["golden_items"] is None


def test_the_golden_check_needs_the_golden_set_named(session: Session, scenario: tuple[World, GateScenario]) -> None:
    world, sc = scenario
    ml, ci = actor_for(world.users["ml_engineer"]), actor_for(world.users["ci"])
    policy = _policy(session, ml, sc.project_id, "name: no-golden\ngates:\n  training_leakage: {}\n")
    with pytest.raises(InvalidInput, match=r"training_leakage.*names none"):
        evaluate_version(session, actor=ci, version=sc.passing, policy_record=policy)


def test_the_inputs_match_training_items_by_content_only_where_they_can_matter(
    session: Session, scenario: tuple[World, GateScenario]
) -> None:
    world, sc = scenario
    ml = actor_for(world.users["ml_engineer"])
    golden = _shas(session, sc.golden.dataset_version_id)
    big = _training_version(session, actor=ml, project_id=sc.project_id, dataset="train-data", version="t1",
                            shas=[golden[0], *(f"{n:064x}" for n in range(500))])  # fmt: skip
    detector = _model(session, "street-detector", "2")
    _record_training(session, actor=ml, project_id=sc.project_id, model=detector, data=[(big, "train")])
    found = leakage_inputs(session, sc.passing, golden=sc.golden)
    (use,) = found.models
    assert use.model == "street-detector@2" and use.training is not None
    (data,) = use.training
    # Only the hashes the golden set or the version holds are read; the item count is the version's.
    assert (data.ref, data.role, data.hashes, data.items) == ("train-data@t1", "train", frozenset({golden[0]}), 501)
    assert found.golden == frozenset(golden) and found.items == frozenset(_shas(session, sc.passing.id or 0))
    assert use.labelled == frozenset(_labelled_shas(session, sc.passing, detector))
