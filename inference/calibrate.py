"""``labelgate calibrate``: predict the golden set, compute F1-optimal and TBAL thresholds, record the evidence.

The golden set is a golden-set name or a ``DATASET@VERSION``; its truth is the version's live labels that
are not model labels, of the geometries the model's task labels (boxes for a detector, polygons and masks
for a segment model, keypoints for a pose model, tags for a classifier), matched to the predictions by box
IoU, mask IoU, OKS or class per item (:mod:`inference.golden_match`). The row's ``golden_boxes`` counts those
golden labels whatever their geometry. What it found (:class:`inference.calibration.CalibrationReport`, with the model's
weights hash and the golden version's manifest hash) is a row of ``calibrations``
(:class:`lineage.models.Calibration`), recorded by an audit event ``calibration.record`` on it; the row's id
is the calibration's id. ``apply_to_run`` writes the chosen strategy's per-class thresholds into a queued run
(:func:`inference.runs.set_class_thresholds`), citing that id.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from inference.calibration import CalibrationReport, calibrate_classes, coverage, thresholds_for
from inference.executors import LocalExecutor, WorkerSpec
from inference.golden_match import TaskContext, match_golden, truth_geometries
from inference.registry import class_names_of, model_task, resolve_model_ref, schema_facts, verify_weights
from inference.runs import get_run, set_class_thresholds
from inference.types import BatchTask, ItemRef
from inference.ultra import PredictOptions, resolve_device
from lineage.audit.chain import next_seq, record_event
from lineage.context import Actor
from lineage.datasets import list_items, resolve_version, version_ref
from lineage.db import session_scope
from lineage.errors import InvalidInput, NotFound
from lineage.labels.labelset import live_labels, manifest_hash
from lineage.models import Annotation, Calibration, Dataset, DatasetVersion, GoldenSet, ModelVersion, ProvenanceKind

__all__ = ["CalibrationOutcome", "calibrate", "calibration_evidence", "get_calibration", "resolve_golden"]

RECORD_ACTION = "calibration.record"
STRATEGIES = ("tbal", "f1")


@dataclass(frozen=True)
class CalibrationOutcome:
    """The report, the id of its ``calibrations`` row and the run it was applied to."""

    report: CalibrationReport
    calibration_id: int
    model: str
    golden: str
    items: int
    applied_to_run: int | None = None
    strategy: str | None = None


def resolve_golden(session: Session, *, project_id: int, ref: str) -> tuple[Dataset, DatasetVersion]:
    """A golden set ``NAME@VERSION`` (or a bare ``NAME`` that has one version only), or a golden dataset's
    ``DATASET@VERSION`` → the dataset and version holding the golden labels. A bare name with several
    versions is refused, naming them: the set measured against is never picked silently."""
    name, _, number = ref.partition("@")
    stmt = select(GoldenSet).where(GoldenSet.project_id == project_id, GoldenSet.name == name)
    if number:
        golden = session.exec(stmt.where(GoldenSet.version == int(number))).first() if number.isdigit() else None
        if golden is None:
            return resolve_version(session, project_id=project_id, ref=ref)
    else:
        versions = list(session.exec(stmt.order_by(col(GoldenSet.version))))
        if len(versions) > 1:
            refs = ", ".join(f"{g.name}@{g.version}" for g in versions)
            raise InvalidInput(f"golden set {name!r} has several versions ({refs}): name one", field="golden")
        golden = versions[0] if versions else None
    version = session.get(DatasetVersion, golden.dataset_version_id) if golden is not None else None
    dataset = session.get(Dataset, version.dataset_id) if version is not None else None
    if dataset is None or version is None:
        raise NotFound(f"no golden set named {ref!r} (give NAME@VERSION or DATASET@VERSION)", field="golden")
    return dataset, version


def _truth(session: Session, version_id: int, geometries: tuple[str, ...] = ("box",)) -> list[Annotation]:
    stmt = (
        live_labels(version_id)
        .where(Annotation.kind != ProvenanceKind.model.value, col(Annotation.geometry_type).in_(geometries))
        .order_by(col(Annotation.id))
    )
    return list(session.exec(stmt))


def calibrate(
    engine: Engine,
    *,
    actor: Actor,
    project_id: int,
    model: str,
    golden: str,
    repo_dir: Path,
    iou: float = 0.5,
    target_error: float = 0.05,
    level: float = 0.95,
    band: float = 0.1,
    device: str = "auto",
    batch_size: int = 32,
    apply_to_run: int | None = None,
    strategy: str = "tbal",
) -> CalibrationOutcome:
    """Calibrate ``model`` (``NAME@VER``) on ``golden``; record the evidence; optionally apply to a run.

    Args:
        iou (0.5): what a prediction must reach to match a golden label: box IoU (detect), mask IoU
            (segment) or OKS with the class's sigmas (pose); unused for classify, where a prediction is right
            when the item carries a golden tag of its class (:mod:`inference.golden_match`).
        target_error (0.05): TBAL's bound on the auto-labelled error; level (0.95): its one-sided confidence.
        band (0.1): review band used when counting items routed to people.
        device ("auto"), batch_size (32): how the golden set is predicted.
        apply_to_run (None): a queued run of this project to receive the ``strategy`` thresholds.
        strategy ("tbal"): ``tbal`` or ``f1``.
    """
    if strategy not in STRATEGIES:
        raise InvalidInput(f"unknown strategy {strategy!r} (tbal or f1)", field="strategy")
    if not 0.0 < iou <= 1.0:
        raise InvalidInput(f"iou must be within (0, 1], got {iou}", field="iou")
    if not 0.0 < target_error < 1.0:
        raise InvalidInput(f"target error must be within (0, 1), got {target_error}", field="target_error")
    if not 0.5 < level < 1.0:
        raise InvalidInput(f"level must be within (0.5, 1), got {level}", field="level")
    with session_scope(engine) as session:
        mv = resolve_model_ref(session, project_id=project_id, ref=model)
        dataset, version = resolve_golden(session, project_id=project_id, ref=golden)
        if version.git_revision is None or version.data_path is None:
            raise NotFound(f"{version_ref(dataset, version)} has no committed content", field="golden")
        if apply_to_run is not None:
            get_run(session, project_id=project_id, run_id=apply_to_run)
        weights = verify_weights(mv, repo_dir)
        class_map = class_names_of(mv)
        task = model_task(mv)
        facts = schema_facts(session, version.schema_version_id or mv.schema_version_id)
        items = list_items(session, version_id=version.id or 0)
        truth = _truth(session, version.id or 0, truth_geometries(task))
        if not truth:
            raise InvalidInput(f"{version_ref(dataset, version)} has no labels to calibrate against", field="golden")
        golden_ref, golden_version_id = version_ref(dataset, version), version.id or 0
        golden_manifest = manifest_hash(session, version_id=version.id or 0)
        spec = WorkerSpec(
            weights=str(weights),
            weights_sha256=mv.weights_sha256,
            device=resolve_device(device),
            repo_dir=str(repo_dir),
            git_revision=version.git_revision,
            data_path=version.data_path,
            options=PredictOptions(conf=0.01, iou=0.7, max_det=100, masks="mask" in facts.geometry.values()),
            features=False,
        )
        model_ref, weights_sha = f"{mv.name}@{mv.version}", mv.weights_sha256
    names = sorted(set(class_map.values()))
    index = {n: k for k, n in enumerate(names)}
    refs = [ItemRef(i.id or 0, i.uri, i.sha256) for i in items]
    tasks = [BatchTask(n, tuple(refs[s : s + batch_size])) for n, s in enumerate(range(0, len(refs), batch_size))]
    executor = LocalExecutor(spec)
    try:
        results = [r for batch in executor.run(tasks) for r in batch.items]
    finally:
        executor.close()
    failed = [r for r in results if r.error is not None]
    if failed:
        raise InvalidInput(f"golden item {failed[0].item_id} unreadable: {failed[0].error}", field="golden")
    kept = [a for a in truth if a.category in index]
    ctx = TaskContext(
        task=task,
        class_map=class_map,
        names=names,
        geometry=facts.geometry,
        sigmas=facts.sigmas,
        multi_label=facts.multi_label,
        dims={i.id or 0: (i.width, i.height) for i in items},
    )
    found_match = match_golden(kept, results, ctx, iou=iou)
    match = found_match.match
    classes = calibrate_classes(match, names, target_error=target_error, level=level)
    per_item: dict[int, list[int]] = {item_id: [] for item_id in found_match.items}
    for row, item_id in enumerate(found_match.item.tolist()):
        per_item[int(item_id)].append(row)
    golden_items = [
        (match.score[rows], [names[int(c)] for c in match.category[rows]], match.matched[rows])
        for rows in (np.asarray(v, dtype=np.int64) for v in per_item.values())
    ]
    report = CalibrationReport(
        iou=iou,
        target_error=target_error,
        level=level,
        band=band,
        classes=tuple(classes),
        coverage_f1=coverage(golden_items, thresholds_for({c.name: c.f1_threshold for c in classes}, band=band)),
        coverage_tbal=coverage(
            golden_items, thresholds_for({c.name: c.tbal.threshold if c.tbal else None for c in classes}, band=band)
        ),
    )
    found = report.to_dict()
    with session_scope(engine) as session:
        mv = resolve_model_ref(session, project_id=project_id, ref=model)
        seq = next_seq(session)
        record = Calibration(
            project_id=project_id,
            model_version_id=mv.id or 0,
            weights_sha256=weights_sha,
            dataset_version_id=golden_version_id,
            golden_manifest_hash=golden_manifest,
            iou=iou,
            target_error=target_error,
            level=level,
            band=band,
            golden_items=len(found_match.items),
            golden_boxes=found_match.golden,
            predictions=found_match.predictions,
            ignored_golden_classes=sorted({a.category for a in truth} - set(index)),
            classes=found["classes"],
            thresholds=found["thresholds"],
            coverage=found["coverage"],
            created_by=actor.user_id,
            audit_seq=seq,
        )
        session.add(record)
        session.flush()
        calibration_id = record.id or 0
        record_event(
            session,
            actor,
            RECORD_ACTION,
            ("calibration", calibration_id),
            project_id=project_id,
            payload={"model": model_ref, "golden": golden_ref},
            rows=[record],
            expect_seq=seq,
        )
        if apply_to_run is not None:
            run = get_run(session, project_id=project_id, run_id=apply_to_run)
            set_class_thresholds(session, actor=actor, run=run, calibration_id=calibration_id, strategy=strategy)
    return CalibrationOutcome(
        report=report,
        calibration_id=calibration_id,
        model=model_ref,
        golden=golden_ref,
        items=len(found_match.items),
        applied_to_run=apply_to_run,
        strategy=strategy if apply_to_run is not None else None,
    )


def get_calibration(session: Session, *, project_id: int, calibration_id: int) -> Calibration:
    """Calibration ``calibration_id``, if it belongs to ``project_id`` (else ``NotFound``)."""
    row = session.get(Calibration, calibration_id)
    if row is None or row.project_id != project_id:
        raise NotFound(f"no calibration {calibration_id} in this project", field="calibration")
    return row


def calibration_evidence(session: Session, calibration: Calibration) -> dict[str, Any]:
    """A calibration as evidence: the model and golden set by name, their hashes, the counts, and the
    report (:meth:`inference.calibration.CalibrationReport.to_dict`)."""
    model = session.get(ModelVersion, calibration.model_version_id)
    version = session.get(DatasetVersion, calibration.dataset_version_id)
    dataset = session.get(Dataset, version.dataset_id) if version is not None else None
    assert model is not None and version is not None and dataset is not None
    return {
        "model": f"{model.name}@{model.version}",
        "weights_sha256": calibration.weights_sha256,
        "golden": version_ref(dataset, version),
        "golden_manifest_hash": calibration.golden_manifest_hash,
        "golden_items": calibration.golden_items,
        "golden_boxes": calibration.golden_boxes,
        "ignored_golden_classes": list(calibration.ignored_golden_classes),
        "predictions": calibration.predictions,
        "report": {
            "iou": calibration.iou,
            "target_error": calibration.target_error,
            "level": calibration.level,
            "band": calibration.band,
            "classes": calibration.classes,
            "thresholds": calibration.thresholds,
            "coverage": calibration.coverage,
        },
    }
