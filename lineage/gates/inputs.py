"""The gate inputs of a dataset version: its records turned into ``quality_gates.GateInputs``.

- images are matched across versions by content (item SHA-256), so a golden set in its own (golden)
  dataset judges any version holding the same images;
- **golden**: the live labels of the golden set's version; **predictions**: the version's live ``model``
  labels with their confidences; **annotators**: its live ``human`` labels per annotator, each annotator's
  images being those they labelled;
- **drift**: class counts of the parent version's live labels and the parent's schema classes;
- **expectations**: the version's live labels with image sizes and provenance;
- **review coverage**: model labels reviewed by a human, and review-queue items resolved.

``data_hashes`` (:func:`current_data_hashes`) pin what an evaluation saw (version content and manifest,
golden manifest), so a release can refuse a version whose data or labels changed after its evaluation.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import numpy as np
from sqlalchemy import func
from sqlmodel import Session, col, select

from lineage.labels.labelset import live_labels, manifest_hash
from lineage.models import (
    Annotation,
    DatasetVersion,
    GoldenSet,
    Item,
    LabelSchemaVersion,
    ModelVersion,
    Review,
    ReviewQueueItem,
    User,
)
from quality_gates import BoxSet, GateInputs, LabelSet, ReviewCoverage

__all__ = ["build_inputs", "current_data_hashes", "review_coverage_of"]


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
    """``{version.dvc, version.manifest[, golden.manifest]}`` as they are now."""
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
