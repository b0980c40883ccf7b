"""COCO ``segmentation`` fields as RLEs, identical to pycocotools' ``annToRLE``: polygon rasterisation
(``rleFrPoly``: 5x upsampling, the same integer casts) with the union of a polygon's parts, and RLE dicts
(uncompressed or compressed counts). Invalid input raises :class:`~quality_gates.errors.InputFormatError`
naming the object.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from quality_gates._types import BoolArray, FloatArray, IntArray
from quality_gates.rle import Rle, _bad, _checked_counts, merge

__all__ = ["rle_from_polygons", "rle_from_segmentation", "rles_from_segmentations"]


def _segment_first(group: IntArray) -> BoolArray:
    """True where a row starts a new run of equal ``group`` values."""
    return np.concatenate(([True], group[1:] != group[:-1])) if len(group) else np.zeros(0, dtype=bool)


_SCALE = 5.0  # rleFrPoly's upsampling
_CHUNK_POINTS = 1 << 20  # boundary points per batch: about 100 bytes of temporaries each, so ~100 MB at most


def _scaled(xy: FloatArray) -> tuple[IntArray, IntArray]:
    """Vertices as rleFrPoly's ints: ``(int)(5 * v + .5)``, C truncation toward zero."""
    return np.trunc(_SCALE * xy[:, 0] + 0.5).astype(np.int64), np.trunc(_SCALE * xy[:, 1] + 0.5).astype(np.int64)


def _rasterise(
    polys: Sequence[FloatArray], heights: IntArray, widths: IntArray, *, chunk_points: int = _CHUNK_POINTS
) -> list[IntArray]:
    """``rleFrPoly`` for many (k, 2) polygons at once, in batches of about ``chunk_points`` boundary points;
    counts per polygon."""
    out: list[IntArray] = []
    cost = np.zeros(len(polys), dtype=np.int64)
    for i, p in enumerate(polys):
        x, y = _scaled(p)
        cost[i] = int(np.maximum(np.abs(np.diff(x, append=x[0])), np.abs(np.diff(y, append=y[0]))).sum()) + len(p)
    lo = 0
    while lo < len(polys):
        hi = lo + max(1, int(np.searchsorted(np.cumsum(cost[lo:]), chunk_points, side="right")))
        out.extend(_rasterise_batch(polys[lo:hi], heights[lo:hi], widths[lo:hi]))
        lo = hi
    return out


def _rasterise_batch(polys: Sequence[FloatArray], heights: IntArray, widths: IntArray) -> list[IntArray]:
    k = np.array([len(p) for p in polys], dtype=np.int64)
    x, y = _scaled(np.concatenate(polys))
    first = np.cumsum(k) - k
    nxt = np.arange(len(x)) + 1
    nxt[first + k - 1] = first
    vpoly = np.repeat(np.arange(len(polys)), k)
    # Upsample each edge to every integer step along its longer axis (both ends included), as rleFrPoly.
    xs, ys, xe, ye = x, y, x[nxt], y[nxt]
    dx, dy = np.abs(xe - xs), np.abs(ys - ye)
    along_x = dx >= dy
    flip = (along_x & (xs > xe)) | (~along_x & (ys > ye))
    xs, xe = np.where(flip, xe, xs), np.where(flip, xs, xe)
    ys, ye = np.where(flip, ye, ys), np.where(flip, ys, ye)
    span = np.where(along_x, dx, dy)
    num = np.where(along_x, ye - ys, xe - xs).astype(np.float64)
    # 0/0 for an edge of zero length; its one point never reaches the output (its column repeats).
    slope = np.divide(num, span, out=np.zeros(len(num)), where=span > 0)
    n = span + 1
    edge = np.repeat(np.arange(len(x)), n)
    d = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    t = np.where(flip[edge], span[edge] - d, d)
    ax = along_x[edge]
    rounded = np.trunc(np.where(ax, ys[edge], xs[edge]) + slope[edge] * t + 0.5).astype(np.int64)
    u = np.where(ax, t + xs[edge], rounded)
    v = np.where(ax, rounded, t + ys[edge])
    # Column crossings inside one polygon become y-boundaries of the downsampled mask.
    ppoly = vpoly[edge]
    step = np.flatnonzero((u[1:] != u[:-1]) & (ppoly[1:] == ppoly[:-1])) + 1
    sp = ppoly[step]
    uj, up = u[step], u[step - 1]
    xd = (np.where(uj < up, uj, uj - 1) + 0.5) / _SCALE - 0.5
    keep = (np.floor(xd) == xd) & (xd >= 0) & (xd <= widths[sp] - 1)
    sp = sp[keep]
    yd = (np.minimum(v[step], v[step - 1])[keep] + 0.5) / _SCALE - 0.5
    yd = np.ceil(np.minimum(np.maximum(yd, 0), heights[sp]))
    hw = heights * widths
    val = np.concatenate((xd[keep].astype(np.int64) * heights[sp] + yd.astype(np.int64), hw))
    owner = np.concatenate((sp, np.arange(len(polys))))
    order = np.lexsort((val, owner))
    val, owner = val[order], owner[order]
    new = _segment_first(owner)
    a = val - np.where(new, 0, np.concatenate(([0], val[:-1])))
    # A zero difference (two boundaries on one pixel) swallows the next difference into the previous run.
    idx = np.arange(len(a))
    last = np.maximum.accumulate(np.where((a != 0) | new, idx, 0))
    zero_run = idx - 1 - np.concatenate(([0], last[:-1]))
    tokens = np.flatnonzero(new | ((a != 0) & (zero_run % 2 == 0)))
    counts = np.add.reduceat(a, tokens)
    per = np.bincount(owner[tokens], minlength=len(polys))
    return np.split(counts, np.cumsum(per)[:-1])


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
    label = list(names) if names is not None else [f"segmentation[{i}]" for i in range(len(segmentations))]
    if len(label) != len(segmentations):
        raise ValueError(f"{len(label)} names for {len(segmentations)} segmentations")
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
