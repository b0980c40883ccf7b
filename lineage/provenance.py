"""Lineage queries: the whole history of one label, and the ancestry and make-up of one dataset version.

The history of annotation X runs backwards through ``supersedes_id`` (corrections) and, at a row copied
from a parent version, through ``origin_id`` into the parent; forwards through the rows that supersede
X. The dataset versions containing X are those holding X's origin row or a copy of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from lineage.chain_words import author_of, corrections_of, reason_of, username_of
from lineage.datasets.catalog import release_tag_name, version_ref
from lineage.labels.labelset import DELETED, get_annotation, live_labels, manifest_hash
from lineage.model_lineage import LoopGraph, label_loop, version_loop
from lineage.models import (
    Annotation,
    Dataset,
    DatasetVersion,
    LabelSchema,
    LabelSchemaVersion,
    ModelVersion,
    Review,
    User,
    VersionState,
)
from lineage.schemas import diff_versions_by_id

__all__ = [
    "AnnotationLineage",
    "AnnotationStep",
    "SchemaRef",
    "VersionHolding",
    "VersionLineage",
    "VersionNode",
    "annotation_lineage",
    "run_ids_of",
    "version_lineage",
]

_MAX_CHAIN = 10_000


@dataclass(frozen=True, slots=True)
class SchemaRef:
    id: int
    name: str
    version: int
    content_hash: str
    git_revision: str | None


@dataclass(frozen=True, slots=True)
class AnnotationStep:
    """One row of a label's history, with its provenance and the reviews it received."""

    id: int
    version: str
    category: str
    geometry_type: str
    bbox: list[float] | None
    kind: str
    provenance: dict[str, Any]
    supersedes_id: int | None
    origin_id: int | None
    created_at: datetime
    reviews: list[dict[str, Any]] = field(default_factory=list)
    #: Who the label is by, in words: the annotator's username, ``model NAME@VERSION``, ``import FORMAT``,
    #: ``synthetic``.
    author: str | None = None
    #: The model of a ``model`` label: ``{id, name, version, weights_sha256}`` (None for other kinds).
    model: dict[str, Any] | None = None
    #: The username of whoever wrote the row (an importer, a corrector, a run's owner).
    written_by: str | None = None
    #: Why a row that supersedes another was written (the correction's reason or the review's comment).
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class VersionHolding:
    version: str
    state: str
    annotation_id: int
    live: bool


@dataclass(frozen=True, slots=True)
class AnnotationLineage:
    annotation_id: int
    version: str
    live: bool
    schema: SchemaRef | None
    history: list[AnnotationStep]
    superseded_by: list[AnnotationStep]
    versions: list[VersionHolding]
    item_id: int | None = None
    #: Each replacement along the chain, oldest first: ``{replaced_id, by_id, by, what, reason, at}``.
    corrections: list[dict[str, Any]] = field(default_factory=list)
    #: Where a model step came from: its run, the versions holding the run's labels (and their releases), the
    #: model and its training data (``lineage.model_lineage``); None when no model wrote a step.
    loop: LoopGraph | None = None


@dataclass(frozen=True, slots=True)
class VersionNode:
    version: str
    state: str
    git_revision: str | None
    dvc_hash: str | None
    schema: SchemaRef | None
    schema_changed: bool
    schema_diff: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class VersionLineage:
    version: str
    state: str
    dvc: dict[str, Any]
    manifest_hash: str
    manifest_pinned: str | None
    labels: int
    by_kind: dict[str, dict[str, float]]
    by_model: list[dict[str, Any]]
    by_import: list[dict[str, Any]]
    by_annotator: list[dict[str, Any]]
    ancestry: list[VersionNode]
    #: The models trained on it and where their labels went, the runs that labelled it and their models'
    #: training data (``lineage.model_lineage.version_loop``).
    loop: LoopGraph | None = None


def _schema_ref(session: Session, schema_version_id: int | None) -> SchemaRef | None:
    if schema_version_id is None:
        return None
    sv = session.get(LabelSchemaVersion, schema_version_id)
    schema = session.get(LabelSchema, sv.schema_id) if sv is not None else None
    if sv is None or schema is None:
        return None
    return SchemaRef(sv.id or 0, schema.name, sv.version, sv.content_hash, sv.git_revision)


_PROV = {
    "human": ("annotator_id",),
    "model": ("model_version_id", "weights_sha256", "confidence", "threshold", "autolabel_run_id"),
    "import": ("source_sha256", "source_format"),
    "synthetic": ("generator_config_hash",),
}


def _step(session: Session, a: Annotation, refs: dict[int, str]) -> AnnotationStep:
    prov: dict[str, Any] = {k: getattr(a, k) for k in _PROV.get(str(a.kind), ())}
    if a.annotator_id is not None:
        prov["annotator"] = username_of(session, a.annotator_id)
        prov.setdefault("annotator_id", a.annotator_id)
    model = session.get(ModelVersion, a.model_version_id) if a.model_version_id is not None else None
    if a.model_version_id is not None:
        prov["model"] = f"{model.name}:{model.version}" if model else None
    if a.kind != "import" and a.source_sha256:
        prov["source_sha256"], prov["source_format"] = a.source_sha256, a.source_format
    reviews = [
        {
            "id": r.id,
            "decision": str(r.decision),
            "reviewer": getattr(session.get(User, r.reviewer_id), "username", None),
            "correction_id": r.correction_id,
            "comment": r.comment,
            "at": r.created_at.isoformat(),
        }
        for r in session.exec(select(Review).where(Review.annotation_id == a.id).order_by(col(Review.id)))
    ]
    bbox = None if a.x is None or a.y is None or a.w is None or a.h is None else [a.x, a.y, a.w, a.h]
    return AnnotationStep(
        id=a.id or 0,
        version=_ref(session, a.dataset_version_id, refs),
        category=a.category,
        geometry_type=a.geometry_type,
        bbox=bbox,
        kind=str(a.kind),
        provenance=prov,
        supersedes_id=a.supersedes_id,
        origin_id=a.origin_id,
        created_at=a.created_at,
        reviews=reviews,
        author=author_of(a, prov, model),
        model=None
        if model is None
        else {"id": model.id, "name": model.name, "version": model.version, "weights_sha256": a.weights_sha256},
        written_by=username_of(session, a.created_by),
        reason=reason_of(session, a),
    )


def _ref(session: Session, version_id: int, cache: dict[int, str]) -> str:
    if version_id not in cache:
        v = session.get(DatasetVersion, version_id)
        d = session.get(Dataset, v.dataset_id) if v is not None else None
        cache[version_id] = version_ref(d, v) if v is not None and d is not None else str(version_id)
    return cache[version_id]


def _superseding(session: Session, annotation_id: int) -> Annotation | None:
    return session.exec(select(Annotation).where(Annotation.supersedes_id == annotation_id)).first()


def annotation_lineage(
    session: Session, *, annotation_id: int, loop: bool = True, hide_golden: bool = False
) -> AnnotationLineage:
    """History (oldest first, ending at the annotation), later corrections, every version holding it and,
    with ``loop``, the loop of its model steps back to their training data (golden versions left out with
    ``hide_golden``)."""
    ann, version, dataset = get_annotation(session, annotation_id)
    refs: dict[int, str] = {}
    back: list[Annotation] = [ann]
    cur = ann
    while len(back) < _MAX_CHAIN:
        prev_id = cur.supersedes_id if cur.supersedes_id is not None else cur.origin_id
        prev = session.get(Annotation, prev_id) if prev_id is not None else None
        if prev is None:
            break
        back.append(prev)
        cur = prev
    forward: list[Annotation] = []
    nxt = _superseding(session, annotation_id)
    while nxt is not None and len(forward) < _MAX_CHAIN:
        forward.append(nxt)
        nxt = _superseding(session, nxt.id or 0)
    root = ann.origin_id if ann.origin_id is not None else ann.id
    holders = session.exec(
        select(Annotation.id, Annotation.dataset_version_id)
        .where(or_(col(Annotation.id) == root, col(Annotation.origin_id) == root))
        .order_by(col(Annotation.dataset_version_id), col(Annotation.id))
    ).all()
    versions = []
    for holder_id, vid in holders:
        v = session.get(DatasetVersion, vid)
        live = session.exec(live_labels(vid).where(Annotation.id == holder_id)).first() is not None
        versions.append(VersionHolding(_ref(session, vid, refs), str(v.state if v else "?"), holder_id or 0, live))
    is_live = ann.geometry_type != DELETED and not forward
    history = [_step(session, a, refs) for a in reversed(back)]
    later = [_step(session, a, refs) for a in forward]
    return AnnotationLineage(
        annotation_id=annotation_id,
        version=version_ref(dataset, version),
        live=is_live,
        schema=_schema_ref(session, version.schema_version_id),
        history=history,
        superseded_by=later,
        versions=versions,
        item_id=ann.item_id,
        corrections=corrections_of(history + later),
        loop=label_loop(session, run_ids=run_ids_of(history + later), hide_golden=hide_golden) if loop else None,
    )


def run_ids_of(steps: list[AnnotationStep]) -> list[int]:
    """The auto-label runs that wrote model steps of a chain."""
    return [int(s.provenance["autolabel_run_id"]) for s in steps if s.provenance.get("autolabel_run_id") is not None]


def _share(counts: dict[str, int], total: int) -> dict[str, dict[str, float]]:
    return {k: {"count": n, "share": (n / total if total else 0.0)} for k, n in sorted(counts.items())}


def version_lineage(session: Session, *, version_id: int, hide_golden: bool = False) -> VersionLineage:
    """Ancestry (this version first), provenance shares of the live labels, DVC identity, manifest hash, and
    the loop of the models around it (golden versions left out with ``hide_golden``)."""
    version = session.get(DatasetVersion, version_id)
    dataset = session.get(Dataset, version.dataset_id) if version is not None else None
    assert version is not None and dataset is not None
    live = live_labels(version_id).subquery()
    total = int(session.execute(sa_select(func.count()).select_from(live)).scalar_one())
    by_kind = {str(k): int(n) for k, n in session.execute(sa_select(live.c.kind, func.count()).group_by(live.c.kind))}
    by_model = [
        {
            "model": f"{name}:{ver}",
            "model_version_id": mid,
            "threshold": thr,
            "count": int(n),
            "share": int(n) / total if total else 0.0,
        }
        for mid, name, ver, thr, n in session.execute(
            sa_select(
                live.c.model_version_id,
                col(ModelVersion.name),
                col(ModelVersion.version),
                live.c.threshold,
                func.count(),
            )
            .select_from(live)
            .join(ModelVersion, col(ModelVersion.id) == live.c.model_version_id)
            .where(live.c.kind == "model")
            .group_by(live.c.model_version_id, col(ModelVersion.name), col(ModelVersion.version), live.c.threshold)
            .order_by(live.c.model_version_id, live.c.threshold)
        )
    ]
    by_import = [
        {"format": fmt, "source_sha256": sha, "count": int(n), "share": int(n) / total if total else 0.0}
        for fmt, sha, n in session.execute(
            sa_select(live.c.source_format, live.c.source_sha256, func.count())
            .where(live.c.kind == "import")
            .group_by(live.c.source_format, live.c.source_sha256)
            .order_by(live.c.source_format, live.c.source_sha256)
        )
    ]
    by_annotator = [
        {"annotator": name, "count": int(n), "share": int(n) / total if total else 0.0}
        for name, n in session.execute(
            sa_select(col(User.username), func.count())
            .select_from(live)
            .join(User, col(User.id) == live.c.annotator_id)
            .where(live.c.kind == "human")
            .group_by(col(User.username))
            .order_by(col(User.username))
        )
    ]
    ancestry: list[VersionNode] = []
    node: DatasetVersion | None = version
    seen: set[int] = set()
    while node is not None and node.id not in seen:
        seen.add(node.id or 0)
        parent = session.get(DatasetVersion, node.parent_id) if node.parent_id is not None else None
        diff = diff_versions_by_id(session, parent.schema_version_id, node.schema_version_id) if parent else None
        changed = parent is not None and parent.schema_version_id != node.schema_version_id
        ancestry.append(
            VersionNode(
                version=version_ref(dataset, node),
                state=str(node.state),
                git_revision=node.git_revision,
                dvc_hash=node.dvc_hash,
                schema=_schema_ref(session, node.schema_version_id),
                schema_changed=changed,
                schema_diff=diff.as_dict() if diff is not None else None,
            )
        )
        node = parent
    released = VersionState(version.state) in (VersionState.released, VersionState.deprecated)
    return VersionLineage(
        version=version_ref(dataset, version),
        state=str(version.state),
        dvc={
            "git_revision": version.git_revision,
            "dvc_hash": version.dvc_hash,
            "data_path": version.data_path,
            "items": version.item_count,
            "git_tag": release_tag_name(dataset, version) if released else None,
        },
        manifest_hash=manifest_hash(session, version_id=version_id),
        manifest_pinned=version.manifest_hash,
        labels=total,
        by_kind=_share(by_kind, total),
        by_model=by_model,
        by_import=by_import,
        by_annotator=by_annotator,
        ancestry=ancestry,
        loop=version_loop(session, version_id=version_id, hide_golden=hide_golden),
    )
