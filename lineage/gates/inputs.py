"""The gate inputs of a dataset version: its records turned into ``quality_gates.GateInputs``.

- images are matched across versions by content (item SHA-256), so a golden set in its own (golden)
  dataset judges any version holding the same images;
- the **task** is the schema's (:func:`lineage.schema_classes.schema_task`): labels become boxes, masks,
  keypoint objects or class sets (:mod:`lineage.gates.shapes`); a pose schema's OKS sigmas come with them;
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

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from lineage.errors import Conflict
from lineage.gates.shapes import box_set, class_labels, keypoint_set, mask_set, pose_sigmas
from lineage.labels.labelset import MANIFEST_COLUMNS, label_mark, live_labels, manifest_hash
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
from lineage.schema_classes import Task, schema_task
from lineage.schemas import version_classes, version_options
from quality_gates import GateInputs, LabelSet, ReviewCoverage

__all__ = ["build_inputs", "current_data_hashes", "image_numbering", "matching_inputs", "review_coverage_of"]


def image_numbering(*item_sets: Iterable[Item]) -> list[str]:
    """The content hashes of the items of a version (and of its golden set), sorted: an image's id in the gate
    inputs is its hash's position here, so whoever maps a gate's image ids back to items numbers them alike."""
    return sorted({i.sha256 for items in item_sets for i in items})


def _class_names(session: Session, version: DatasetVersion, categories: set[str]) -> list[str]:
    """The schema's classes in order; without a schema, the categories the labels use, sorted."""
    if version.schema_version_id is not None:
        sv = session.get(LabelSchemaVersion, version.schema_version_id)
        if sv is not None:
            return [str(c["name"]) for c in sv.classes]
    return sorted(categories)


@dataclass(frozen=True)
class _Shape:
    """How one version's rows become the pure layer's sets: its task and what that task needs."""

    task: Task
    index: Mapping[str, int]
    items: Mapping[int, Item]
    multi_label: bool = False
    num_points: int = 0
    #: classify: image id → the name the gates report an item by (its URI in this version, else the golden
    #: set's), so a blocking gate's examples are files a person can open.
    names: Mapping[int, str] = field(default_factory=dict)

    @classmethod
    def of(cls, session: Session, version: DatasetVersion, names: list[str], items: Mapping[int, Item]) -> _Shape:
        sv = session.get(LabelSchemaVersion, version.schema_version_id) if version.schema_version_id else None
        index = {n: i for i, n in enumerate(names)}
        if sv is None:
            return cls("detect", index, items)
        classes = version_classes(sv)
        task = schema_task(classes)
        points = max((len(c.keypoints.names) for c in classes if c.keypoints is not None), default=0)
        return cls(task, index, items, version_options(sv).multi_label, points)

    def sigmas(self, session: Session, version: DatasetVersion) -> tuple[float, ...] | None:
        if self.task != "pose":
            return None
        sv = session.get(LabelSchemaVersion, version.schema_version_id)
        return pose_sigmas(version_classes(sv)) if sv is not None else None

    def labels(self, rows: list[Annotation], image_of: Mapping[int, int], *, scored: bool) -> Any:
        if self.task == "segment":
            return mask_set(rows, image_of, self.index, self.items, scored=scored)
        if self.task == "pose":
            return keypoint_set(rows, image_of, self.index, self.num_points, scored=scored)
        if self.task == "classify":
            named = {iid: self.names.get(img, str(img)) for iid, img in image_of.items()}
            return class_labels(rows, named, self.index, multi_label=self.multi_label, scored=scored)
        return box_set(rows, image_of, self.index, scored=scored)

    def annotator(self, rows: list[Annotation], image_of: Mapping[int, int]) -> Any:
        found = self.labels(rows, image_of, scored=False)
        if self.task == "classify":
            return found
        return LabelSet(boxes=found, images=np.array(sorted({image_of[a.item_id] for a in rows}), dtype=np.int64))


# What the gates read of a label: every column but its place in history and its seal. Rows come back as
# plain tuples with attribute access (not ORM objects): a million of them load in seconds, not minutes.
_LABEL_COLUMNS = ("id", "item_id", *MANIFEST_COLUMNS)


def _labels(session: Session, version_id: int) -> list[Any]:
    """The version's live labels ordered by id, as read-only rows with an ``Annotation``'s attribute names."""
    return list(_label_stream(session, version_id))


def _items(session: Session, version_id: int) -> dict[int, Any]:
    """The version's items by id, as read-only rows (``id``, ``uri``, ``sha256``, ``width``, ``height``)."""
    stmt = sa_select(col(Item.id), col(Item.uri), col(Item.sha256), col(Item.width), col(Item.height)).where(
        col(Item.dataset_version_id) == version_id
    )
    return {row.id: row for row in session.connection().execute(stmt)}


def current_data_hashes(session: Session, version: DatasetVersion, golden: GoldenSet | None) -> dict[str, str]:
    """``{version.dvc, version.manifest[, golden.manifest]}`` as they are now."""
    hashes = {
        "version.dvc": version.dvc_hash or "",
        "version.manifest": manifest_hash(session, version_id=version.id or 0),
    }
    if golden is not None:
        hashes["golden.manifest"] = manifest_hash(session, version_id=golden.dataset_version_id)
    return hashes


#: How often the inputs are read again when labels were committed meanwhile, before the check gives up.
READ_ATTEMPTS = 3


def build_inputs(
    session: Session, version: DatasetVersion, *, golden: GoldenSet | None, acknowledged: tuple[str, ...] = ()
) -> GateInputs:
    """The gate inputs of ``version``, read as one state of the record.

    On PostgreSQL (read committed) each statement sees the commits made before it, so an import committed
    while the labels are read could be in the pinned manifest (``data_hashes``) without having been measured.
    Annotations are append-only: any change to a version's labels adds a row to it, so the versions' row
    count and largest id before and after the reads tell whether anything was committed in between; if so,
    the inputs are read again (``READ_ATTEMPTS``), then the check is refused with 409."""
    versions = [version.id or 0] + ([golden.dataset_version_id] if golden is not None else [])
    for _ in range(READ_ATTEMPTS):
        mark = [label_mark(session, v) for v in versions]
        inputs = _read_inputs(session, version, golden=golden, acknowledged=acknowledged)
        if [label_mark(session, v) for v in versions] == mark:
            return inputs
    raise Conflict(
        "the labels of this version (or its golden set) kept changing while the gate read them; "
        "check it again once the imports and reviews in progress are done",
        field="version",
    )


@dataclass(frozen=True)
class _Numbered:
    """The items of a version and of its golden set's version, and each one's image id (its content hash's
    place in :func:`image_numbering`)."""

    items: dict[int, Any]
    golden_items: dict[int, Any]
    image_id: dict[str, int]

    @classmethod
    def of(cls, session: Session, version_id: int, golden_version_id: int | None) -> _Numbered:
        items = _items(session, version_id)
        golden_items = _items(session, golden_version_id) if golden_version_id is not None else {}
        image_id = {sha: n for n, sha in enumerate(image_numbering(items.values(), golden_items.values()))}
        return cls(items, golden_items, image_id)

    def image_of(self, items: Mapping[int, Any]) -> dict[int, int]:
        return {iid: self.image_id[i.sha256] for iid, i in items.items()}

    def known(self) -> dict[int, Any]:
        return {**self.items, **self.golden_items}


def matching_inputs(session: Session, version: DatasetVersion, *, golden: GoldenSet) -> GateInputs:
    """The part of the gate inputs that matches predictions to the golden set (class names, task, golden
    labels, the version's model labels, OKS sigmas), numbered as :func:`build_inputs` numbers them: what the
    items behind a confusion-matrix cell are recomputed from. The version's other labels (a million
    imported ones, say) are not read: only its ``model`` rows, selected in SQL."""
    numbered = _Numbered.of(session, version.id or 0, golden.dataset_version_id)
    image_of, golden_image_of = numbered.image_of(numbered.items), numbered.image_of(numbered.golden_items)
    names = _class_names(session, version, set(_category_counts(session, version.id or 0)))
    shape = _Shape.of(session, version, names, numbered.known())
    model_rows: list[Any] = list(_label_stream(session, version.id or 0, kind="model"))
    return GateInputs(
        class_names=names,
        task=shape.task,
        golden=shape.labels(_labels(session, golden.dataset_version_id), golden_image_of, scored=False),
        golden_images=np.array(sorted(set(golden_image_of.values())), dtype=np.int64),
        predictions=shape.labels(model_rows, image_of, scored=True) if model_rows else None,
        oks_sigmas=shape.sigmas(session, version),
    )


def _read_inputs(
    session: Session, version: DatasetVersion, *, golden: GoldenSet | None, acknowledged: tuple[str, ...] = ()
) -> GateInputs:
    """The gate inputs of ``version`` (see the module docstring for what each one is).

    The version's labels are read once, as a stream: each becomes a row of the expectations' frame, and
    only the model and human labels (the predictions and the annotators' sets) are kept as rows, so a
    million imported labels cost their frame columns, not a million objects."""
    numbered = _Numbered.of(session, version.id or 0, golden.dataset_version_id if golden is not None else None)
    items, golden_items, image_id = numbered.items, numbered.golden_items, numbered.image_id
    golden_labels = _labels(session, golden.dataset_version_id) if golden is not None else []
    image_of, golden_image_of = numbered.image_of(items), numbered.image_of(golden_items)
    users = {u.id: u.username for u in session.exec(select(User))}
    models = {m.id: f"{m.name}@{m.version}" for m in session.exec(select(ModelVersion))}
    read = _read_labels(session, version.id or 0, items, image_of, users, models)
    names = _class_names(session, version, read.categories)
    shape = _Shape.of(session, version, names, numbered.known())
    if shape.task == "classify":
        uris = {image_id[i.sha256]: i.uri for i in golden_items.values()}
        uris.update({image_id[i.sha256]: i.uri for i in items.values()})
        shape = replace(shape, names=uris)

    model_rows = read.model_rows
    annotators = {who: shape.annotator(rows, image_of) for who, rows in sorted(read.human_rows.items())}
    parent_distribution: dict[str, float] | None = None
    parent_names: list[str] | None = None
    if version.parent_id is not None:
        parent = session.get(DatasetVersion, version.parent_id)
        counts = _category_counts(session, version.parent_id)
        parent_distribution = {k: float(v) for k, v in counts.items()}
        if parent is not None:
            parent_names = _class_names(session, parent, set(counts))
    return GateInputs(
        class_names=names,
        task=shape.task,
        golden=shape.labels(golden_labels, golden_image_of, scored=False) if golden is not None else None,
        golden_images=np.array(sorted(set(golden_image_of.values())), dtype=np.int64) if golden is not None else None,
        predictions=shape.labels(model_rows, image_of, scored=True) if model_rows else None,
        oks_sigmas=shape.sigmas(session, version),
        model_name=", ".join(sorted({models.get(a.model_version_id, "?") for a in model_rows})) or "model",
        annotators=annotators or None,
        parent_distribution=parent_distribution,
        parent_class_names=parent_names,
        acknowledged_changes=acknowledged,
        annotation_frame=read.frame,
        review=review_coverage_of(session, version.id or 0),
        data_hashes=current_data_hashes(session, version, golden),
    )


@dataclass
class _Read:
    """One pass over a version's live labels: the expectations' frame, the rows the label sets need, and
    the categories seen."""

    frame: Any
    model_rows: list[Any]
    human_rows: dict[str, list[Any]]
    categories: set[str]


# The expectations' frame columns, each with the label's (or its image's) value it holds.
_FRAME_COLUMNS = (
    "image_id",
    "width",
    "height",
    "category",
    "x",
    "y",
    "w",
    "h",
    "score",
    "provenance_kind",
    "annotator",
    "model_version",
    "weights_sha256",
    "threshold",
    "run_id",
    "source_sha256",
    "source_format",
    "generator_config_hash",
)


def _read_labels(
    session: Session,
    version_id: int,
    items: Mapping[int, Any],
    image_of: Mapping[int, int],
    users: Mapping[Any, str],
    models: Mapping[Any, str],
) -> _Read:
    import pandas as pd

    columns: dict[str, list[Any]] = {name: [] for name in _FRAME_COLUMNS}
    adders = [columns[name].append for name in _FRAME_COLUMNS]
    same: dict[Any, Any] = {}  # one object per distinct text: a million rows repeat a few values
    one = same.setdefault
    model_rows: list[Any] = []
    human_rows: dict[str, list[Any]] = defaultdict(list)
    for a in _label_stream(session, version_id):
        item = items.get(a.item_id)
        annotator = users.get(a.annotator_id) if a.annotator_id else None
        values = (
            image_of.get(a.item_id, -1),
            item.width if item is not None else None,
            item.height if item is not None else None,
            one(a.category, a.category),
            a.x,
            a.y,
            a.w,
            a.h,
            a.confidence,
            one(a.kind, a.kind),
            annotator,
            models.get(a.model_version_id) if a.model_version_id else None,
            one(a.weights_sha256, a.weights_sha256),
            a.threshold,
            a.autolabel_run_id,
            one(a.source_sha256, a.source_sha256),
            one(a.source_format, a.source_format),
            one(a.generator_config_hash, a.generator_config_hash),
        )
        for add, value in zip(adders, values, strict=True):
            add(value)
        if a.kind == "model":
            model_rows.append(a)
        elif a.kind == "human" and a.annotator_id is not None:
            human_rows[annotator or str(a.annotator_id)].append(a)
    frame = pd.DataFrame(columns, columns=list(_FRAME_COLUMNS))
    categories = set(columns["category"])
    return _Read(frame, model_rows, human_rows, categories)


def _label_stream(session: Session, version_id: int, *, kind: str | None = None) -> Any:
    """The version's live labels (of ``kind`` only, when given) ordered by id, one row at a time."""
    stmt = live_labels(version_id)
    if kind is not None:
        stmt = stmt.where(col(Annotation.kind) == kind)
    live = stmt.subquery()
    ordered = sa_select(*(live.c[name] for name in _LABEL_COLUMNS)).order_by(live.c.id)
    return session.connection().execute(ordered.execution_options(yield_per=10_000))


def _category_counts(session: Session, version_id: int) -> dict[str, int]:
    """How many live labels of each category the version holds (one grouped query)."""
    live = live_labels(version_id).subquery()
    stmt = sa_select(live.c.category, func.count()).group_by(live.c.category)
    return {str(c): int(n) for c, n in session.connection().execute(stmt)}


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
