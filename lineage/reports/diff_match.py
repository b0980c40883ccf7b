"""Which label of one version is which label of another: the pure matching behind the label diff (no database).

Two versions' live labels are given as columns (:class:`LabelColumns`). A pair is found in two passes:

1. **Lineage.** Labels that descend from the same original (the same ``root``: see
   ``lineage.reports.diff``, which follows ``origin_id`` and ``supersedes_id`` back to the first row) are
   the same label, whatever became of them.
2. **Geometry.** The labels left on each side are matched one-to-one on the same item (``item``: the same
   URI) and class, by descending overlap at or above ``iou`` (``quality_gates.matching.match_by_iou``): box
   IoU for boxes, mask IoU for polygons and masks (rasterised at the item's size), OKS for keypoints
   (the old label is the reference) and equality for tags (same item, same class).

A matched pair is **changed** when its class changed, its geometry moved so far that the overlap of the two
shapes fell below ``iou`` (the overlap is reported), or its attributes changed (the keys are named; the
provenance record ``made`` is left out: a tool's timestamps are not label content). A shape that moved
but still overlaps at or above ``iou`` is not a change (it is counted as ``moved``). Old labels left
unpaired were **removed**, new ones **added**.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lineage.formats.work import MADE_KEY
from quality_gates._types import BoolArray, FloatArray, IntArray
from quality_gates.boxes import BoxSet, pair_iou
from quality_gates.errors import InputFormatError
from quality_gates.keypoints import KeypointSet, oks_pair_fn
from quality_gates.masks import MaskSet, mask_pair_iou
from quality_gates.matching import match_by_iou
from quality_gates.segmentation import rles_from_segmentations

__all__ = ["DEFAULT_SIGMA", "GEOMETRY_TYPES", "LabelColumns", "Pairing", "attribute_changes", "match_labels"]

#: Geometry type codes (``LabelColumns.gtype``); anything else is code ``len(GEOMETRY_TYPES)``, compared as a box.
GEOMETRY_TYPES: tuple[str, ...] = ("box", "polygon", "mask", "keypoints", "tag")
_BOX, _POLYGON, _MASK, _KEYPOINTS, _TAG = range(5)
#: OKS sigma of every point of a keypoints class whose schema gives none (the mean of COCO's person sigmas).
DEFAULT_SIGMA = 0.072

PairFn = Callable[[IntArray, IntArray], FloatArray]


@dataclass(frozen=True, eq=False)
class LabelColumns:
    """One version's live labels as columns (n rows).

    Attributes:
        ids: (n,) annotation ids.
        root: (n,) the id of the first row of each label's lineage.
        item: (n,) item code (the same URI has the same code in both versions).
        category: (n,) class code (the same name has the same code in both versions).
        gtype: (n,) geometry type code (index into :data:`GEOMETRY_TYPES`).
        xywh: (n, 4) box in px; NaN where the label has none (tags).
        geometry: n stored geometries (dicts, JSON text or None).
        attributes: n stored attribute maps (dicts, JSON text or None).
    """

    ids: IntArray
    root: IntArray
    item: IntArray
    category: IntArray
    gtype: IntArray
    xywh: FloatArray
    geometry: Sequence[Any]
    attributes: Sequence[Any]

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True, eq=False)
class Pairing:
    """The matching of ``old`` to ``new`` (P pairs).

    Attributes:
        old, new: (P,) rows of each side.
        by_lineage: (P,) true where the pair shares its lineage, false where geometry matched it.
        overlap: (P,) IoU (OKS for keypoints, 1 for tags) of the two shapes; 1 where the geometry is equal.
        class_changed, geometry_changed, moved: (P,) the class changed; the overlap fell below the threshold;
            the geometry differs at all.
        attribute_keys: pair index -> the attribute keys that differ (only for pairs whose attributes did).
        removed, added: old rows without a pair, new rows without a pair.
    """

    old: IntArray
    new: IntArray
    by_lineage: BoolArray
    overlap: FloatArray
    class_changed: BoolArray
    geometry_changed: BoolArray
    moved: BoolArray
    attribute_keys: dict[int, tuple[str, ...]]
    removed: IntArray
    added: IntArray

    @property
    def attributes_changed(self) -> BoolArray:
        out = np.zeros(len(self.old), dtype=bool)
        out[list(self.attribute_keys)] = True
        return out

    @property
    def changed(self) -> BoolArray:
        return self.class_changed | self.geometry_changed | self.attributes_changed


def _parsed(value: Any) -> Any:
    if isinstance(value, str | bytes):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def attribute_changes(before: Any, after: Any) -> tuple[str, ...]:
    """The attribute keys whose values differ (``made`` left out); stored JSON text or dicts."""
    if before is after or before == after:
        return ()
    a, b = _parsed(before), _parsed(after)
    a = a if isinstance(a, dict) else {}
    b = b if isinstance(b, dict) else {}
    keys = (set(a) | set(b)) - {MADE_KEY}
    return tuple(sorted(k for k in keys if a.get(k, _MISSING) != b.get(k, _MISSING)))


_MISSING = object()


def _same_geometry(old: LabelColumns, new: LabelColumns, oi: IntArray, ni: IntArray) -> BoolArray:
    a, b = old.xywh[oi], new.xywh[ni]
    same: BoolArray = ((a == b) | (np.isnan(a) & np.isnan(b))).all(axis=1) & (old.gtype[oi] == new.gtype[ni])
    shaped = np.flatnonzero(same & np.isin(old.gtype[oi], (_POLYGON, _MASK, _KEYPOINTS)))
    for k in shaped:
        ga, gb = old.geometry[oi[k]], new.geometry[ni[k]]
        if ga is not gb and ga != gb and _parsed(ga) != _parsed(gb):
            same[k] = False
    return same


def _canvas(old: LabelColumns, new: LabelColumns, sizes: Mapping[int, tuple[int, int]]) -> IntArray:
    """(height, width) per item code, shape (items, 2): its image's when known, else the extent of every
    label on it (polygons are rasterised on it)."""
    items = np.concatenate([old.item, new.item])
    box = np.nan_to_num(np.concatenate([old.xywh, new.xywh]).reshape(-1, 4))
    out = np.ones((int(items.max(initial=-1)) + 1, 2), dtype=np.int64)
    np.maximum.at(out[:, 0], items, np.ceil(box[:, 1] + box[:, 3]).astype(np.int64) + 1)
    np.maximum.at(out[:, 1], items, np.ceil(box[:, 0] + box[:, 2]).astype(np.int64) + 1)
    for item, (h, w) in sizes.items():
        if 0 <= item < len(out) and h > 0 and w > 0:
            out[item] = (h, w)
    return out


def _segmentation(side: LabelColumns, row: int) -> Any:
    g = _parsed(side.geometry[row])
    g = g if isinstance(g, dict) else {}
    return g.get("polygons") if side.gtype[row] == _POLYGON else g.get("rle")


def _mask_set(side: LabelColumns, rows: IntArray, canvas: IntArray) -> MaskSet:
    segs = [_segmentation(side, int(r)) for r in rows]
    sizes = [
        tuple(s["size"]) if isinstance(s, dict) and isinstance(s.get("size"), list) else canvas[side.item[r]]
        for s, r in zip(segs, rows, strict=True)
    ]
    rles = rles_from_segmentations(segs, [int(h) for h, _ in sizes], [int(w) for _, w in sizes])
    return MaskSet.build(side.item[rows], side.category[rows], rles, xywh=np.nan_to_num(side.xywh[rows]))


def _keypoint_set(side: LabelColumns, rows: IntArray) -> KeypointSet:
    points = [np.asarray((_parsed(side.geometry[int(r)]) or {}).get("keypoints") or [], dtype=np.float64) for r in rows]
    xywh = np.nan_to_num(side.xywh[rows])
    return KeypointSet.build(side.item[rows], side.category[rows], np.stack(points), xywh=xywh,
                             area=xywh[:, 2] * xywh[:, 3])  # fmt: skip


def _box_fn(old: LabelColumns, new: LabelColumns, orows: IntArray, nrows: IntArray) -> PairFn:
    ob, nb = np.nan_to_num(old.xywh[orows]), np.nan_to_num(new.xywh[nrows])
    return lambda di, gi: pair_iou(nb[di], ob[gi])


def _overlap_fn(
    old: LabelColumns,
    new: LabelColumns,
    orows: IntArray,
    nrows: IntArray,
    *,
    gtype: int,
    canvas: IntArray,
    sigmas: Mapping[int, Sequence[float]],
) -> PairFn:
    """Overlap of ``new`` row ``nrows[d]`` with ``old`` row ``orows[g]`` as a function of ``(d, g)``: one
    geometry type on both sides (keypoints: one class, one point count). Stored geometry the pure layer
    refuses falls back to box IoU (it was validated when written; this keeps a report from failing)."""
    if gtype == _TAG:
        return lambda di, gi: np.ones(len(di))
    try:
        if gtype in (_POLYGON, _MASK):
            fn = mask_pair_iou(_mask_set(new, nrows, canvas), _mask_set(old, orows, canvas), crowd=False)
        elif gtype == _KEYPOINTS:
            gt = _keypoint_set(old, orows)
            k = gt.keypoints.shape[1]
            s = sigmas.get(int(old.category[orows[0]])) if len(orows) else None
            fn = oks_pair_fn(_keypoint_set(new, nrows), gt, sigmas=s if s and len(s) == k else [DEFAULT_SIGMA] * k)
        else:
            return _box_fn(old, new, orows, nrows)

        def safe(di: IntArray, gi: IntArray) -> FloatArray:
            try:
                return fn(di, gi)
            except InputFormatError:  # masks of different sizes: compare their boxes
                return _box_fn(old, new, orows, nrows)(di, gi)

        return safe
    except (InputFormatError, ValueError):
        return _box_fn(old, new, orows, nrows)


def _kind_key(side: LabelColumns, rows: IntArray) -> IntArray:
    """Rows compare within one key: ``-1 - family`` for a geometry family (polygons with masks, unknown
    types with boxes); ``class * 1000 + points`` for keypoints (one sigma vector, one point count)."""
    g = side.gtype[rows]
    family = np.where(g == _POLYGON, _MASK, np.where(g >= len(GEOMETRY_TYPES), _BOX, g))
    key = (-1 - family).astype(np.int64)
    for k in np.flatnonzero(family == _KEYPOINTS).tolist():
        found = (_parsed(side.geometry[int(rows[k])]) or {}).get("keypoints") or []
        key[k] = int(side.category[rows[k]]) * 1000 + min(len(found), 999)
    return key


def _pair_overlap(
    old: LabelColumns, new: LabelColumns, oi: IntArray, ni: IntArray, *, canvas: IntArray,
    sigmas: Mapping[int, Sequence[float]],
) -> FloatArray:  # fmt: skip
    """Overlap of each lineage pair whose geometry differs (0 when the two geometry families differ)."""
    out = np.zeros(len(oi))
    ko, kn = _kind_key(old, oi), _kind_key(new, ni)
    for key in np.unique(ko):
        sel = np.flatnonzero((ko == key) & (kn == key))
        if len(sel):
            fn = _overlap_fn(old, new, oi[sel], ni[sel], gtype=_family(key), canvas=canvas, sigmas=sigmas)
            idx = np.arange(len(sel))
            out[sel] = fn(idx, idx)
    box_only = np.flatnonzero(ko != kn)
    out[box_only] = _box_fn(old, new, oi[box_only], ni[box_only])(np.arange(len(box_only)), np.arange(len(box_only)))
    return out


def _family(key: int) -> int:
    return _KEYPOINTS if key >= 0 else -1 - key


def _geometry_pairs(
    old: LabelColumns, new: LabelColumns, orows: IntArray, nrows: IntArray, *, iou: float,
    canvas: IntArray, sigmas: Mapping[int, Sequence[float]],
) -> tuple[IntArray, IntArray, FloatArray]:  # fmt: skip
    """One-to-one matches of the unpaired rows by class and overlap, per item: (old rows, new rows, overlap)."""
    ko, kn = _kind_key(old, orows), _kind_key(new, nrows)
    found_o, found_n, found_v = [], [], []
    for key in np.intersect1d(ko, kn):
        os_, ns_ = orows[ko == key], nrows[kn == key]
        fn = _overlap_fn(old, new, os_, ns_, gtype=_family(int(key)), canvas=canvas, sigmas=sigmas)
        gt = BoxSet(old.item[os_], old.category[os_], np.nan_to_num(old.xywh[os_]))
        dt = BoxSet(new.item[ns_], new.category[ns_], np.nan_to_num(new.xywh[ns_]))
        dt_match, _, dt_iou = match_by_iou(gt, dt, iou_threshold=iou, classwise=True, iou_fn=fn)
        hit = np.flatnonzero(dt_match >= 0)
        found_o.append(os_[dt_match[hit]])
        found_n.append(ns_[hit])
        found_v.append(dt_iou[hit])
    if not found_o:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    return np.concatenate(found_o), np.concatenate(found_n), np.concatenate(found_v)


def _lineage_pairs(old: LabelColumns, new: LabelColumns) -> tuple[IntArray, IntArray]:
    """Rows sharing a root (the first row of each root on each side: a root is live once per version)."""
    _, first_o = np.unique(old.root, return_index=True)
    _, first_n = np.unique(new.root, return_index=True)
    _, io, in_ = np.intersect1d(old.root[first_o], new.root[first_n], assume_unique=True, return_indices=True)
    return first_o[io].astype(np.int64), first_n[in_].astype(np.int64)


def match_labels(
    old: LabelColumns,
    new: LabelColumns,
    *,
    iou: float = 0.5,
    sizes: Mapping[int, tuple[int, int]] | None = None,
    sigmas: Mapping[int, Sequence[float]] | None = None,
) -> Pairing:
    """Pair ``old``'s labels with ``new``'s (see the module doc).

    Args:
        old, new: the two versions' live labels (codes shared between them).
        iou (0.5): overlap threshold in (0, 1] for a geometry match and for a geometry change.
        sizes (None): item code -> (height, width) of its image, to rasterise polygons; an item without one
            is given the extent of its labels.
        sigmas (None): class code -> OKS sigmas of a keypoints class (``DEFAULT_SIGMA`` per point otherwise).
    """
    sigmas = sigmas or {}
    canvas = _canvas(old, new, sizes or {})
    oi, ni = _lineage_pairs(old, new)
    same = _same_geometry(old, new, oi, ni)
    overlap = np.ones(len(oi))
    moved = np.flatnonzero(~same)
    overlap[moved] = _pair_overlap(old, new, oi[moved], ni[moved], canvas=canvas, sigmas=sigmas)

    left_o = np.setdiff1d(np.arange(len(old), dtype=np.int64), oi, assume_unique=True)
    left_n = np.setdiff1d(np.arange(len(new), dtype=np.int64), ni, assume_unique=True)
    go, gn, gv = _geometry_pairs(old, new, left_o, left_n, iou=iou, canvas=canvas, sigmas=sigmas)
    g_same = _same_geometry(old, new, go, gn)

    all_o, all_n = np.concatenate([oi, go]), np.concatenate([ni, gn])
    values = np.concatenate([overlap, np.where(g_same, 1.0, gv)])
    differs = np.concatenate([~same, ~g_same])
    oa, na = old.attributes, new.attributes
    pairs = zip(all_o.tolist(), all_n.tolist(), strict=True)
    differ = [k for k, (a, b) in enumerate(pairs) if oa[a] is not na[b] and oa[a] != na[b]]
    keys = {k: changed for k in differ if (changed := attribute_changes(oa[int(all_o[k])], na[int(all_n[k])]))}
    return Pairing(
        old=all_o,
        new=all_n,
        by_lineage=np.arange(len(all_o)) < len(oi),
        overlap=values,
        class_changed=old.category[all_o] != new.category[all_n],
        geometry_changed=differs & (values < iou),
        moved=differs,
        attribute_keys=keys,
        removed=np.setdiff1d(left_o, go),
        added=np.setdiff1d(left_n, gn),
    )
