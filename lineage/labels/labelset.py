"""The live label set of a dataset version, its manifest hash, and the seal on every annotation row.

Nothing is updated in place (database triggers refuse it): a correction is a new row whose
``supersedes_id`` names the old one; a reviewer's ``reject`` appends a tombstone (``geometry_type =
"deleted"``, no geometry) that supersedes the rejected label. The **live label set** of a version is

    its annotations that no other annotation supersedes, tombstones excluded.

When a child version inherits its parent's labels (``lineage.labels.inheritance``), each live label is
copied as a new row of the child with ``origin_id`` = the original's ``origin_id`` or, for an original,
its ``id``; so the versions that contain annotation X are those holding X or a row whose ``origin_id`` is X.

**Manifest hash** of a version (``manifest_hash``)::

    line(a)  = canonical_json([item.uri, item.sha256, a.category, a.geometry_type, a.x, a.y, a.w, a.h,
                               a.geometry, a.attributes, a.kind, a.annotator_id, a.model_version_id,
                               a.weights_sha256, a.confidence, a.threshold, a.autolabel_run_id,
                               a.source_sha256, a.source_format, a.generator_config_hash])
    manifest = SHA-256( b"labelgate.manifest.v1\\x00" || "\\n".join(sorted(line(a) for a in live set)) )

with ``canonical_json`` compact, key-sorted JSON (floats as Python's shortest repr). Row ids, timestamps,
``origin_id`` and ``supersedes_id`` are left out, so a child that inherits its parent's labels unchanged
has its parent's manifest hash. The empty set hashes to ``SHA-256(b"labelgate.manifest.v1\\x00")``.

**Seal.** Every annotation row is written with its writer (``created_by``), its content digest
(``row_digest``) and the seq of the audit event that records it (``audit_seq``), so a deep verify can
prove it unchanged (``seal_rows``, ``seal_row``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import exists, func, update
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import Session, SQLModel, col, select
from sqlmodel.sql.expression import SelectOfScalar

from lineage.audit.chain import next_seq
from lineage.audit.rowdigest import DIGEST_COLUMNS, aggregate, digest_values, normaliser, row_digest
from lineage.errors import NotFound
from lineage.hashing import canonical_json_nonfinite, digest_bytes
from lineage.models import Annotation, Dataset, DatasetVersion

__all__ = [
    "ANNOTATION_COLUMNS",
    "DELETED",
    "MANIFEST_COLUMNS",
    "MANIFEST_DOMAIN",
    "count_live",
    "get_annotation",
    "label_mark",
    "list_live",
    "live_labels",
    "manifest_hash",
    "manifests_for_display",
    "manifests_held",
    "mark_stale",
    "refresh_manifest",
    "seal_row",
    "seal_rows",
]

DELETED = "deleted"
MANIFEST_DOMAIN = b"labelgate.manifest.v1\x00"

ANNOTATION_COLUMNS = (
    "dataset_version_id",
    "item_id",
    "category",
    "geometry_type",
    "x",
    "y",
    "w",
    "h",
    "geometry",
    "attributes",
    "kind",
    "annotator_id",
    "model_version_id",
    "weights_sha256",
    "confidence",
    "threshold",
    "autolabel_run_id",
    "source_sha256",
    "source_format",
    "generator_config_hash",
    "supersedes_id",
    "origin_id",
    "created_at",
    "created_by",
    "row_digest",
    "audit_seq",
)
# Who wrote a row and how it is sealed: record-keeping, not label content (left out of the manifest).
_RECORD_COLUMNS = frozenset({"created_by", "row_digest", "audit_seq"})
# Everything but row identity, placement in history and time: see the manifest definition above.
MANIFEST_COLUMNS = tuple(
    c
    for c in ANNOTATION_COLUMNS
    if c not in {"dataset_version_id", "item_id", "supersedes_id", "origin_id", "created_at"} | _RECORD_COLUMNS
)


def _superseded_by() -> Any:
    newer = aliased(Annotation)
    return exists().where(col(newer.supersedes_id) == col(Annotation.id))


def live_labels(version_id: int) -> SelectOfScalar[Annotation]:
    """The statement selecting a version's live label set (see the module docstring)."""
    return (
        select(Annotation)
        .where(Annotation.dataset_version_id == version_id, Annotation.geometry_type != DELETED)
        .where(~_superseded_by())
    )


def list_live(session: Session, *, version_id: int, offset: int = 0, limit: int = 500) -> list[Annotation]:
    stmt = live_labels(version_id).order_by(col(Annotation.id)).offset(offset).limit(limit)
    return list(session.exec(stmt))


def count_live(session: Session, *, version_id: int) -> int:
    sub = live_labels(version_id).subquery()
    return int(session.exec(select(func.count()).select_from(sub)).one())


def get_annotation(session: Session, annotation_id: int) -> tuple[Annotation, DatasetVersion, Dataset]:
    ann = session.get(Annotation, annotation_id)
    version = session.get(DatasetVersion, ann.dataset_version_id) if ann is not None else None
    dataset = session.get(Dataset, version.dataset_id) if version is not None else None
    if ann is None or version is None or dataset is None:
        raise NotFound(f"no annotation {annotation_id}", field="annotation_id")
    return ann, version, dataset


def mark_stale(session: Session, *, version_id: int) -> None:
    """Labels changed: the pinned manifest hash no longer holds (recomputed on the next state change)."""
    session.execute(update(DatasetVersion).where(col(DatasetVersion.id) == version_id).values(manifest_hash=None))


_MEMO_KEY = "labelgate.manifest_memo"


@contextmanager
def manifests_held(session: Session) -> Iterator[None]:
    """Within the block, each version's manifest hash is computed once and then reused.

    Only for a caller whose versions' labels cannot change inside the block: a release, which holds its
    candidate locked (a candidate takes no label writes) and needs the manifest for the evidence check,
    the approvals, the pin and the bundle — four passes over a million labels otherwise. Nested blocks
    share the outer one's memo; it is dropped when the outer block ends."""
    if isinstance(session.info.get(_MEMO_KEY), dict):
        yield
        return
    session.info[_MEMO_KEY] = {}
    try:
        yield
    finally:
        session.info.pop(_MEMO_KEY, None)


_DISPLAY_KEY = "labelgate.manifest_display"
# (database, version id) -> (the version's label mark, its manifest), newest last; a few hundred versions.
_SEEN: OrderedDict[tuple[str, int], tuple[tuple[int, int], str]] = OrderedDict()
_SEEN_MAX = 256
_SEEN_LOCK = threading.Lock()


@contextmanager
def manifests_for_display(session: Session) -> Iterator[None]:
    """Within the block, a version's manifest hash may come from an earlier computation in this process
    when the version's annotation rows are as they were then (same count and largest id: annotations are
    append-only, so any change to a live set adds a row).

    For pages that show whether evidence still holds or approvals still count (the overview, the sign-off
    panel): a million labels take seconds to hash, a mark a few milliseconds. Never for what decides:
    approving, releasing, a gate's pins and the release check compute the manifest afresh, so a row edited
    in place behind the triggers' back (same count and ids) is still caught where it matters."""
    previous = session.info.get(_DISPLAY_KEY)
    session.info[_DISPLAY_KEY] = True
    try:
        yield
    finally:
        if previous is None:
            session.info.pop(_DISPLAY_KEY, None)


def label_mark(session: Session, version_id: int) -> tuple[int, int]:
    """The version's annotation rows' count and largest id (see :func:`manifests_for_display`)."""
    stmt = sa_select(func.count(), func.max(col(Annotation.id))).where(col(Annotation.dataset_version_id) == version_id)
    count, largest = session.connection().execute(stmt).one()
    return int(count), int(largest or 0)


def manifest_hash(session: Session, *, version_id: int) -> str:
    """The version's manifest hash, computed now from its live label set (definition in the module doc), or
    the one computed earlier inside a :func:`manifests_held` block (or a :func:`manifests_for_display`
    block, for an unchanged version). A computation made when no row was added meanwhile is remembered for
    those display blocks."""
    memo = session.info.get(_MEMO_KEY)
    if isinstance(memo, dict):
        if version_id not in memo:
            memo[version_id] = _remembered(session, version_id)
        return str(memo[version_id])
    return _remembered(session, version_id)


def _remembered(session: Session, version_id: int) -> str:
    key = (str(session.connection().engine.url), version_id)
    mark = label_mark(session, version_id)
    if session.info.get(_DISPLAY_KEY):
        with _SEEN_LOCK:
            seen = _SEEN.get(key)
        if seen is not None and seen[0] == mark:
            return seen[1]
    manifest = _compute_manifest(session, version_id)
    if label_mark(session, version_id) == mark:
        with _SEEN_LOCK:
            _SEEN[key] = (mark, manifest)
            _SEEN.move_to_end(key)
            while len(_SEEN) > _SEEN_MAX:
                _SEEN.popitem(last=False)
    return manifest


def _compute_manifest(session: Session, version_id: int) -> str:
    items = SQLModel.metadata.tables["items"]
    live = live_labels(version_id).subquery()
    stmt = sa_select(items.c.uri, items.c.sha256, *[live.c[name] for name in MANIFEST_COLUMNS]).join_from(
        live, items, items.c.id == live.c.item_id
    )
    # Through the connection: Core rows, without the ORM result machinery (a million rows).
    lines = sorted(canonical_json_nonfinite(list(row)) for row in session.connection().execute(stmt))
    return digest_bytes(MANIFEST_DOMAIN, b"\n".join(lines))


def refresh_manifest(session: Session, *, version: DatasetVersion) -> str:
    """Compute the manifest hash and store it on the version."""
    version.manifest_hash = manifest_hash(session, version_id=version.id or 0)
    session.add(version)
    session.flush()
    return version.manifest_hash


def seal_rows(session: Session, rows: Sequence[dict[str, Any]], *, created_by: int) -> dict[str, Any]:
    """Stamp annotation rows (dicts, about to be inserted) with their writer, their content digest and the
    seq of the audit event that will record them (reserved now: append that event next, with
    ``expect_seq``); returns what the event records of them: ``{"seq", "count", "digest"}``."""
    seq = next_seq(session)
    norm = normaliser("annotations")
    names = [name for name, _ in DIGEST_COLUMNS["annotations"]]
    digests = []
    for row in rows:
        row["created_by"] = created_by
        row["audit_seq"] = seq
        digest = digest_values("annotations", [row.get(n) for n in names], norm)
        row["row_digest"] = digest
        digests.append(digest)
    return {"seq": seq, "count": len(digests), "digest": aggregate(digests)}


def seal_row(session: Session, row: Annotation, *, created_by: int) -> dict[str, Any]:
    """``seal_rows`` for one ORM annotation (before it is added)."""
    seq = next_seq(session)
    row.created_by = created_by
    row.audit_seq = seq
    row.row_digest = row_digest("annotations", row)
    return {"seq": seq, "count": 1, "digest": aggregate([row.row_digest])}
