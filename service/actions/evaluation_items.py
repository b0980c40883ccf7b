"""The items behind one cell of an evaluation's confusion matrix: which images hold golden objects of class
``truth`` matched to predictions of class ``predicted`` (``background``: a miss or a stray prediction), with
the golden labels and the predictions to draw on each.

The stored evidence keeps counts only, so the matching is recomputed: the evaluation's version is rebuilt
into gate inputs against the evaluation's golden set (``lineage.gates.inputs.build_inputs``, as the
evaluation did), matched by the same measurements the report's plot data came from
(``Measurements.detection_match`` / ``predictions`` / ``baseline`` of ``"golden"``, the stored matrix's
``iou`` and the policy's model threshold), and split by image with
:func:`quality_gates.detection.confusion_cells_by_item`, whose per-image matrices sum to
:func:`~quality_gates.detection.confusion_matrix` exactly. When the data changed since the evaluation the
recomputed matrix differs from the stored one: ``stale`` says so.

Golden labels are hidden from annotators (as golden datasets are, ``lineage.datasets.hidden_from``): an
annotator asking gets 404, as for any evaluation hidden from them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlmodel import col, select

from lineage import datasets
from lineage import gates as records
from lineage.errors import InvalidInput, NotFound
from lineage.gates.inputs import image_numbering, matching_inputs
from lineage.labels.labelset import live_labels
from lineage.models import Annotation, Dataset, DatasetVersion, Item
from quality_gates import parse_policy
from quality_gates.detection import confusion_cells_by_item
from quality_gates.gates import model_threshold
from quality_gates.inputs import Measurements
from quality_gates.plots import BACKGROUND
from service.actions.context import Context, authorize

__all__ = ["confusion_cell_items"]

#: The most items one request returns.
MAX_LIMIT = 500


def _cell_index(labels: list[str], name: str, field: str) -> int:
    if name not in labels:
        valid = ", ".join(repr(n) for n in labels)
        raise InvalidInput(f"unknown class {name!r} for {field}; valid: {valid}", field=field)
    return labels.index(name)


def confusion_cell_items(
    ctx: Context, project_id: int, evaluation_id: int, *, truth: str, predicted: str, limit: int = 50
) -> dict[str, Any]:
    """The items behind cell ``(truth, predicted)`` of evaluation ``evaluation_id``'s confusion matrix, most
    counts first, each with its count in the cell, its golden labels and the predictions judged on it."""
    roles = authorize(ctx, "confusion_cell_items", project_id=project_id)
    s = ctx.session
    view = records.get_evaluation(s, project_id=project_id, evaluation_id=evaluation_id)
    hidden = f"no evaluation {evaluation_id} in this project"
    if datasets.hidden_from(view.dataset, roles=roles, is_admin=ctx.user.is_admin):
        raise NotFound(hidden, field="evaluation_id")
    golden = view.golden
    golden_version = s.get(DatasetVersion, golden.dataset_version_id) if golden is not None else None
    golden_dataset = s.get(Dataset, golden_version.dataset_id) if golden_version is not None else None
    if golden_dataset is not None and datasets.hidden_from(golden_dataset, roles=roles, is_admin=ctx.user.is_admin):
        raise NotFound(hidden, field="evaluation_id")  # its cells would show the golden labels
    stored = (view.record.evidence or {}).get("confusion_matrix")
    if golden is None or golden_version is None or not isinstance(stored, dict):
        raise InvalidInput(
            f"evaluation {evaluation_id} has no confusion matrix (it measured no predictions against a golden set)",
            field="evaluation_id",
        )
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be 1 to {MAX_LIMIT}, got {limit}", field="limit")
    labels = [str(n) for n in stored.get("labels") or []]
    g, p = _cell_index(labels, truth, "truth"), _cell_index(labels, predicted, "predicted")
    if g == p == len(labels) - 1:
        raise InvalidInput(f"{BACKGROUND} → {BACKGROUND} is no cell of the matrix", field="predicted")
    policy = parse_policy(view.policy.yaml_text)
    inputs = matching_inputs(s, view.version, golden=golden)
    if inputs.task == "classify":
        raise InvalidInput(
            "the items behind a cell are listed for detection, segmentation and pose evaluations; "
            f"evaluation {evaluation_id} is a classification",
            field="evaluation_id",
        )
    if [*inputs.class_names, BACKGROUND] != labels:
        raise InvalidInput(f"evaluation {evaluation_id}'s classes are no longer the version's", field="evaluation_id")
    m = Measurements(inputs)
    iou = float(stored.get("iou", 0.5))
    threshold = model_threshold(policy)
    cells = confusion_cells_by_item(
        m.baseline("golden", gate="plots"), m.predictions(gate="plots", baseline="golden"),
        num_classes=inputs.num_classes, iou=iou, threshold=threshold,
        match=m.detection_match(baseline="golden", iou=iou, gate="plots"), sigmas=inputs.sigmas,
    )  # fmt: skip
    recomputed = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for c in cells.values():
        recomputed += c
    stored_matrix = stored.get("matrix")
    stale = recomputed.tolist() != stored_matrix
    stored_count = _cell_of(stored_matrix, g, p)
    # Image ids of the gate inputs: build_inputs numbers them by image_numbering.
    own = list(s.exec(select(Item).where(Item.dataset_version_id == view.version.id)))
    gold = list(s.exec(select(Item).where(Item.dataset_version_id == golden_version.id)))
    shas = image_numbering(own, gold)
    in_cell = sorted(
        ((int(c[g, p]), img) for img, c in cells.items() if c[g, p] > 0), key=lambda t: (-t[0], shas[t[1]])
    )
    version_item = {i.sha256: i for i in own}
    golden_item = {i.sha256: i for i in gold}
    listed = in_cell[:limit]
    items = [(n, version_item.get(shas[img]), golden_item.get(shas[img])) for n, img in listed]
    gold_ids = [gi.id for _, _, gi in items if gi is not None]
    own_ids = [vi.id for _, vi, _ in items if vi is not None]
    truth_rows = _labels_of(ctx, golden_version.id or 0, gold_ids, model=False)
    pred_rows = _labels_of(ctx, view.version.id or 0, own_ids, model=True)
    out = []
    for n, vi, gi in items:
        shown = vi or gi
        assert shown is not None
        out.append({
            "item_id": shown.id, "uri": shown.uri, "sha256": shown.sha256, "width": shown.width,
            "height": shown.height, "in_version": vi is not None, "count": n,
            "ground_truth": truth_rows.get(gi.id or 0, []) if gi is not None else [],
            "predictions": [
                a for a in (pred_rows.get(vi.id or 0, []) if vi is not None else [])
                if a.confidence is None or a.confidence >= threshold
            ],
        })  # fmt: skip
    return {
        "evaluation_id": evaluation_id, "truth": truth, "predicted": predicted, "iou": iou, "threshold": threshold,
        "stored_count": stored_count, "count": sum(n for n, _ in in_cell),
        "total_items": len(in_cell), "stale": stale, "items": out,
    }  # fmt: skip


def _cell_of(matrix: Any, g: int, p: int) -> int | None:
    """Cell ``(g, p)`` of a stored matrix, None where it does not read as one (a record altered since)."""
    try:
        return int(matrix[g][p])
    except (TypeError, IndexError, KeyError, ValueError):
        return None


def _labels_of(
    ctx: Context, version_id: int, item_ids: list[int | None], *, model: bool
) -> dict[int, list[Annotation]]:
    """Live labels of ``item_ids`` in the version: its ``model`` labels (predictions), or all (golden)."""
    found: dict[int, list[Annotation]] = {}
    if not item_ids:
        return found
    stmt = live_labels(version_id).where(col(Annotation.item_id).in_(item_ids))
    if model:
        stmt = stmt.where(Annotation.kind == "model")
    for a in ctx.session.exec(stmt.order_by(col(Annotation.id))):
        found.setdefault(a.item_id, []).append(a)
    return found
