"""Golden-set error and agreement of each annotator of a dataset version, through the gate machinery.

The version's live ``human`` labels become per-annotator label sets the way the gates build them
(``lineage.gates.inputs``: images matched across versions by content, the schema's task deciding boxes,
masks, keypoint objects or class sets, via ``lineage.gates.shapes``), read with Core selects.

- **golden-set error**: ``quality_gates``' golden-set error of each annotator against the golden set's
  live labels, on the golden images they labelled (:meth:`quality_gates.inputs.Measurements.golden`, or
  ``ClassMeasurements.class_golden`` for classification), with its Wilson interval (95 %). Only counts
  leave this module: never a golden item, its URI or a per-item result.
- **agreement**: Krippendorff's alpha (nominal) of the annotator against the others on shared items. For
  each other annotator B, the pair's reliability data is built as the gates build it (object units by IoU
  0.5, :func:`quality_gates.agreement.object_units`; items for classification,
  :func:`quality_gates.classification_agreement.reliability_data`); the pairs' units are pooled into one
  two-coder table (the annotator, "another annotator") and alpha is computed on it
  (:func:`quality_gates.agreement.krippendorff_alpha`). Units only one of the pair saw carry one value
  and are not pairable, so only shared items count.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from sqlalchemy import case, null, select, type_coerce
from sqlmodel import Session, SQLModel

from lineage.gates.shapes import box_set, class_labels, keypoint_set, mask_set, pose_sigmas
from lineage.labels.labelset import live_labels
from lineage.models import Annotation, DatasetVersion, GoldenSet, Item, LabelSchemaVersion
from lineage.models._base import JSONType
from lineage.reports.annotators import Quality
from lineage.schema_classes import Task, schema_task
from lineage.schemas import version_classes, version_options
from quality_gates import GateInputs, LabelSet
from quality_gates.agreement import krippendorff_alpha, object_units
from quality_gates.class_measure import ClassMeasurements
from quality_gates.classification_agreement import reliability_data
from quality_gates.inputs import Measurements

__all__ = ["annotator_quality"]

_GATE = "annotator KPIs"
_COLUMNS = ("id", "item_id", "category", "geometry_type", "x", "y", "w", "h")


@dataclass(frozen=True)
class _Task:
    task: Task
    index: dict[str, int]
    multi_label: bool
    points: int
    sigmas: tuple[float, ...] | None


def _task(session: Session, version: DatasetVersion, categories: set[str]) -> _Task:
    sv = session.get(LabelSchemaVersion, version.schema_version_id) if version.schema_version_id else None
    if sv is None:
        return _Task("detect", {n: i for i, n in enumerate(sorted(categories))}, False, 0, None)
    classes = version_classes(sv)
    task = schema_task(classes)
    points = max((len(c.keypoints.names) for c in classes if c.keypoints is not None), default=0)
    sigmas = pose_sigmas(classes) if task == "pose" else None
    index = {c.name: i for i, c in enumerate(classes)}
    return _Task(task, index, version_options(sv).multi_label, points, sigmas)


def _live(session: Session, version_id: int, *, human_only: bool) -> list[Any]:
    live = live_labels(version_id).subquery()
    # An annotator's COCO area and crowd flag (in ``attributes``) play no part in matching their labels:
    # only the golden set's do. Not decoding a million attribute documents is most of this read's time.
    attributes = null().label("attributes") if human_only else live.c.attributes
    # A box is its x, y, w, h; only other shapes need their geometry document.
    geometry = type_coerce(case((live.c.geometry_type != "box", live.c.geometry)), JSONType()).label("geometry")
    stmt = select(*[live.c[c] for c in _COLUMNS], geometry, attributes, live.c.annotator_id)
    if human_only:
        stmt = stmt.where(live.c.kind == "human", live.c.annotator_id.is_not(None))
    return list(session.connection().execute(stmt.order_by(live.c.id)))


def _items(session: Session, version_id: int) -> dict[int, Any]:
    items = SQLModel.metadata.tables["items"]
    stmt = select(items.c.id, items.c.sha256, items.c.width, items.c.height).where(
        items.c.dataset_version_id == version_id
    )
    return {int(r.id): r for r in session.connection().execute(stmt)}


def _labels(t: _Task, rows: Sequence[Any], image_of: Mapping[int, int], items: Mapping[int, Any]) -> Any:
    # Core rows have the attributes the shape builders read; they stand in for ORM objects.
    orm = cast(Sequence[Annotation], rows)
    if t.task == "segment":
        return mask_set(orm, image_of, t.index, cast(Mapping[int, Item], items), scored=False)
    if t.task == "pose":
        return keypoint_set(orm, image_of, t.index, t.points, scored=False)
    if t.task == "classify":
        return class_labels(orm, dict(image_of), t.index, multi_label=t.multi_label, scored=False)
    return box_set(orm, image_of, t.index, scored=False)


def _label_set(t: _Task, rows: Sequence[Any], image_of: Mapping[int, int], items: Mapping[int, Any]) -> Any:
    found = _labels(t, rows, image_of, items)
    if t.task == "classify":
        return found
    return LabelSet(boxes=found, images=np.array(sorted({image_of[r.item_id] for r in rows}), dtype=np.int64))


def _golden(
    t: _Task, sets: Mapping[str, Any], golden: Any, golden_images: Any, names: Sequence[str]
) -> dict[str, tuple[float, float, float, int] | None]:
    """Name → (error, Wilson low, Wilson high, trials), None where nothing of theirs was judged."""
    inputs = GateInputs(
        class_names=list(names),
        task=t.task,
        golden=golden,
        golden_images=golden_images if t.task != "classify" else None,
        annotators=dict(sets),
        oks_sigmas=t.sigmas,
    )
    out: dict[str, tuple[float, float, float, int] | None] = {}
    if t.task == "classify":
        crep = ClassMeasurements(inputs).class_golden(model_threshold=0.0, gate=_GATE)
        for name, ce in crep.per_source.items():
            out[name] = None if ce.error is None or ce.n == 0 else (ce.error, *ce.wilson, ce.n)
        return out
    rep = Measurements(inputs).golden(iou=0.5, model_threshold=0.0, gate=_GATE)
    for name, ge in rep.per_source.items():
        out[name] = (ge.error, *ge.wilson, ge.trials) if ge.trials and np.isfinite(ge.error) else None
    return out


def _alpha(t: _Task, sets: Mapping[str, Any]) -> dict[str, tuple[float | None, int]]:
    """Name → (alpha against the others on shared items, pairable units)."""
    k = len(t.index)
    pairs: dict[tuple[str, str], Any] = {}
    names = sorted(sets)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if t.task == "classify":
                pairs[(a, b)] = reliability_data({a: sets[a], b: sets[b]})[1]
            else:
                pairs[(a, b)] = object_units({a: sets[a], b: sets[b]}, num_classes=k, sigmas=t.sigmas).data
    out: dict[str, tuple[float | None, int]] = {}
    for a in names:
        rows = [data if a == pa else data[::-1] for (pa, pb), data in pairs.items() if a in (pa, pb)]
        if not rows:
            out[a] = (None, 0)
            continue
        table = np.concatenate(rows, axis=1)
        table = table[:, (~np.isnan(table)).all(axis=0)]
        value = krippendorff_alpha(table, level="nominal") if table.shape[1] else float("nan")
        out[a] = (float(value) if np.isfinite(value) else None, int(table.shape[1]))
    return out


def annotator_quality(session: Session, *, version: DatasetVersion, golden: GoldenSet | None) -> dict[str, Quality]:
    """Annotator name → golden-set error (against ``golden``; None: not measured) and agreement, from the
    version's live ``human`` labels (module docstring)."""
    users = SQLModel.metadata.tables["users"]
    rows = _live(session, version.id or 0, human_only=True)
    items = _items(session, version.id or 0)
    golden_rows = _live(session, golden.dataset_version_id, human_only=False) if golden is not None else []
    golden_items = _items(session, golden.dataset_version_id) if golden is not None else {}
    shas = sorted({i.sha256 for i in items.values()} | {i.sha256 for i in golden_items.values()})
    image_id = {sha: n for n, sha in enumerate(shas)}
    image_of = {iid: image_id[i.sha256] for iid, i in items.items()}
    golden_image_of = {iid: image_id[i.sha256] for iid, i in golden_items.items()}
    t = _task(session, version, {r.category for r in rows} | {r.category for r in golden_rows})
    ids = {r.annotator_id for r in rows}
    who = {int(i): str(n) for i, n in session.execute(select(users.c.id, users.c.username).where(users.c.id.in_(ids)))}
    per: dict[str, list[Any]] = defaultdict(list)
    for r in rows:
        per[who.get(r.annotator_id, str(r.annotator_id))].append(r)
    known = {**items, **golden_items}
    sets = {name: _label_set(t, mine, image_of, known) for name, mine in sorted(per.items())}
    names = sorted(t.index, key=t.index.__getitem__)
    errors: dict[str, tuple[float, float, float, int] | None] = {}
    if golden is not None and sets:
        g_labels = _labels(t, golden_rows, golden_image_of, known)
        g_images = np.array(sorted(set(golden_image_of.values())), dtype=np.int64)
        errors = _golden(t, sets, g_labels, g_images, names)
    alphas = _alpha(t, sets)
    out: dict[str, Quality] = {}
    for name in sets:
        reasons: dict[str, str] = {}
        err = errors.get(name)
        if golden is None:
            reasons["golden_error"] = "not measured: no golden set for this report (pass one)"
        elif err is None:
            reasons["golden_error"] = "none of their labelled images is in the golden set"
        alpha, units = alphas.get(name, (None, 0))
        if alpha is None:
            reasons["alpha"] = (
                "undefined: no variation in the shared units"
                if units
                else "no other annotator labelled the same images"
            )
        out[name] = Quality(
            golden_error=err[0] if err else None,
            golden_low=err[1] if err else None,
            golden_high=err[2] if err else None,
            golden_trials=err[3] if err else 0,
            alpha=alpha,
            alpha_units=units,
            reasons=reasons,
        )
    return out
