"""Quality gates on the record: stored policies, golden sets, and gate evaluations of dataset versions.

``evaluate_version`` turns a version's records into ``quality_gates.GateInputs`` and stores the verdict:

- images are matched across versions by content (item SHA-256), so a golden set in its own (golden)
  dataset judges any version holding the same images;
- **golden**: the live labels of the golden set's version; **predictions**: the version's live ``model``
  labels with their confidences; **annotators**: its live ``human`` labels per annotator, each annotator's
  images being those they labelled;
- **drift**: class counts of the parent version's live labels and the parent's schema classes;
- **expectations**: the version's live labels with image sizes and provenance;
- **review coverage**: model labels reviewed by a human, and review-queue items resolved.

``data_hashes`` of the evaluation pin what it saw (version content and manifest, golden manifest), so a
release can refuse a version whose data or labels changed after its evaluation.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func
from sqlmodel import Session, col, select

from lineage.annotations import live_labels, manifest_hash
from lineage.audit import append_event
from lineage.context import Actor
from lineage.datasets import version_ref
from lineage.errors import Conflict, InvalidInput, NotFound
from lineage.models import (
    Annotation,
    Dataset,
    DatasetVersion,
    GateEvaluation,
    GatePolicy,
    GoldenSet,
    Item,
    LabelSchemaVersion,
    ModelVersion,
    Review,
    ReviewQueueItem,
    User,
)
from quality_gates import (
    BoxSet,
    GateError,
    GateInputs,
    GateReport,
    LabelSet,
    Policy,
    ReviewCoverage,
    evaluate,
    parse_policy,
    policy_hash,
)

__all__ = [
    "EvaluationOutcome",
    "build_inputs",
    "current_data_hashes",
    "detection_plots",
    "evaluate_version",
    "get_policy",
    "latest_evaluation",
    "list_golden_sets",
    "list_policies",
    "project_evaluations",
    "register_golden_set",
    "review_coverage_of",
    "stale_hashes",
    "store_policy",
]


def store_policy(session: Session, *, actor: Actor, project_id: int, yaml_text: str) -> GatePolicy:
    """Validate and store a policy as the next version of its name (unchanged content: the same version)."""
    try:
        policy = parse_policy(yaml_text)
    except GateError as exc:
        raise InvalidInput(str(exc), field="policy") from None
    digest = policy_hash(policy)
    latest = session.exec(
        select(GatePolicy)
        .where(GatePolicy.project_id == project_id, GatePolicy.name == policy.name)
        .order_by(col(GatePolicy.version).desc())
    ).first()
    if latest is not None and latest.policy_hash == digest:
        return latest
    record = GatePolicy(
        project_id=project_id,
        name=policy.name,
        version=(latest.version + 1) if latest else 1,
        yaml_text=yaml_text,
        policy_hash=digest,
        created_by=actor.user_id,
    )
    session.add(record)
    session.flush()
    append_event(
        session,
        actor=actor.username,
        request_id=actor.request_id,
        action="policy.store",
        object_type="gate_policy",
        object_id=str(record.id),
        project_id=project_id,
        payload={"name": record.name, "version": record.version, "policy_hash": digest},
    )
    return record


def get_policy(session: Session, *, project_id: int, ref: str) -> GatePolicy:
    """``NAME`` (latest version) or ``NAME@VERSION``."""
    name, _, version = ref.partition("@")
    stmt = select(GatePolicy).where(GatePolicy.project_id == project_id, GatePolicy.name == name)
    if version:
        if not version.isdigit():
            raise InvalidInput(f"policy version must be a number, got {version!r}", field="policy")
        stmt = stmt.where(GatePolicy.version == int(version))
    found = session.exec(stmt.order_by(col(GatePolicy.version).desc())).first()
    if found is None:
        raise NotFound(f"no policy {ref!r} in this project", field="policy")
    return found


def register_golden_set(
    session: Session, *, actor: Actor, project_id: int, name: str, version: DatasetVersion
) -> GoldenSet:
    """Name a version of a golden dataset (hidden from annotators) as a golden set of the project."""
    dataset = session.get(Dataset, version.dataset_id)
    if dataset is None or dataset.project_id != project_id:
        raise NotFound("no such version in this project", field="version")
    if not dataset.is_golden:
        raise InvalidInput(
            f"{dataset.name} is not a golden dataset (create it with is_golden so annotators cannot see it)",
            field="version",
        )
    if session.exec(select(GoldenSet).where(GoldenSet.project_id == project_id, GoldenSet.name == name)).first():
        raise Conflict(f"a golden set named {name!r} already exists", field="name")
    golden = GoldenSet(
        project_id=project_id,
        name=name,
        dataset_version_id=version.id or 0,
        manifest_hash=manifest_hash(session, version_id=version.id or 0),
        created_by=actor.user_id,
    )
    session.add(golden)
    session.flush()
    append_event(
        session,
        actor=actor.username,
        request_id=actor.request_id,
        action="golden_set.register",
        object_type="golden_set",
        object_id=str(golden.id),
        project_id=project_id,
        payload={"name": name, "version": version_ref(dataset, version), "manifest_hash": golden.manifest_hash},
    )
    return golden


def _golden(session: Session, project_id: int, name: str | None) -> GoldenSet | None:
    stmt = select(GoldenSet).where(GoldenSet.project_id == project_id)
    if name:
        found = session.exec(stmt.where(GoldenSet.name == name)).first()
        if found is None:
            raise NotFound(f"no golden set named {name!r}", field="golden_set")
        return found
    return session.exec(stmt.order_by(col(GoldenSet.id).desc())).first()


def _class_names(session: Session, version: DatasetVersion, labels: list[Annotation]) -> list[str]:
    if version.schema_version_id is not None:
        sv = session.get(LabelSchemaVersion, version.schema_version_id)
        if sv is not None:
            return [str(c["name"]) for c in sv.classes]
    return sorted({a.category for a in labels})


def _labels(session: Session, version_id: int) -> list[Annotation]:
    return list(session.exec(live_labels(version_id).order_by(col(Annotation.id))))


def _box_set(rows: list[Annotation], image_of: dict[int, int], index: dict[str, int], *, scored: bool) -> BoxSet:
    rows = [a for a in rows if a.item_id in image_of and a.category in index and a.w is not None]
    if not rows:
        return BoxSet.empty(scored=scored)
    return BoxSet(
        image=np.array([image_of[a.item_id] for a in rows], dtype=np.int64),
        category=np.array([index[a.category] for a in rows], dtype=np.int64),
        xywh=np.array([[a.x, a.y, a.w, a.h] for a in rows], dtype=np.float64),
        score=np.array([a.confidence for a in rows], dtype=np.float64) if scored else None,
    )


def current_data_hashes(session: Session, version: DatasetVersion, golden: GoldenSet | None) -> dict[str, str]:
    hashes = {
        "version.dvc": version.dvc_hash or "",
        "version.manifest": manifest_hash(session, version_id=version.id or 0),
    }
    if golden is not None:
        hashes["golden.manifest"] = manifest_hash(session, version_id=golden.dataset_version_id)
    return hashes


def build_inputs(
    session: Session, version: DatasetVersion, *, golden: GoldenSet | None, acknowledged: tuple[str, ...] = ()
) -> GateInputs:
    """The gate inputs of ``version`` (see the module docstring for what each one is)."""
    import pandas as pd

    labels = _labels(session, version.id or 0)
    names = _class_names(session, version, labels)
    index = {n: i for i, n in enumerate(names)}
    items = {i.id: i for i in session.exec(select(Item).where(Item.dataset_version_id == version.id))}
    by_sha = sorted({i.sha256 for i in items.values()})
    golden_labels: list[Annotation] = []
    golden_items: dict[int | None, Item] = {}
    if golden is not None:
        golden_labels = _labels(session, golden.dataset_version_id)
        golden_items = {
            i.id: i for i in session.exec(select(Item).where(Item.dataset_version_id == golden.dataset_version_id))
        }
        by_sha = sorted(set(by_sha) | {i.sha256 for i in golden_items.values()})
    image_id = {sha: n for n, sha in enumerate(by_sha)}
    image_of = {iid: image_id[i.sha256] for iid, i in items.items() if iid is not None}
    golden_image_of = {iid: image_id[i.sha256] for iid, i in golden_items.items() if iid is not None}

    model_rows = [a for a in labels if a.kind == "model"]
    human_rows: dict[str, list[Annotation]] = defaultdict(list)
    users = {u.id: u.username for u in session.exec(select(User))}
    for a in labels:
        if a.kind == "human" and a.annotator_id is not None:
            human_rows[users.get(a.annotator_id, str(a.annotator_id))].append(a)
    annotators = {
        who: LabelSet(
            boxes=_box_set(rows, image_of, index, scored=False),
            images=np.array(sorted({image_of[a.item_id] for a in rows}), dtype=np.int64),
        )
        for who, rows in sorted(human_rows.items())
    }
    parent_distribution: dict[str, float] | None = None
    parent_names: list[str] | None = None
    if version.parent_id is not None:
        parent = session.get(DatasetVersion, version.parent_id)
        parent_labels = _labels(session, version.parent_id)
        parent_distribution = {k: float(v) for k, v in Counter(a.category for a in parent_labels).items()}
        if parent is not None:
            parent_names = _class_names(session, parent, parent_labels)
    models = {m.id: f"{m.name}@{m.version}" for m in session.exec(select(ModelVersion))}
    frame = pd.DataFrame(
        [
            {
                "image_id": image_of.get(a.item_id, -1),
                "width": items[a.item_id].width if a.item_id in items else None,
                "height": items[a.item_id].height if a.item_id in items else None,
                "category": a.category,
                "x": a.x,
                "y": a.y,
                "w": a.w,
                "h": a.h,
                "score": a.confidence,
                "provenance_kind": a.kind,
                "annotator": users.get(a.annotator_id) if a.annotator_id else None,
                "model_version": models.get(a.model_version_id) if a.model_version_id else None,
                "weights_sha256": a.weights_sha256,
                "threshold": a.threshold,
                "run_id": a.autolabel_run_id,
                "source_sha256": a.source_sha256,
                "source_format": a.source_format,
                "generator_config_hash": a.generator_config_hash,
            }
            for a in labels
        ]
    )
    return GateInputs(
        class_names=names,
        golden=_box_set(golden_labels, golden_image_of, index, scored=False) if golden is not None else None,
        golden_images=np.array(sorted(set(golden_image_of.values())), dtype=np.int64) if golden is not None else None,
        predictions=_box_set(model_rows, image_of, index, scored=True) if model_rows else None,
        model_name=", ".join(sorted({models.get(a.model_version_id, "?") for a in model_rows})) or "model",
        annotators=annotators or None,
        parent_distribution=parent_distribution,
        parent_class_names=parent_names,
        acknowledged_changes=acknowledged,
        annotation_frame=frame,
        review=review_coverage_of(session, version.id or 0),
        data_hashes=current_data_hashes(session, version, golden),
    )


def review_coverage_of(session: Session, version_id: int) -> ReviewCoverage:
    model_ids = select(Annotation.id).where(Annotation.dataset_version_id == version_id, Annotation.kind == "model")
    model_labels = session.exec(select(func.count()).select_from(model_ids.subquery())).one()
    reviewed = session.exec(
        select(func.count(func.distinct(Review.annotation_id))).where(col(Review.annotation_id).in_(model_ids))
    ).one()
    routed = session.exec(
        select(func.count()).select_from(ReviewQueueItem).where(ReviewQueueItem.dataset_version_id == version_id)
    ).one()
    routed_reviewed = session.exec(
        select(func.count())
        .select_from(ReviewQueueItem)
        .where(ReviewQueueItem.dataset_version_id == version_id, col(ReviewQueueItem.resolved_at).is_not(None))
    ).one()
    return ReviewCoverage(
        model_labels=int(model_labels), reviewed=int(reviewed), routed=int(routed), routed_reviewed=int(routed_reviewed)
    )


@dataclass(frozen=True, slots=True)
class EvaluationOutcome:
    record: GateEvaluation
    report: GateReport


def evaluate_version(
    session: Session,
    *,
    actor: Actor,
    version: DatasetVersion,
    policy_record: GatePolicy,
    golden_set: str | None = None,
    acknowledged: tuple[str, ...] = (),
) -> EvaluationOutcome:
    """Run ``policy_record`` on ``version``, store the GateEvaluation and an audit event."""
    dataset = session.get(Dataset, version.dataset_id)
    if dataset is None or dataset.project_id != policy_record.project_id:
        raise NotFound("the policy and the version belong to different projects", field="policy")
    policy: Policy = parse_policy(policy_record.yaml_text)
    golden = _golden(session, dataset.project_id, golden_set)
    inputs = build_inputs(session, version, golden=golden, acknowledged=acknowledged)
    try:
        report = evaluate(policy, inputs)
    except GateError as exc:
        raise InvalidInput(str(exc), field="policy") from None
    as_dict = report.to_dict()
    record = GateEvaluation(
        dataset_version_id=version.id or 0,
        policy_id=policy_record.id or 0,
        policy_hash=report.policy_hash,
        passed=report.passed,
        gates=as_dict["gates"],
        metrics=as_dict["metrics"],
        evidence={
            "per_class": as_dict["per_class"],
            "golden_set": golden.name if golden else None,
            **detection_plots(policy, inputs, threshold=report.metrics.get("threshold")),
        },
        data_hashes=as_dict["data_hashes"],
        created_by=actor.user_id,
    )
    session.add(record)
    session.flush()
    append_event(
        session,
        actor=actor.username,
        request_id=actor.request_id,
        action="gate.evaluate",
        object_type="dataset_version",
        object_id=str(version.id),
        project_id=dataset.project_id,
        payload={
            "evaluation_id": record.id,
            "version": version_ref(dataset, version),
            "policy": f"{policy_record.name}@{policy_record.version}",
            "policy_hash": report.policy_hash,
            "passed": report.passed,
            "blocking": [g.name for g in report.gates if not g.passed],
            "data_hashes": as_dict["data_hashes"],
        },
    )
    return EvaluationOutcome(record=record, report=report)


_MAX_CURVE_POINTS = 200


def detection_plots(policy: Policy, inputs: GateInputs, *, threshold: float | None) -> dict[str, Any]:
    """Precision–recall curves per class and a confusion matrix (with background) of the predictions
    against the golden set, on the golden images, for the dashboard's evidence plots. Empty without both.

    Curves keep at most 200 points per class (evenly spaced along the descending thresholds); the matrix
    is at the policy's model threshold and the precision gate's IoU (default 0.5).
    """
    from quality_gates import confusion_matrix, match_detections

    if inputs.golden is None or inputs.predictions is None or inputs.golden_images is None:
        return {}
    gate = policy.gates.precision or policy.gates.recall
    iou = float(gate.iou) if gate is not None else 0.5
    preds = inputs.predictions.select(np.isin(inputs.predictions.image, inputs.golden_images))
    k = inputs.num_classes
    match = match_detections(inputs.golden, preds, num_classes=k, iou=iou)
    curves: dict[str, Any] = {}
    for name, c in zip(inputs.class_names, match.curves(), strict=True):
        n = len(c.thresholds)
        keep = np.unique(np.linspace(0, n - 1, min(n, _MAX_CURVE_POINTS)).astype(int)) if n else np.array([], int)
        curves[name] = {
            "thresholds": [float(v) for v in c.thresholds[keep]],
            "precision": [float(v) for v in c.precision[keep]],
            "recall": [None if np.isnan(v) else float(v) for v in c.recall[keep]],
        }
    cm = confusion_matrix(inputs.golden, preds, num_classes=k, iou=iou, threshold=float(threshold or 0.0), match=match)
    return {
        "pr_curves": curves,
        "confusion_matrix": {"labels": [*inputs.class_names, "background"], "matrix": cm.tolist(), "iou": iou},
    }


def latest_evaluation(session: Session, version: DatasetVersion) -> GateEvaluation | None:
    return session.exec(
        select(GateEvaluation)
        .where(GateEvaluation.dataset_version_id == version.id)
        .order_by(col(GateEvaluation.id).desc())
    ).first()


def stale_hashes(session: Session, version: DatasetVersion, evaluation: GateEvaluation) -> list[str]:
    """Names of the data hashes that changed since ``evaluation`` (empty: the evidence still holds)."""
    golden = None
    if "golden.manifest" in evaluation.data_hashes:
        name = (evaluation.evidence or {}).get("golden_set")
        golden = _golden(session, session.get(Dataset, version.dataset_id).project_id, name) if name else None  # type: ignore[union-attr]
    now = current_data_hashes(session, version, golden)
    return sorted(k for k, v in now.items() if evaluation.data_hashes.get(k) != v)


def list_policies(session: Session, *, project_id: int) -> list[GatePolicy]:
    stmt = select(GatePolicy).where(GatePolicy.project_id == project_id)
    return list(session.exec(stmt.order_by(col(GatePolicy.name), col(GatePolicy.version))))


def list_golden_sets(session: Session, *, project_id: int) -> list[GoldenSet]:
    return list(session.exec(select(GoldenSet).where(GoldenSet.project_id == project_id).order_by(col(GoldenSet.id))))


def version_evaluations(session: Session, *, version_id: int) -> list[tuple[GateEvaluation, str]]:
    """The version's evaluations with their policy's name, newest first."""
    stmt = (
        select(GateEvaluation, GatePolicy.name)
        .join(GatePolicy, col(GatePolicy.id) == GateEvaluation.policy_id)
        .where(GateEvaluation.dataset_version_id == version_id)
        .order_by(col(GateEvaluation.id).desc())
    )
    return [(r, name) for r, name in session.exec(stmt)]


def project_evaluations(
    session: Session, *, project_id: int, limit: int = 20
) -> list[tuple[GateEvaluation, str, str, str]]:
    """The project's newest evaluations: (record, version, dataset name, policy name)."""
    stmt = (
        select(GateEvaluation, DatasetVersion.version, Dataset.name, GatePolicy.name)
        .join(DatasetVersion, col(DatasetVersion.id) == GateEvaluation.dataset_version_id)
        .join(Dataset, col(Dataset.id) == DatasetVersion.dataset_id)
        .join(GatePolicy, col(GatePolicy.id) == GateEvaluation.policy_id)
        .where(Dataset.project_id == project_id)
        .order_by(col(GateEvaluation.id).desc())
        .limit(limit)
    )
    return [(r, v, d, p) for r, v, d, p in session.exec(stmt)]
