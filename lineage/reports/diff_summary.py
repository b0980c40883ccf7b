"""The label diff's answer: its value types and the counts and page built from a pairing (pure: no database
except the author names, looked up once each through :class:`~lineage.reports.diff_authors.AuthorIndex`).

See ``lineage.reports.diff`` for what is compared and ``lineage.reports.diff_match`` for the pairing.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from lineage.formats.work import made_of
from lineage.reports.diff_authors import AuthorIndex, author_key
from lineage.reports.diff_match import LabelColumns, Pairing

__all__ = [
    "AuthorCount",
    "ClassCount",
    "DiffTotals",
    "ItemCount",
    "LabelChange",
    "LabelDiff",
    "ReadSide",
    "summarise",
]


@dataclass(frozen=True, slots=True)
class ClassCount:
    """One class: labels in each version and what became of them (a class change counts for the new class)."""

    name: str
    before: int
    after: int
    unchanged: int
    changed: int
    added: int
    removed: int


@dataclass(frozen=True, slots=True)
class ItemCount:
    uri: str
    added: int
    removed: int
    changed: int


@dataclass(frozen=True, slots=True)
class AuthorCount:
    """One author: labels they added, changed (the new side is theirs), had removed, and deleted."""

    author: str
    kind: str
    user: str | None
    model: str | None
    source: str | None
    tool_author: str | None
    added: int = 0
    changed: int = 0
    removed: int = 0
    deleted: int = 0


@dataclass(frozen=True, slots=True)
class LabelChange:
    """One label that is not the same in both versions. ``fields``: ``class``, ``geometry``, ``attributes``
    (changed only); ``iou``: the overlap of the two shapes (OKS for keypoints), None when one side is
    missing; ``matched_by``: ``lineage`` or ``geometry``."""

    change: str
    uri: str
    from_id: int | None
    to_id: int | None
    from_class: str | None
    to_class: str | None
    geometry_type: str
    fields: list[str] = field(default_factory=list)
    attributes: list[str] = field(default_factory=list)
    iou: float | None = None
    matched_by: str | None = None
    author: str | None = None
    from_author: str | None = None
    removed_by: str | None = None


@dataclass(frozen=True, slots=True)
class DiffTotals:
    """Counts over the whole diff; ``moved``: pairs whose shape moved but still overlaps at or above the
    threshold (not a change)."""

    before: int
    after: int
    unchanged: int
    changed: int
    added: int
    removed: int
    moved: int
    by_lineage: int
    by_geometry: int
    items_changed: int


@dataclass(frozen=True, slots=True)
class LabelDiff:
    """The diff of ``from_version`` to ``to_version``; ``baseline`` says how ``from_version`` was chosen
    (``given``, ``release``: the dataset's last release, ``parent``). ``changes`` is one page (``offset``,
    ``limit``) of ``changes_total``, ordered by item URI, then removed, changed, added; ``items`` lists at
    most ``limit`` items, the most changed first."""

    dataset: str
    from_version: str
    to_version: str
    baseline: str
    iou: float
    totals: DiffTotals
    classes: list[ClassCount]
    class_changes: list[dict[str, Any]]
    authors: list[AuthorCount]
    items: list[ItemCount]
    changes: list[LabelChange]
    changes_total: int
    offset: int
    limit: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class ReadSide:
    """One version's live labels as read (columns), before codes are assigned. ``xywh``: the four columns
    ``x, y, w, h``; ``author``: id -> provenance columns (``diff_authors.author_key``), read only for the
    labels a diff reports."""

    ids: Sequence[int]
    item_ids: Sequence[int]
    category: Sequence[str]
    gtype: Sequence[str]
    xywh: Sequence[Sequence[Any]]
    geometry: Sequence[Any]
    attributes: Sequence[Any]
    author: dict[int, tuple[Any, ...]]
    origin: Sequence[int | None]
    supersedes: Sequence[int | None]
    origin_supersedes: Sequence[int | None]


def _totals(a: LabelColumns, b: LabelColumns, p: Pairing, changed: np.ndarray) -> DiffTotals:
    items = np.concatenate([a.item[p.removed], b.item[p.added], b.item[p.new[changed]]])
    return DiffTotals(
        before=len(a),
        after=len(b),
        unchanged=int((~changed).sum()),
        changed=int(changed.sum()),
        added=len(p.added),
        removed=len(p.removed),
        moved=int((p.moved & ~p.geometry_changed).sum()),
        by_lineage=int(p.by_lineage.sum()),
        by_geometry=int((~p.by_lineage).sum()),
        items_changed=len(np.unique(items)),
    )


def _count(codes: np.ndarray, n: int) -> list[int]:
    return [int(v) for v in np.bincount(codes, minlength=n)[:n]]


def _class_counts(
    a: LabelColumns, b: LabelColumns, p: Pairing, changed: np.ndarray, names: list[str]
) -> list[ClassCount]:
    n = len(names)
    cols = zip(
        names,
        _count(a.category, n),
        _count(b.category, n),
        _count(b.category[p.new[~changed]], n),
        _count(b.category[p.new[changed]], n),
        _count(b.category[p.added], n),
        _count(a.category[p.removed], n),
        strict=True,
    )
    return [ClassCount(*row) for row in cols if any(row[1:])]


def _class_changes(a: LabelColumns, b: LabelColumns, p: Pairing, names: list[str]) -> list[dict[str, Any]]:
    moved = Counter(
        zip(a.category[p.old[p.class_changed]].tolist(), b.category[p.new[p.class_changed]].tolist(), strict=True)
    )
    return [{"from": names[f], "to": names[t], "count": n} for (f, t), n in sorted(moved.items())]


def _item_counts(
    a: LabelColumns, b: LabelColumns, p: Pairing, changed: np.ndarray, uris: list[str], limit: int
) -> list[ItemCount]:
    n = len(uris)
    added, removed = np.bincount(b.item[p.added], minlength=n), np.bincount(a.item[p.removed], minlength=n)
    ch = np.bincount(b.item[p.new[changed]], minlength=n)
    total = added + removed + ch
    hit = np.flatnonzero(total)
    order = hit[np.lexsort((hit, -total[hit]))][: max(limit, 0)]
    return [ItemCount(uris[k], int(added[k]), int(removed[k]), int(ch[k])) for k in order.tolist()]


def _json(value: Any) -> Any:
    try:
        return json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return None


def _key(side: ReadSide, row: int) -> tuple[Any, ...]:
    attrs = side.attributes[row]
    made = made_of(_json(attrs)) if attrs is not None and "made" in str(attrs) else None
    return author_key(side.author[side.ids[row]], made)


def _author_counts(
    authors: AuthorIndex,
    a_side: ReadSide,
    b_side: ReadSide,
    p: Pairing,
    changed: np.ndarray,
    a_root: np.ndarray,
    removed_by: dict[int, tuple[Any, ...]],
) -> list[AuthorCount]:
    tally: dict[tuple[Any, ...], Counter[str]] = {}
    for what, side, rows in (
        ("added", b_side, p.added),
        ("changed", b_side, p.new[changed]),
        ("removed", a_side, p.removed),
    ):
        for row in rows.tolist():
            tally.setdefault(_key(side, row), Counter())[what] += 1
    for row in p.removed.tolist():
        by = removed_by.get(int(a_root[row]))
        if by is not None:
            tally.setdefault(author_key(by, None), Counter())["deleted"] += 1
    out = [AuthorCount(**authors.describe(key), **{k: int(v) for k, v in n.items()}) for key, n in tally.items()]  # type: ignore[arg-type]
    return sorted(out, key=lambda c: (-(c.added + c.changed + c.removed + c.deleted), c.author))


def _page(
    a: LabelColumns,
    b: LabelColumns,
    a_side: ReadSide,
    b_side: ReadSide,
    p: Pairing,
    changed: np.ndarray,
    uris: list[str],
    names: list[str],
    authors: AuthorIndex,
    removed_by: dict[int, tuple[Any, ...]],
    offset: int,
    limit: int,
) -> list[LabelChange]:
    pairs = np.flatnonzero(changed)
    item = np.concatenate([a.item[p.removed], b.item[p.new[pairs]], b.item[p.added]])
    rank = np.concatenate([np.zeros(len(p.removed)), np.ones(len(pairs)), np.full(len(p.added), 2)])
    ident = np.concatenate([a.ids[p.removed], b.ids[p.new[pairs]], b.ids[p.added]])
    which = np.concatenate([p.removed, pairs, p.added]).astype(np.int64)
    order = np.lexsort((ident, rank, item))[max(offset, 0) : max(offset, 0) + max(limit, 0)]
    keys = p.attribute_keys
    out: list[LabelChange] = []
    for k in order.tolist():
        r, w = int(rank[k]), int(which[k])
        uri = uris[int(item[k])]
        if r == 0:
            by = removed_by.get(int(a.root[w]))
            out.append(
                LabelChange("removed", uri, int(a.ids[w]), None, names[a.category[w]], None, a_side.gtype[w],
                            from_author=authors.name(_key(a_side, w)),
                            removed_by=authors.name(author_key(by, None)) if by is not None else None)
            )  # fmt: skip
        elif r == 2:
            out.append(
                LabelChange("added", uri, None, int(b.ids[w]), None, names[b.category[w]], b_side.gtype[w],
                            author=authors.name(_key(b_side, w)))
            )  # fmt: skip
        else:
            o, n = int(p.old[w]), int(p.new[w])
            fields = [f for f, hit in (("class", p.class_changed[w]), ("geometry", p.geometry_changed[w]),
                                       ("attributes", w in keys)) if hit]  # fmt: skip
            out.append(
                LabelChange("changed", uri, int(a.ids[o]), int(b.ids[n]), names[a.category[o]], names[b.category[n]],
                            b_side.gtype[n], fields, list(keys.get(w, ())), round(float(p.overlap[w]), 6),
                            "lineage" if p.by_lineage[w] else "geometry", authors.name(_key(b_side, n)),
                            authors.name(_key(a_side, o)))
            )  # fmt: skip
    return out


def summarise(
    a: LabelColumns,
    b: LabelColumns,
    sides: tuple[ReadSide, ReadSide],
    p: Pairing,
    *,
    head: dict[str, Any],
    uris: list[str],
    names: list[str],
    authors: AuthorIndex,
    removed_by: dict[int, tuple[Any, ...]],
    offset: int,
    limit: int,
) -> LabelDiff:
    """The :class:`LabelDiff` of a pairing of ``a`` (older) and ``b``; ``head`` gives its dataset, versions,
    baseline and threshold; ``removed_by`` maps a root to the author of the tombstone that removed it."""
    changed = p.changed
    a_side, b_side = sides
    return LabelDiff(
        **head,
        totals=_totals(a, b, p, changed),
        classes=_class_counts(a, b, p, changed, names),
        class_changes=_class_changes(a, b, p, names),
        authors=_author_counts(authors, a_side, b_side, p, changed, a.root, removed_by),
        items=_item_counts(a, b, p, changed, uris, limit),
        changes=_page(a, b, a_side, b_side, p, changed, uris, names, authors, removed_by, offset, limit),
        changes_total=int(changed.sum()) + len(p.added) + len(p.removed),
        offset=offset,
        limit=limit,
    )
