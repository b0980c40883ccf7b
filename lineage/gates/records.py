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

**Which golden set.** Golden sets are versioned like policies: registering under an existing name makes the
next version, and ``NAME@VERSION`` names exactly one. An evaluation measures against the golden set its
policy names (``golden: NAME@VERSION``) or an explicit override (CLI ``--golden``, API ``golden``); a policy
with golden-based gates and neither is refused, never resolved to "the newest". The chosen set is stored on
the evaluation (``golden_set_id``, and its name, version and size in ``evidence["golden_set"]``) and in its
audit event. A golden set that shares no image, or no class, with the version is refused too: its gates
would measure nothing.

**Which evaluation is the evidence.** A release rests on one evaluation (``Release.evaluation_id``); later
evaluations of a released (or deprecated) version are re-checks and never replace it
(:func:`evaluation_purpose`, :func:`evidence_evaluation`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sqlalchemy import func
from sqlmodel import Session, col, select

from lineage.audit.chain import append_event
from lineage.context import Actor
from lineage.datasets.versions import version_ref
from lineage.errors import InvalidInput, NotFound
from lineage.labels.annotations import count_live, live_labels, manifest_hash
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
    Release,
    Review,
    ReviewQueueItem,
    User,
    VersionState,
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
from quality_gates.policy import parse_golden_ref

__all__ = [
    "EvaluationOutcome",
    "EvaluationView",
    "Purpose",
    "VersionEvidence",
    "build_inputs",
    "current_data_hashes",
    "detection_plots",
    "evaluate_version",
    "evaluation_purpose",
    "evidence_evaluation",
    "get_evaluation",
    "get_golden_set",
    "get_policy",
    "golden_summary",
    "latest_evaluation",
    "list_golden_sets",
    "list_policies",
    "project_evaluations",
    "register_golden_set",
    "resolve_golden",
    "review_coverage_of",
    "stale_hashes",
    "store_policy",
    "version_evaluations",
    "version_evidence",
]

#: What an evaluation is to its version: the one its release rests on, a later re-check of a released
#: (or deprecated) version, or any other evaluation (of a draft or candidate, or superseded before release).
Purpose = Literal["release_evidence", "recheck", "evaluation"]


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
    """Name a version of a golden dataset (hidden from annotators) as the next version of golden set ``name``.

    The same dataset version with unchanged labels as the newest version of ``name`` returns that one.
    """
    dataset = session.get(Dataset, version.dataset_id)
    if dataset is None or dataset.project_id != project_id:
        raise NotFound("no such version in this project", field="version")
    if not dataset.is_golden:
        raise InvalidInput(
            f"{dataset.name} is not a golden dataset (create it with is_golden so annotators cannot see it)",
            field="version",
        )
    if not name.strip() or "@" in name or name != name.strip() or len(name) > 100:
        raise InvalidInput(
            f"a golden set name is 1 to 100 characters without '@' or surrounding spaces, got {name!r}", field="name"
        )
    digest = manifest_hash(session, version_id=version.id or 0)
    latest = session.exec(
        select(GoldenSet)
        .where(GoldenSet.project_id == project_id, GoldenSet.name == name)
        .order_by(col(GoldenSet.version).desc())
    ).first()
    if latest is not None and latest.dataset_version_id == version.id and latest.manifest_hash == digest:
        return latest
    golden = GoldenSet(
        project_id=project_id,
        name=name,
        version=(latest.version + 1) if latest else 1,
        dataset_version_id=version.id or 0,
        manifest_hash=digest,
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
        payload={
            "name": name,
            "golden_version": golden.version,
            "ref": f"{name}@{golden.version}",
            "version": version_ref(dataset, version),
            "manifest_hash": golden.manifest_hash,
        },
        rows=_digestible(golden),
    )
    return golden


def _digestible(row: Any) -> list[Any]:
    """``[row]`` when the row digests know its table (lineage.audit.rowdigest), else nothing to record."""
    from lineage.audit.rowdigest import DIGEST_COLUMNS

    return [row] if str(row.__tablename__) in DIGEST_COLUMNS else []


def _golden_refs(session: Session, project_id: int) -> str:
    rows = list_golden_sets(session, project_id=project_id)
    return ", ".join(f"{g.name}@{g.version}" for g in rows) or "none registered yet"


def get_golden_set(session: Session, *, project_id: int, ref: str) -> GoldenSet:
    """The golden set ``NAME@VERSION`` of the project (InvalidInput for another form, NotFound if absent)."""
    try:
        name, number = parse_golden_ref(ref)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="golden") from None
    found = session.exec(
        select(GoldenSet).where(GoldenSet.project_id == project_id, GoldenSet.name == name, GoldenSet.version == number)
    ).first()
    if found is None:
        raise NotFound(
            f"no golden set {ref!r} in this project; golden sets: {_golden_refs(session, project_id)}", field="golden"
        )
    return found


def resolve_golden(
    session: Session, *, project_id: int, policy_record: GatePolicy, policy: Policy, override: str | None = None
) -> GoldenSet | None:
    """The golden set an evaluation of ``policy`` measures against: ``override`` (``NAME@VERSION``), else the
    one the policy names; None when neither is given and no gate needs one.

    Raises:
        InvalidInput: a golden-based gate and no golden set named (the message says how to name one).
        NotFound: an unknown ``NAME@VERSION``.
    """
    ref = override or policy.golden
    if ref is None:
        needs = policy.golden_gates()
        if needs:
            raise InvalidInput(
                f"policy {policy_record.name}@{policy_record.version} measures against a golden set "
                f"({', '.join(needs)}) but names none: add `golden: NAME@VERSION` to the policy or pass "
                f'--golden NAME@VERSION (API: "golden"); golden sets of this project: '
                f"{_golden_refs(session, project_id)}",
                field="golden",
            )
        return None
    return get_golden_set(session, project_id=project_id, ref=ref)


def golden_summary(session: Session, golden: GoldenSet) -> dict[str, Any]:
    """``{id, name, version, ref, dataset_version, items, labels, manifest_hash}`` of a golden set, as an
    evaluation records it (``items``: images of its version; ``labels``: its live labels)."""
    version = session.get(DatasetVersion, golden.dataset_version_id)
    dataset = session.get(Dataset, version.dataset_id) if version is not None else None
    items = session.exec(
        select(func.count()).select_from(Item).where(Item.dataset_version_id == golden.dataset_version_id)
    ).one()
    return {
        "id": golden.id,
        "name": golden.name,
        "version": golden.version,
        "ref": f"{golden.name}@{golden.version}",
        "dataset_version": version_ref(dataset, version) if dataset and version else None,
        "items": int(items),
        "labels": count_live(session, version_id=golden.dataset_version_id),
        "manifest_hash": golden.manifest_hash,
    }


def _check_golden_unchanged(session: Session, golden: GoldenSet) -> None:
    """``NAME@VERSION`` names fixed content: refuse a golden set whose labels changed since it was registered."""
    now = manifest_hash(session, version_id=golden.dataset_version_id)
    if golden.manifest_hash is not None and now != golden.manifest_hash:
        raise InvalidInput(
            f"golden set {golden.name}@{golden.version} changed since it was registered (label manifest "
            f"{golden.manifest_hash[:12]} is now {now[:12]}); register it again to make the next version "
            f"(`labelgate golden register {golden.name} DATASET@VERSION`) and name that one",
            field="golden",
        )


def _check_golden_fits(
    session: Session, version: DatasetVersion, golden: GoldenSet, *, ref: str, gates: list[str], classes: set[str]
) -> list[str]:
    """Refuse a golden set that shares no image or no class with ``version`` (its gates would measure
    nothing); returns the golden classes the version's schema lacks (their labels are left out)."""
    golden_sha = select(Item.sha256).where(Item.dataset_version_id == golden.dataset_version_id)
    common = session.exec(
        select(func.count())
        .select_from(Item)
        .where(Item.dataset_version_id == version.id, col(Item.sha256).in_(golden_sha))
    ).one()
    name = f"golden set {golden.name}@{golden.version}"
    if not common:
        raise InvalidInput(
            f"{name} shares no image with {ref}, so its gates ({', '.join(gates)}) would measure nothing; "
            "name the golden set of this dataset (`golden: NAME@VERSION` in the policy, or --golden)",
            field="golden",
        )
    live = live_labels(golden.dataset_version_id).subquery()
    golden_classes = {str(c) for c in session.exec(select(func.distinct(live.c.category)))}
    if golden_classes and not golden_classes & classes:
        raise InvalidInput(
            f"{name} labels {', '.join(sorted(golden_classes))}, none of which is a class of {ref} "
            f"({', '.join(sorted(classes)) or 'no classes'}); name the golden set of this dataset",
            field="golden",
        )
    return sorted(golden_classes - classes)


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
    extras = None if scored else [_coco_extras(a) for a in rows]
    return BoxSet(
        image=np.array([image_of[a.item_id] for a in rows], dtype=np.int64),
        category=np.array([index[a.category] for a in rows], dtype=np.int64),
        xywh=np.array([[a.x, a.y, a.w, a.h] for a in rows], dtype=np.float64),
        score=np.array([a.confidence for a in rows], dtype=np.float64) if scored else None,
        area=None if extras is None else np.array([e[0] for e in extras], dtype=np.float64),
        iscrowd=None if extras is None else np.array([e[1] for e in extras], dtype=np.bool_),
    )


def _coco_extras(a: Annotation) -> tuple[float, bool]:
    """A label's COCO ``area`` and ``iscrowd`` as its source gave them (``lineage.formats.coco`` keeps them
    under the ``coco`` attribute; older imports kept a top-level ``iscrowd``), else ``w·h`` and not crowd."""
    attrs = a.attributes if isinstance(a.attributes, dict) else {}
    found = attrs.get("coco")
    coco: dict[str, Any] = found if isinstance(found, dict) else {}
    area = coco.get("area")
    if not isinstance(area, int | float) or isinstance(area, bool) or area < 0:
        area = float(a.w or 0) * float(a.h or 0)
    return float(area), bool(coco.get("iscrowd") == 1 or attrs.get("iscrowd") == 1)


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
    """A stored evaluation, its report, and the golden set it measured against (None: the policy needed
    none); ``golden_info`` is :func:`golden_summary` of it, as recorded in the evidence."""

    record: GateEvaluation
    report: GateReport
    golden: GoldenSet | None = None
    golden_info: dict[str, Any] | None = None


def evaluate_version(
    session: Session,
    *,
    actor: Actor,
    version: DatasetVersion,
    policy_record: GatePolicy,
    golden: str | None = None,
    acknowledged: tuple[str, ...] = (),
) -> EvaluationOutcome:
    """Run ``policy_record`` on ``version``, store the GateEvaluation and an audit event.

    ``golden`` (None): ``NAME@VERSION`` of the golden set to measure against, overriding the policy's
    ``golden``; see :func:`resolve_golden` for when none is needed and what is refused.
    """
    dataset = session.get(Dataset, version.dataset_id)
    if dataset is None or dataset.project_id != policy_record.project_id:
        raise NotFound("the policy and the version belong to different projects", field="policy")
    policy: Policy = parse_policy(policy_record.yaml_text)
    chosen = resolve_golden(
        session, project_id=dataset.project_id, policy_record=policy_record, policy=policy, override=golden
    )
    if chosen is not None:
        _check_golden_unchanged(session, chosen)
    inputs = build_inputs(session, version, golden=chosen, acknowledged=acknowledged)
    info: dict[str, Any] | None = None
    if chosen is not None:
        info = golden_summary(session, chosen)
        ref = version_ref(dataset, version)
        # Checked even when no gate needs it: its metrics and plots are evidence, and would measure nothing.
        gates = policy.golden_gates() or ["the golden-set metrics"]
        outside = _check_golden_fits(session, version, chosen, ref=ref, gates=gates, classes=set(inputs.class_names))
        if outside:
            info["classes_outside_schema"] = outside
    try:
        report = evaluate(policy, inputs)
    except GateError as exc:
        raise InvalidInput(str(exc), field="policy") from None
    as_dict = report.to_dict()
    record = GateEvaluation(
        dataset_version_id=version.id or 0,
        policy_id=policy_record.id or 0,
        policy_hash=report.policy_hash,
        golden_set_id=chosen.id if chosen is not None else None,
        passed=report.passed,
        gates=as_dict["gates"],
        metrics=as_dict["metrics"],
        evidence={
            "per_class": as_dict["per_class"],
            "golden_set": info,
            **detection_plots(policy, inputs, threshold=report.metrics.get("threshold")),
        },
        data_hashes=as_dict["data_hashes"],
        created_by=actor.user_id,
    )
    session.add(record)
    session.flush()
    release = session.exec(select(Release).where(Release.dataset_version_id == version.id)).first()
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
            "golden_set": (
                None
                if info is None
                else {k: info[k] for k in ("id", "ref", "dataset_version", "items", "labels", "manifest_hash")}
            ),
            "purpose": evaluation_purpose(record, release),
            "passed": report.passed,
            "blocking": [g.name for g in report.gates if not g.passed],
            "data_hashes": as_dict["data_hashes"],
        },
        rows=[record],
    )
    return EvaluationOutcome(record=record, report=report, golden=chosen, golden_info=info)


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
    """The version's newest evaluation (for a released version this may be a re-check: the evidence its
    release rests on is :func:`evidence_evaluation`)."""
    return session.exec(
        select(GateEvaluation)
        .where(GateEvaluation.dataset_version_id == version.id)
        .order_by(col(GateEvaluation.id).desc())
    ).first()


def _release_of(session: Session, version_id: int | None) -> Release | None:
    return session.exec(select(Release).where(Release.dataset_version_id == version_id)).first()


def evaluation_purpose(evaluation: GateEvaluation, release: Release | None) -> Purpose:
    """``release_evidence`` for the evaluation ``release`` rests on, ``recheck`` for one made after the
    release, ``evaluation`` otherwise (no release, or made before it)."""
    if release is None:
        return "evaluation"
    if evaluation.id == release.evaluation_id:
        return "release_evidence"
    if evaluation.created_at >= release.released_at:
        return "recheck"
    return "evaluation"


def evidence_evaluation(session: Session, version: DatasetVersion) -> GateEvaluation | None:
    """The evaluation that stands as the version's evidence: the one its release rests on once released
    (or deprecated), else the newest."""
    if VersionState(version.state) in (VersionState.released, VersionState.deprecated):
        release = _release_of(session, version.id)
        if release is not None:
            return session.get(GateEvaluation, release.evaluation_id)
    return latest_evaluation(session, version)


def stale_hashes(session: Session, version: DatasetVersion, evaluation: GateEvaluation) -> list[str]:
    """Names of the data hashes that changed since ``evaluation`` (empty: the evidence still holds)."""
    golden = session.get(GoldenSet, evaluation.golden_set_id) if evaluation.golden_set_id is not None else None
    legacy = (evaluation.evidence or {}).get("golden_set")
    if golden is None and isinstance(legacy, str) and "golden.manifest" in evaluation.data_hashes:
        # Recorded before golden sets were versioned (and bound): its name was unique, now its version 1.
        dataset = session.get(Dataset, version.dataset_id)
        golden = session.exec(
            select(GoldenSet).where(
                GoldenSet.project_id == (dataset.project_id if dataset else -1),
                GoldenSet.name == legacy,
                GoldenSet.version == 1,
            )
        ).first()
    now = current_data_hashes(session, version, golden)
    return sorted(k for k, v in now.items() if evaluation.data_hashes.get(k) != v)


def list_policies(session: Session, *, project_id: int) -> list[GatePolicy]:
    stmt = select(GatePolicy).where(GatePolicy.project_id == project_id)
    return list(session.exec(stmt.order_by(col(GatePolicy.name), col(GatePolicy.version))))


def list_golden_sets(session: Session, *, project_id: int) -> list[GoldenSet]:
    return list(session.exec(select(GoldenSet).where(GoldenSet.project_id == project_id).order_by(col(GoldenSet.id))))


@dataclass(frozen=True, slots=True)
class EvaluationView:
    """A stored evaluation with what a reader needs beside it: its policy, golden set, version, dataset,
    its purpose for the version, and the release (if any) of the version."""

    record: GateEvaluation
    policy: GatePolicy
    golden: GoldenSet | None
    version: DatasetVersion
    dataset: Dataset
    purpose: Purpose
    release: Release | None


def _views(session: Session, stmt: Any) -> list[EvaluationView]:
    rows = list(session.exec(stmt))
    releases: dict[int, Release | None] = {}
    out = []
    for record, policy, version, dataset in rows:
        if version.id not in releases:
            releases[version.id] = _release_of(session, version.id)
        release = releases[version.id]
        golden = session.get(GoldenSet, record.golden_set_id) if record.golden_set_id is not None else None
        purpose = evaluation_purpose(record, release)
        out.append(EvaluationView(record, policy, golden, version, dataset, purpose, release))
    return out


def _view_stmt() -> Any:
    return (
        select(GateEvaluation, GatePolicy, DatasetVersion, Dataset)
        .join(GatePolicy, col(GatePolicy.id) == GateEvaluation.policy_id)
        .join(DatasetVersion, col(DatasetVersion.id) == GateEvaluation.dataset_version_id)
        .join(Dataset, col(Dataset.id) == DatasetVersion.dataset_id)
    )


def version_evaluations(session: Session, *, version_id: int) -> list[EvaluationView]:
    """The version's evaluations, newest first, each with its purpose (release evidence, re-check, other)."""
    stmt = _view_stmt().where(GateEvaluation.dataset_version_id == version_id)
    return _views(session, stmt.order_by(col(GateEvaluation.id).desc()))


@dataclass(frozen=True, slots=True)
class VersionEvidence:
    """What stands as a version's gate evidence. ``basis``: ``release`` (released or deprecated: the evaluation
    its release rests on), ``latest`` (its newest evaluation) or ``none``; ``evaluations`` newest first."""

    basis: Literal["release", "latest", "none"]
    evidence: EvaluationView | None
    evaluations: list[EvaluationView]
    release: Release | None

    @property
    def rechecks(self) -> list[int]:
        """Ids of the evaluations made after the release, newest first."""
        return [v.record.id or 0 for v in self.evaluations if v.purpose == "recheck"]


def version_evidence(session: Session, version: DatasetVersion) -> VersionEvidence:
    """The version's evidence (as :func:`evidence_evaluation` chooses it) with all its evaluations."""
    views = version_evaluations(session, version_id=version.id or 0)
    release = _release_of(session, version.id)
    if release is not None and VersionState(version.state) in (VersionState.released, VersionState.deprecated):
        evidence = next((v for v in views if v.purpose == "release_evidence"), None)
        return VersionEvidence("release", evidence, views, release)
    return VersionEvidence("latest" if views else "none", views[0] if views else None, views, release)


def get_evaluation(session: Session, *, project_id: int, evaluation_id: int) -> EvaluationView:
    """Evaluation ``evaluation_id`` of the project (NotFound when it is not one of the project's)."""
    stmt = _view_stmt().where(GateEvaluation.id == evaluation_id, Dataset.project_id == project_id)
    found = _views(session, stmt)
    if not found:
        raise NotFound(f"no evaluation {evaluation_id} in this project", field="evaluation_id")
    return found[0]


def project_evaluations(session: Session, *, project_id: int, limit: int = 20) -> list[EvaluationView]:
    """The project's newest evaluations."""
    stmt = _view_stmt().where(Dataset.project_id == project_id)
    return _views(session, stmt.order_by(col(GateEvaluation.id).desc()).limit(limit))
