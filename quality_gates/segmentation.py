"""COCO ``segmentation`` fields as RLEs, identical to pycocotools' ``annToRLE``: polygon rasterisation
(``rleFrPoly``: 5x upsampling, the same integer casts) with the union of a polygon's parts, and RLE dicts
(uncompressed or compressed counts). Invalid input raises :class:`~quality_gates.errors.InputFormatError`
naming the object.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from quality_gates._types import BoolArray, FloatArray, IntArray
from quality_gates.rle import Rle, _bad, _checked_counts, _decode_strings, _slices, _union_many, merge

__all__ = ["rle_from_polygons", "rle_from_segmentation", "rles_from_segmentations"]


def _segment_first(group: IntArray) -> BoolArray:
    """True where a row starts a new run of equal ``group`` values."""
    return np.concatenate(([True], group[1:] != group[:-1])) if len(group) else np.zeros(0, dtype=bool)


_SCALE = 5.0  # rleFrPoly's upsampling
_CHUNK_POINTS = 1 << 20  # column crossings per batch: about 200 bytes of temporaries each, so ~200 MB at most


def _scaled(xy: FloatArray) -> tuple[IntArray, IntArray]:
    """Vertices as rleFrPoly's ints: ``(int)(5 * v + .5)``, C truncation toward zero."""
    return np.trunc(_SCALE * xy[:, 0] + 0.5).astype(np.int64), np.trunc(_SCALE * xy[:, 1] + 0.5).astype(np.int64)


def _rasterise(
    polys: Sequence[FloatArray], heights: IntArray, widths: IntArray, *, chunk_points: int = _CHUNK_POINTS
) -> list[IntArray]:
    """``rleFrPoly`` for many (k, 2) polygons at once, in batches of about ``chunk_points`` column crossings;
    counts per polygon."""
    if not polys:
        return []
    k = np.array([len(p) for p in polys], dtype=np.int64)
    return _rasterise_flat(np.concatenate(polys), k, heights, widths, chunk_points=chunk_points)


def _rasterise_flat(
    xy: FloatArray, k: IntArray, heights: IntArray, widths: IntArray, *, chunk_points: int = _CHUNK_POINTS
) -> list[IntArray]:
    """:func:`_rasterise` of polygons given as one (sum(k), 2) vertex array, polygon after polygon."""
    x, y = _scaled(xy)
    first = np.cumsum(k) - k
    nxt = np.arange(len(x)) + 1
    nxt[first + k - 1] = first
    # Crossings of an edge: about one per 5 upsampled columns it spans (plus slack for the ends).
    cost = np.add.reduceat(np.abs(x[nxt] - x) // 5 + 2, first)
    out: list[IntArray] = []
    lo = 0
    while lo < len(k):
        hi = lo + max(1, int(np.searchsorted(np.cumsum(cost[lo:]), chunk_points, side="right")))
        a, b = int(first[lo]), int(first[hi - 1] + k[hi - 1])
        xb, yb, kb = x[a:b], y[a:b], k[lo:hi]
        counts = _rasterise_crossings(xb, yb, kb, heights[lo:hi], widths[lo:hi])
        out.extend(counts if counts is not None else _rasterise_walk(xb, yb, kb, heights[lo:hi], widths[lo:hi]))
        lo = hi
    return out


def _edges(x: IntArray, y: IntArray, k: IntArray) -> tuple[IntArray, ...]:
    """rleFrPoly's edges, each from vertex i to the next (the last closes the polygon), oriented so that the
    longer axis ascends: ``(owner, xs, ys, xe, ye, along_x, flip, span)``."""
    first = np.cumsum(k) - k
    nxt = np.arange(len(x)) + 1
    nxt[first + k - 1] = first
    xs, ys, xe, ye = x, y, x[nxt], y[nxt]
    dx, dy = np.abs(xe - xs), np.abs(ys - ye)
    along_x = dx >= dy
    flip = (along_x & (xs > xe)) | (~along_x & (ys > ye))
    xs, xe = np.where(flip, xe, xs), np.where(flip, xs, xe)
    ys, ye = np.where(flip, ye, ys), np.where(flip, ys, ye)
    span = np.where(along_x, dx, dy)
    return np.repeat(np.arange(len(k)), k), xs, ys, xe, ye, along_x, flip, span


def _slope(num: IntArray, span: IntArray) -> FloatArray:
    # 0/0 for an edge of zero length; its one point never reaches the output (its column repeats).
    return np.divide(num.astype(np.float64), span, out=np.zeros(len(num)), where=span > 0)


def _rasterise_crossings(
    x: IntArray, y: IntArray, k: IntArray, heights: IntArray, widths: IntArray
) -> list[IntArray] | None:
    """rleFrPoly from the column crossings alone; None when a crossing fails its exact check (then
    :func:`_rasterise_walk` walks every upsampled point).

    rleFrPoly walks each edge in unit steps of its longer axis (upsampled 5x), rounding the other coordinate,
    and keeps a y-boundary wherever the walk passes from upsampled column ``m`` to ``m + 1`` with
    ``m = 5 * col + 2`` (the downsampled pixel centre). The boundaries are sorted afterwards, so their order is
    free: here they are computed directly. Along an x-major edge the walk passes from ``m`` to ``m + 1`` at
    step ``t = m - xs + 1``; along a y-major edge the rounded column is monotone in the step with unit increments, and
    the step that crosses ``m`` is found from the line's equation, then checked with rleFrPoly's own rounding
    at both ends of the step. Crossings between consecutive edges need no search: at a vertex with a column
    >= 0 both edges round to the vertex, and columns below 0 are dropped.
    """
    owner, xs, ys, xe, ye, along_x, _, span = _edges(x, y, k)
    w_max = 5 * (widths[owner] - 1) + 2  # the last upsampled column kept
    xf, yf = xs.astype(np.float64), ys.astype(np.float64)

    # x-major edges: every m in [xs, xe - 1] with m = 2 (mod 5), m >= 2, is crossed between t-1 and t.
    ex = np.flatnonzero(along_x)
    lo = np.maximum(xs[ex], 2)
    lo += (2 - lo) % 5
    hi = np.minimum(xe[ex] - 1, w_max[ex])
    nx = np.maximum((hi - lo) // 5 + 1, 0)
    e = np.repeat(ex, nx)
    m_x = np.repeat(lo, nx) + 5 * (np.arange(int(nx.sum())) - np.repeat(np.cumsum(nx) - nx, nx))
    t = m_x - xs[e] + 1
    slope_x = _slope((ye - ys)[e], span[e])
    v0 = np.trunc(yf[e] + slope_x * (t - 1) + 0.5).astype(np.int64)
    v1 = np.trunc(yf[e] + slope_x * t + 0.5).astype(np.int64)
    own_x, y_x = owner[e], np.minimum(v0, v1)

    # y-major edges: the rounded column u(t) = trunc(xs + slope * t + 0.5) is monotone in t, unit steps.
    ey = np.flatnonzero(~along_x & (xe != xs))
    sl = _slope((xe - xs)[ey], span[ey])
    u0 = np.trunc(xf[ey] + sl * 0 + 0.5).astype(np.int64)
    u1 = np.trunc(xf[ey] + sl * span[ey] + 0.5).astype(np.int64)
    up = sl > 0
    lo = np.maximum(np.minimum(u0, u1), 2)
    lo += (2 - lo) % 5
    hi = np.minimum(np.maximum(u0, u1) - 1, w_max[ey])
    ny = np.maximum((hi - lo) // 5 + 1, 0)
    rep = np.repeat(np.arange(len(ey)), ny)
    m_y = np.repeat(lo, ny) + 5 * (np.arange(int(ny.sum())) - np.repeat(np.cumsum(ny) - ny, ny))
    e = ey[rep]
    s, x0, up_r, n_t = sl[rep], xf[e], up[rep], span[e]
    # The step passing from column m to m+1: the first t with u(t) >= m+1 (slope > 0) or u(t) <= m (< 0).
    guess = (m_y + 0.5 - x0) / s
    t = np.clip(np.where(up_r, np.ceil(guess), np.floor(guess) + 1), 1, n_t).astype(np.int64)

    def u(tt: IntArray) -> IntArray:
        return np.trunc(x0 + s * tt + 0.5).astype(np.int64)

    def after(tt: IntArray) -> BoolArray:  # the walk has left column m by step tt
        ut = u(tt)
        return np.asarray(np.where(up_r, ut >= m_y + 1, ut <= m_y), dtype=bool)

    for _ in range(2):
        t = np.where((t > 1) & after(t - 1), t - 1, t)
        t = np.where((t < n_t) & ~after(t), t + 1, t)
    ua, ub = u(t - 1), u(t)
    if not np.array_equal(np.minimum(ua, ub), m_y) or not (np.abs(ub - ua) == 1).all():
        return None
    own_y, y_y = owner[e], ys[e] + t - 1

    sp = np.concatenate((own_x, own_y))
    m = np.concatenate((m_x, m_y))
    xd = (m + 0.5) / _SCALE - 0.5
    yd = (np.concatenate((y_x, y_y)) + 0.5) / _SCALE - 0.5
    yd = np.ceil(np.minimum(np.maximum(yd, 0), heights[sp]))
    return _counts_from_boundaries(xd.astype(np.int64) * heights[sp] + yd.astype(np.int64), sp, heights, widths)


def _counts_from_boundaries(val: IntArray, sp: IntArray, heights: IntArray, widths: IntArray) -> list[IntArray]:
    """rleFrPoly's last step: each polygon's sorted boundary positions (column-major) as RLE counts."""
    n = len(heights)
    hw = heights * widths
    stride = int(hw.max()) + 1
    key = np.sort(np.concatenate((sp * stride + val, np.arange(n) * stride + hw)))
    owner, val = key // stride, key % stride
    new = _segment_first(owner)
    a = val - np.where(new, 0, np.concatenate(([0], val[:-1])))
    # A zero difference (two boundaries on one pixel) swallows the next difference into the previous run.
    idx = np.arange(len(a))
    last = np.maximum.accumulate(np.where((a != 0) | new, idx, 0))
    zero_run = idx - 1 - np.concatenate(([0], last[:-1]))
    tokens = np.flatnonzero(new | ((a != 0) & (zero_run % 2 == 0)))
    counts = np.add.reduceat(a, tokens)
    per = np.bincount(owner[tokens], minlength=n)
    return _slices(counts, np.cumsum(per) - per)


def _rasterise_walk(x: IntArray, y: IntArray, k: IntArray, heights: IntArray, widths: IntArray) -> list[IntArray]:
    """rleFrPoly point by upsampled point (every integer step of every edge), vectorised over polygons."""
    owner, xs, ys, xe, ye, along_x, flip, span = _edges(x, y, k)
    num = np.where(along_x, ye - ys, xe - xs)
    slope = _slope(num, span)
    n = span + 1
    edge = np.repeat(np.arange(len(x)), n)
    d = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    t = np.where(flip[edge], span[edge] - d, d)
    ax = along_x[edge]
    rounded = np.trunc(np.where(ax, ys[edge], xs[edge]) + slope[edge] * t + 0.5).astype(np.int64)
    u = np.where(ax, t + xs[edge], rounded)
    v = np.where(ax, rounded, t + ys[edge])
    # Column crossings inside one polygon become y-boundaries of the downsampled mask.
    ppoly = owner[edge]
    step = np.flatnonzero((u[1:] != u[:-1]) & (ppoly[1:] == ppoly[:-1])) + 1
    sp = ppoly[step]
    uj, up = u[step], u[step - 1]
    xd = (np.where(uj < up, uj, uj - 1) + 0.5) / _SCALE - 0.5
    keep = (np.floor(xd) == xd) & (xd >= 0) & (xd <= widths[sp] - 1)
    sp = sp[keep]
    yd = (np.minimum(v[step], v[step - 1])[keep] + 0.5) / _SCALE - 0.5
    yd = np.ceil(np.minimum(np.maximum(yd, 0), heights[sp]))
    return _counts_from_boundaries(xd[keep].astype(np.int64) * heights[sp] + yd.astype(np.int64), sp, heights, widths)


def _polygon_xy(poly: Any, name: str) -> FloatArray:
    try:
        arr = np.asarray(poly, dtype=np.float64)
    except (TypeError, ValueError):
        raise _bad(name, "a polygon must be a flat list of numbers [x1, y1, x2, y2, ...]") from None
    if arr.ndim != 1:
        raise _bad(name, "a polygon must be a flat list of numbers [x1, y1, x2, y2, ...]")
    if arr.size % 2:
        raise _bad(name, f"a polygon needs an even number of coordinates, got {arr.size}")
    if arr.size < 6:
        raise _bad(name, f"a polygon needs at least 3 points, got {arr.size // 2}")
    if not np.isfinite(arr).all():
        raise _bad(name, "polygon coordinates must be finite numbers (found NaN or infinity)")
    if np.abs(arr).max() > 1e6:
        # rleFrPoly walks every 1/5 px of each edge; beyond this the walk alone needs gigabytes.
        raise _bad(name, "polygon coordinates beyond 1e6 px")
    return arr.reshape(-1, 2)


def _rle_dict(segmentation: Mapping[str, Any], height: int, width: int, name: str) -> Rle:
    size = segmentation["size"]
    if not isinstance(size, Sequence) or len(size) != 2 or not all(isinstance(v, int) for v in size):
        raise _bad(name, "RLE 'size' must be [height, width]")
    if (size[0], size[1]) != (height, width):
        raise _bad(name, f"RLE size {size[0]}x{size[1]} (h x w) differs from the image's {height}x{width}")
    counts = segmentation["counts"]
    if isinstance(counts, str | bytes):
        return Rle.from_string(counts, height, width, name=name)
    if not isinstance(counts, Sequence) or not all(isinstance(v, int) and not isinstance(v, bool) for v in counts):
        raise _bad(name, "RLE 'counts' must be a string or a list of integers")
    return Rle(height, width, _checked_counts(height, width, counts, name))


def rles_from_segmentations(
    segmentations: Sequence[Any],
    heights: Sequence[int] | IntArray,
    widths: Sequence[int] | IntArray,
    *,
    names: Sequence[str] | None = None,
) -> list[Rle]:
    """COCO ``segmentation`` fields as RLEs, like pycocotools' ``annToRLE`` (polygons rasterised together).

    Args:
        segmentations: each polygons (a list of parts, each a flat ``[x1, y1, x2, y2, ...]`` in px with at
            least 3 finite points; the parts are united), an uncompressed RLE (``{"size": [h, w], "counts":
            [...]}``) or a compressed one (``counts`` a string).
        heights, widths: the size in px of each object's image; an RLE's ``size`` must equal it.
        names (None): how errors name each object (``"annotations[4] (id 17).segmentation"``); default
            ``"segmentation[i]"``.

    Raises:
        InputFormatError: the first invalid object, named.
    """
    hs = np.asarray(heights, dtype=np.int64).reshape(-1)
    ws = np.asarray(widths, dtype=np.int64).reshape(-1)
    if not len(segmentations) == len(hs) == len(ws):
        raise ValueError(f"{len(segmentations)} segmentations, {len(hs)} heights and {len(ws)} widths")
    if names is not None and len(names) != len(segmentations):
        raise ValueError(f"{len(names)} names for {len(segmentations)} segmentations")
    fast = _bulk(segmentations, hs, ws)
    if fast is not None:
        return fast
    # Something is unusual or invalid: object by object, so that the first bad one is named.
    label = list(names) if names is not None else [f"segmentation[{i}]" for i in range(len(segmentations))]
    out: list[Rle | None] = [None] * len(segmentations)
    polys: list[FloatArray] = []
    owner: list[int] = []
    for i, seg in enumerate(segmentations):
        h, w = int(hs[i]), int(ws[i])
        if h < 1 or w < 1:
            raise _bad(label[i], f"image size must be positive, got {h}x{w}")
        if isinstance(seg, Mapping) and "counts" in seg and "size" in seg:
            out[i] = _rle_dict(seg, h, w, label[i])
        elif isinstance(seg, list) and seg:
            polys.extend(_polygon_xy(p, f"{label[i]}[{j}]") for j, p in enumerate(seg))
            owner.extend([i] * len(seg))
        elif isinstance(seg, list):
            raise _bad(label[i], "a polygon segmentation needs at least one part")
        else:
            raise _bad(label[i], "expected polygons (a list) or an RLE (a dict with 'size' and 'counts')")
    if polys:
        own = np.asarray(owner, dtype=np.int64)
        counts = _rasterise(polys, hs[own], ws[own])
        for i, group in zip(*_groups(own), strict=True):
            h, w = int(hs[i]), int(ws[i])
            out[i] = merge([Rle(h, w, counts[j]) for j in group], name=label[i])
    return [r for r in out if r is not None]


def _bulk(segmentations: Sequence[Any], hs: IntArray, ws: IntArray) -> list[Rle] | None:
    """:func:`rles_from_segmentations` for the common case, in bulk: plain lists of plain lists of numbers,
    RLE dicts with a ``[h, w]`` list and a string or a list of ints. None for anything else, or anything
    invalid (the caller then converts object by object and names the first bad one)."""
    n = len(segmentations)
    if n == 0 or hs.min() < 1 or ws.min() < 1:
        return None if n else []
    out: list[Rle | None] = [None] * n
    str_at: list[int] = []
    strings: list[bytes] = []
    rle_at: list[int] = []
    rle_hw: list[Any] = []
    parts: list[list[Any]] = []
    part_owner: list[int] = []
    try:
        for i, seg in enumerate(segmentations):
            if type(seg) is dict:
                size, counts = seg["size"], seg["counts"]
                if type(size) is not list or len(size) != 2 or type(size[0]) is not int or type(size[1]) is not int:
                    return None
                rle_at.append(i)
                rle_hw.append(size)
                if type(counts) is str:
                    str_at.append(i)
                    strings.append(counts.encode("ascii"))
                elif type(counts) is bytes:
                    str_at.append(i)
                    strings.append(counts)
                elif type(counts) is list and counts and all(type(v) is int for v in counts):
                    arr = np.array(counts, dtype=np.int64)
                    h, w = int(hs[i]), int(ws[i])
                    if arr.min() < 0 or int(arr.sum()) != h * w:
                        return None
                    out[i] = Rle._unchecked(h, w, arr)
                else:
                    return None
            elif type(seg) is list and seg and all(type(p) is list for p in seg):
                parts.extend(seg)
                part_owner.extend([i] * len(seg))
            else:
                return None
        if rle_at:
            at = np.asarray(rle_at, dtype=np.int64)
            if not np.array_equal(np.asarray(rle_hw, dtype=np.int64), np.column_stack([hs[at], ws[at]])):
                return None
        if strings:
            at = np.asarray(str_at, dtype=np.int64)
            decoded = _decode_strings(strings, hs[at], ws[at])
            if decoded is None:
                return None
            for i, c in zip(str_at, decoded, strict=True):
                out[i] = Rle._unchecked(int(hs[i]), int(ws[i]), c)
        if parts:
            lens = np.fromiter((len(p) for p in parts), dtype=np.int64, count=len(parts))
            flat = np.fromiter(itertools.chain.from_iterable(parts), dtype=np.float64, count=int(lens.sum()))
            if (lens % 2).any() or lens.min() < 6 or not np.isfinite(flat).all() or np.abs(flat).max() > 1e6:
                return None
            own = np.asarray(part_owner, dtype=np.int64)
            counts_of = _rasterise_flat(flat.reshape(-1, 2), lens // 2, hs[own], ws[own])
            objs, first, n_parts = np.unique(own, return_index=True, return_counts=True)
            for i, j in zip(objs[n_parts == 1].tolist(), first[n_parts == 1].tolist(), strict=True):
                out[i] = Rle._unchecked(int(hs[i]), int(ws[i]), counts_of[j])
            multi = np.flatnonzero(np.isin(own, objs[n_parts > 1]))
            if len(multi):
                objs = objs[n_parts > 1]
                group = np.searchsorted(objs, own[multi])
                united = _union_many([counts_of[j] for j in multi.tolist()], group, hs[objs], ws[objs])
                for i, c in zip(objs.tolist(), united, strict=True):
                    out[i] = Rle._unchecked(int(hs[i]), int(ws[i]), c)
    except (KeyError, TypeError, ValueError, UnicodeError, OverflowError):
        return None
    return [r for r in out if r is not None] if all(r is not None for r in out) else None


def _groups(owner: IntArray) -> tuple[list[int], list[IntArray]]:
    """Distinct values of ``owner`` (a sorted-by-run array) and the rows of each."""
    starts = np.flatnonzero(_segment_first(owner))
    return owner[starts].tolist(), np.split(np.arange(len(owner)), starts[1:])


def rle_from_polygons(polygons: Sequence[Any], height: int, width: int, *, name: str = "polygon") -> Rle:
    """Rasterise one COCO polygon segmentation (one or more parts) like ``frPyObjects`` then ``merge``;
    see :func:`rles_from_segmentations` (faster for many objects)."""
    if not isinstance(polygons, list):
        polygons = list(polygons) if isinstance(polygons, Sequence) and not isinstance(polygons, str) else []
    if not polygons:
        raise _bad(name, "a polygon segmentation needs at least one part")
    return rles_from_segmentations([polygons], [height], [width], names=[name])[0]


def rle_from_segmentation(segmentation: Any, height: int, width: int, *, name: str = "segmentation") -> Rle:
    """One COCO ``segmentation`` field as an RLE; see :func:`rles_from_segmentations`."""
    return rles_from_segmentations([segmentation], [height], [width], names=[name])[0]
