"""OpenLineage of a model's training: registering a model version with recorded training data emits one run
(START and COMPLETE, one run id) of ``<project>.models.<model>.train`` when the transaction commits, nothing
on a rollback and nothing for a model registered without training data. The dataset versions it was trained
and validated on are the inputs (named as every other job names them), the model version the output (named
as an auto-label run's model input, so the graph joins), hyper-parameters and metrics in facets; every event
is valid against the spec's schemas and labelgate's own facet schemas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from inference.registry import TrainingRecord, register_model
from lineage.context import Actor
from lineage.models import ModelVersion
from lineage.openlineage import LineageEmitter
from lineage.openlineage_jobs import emit_training
from service.settings import Settings
from service.workspace import init_workspace
from tests.factories import World
from tests.lineage.conftest import quick_schema, quick_version
from tests.lineage.test_lineage_openlineage_schemas import read_events, validate_event

NAMES = {0: "cat", 1: "dog"}
HYPER = {"epochs": 3, "imgsz": 96, "batch": 8, "seed": 7, "base": "tiny"}
METRICS = {"map50": 0.5, "map50_95": 0.25, "precision": 0.75, "recall": 0.625}


def _setup(session: Session, world: World, ml: Actor, settings: Settings, tmp_path: Path) -> dict[str, Any]:
    init_workspace(settings)
    project_id = world.project.id or 0
    sv = quick_schema(session, project_id=project_id, name="pets", classes=["cat", "dog"], user_id=ml.user_id)
    quick_version(session, actor=ml, project_id=project_id, items={"a.png": (40, 30)}, dataset="pets")
    quick_version(session, actor=ml, project_id=project_id, items={"b.png": (40, 30), "c.png": (9, 9)}, dataset="more")
    quick_version(session, actor=ml, project_id=project_id, items={"v.png": (40, 30)}, dataset="holdout")
    session.commit()
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"not really a checkpoint: the class names are given")
    return {"project_id": project_id, "schema": sv.id or 0, "weights": weights}


def _register(session: Session, ml: Actor, settings: Settings, made: dict[str, Any], **kw: Any) -> ModelVersion:
    return register_model(
        session,
        actor=ml,
        project_id=made["project_id"],
        name="pet-detector",
        version=kw.pop("version", "1"),
        weights=made["weights"],
        schema_version_id=made["schema"],
        repo_dir=settings.repo_dir,
        model_names=NAMES,
        **kw,
    )


def _record() -> TrainingRecord:
    return TrainingRecord(
        train=("pets@v1", "more@v1"),
        val=("holdout@v1",),
        hyperparameters=HYPER,
        metrics=METRICS,
        trainer="labelgate model train",
        started_at="2026-03-01T10:00:00+00:00",
        finished_at="2026-03-01T10:02:30.5+00:00",
    )


def test_a_trained_model_registration_emits_its_training_run_on_commit_only(
    session: Session, world: World, ml: Actor, settings: Settings, tmp_path: Path
) -> None:
    made = _setup(session, world, ml, settings, tmp_path)
    log = tmp_path / "ol" / "events.jsonl"
    emitter = LineageEmitter(file_path=log, namespace="labelgate://team")
    _register(session, ml, settings, made, training=_record(), emitter=emitter)
    assert read_events(log) == []  # not before the commit
    session.rollback()
    assert read_events(log) == []  # never for a rolled-back registration
    model = _register(session, ml, settings, made, training=_record(), emitter=emitter)
    session.commit()
    events = read_events(log)
    for event in events:
        validate_event(event)
    start, complete = events
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert start["run"]["runId"] == complete["run"]["runId"]
    # the training's own clock, not the registration's
    assert (start["eventTime"], complete["eventTime"]) == ("2026-03-01T10:00:00.000Z", "2026-03-01T10:02:30.500Z")
    assert complete["job"] == start["job"]
    assert (complete["job"]["namespace"], complete["job"]["name"]) == (
        "labelgate://team",
        "alpha.models.pet-detector.train",
    )
    assert complete["job"]["facets"]["jobType"]["jobType"] == "TRAIN"
    inputs = [(d["namespace"], d["name"], d["facets"]["version"]["datasetVersion"]) for d in complete["inputs"]]
    assert inputs == [
        ("labelgate://team", "alpha/pets", "v1"),
        ("labelgate://team", "alpha/more", "v1"),
        ("labelgate://team", "alpha/holdout", "v1"),
    ]
    [out] = complete["outputs"]
    assert (out["namespace"], out["name"]) == ("labelgate://team", "alpha/models/pet-detector")
    assert out["facets"]["version"]["datasetVersion"] == "1"
    facet = out["facets"]["labelgateModel"]
    assert facet["weightsSha256"] == model.weights_sha256 and facet["framework"] == "ultralytics"
    assert facet["task"] == "detect" and facet["hyperparameters"] == HYPER
    assert facet["weightsUri"] == model.weights_uri and facet["weightsBytes"] == made["weights"].stat().st_size
    training = complete["run"]["facets"]["labelgateTraining"]
    assert training["trainer"] == "labelgate model train"
    assert training["hyperparameters"] == HYPER and training["metrics"] == METRICS
    details = complete["run"]["facets"]["labelgate"]["details"]
    assert complete["run"]["facets"]["labelgate"]["actor"] == ml.username
    assert details["model"] == "pet-detector@1" and details["weights_rev"] == model.weights_rev
    assert [(d["role"], d["dataset"], d["items"]) for d in details["training_data"]] == [
        ("train", "pets", 1),
        ("train", "more", 2),
        ("val", "holdout", 1),
    ]
    assert details["training_data"][0]["manifest_hash"] and len(details["training_data"][0]["manifest_hash"]) == 64


def test_a_model_without_training_data_emits_no_training_run(
    session: Session, world: World, ml: Actor, settings: Settings, tmp_path: Path
) -> None:
    made = _setup(session, world, ml, settings, tmp_path)
    log = tmp_path / "ol" / "events.jsonl"
    emitter = LineageEmitter(file_path=log, namespace="labelgate://team")
    _register(session, ml, settings, made, emitter=emitter)
    # hyper-parameters and metrics alone: no dataset named, no training run to tell
    _register(session, ml, settings, made, version="2", emitter=emitter,
              training=TrainingRecord(hyperparameters=HYPER, metrics=METRICS))  # fmt: skip
    session.commit()
    assert read_events(log) == []


def test_an_external_training_without_times_is_dated_at_registration_and_validates(
    session: Session, world: World, ml: Actor, settings: Settings, tmp_path: Path
) -> None:
    made = _setup(session, world, ml, settings, tmp_path)
    log = tmp_path / "ol" / "events.jsonl"
    # the same version as training and validation data: one input, pinned twice by role
    record = TrainingRecord(train=("pets@v1",), val=("pets@v1",))
    model = _register(session, ml, settings, made, training=record)
    session.commit()
    assert read_events(log) == []  # no emitter bound, none given
    emit_training(session, model=model, actor=ml, audit_seq=5, emitter=LineageEmitter(file_path=log))
    session.commit()
    events = read_events(log)
    for event in events:
        validate_event(event)
    start, complete = events
    assert start["eventTime"] <= complete["eventTime"] and start["eventTime"] > "2026-01-01"
    assert [d["name"] for d in complete["inputs"]] == ["alpha/pets"]
    run = complete["run"]["facets"]
    assert run["labelgateTraining"]["trainer"] == "external" and run["labelgateTraining"]["metrics"] == {}
    assert run["labelgate"]["auditSeq"] == 5
    assert [d["role"] for d in run["labelgate"]["details"]["training_data"]] == ["train", "val"]


def test_a_broken_training_facet_fails_validation(
    session: Session, world: World, ml: Actor, settings: Settings, tmp_path: Path
) -> None:
    """The facet schemas bite: a metric that is not a number, a weights hash that is not one."""
    made = _setup(session, world, ml, settings, tmp_path)
    log = tmp_path / "ol" / "events.jsonl"
    _register(session, ml, settings, made, training=_record(), emitter=LineageEmitter(file_path=log))
    session.commit()
    complete = read_events(log)[1]
    validate_event(complete)
    complete["run"]["facets"]["labelgateTraining"]["metrics"]["map50"] = "high"
    with pytest.raises(AssertionError, match="'high' is not of type 'number'"):
        validate_event(complete)
    complete = read_events(log)[1]
    complete["outputs"][0]["facets"]["labelgateModel"]["weightsSha256"] = "abc"
    with pytest.raises(AssertionError, match="'abc' does not match"):
        validate_event(complete)
