"""The label-level diff between two versions of a dataset: labels added, removed and changed, per class, per
item and per author.

Any two versions compare (a parent and its child, two siblings, a release and a later candidate). Items are
the same item when their URIs are equal (items are rows of each version). Labels are paired by
``lineage.reports.diff_match`` (read its docstring for the rules): first by **lineage**, then by class and
geometry on the same item. The lineage of a live label is followed back to its first row: a copy made by
inheritance points at its original through ``origin_id`` (``lineage.labels.labelset``), a correction at the
label it corrects through ``supersedes_id``; the **root** is the row with neither. So a label corrected in
v3 and inherited into v4 is still the v2 label it started as.

**Who.** An added or changed label is counted for the author of its new side, a removed label for the author
of the label removed; ``deleted`` counts the tombstones (a reviewer's reject, a tool's deletion) in the newer
version that took a compared label away. An author is a human annotator (username), a model
(``name@version``), an import (``format:source``; a tool's prediction names its model version) or a
generator; a label made in Label Studio or CVAT also names the tool's own author (``made.by``).

Costs: two Core selects of the live labels (JSON left undecoded where the driver allows), one query per
step of correction chains, numpy for the pairing and counts; only the requested page of changes is built.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from sqlalchemy import Text, exists, or_, select, type_coerce
from sqlmodel import Session, SQLModel, col

from lineage.errors import InvalidInput
from lineage.labels.labelset import DELETED
from lineage.models import DatasetVersion, LabelSchemaVersion, VersionState
from lineage.models.gates import Release
from lineage.reports.diff_authors import AuthorIndex
from lineage.reports.diff_match import GEOMETRY_TYPES, LabelColumns, match_labels
from lineage.reports.diff_summary import (
    AuthorCount,
    ClassCount,
    DiffTotals,
    ItemCount,
    LabelChange,
    LabelDiff,
    ReadSide,
    summarise,
)
from lineage.schemas import version_classes

__all__ = [
    "AuthorCount",
    "ClassCount",
    "DiffTotals",
    "ItemCount",
    "LabelChange",
    "LabelDiff",
    "baseline_version",
    "label_diff",
]

_MAX_CHAIN = 10_000
_CHUNK = 5_000


# --- reading the record ------------------------------------------------------------------------------------


def _table(name: str) -> Any:
    return SQLModel.metadata.tables[name]


def _read_live(session: Session, version_id: int) -> ReadSide:
    a, o, s = _table("annotations"), _table("annotations").alias("o"), _table("annotations").alias("s")
    stmt = (
        select(
            a.c.id,
            a.c.item_id,
            a.c.category,
            a.c.geometry_type,
            a.c.x,
            a.c.y,
            a.c.w,
            a.c.h,
            type_coerce(a.c.geometry, Text),
            type_coerce(a.c.attributes, Text),
            a.c.origin_id,
            a.c.supersedes_id,
            o.c.supersedes_id,
        )
        .select_from(a.outerjoin(o, o.c.id == a.c.origin_id))
        .where(a.c.dataset_version_id == version_id, a.c.geometry_type != DELETED)
        .where(~exists().where(s.c.supersedes_id == a.c.id))
        .order_by(a.c.id)
    )
    rows = session.execute(stmt).all()
    cols: list[Any] = list(zip(*rows, strict=True)) if rows else [()] * 13
    return ReadSide(
        ids=cols[0],
        item_ids=cols[1],
        category=cols[2],
        gtype=cols[3],
        xywh=cols[4:8],
        geometry=cols[8],
        attributes=cols[9],
        author={},
        origin=cols[10],
        supersedes=cols[11],
        origin_supersedes=cols[12],
    )


def _fill_authors(session: Session, sides: Sequence[ReadSide], wanted: Sequence[int]) -> None:
    """Read the provenance columns of the labels ``wanted`` (ids) into each side's ``author``."""
    a = _table("annotations")
    found: dict[int, tuple[Any, ...]] = {}
    ids = sorted(set(wanted))
    for i in range(0, len(ids), _CHUNK):
        stmt = select(a.c.id, *author_columns(a)).where(a.c.id.in_(ids[i : i + _CHUNK]))
        found.update((int(r[0]), tuple(r[1:])) for r in session.execute(stmt))
    for side in sides:
        side.author.update(found)


def _follow(session: Session, start: dict[int, int]) -> dict[int, int]:
    """Roots of chains: ``start`` maps a key to the row its chain continues from; returns key -> root."""
    a, o = _table("annotations"), _table("annotations").alias("o")
    done: dict[int, int] = {}
    cursor = dict(start)
    for _ in range(_MAX_CHAIN):
        if not cursor:
            return done
        wanted = sorted(set(cursor.values()))
        step: dict[int, tuple[int, int | None]] = {}
        for i in range(0, len(wanted), _CHUNK):
            stmt = (
                select(a.c.id, a.c.origin_id, a.c.supersedes_id, o.c.supersedes_id)
                .select_from(a.outerjoin(o, o.c.id == a.c.origin_id))
                .where(a.c.id.in_(wanted[i : i + _CHUNK]))
            )
            for rid, origin, sup, origin_sup in session.execute(stmt):
                step[rid] = (origin, origin_sup) if origin is not None else (rid, sup)
        following: dict[int, int] = {}
        for key, at in cursor.items():
            root, nxt = step.get(at, (at, None))
            if nxt is None:
                done[key] = root
            else:
                following[key] = nxt
        cursor = following
    raise InvalidInput("a label's history is longer than 10,000 steps; the record is damaged", field="annotations")


def _roots(session: Session, side: ReadSide) -> np.ndarray:
    """The first row of each live label's lineage (see the module doc)."""
    root = np.array(side.ids, dtype=np.int64)
    chains: dict[int, int] = {}
    for k, (origin, sup, origin_sup) in enumerate(
        zip(side.origin, side.supersedes, side.origin_supersedes, strict=True)
    ):
        if origin is not None:
            root[k] = origin
            if origin_sup is not None:
                chains[k] = origin_sup
        elif sup is not None:
            chains[k] = sup
    for k, r in _follow(session, chains).items():
        root[k] = r
    return root


def _tombstone_authors(session: Session, version_id: int) -> dict[int, tuple[Any, ...]]:
    """Root of each label the version's tombstones took away -> the tombstone's author key."""
    a = _table("annotations")
    rows = session.execute(
        select(a.c.supersedes_id, *author_columns(a))
        .where(a.c.dataset_version_id == version_id, a.c.geometry_type == DELETED)
        .where(a.c.supersedes_id.is_not(None))
    ).all()
    if not rows:
        return {}
    roots = _follow(session, {k: int(r[0]) for k, r in enumerate(rows)})
    return {roots[k]: tuple(r[1:]) for k, r in enumerate(rows) if k in roots}


def author_columns(a: Any) -> list[Any]:
    return [a.c.kind, a.c.annotator_id, a.c.model_version_id, a.c.source_format, a.c.source_sha256,
            a.c.generator_config_hash]  # fmt: skip


def baseline_version(session: Session, *, version: DatasetVersion) -> tuple[DatasetVersion, str] | None:
    """What an approval compares against: the dataset's last released version (other than ``version``),
    else ``version``'s parent; ``(version, "release" | "parent")``, None when there is neither."""
    released = (
        select(DatasetVersion)
        .where(col(DatasetVersion.dataset_id) == version.dataset_id, col(DatasetVersion.id) != version.id)
        .where(
            or_(
                col(DatasetVersion.state) == VersionState.released.value,
                exists().where(col(Release.dataset_version_id) == col(DatasetVersion.id)),
            )
        )
        .order_by(col(DatasetVersion.id).desc())
        .limit(1)
    )
    found = session.execute(released).scalars().first()
    if found is not None:
        return found, "release"
    parent = session.get(DatasetVersion, version.parent_id) if version.parent_id is not None else None
    return (parent, "parent") if parent is not None else None


# --- assembling the diff -----------------------------------------------------------------------------------


def _codes(values: Iterable[str]) -> dict[str, int]:
    return {v: k for k, v in enumerate(sorted(set(values)))}


def _columns(side: ReadSide, root: np.ndarray, item_code: dict[int, int], class_code: dict[str, int]) -> LabelColumns:
    gcode = {g: k for k, g in enumerate(GEOMETRY_TYPES)}
    raw = np.array(side.xywh, dtype=object).reshape(4, -1).T
    missing = raw == None  # noqa: E711  (element-wise: SQL NULL)
    raw[missing] = np.nan
    xywh = raw.astype(np.float64)
    return LabelColumns(
        ids=np.array(side.ids, dtype=np.int64),
        root=root,
        item=np.array([item_code[i] for i in side.item_ids], dtype=np.int64),
        category=np.array([class_code[c] for c in side.category], dtype=np.int64),
        gtype=np.array([gcode.get(g, len(GEOMETRY_TYPES)) for g in side.gtype], dtype=np.int64),
        xywh=xywh.reshape(-1, 4),
        geometry=side.geometry,
        attributes=side.attributes,
    )


def _sigmas(session: Session, versions: Sequence[DatasetVersion], class_code: dict[str, int]) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for v in versions:
        sv = session.get(LabelSchemaVersion, v.schema_version_id) if v.schema_version_id is not None else None
        for c in version_classes(sv) if sv is not None else []:
            if c.keypoints is not None and c.name in class_code:
                out.setdefault(class_code[c.name], tuple(c.keypoints.sigmas))
    return out


def _items(
    session: Session, version_ids: Sequence[int]
) -> tuple[dict[int, int], list[str], dict[int, tuple[int, int]]]:
    """Item id -> code (codes in URI order), the URIs by code, and image sizes by code where known."""
    items = _table("items")
    rows = session.execute(
        select(items.c.id, items.c.uri, items.c.height, items.c.width).where(
            items.c.dataset_version_id.in_(version_ids)
        )
    ).all()
    uri_code = _codes(r[1] for r in rows)
    sizes = {uri_code[uri]: (int(h), int(w)) for _, uri, h, w in rows if h and w}
    return {r[0]: uri_code[r[1]] for r in rows}, sorted(uri_code, key=uri_code.__getitem__), sizes


def label_diff(
    session: Session,
    *,
    dataset: str,
    old: DatasetVersion,
    new: DatasetVersion,
    iou: float = 0.5,
    baseline: str = "given",
    offset: int = 0,
    limit: int = 100,
) -> LabelDiff:
    """The diff of ``old``'s live labels to ``new``'s (any two versions; see the module doc).

    Args:
        iou (0.5): overlap threshold in (0, 1] for geometry matching and geometry changes.
        offset, limit (0, 100): the page of ``changes`` returned (and the number of ``items`` listed).
    """
    if not 0 < iou <= 1:
        raise InvalidInput(f"the IoU threshold must be in (0, 1], got {iou:g}", field="iou")
    item_code, uris, sizes = _items(session, [old.id or 0, new.id or 0])
    a_side, b_side = _read_live(session, old.id or 0), _read_live(session, new.id or 0)
    class_code = _codes([*a_side.category, *b_side.category])
    names = sorted(class_code, key=class_code.__getitem__)
    a = _columns(a_side, _roots(session, a_side), item_code, class_code)
    b = _columns(b_side, _roots(session, b_side), item_code, class_code)
    pairing = match_labels(a, b, iou=iou, sizes=sizes, sigmas=_sigmas(session, [new, old], class_code))
    changed = pairing.changed
    touched = [a.ids[pairing.removed], a.ids[pairing.old[changed]], b.ids[pairing.added], b.ids[pairing.new[changed]]]
    _fill_authors(session, (a_side, b_side), np.concatenate(touched).tolist())
    return summarise(
        a,
        b,
        (a_side, b_side),
        pairing,
        head={"dataset": dataset, "from_version": old.version, "to_version": new.version, "baseline": baseline,
              "iou": iou},
        uris=uris,
        names=names,
        authors=AuthorIndex(session),
        removed_by=_tombstone_authors(session, new.id or 0),
        offset=offset,
        limit=limit,
    )  # fmt: skip
