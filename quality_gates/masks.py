"""COCO masks: run-length encoding, polygon rasterisation and mask IoU, identical to pycocotools' mask API.

An :class:`Rle` is pycocotools' uncompressed RLE: ``counts`` are the run lengths of the mask read in
column-major (Fortran) order, starting with a run of zeros (possibly empty) and alternating. Everything here is
numpy and reproduces ``common/maskApi.c`` exactly: the compressed string form (``rleToString`` /
``rleFrString``), polygon rasterisation (``rleFrPoly``, 5x upsampling, the same integer casts), the union of a
polygon's parts (``rleMerge``), the bounding box (``rleToBbox``) and the IoU (``rleIou``: integer pixel counts,
``i / u`` in double; for a *crowd* ground truth the union is the detection's own area; 0 without overlap).
Where pycocotools returns -1 (masks of different sizes) or reads past a buffer (counts that do not add up to
``height * width``), these functions raise :class:`~quality_gates.errors.InputFormatError` naming the object.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from quality_gates._types import BoolArray, FloatArray, IntArray
from quality_gates.boxes import BoxSet
from quality_gates.errors import InputFormatError
from quality_gates.matching import Matching, PairIouFn, match_by_iou, match_greedy

__all__ = [
    "MaskSet",
    "Rle",
    "mask_iou_matrix",
    "mask_pair_iou",
    "match_masks_by_iou",
    "match_masks_greedy",
    "merge",
    "rle_from_polygons",
    "rle_from_segmentation",
    "rles_from_segmentations",
]


def _bad(name: str, message: str) -> InputFormatError:
    return InputFormatError(name, "", message)


def _checked_counts(height: int, width: int, counts: Any, name: str) -> IntArray:
    if height < 1 or width < 1:
        raise _bad(name, f"RLE size must be positive, got {height}x{width}")
    arr = np.asarray(counts)
    if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer):
        raise _bad(name, "RLE counts must be a non-empty flat list of non-negative integers")
    out = arr.astype(np.int64)
    if out.min() < 0:
        raise _bad(name, "RLE counts must be non-negative")
    if int(out.sum()) != height * width:
        raise _bad(
            name, f"RLE counts add up to {int(out.sum())} pixels, the {height}x{width} size has {height * width}"
        )
    return out


@dataclass(frozen=True, eq=False)
class Rle:
    """One binary mask as pycocotools' uncompressed RLE.

    Attributes:
        height, width: mask size in px (>= 1).
        counts: (m,) int64 run lengths, column-major, zeros first; they add up to ``height * width``.
    """

    height: int
    width: int
    counts: IntArray

    def __post_init__(self) -> None:
        object.__setattr__(self, "counts", _checked_counts(self.height, self.width, self.counts, "RLE"))

    @classmethod
    def from_mask(cls, mask: Any) -> Rle:
        """Encode an (h, w) array (non-zero = foreground) like ``pycocotools.mask.encode``."""
        m = np.asarray(mask)
        if m.ndim != 2:
            raise ValueError(f"a mask must be 2-D (height, width), got shape {m.shape}")
        flat = (m != 0).ravel(order="F")
        change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
        bounds = np.concatenate(([0], change, [flat.size]))
        counts = np.diff(bounds)
        if flat.size and flat[0]:
            counts = np.concatenate(([0], counts))
        return cls(m.shape[0], m.shape[1], counts)

    @classmethod
    def from_string(cls, s: str | bytes, height: int, width: int, *, name: str = "RLE") -> Rle:
        """Decode pycocotools' compressed ``counts`` string (``rleFrString``)."""
        raw = s.encode("ascii") if isinstance(s, str) else bytes(s)
        c = np.frombuffer(raw, dtype=np.uint8).astype(np.int64) - 48
        if c.size == 0 or c.min() < 0 or c.max() > 63:
            raise _bad(name, "compressed RLE counts must be a non-empty string of characters '0'..'o'")
        more = (c & 0x20) != 0
        if more[-1]:
            raise _bad(name, "compressed RLE counts end in the middle of a number")
        ends = np.flatnonzero(~more)
        starts = np.concatenate(([0], ends[:-1] + 1))
        lens = ends - starts + 1
        if lens.max() > 7:
            raise _bad(name, "compressed RLE counts hold a number too large for a mask")
        k = np.arange(c.size) - np.repeat(starts, lens)
        x = np.add.reduceat((c & 0x1F) << (5 * k), starts)
        neg = (c[ends] & 0x10) != 0
        x[neg] |= -1 << (5 * lens[neg])
        counts = x.copy()
        counts[1::2] = np.cumsum(x[1::2])
        counts[2::2] = np.cumsum(x[2::2])
        return cls(height, width, _checked_counts(height, width, counts, name))

    def to_string(self) -> str:
        """pycocotools' compressed ``counts`` string (``rleToString``)."""
        x = self.counts.copy()
        x[3:] -= self.counts[1:-2]
        n = np.ones(len(x), dtype=np.int64)
        # A value takes n characters when it fits in 5n bits of two's complement.
        while True:
            lim = np.left_shift(1, 5 * n - 1)
            short = (x >= lim) | (x < -lim)
            if not short.any():
                break
            n += short
        k = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
        chunk = (np.repeat(x, n) >> (5 * k)) & 0x1F
        chunk |= np.where(k < np.repeat(n, n) - 1, 0x20, 0)
        return (chunk + 48).astype(np.uint8).tobytes().decode("ascii")

    def to_coco(self) -> dict[str, Any]:
        """``{"size": [h, w], "counts": compressed string}``, the form COCO results files carry."""
        return {"size": [self.height, self.width], "counts": self.to_string()}

    def to_mask(self) -> np.ndarray:
        """The (h, w) uint8 mask, like ``pycocotools.mask.decode``."""
        values = (np.arange(len(self.counts)) % 2).astype(np.uint8)
        return np.repeat(values, self.counts).reshape(self.width, self.height).T.copy()

    @property
    def area(self) -> int:
        """Foreground pixels."""
        return int(self.counts[1::2].sum())

    @property
    def bbox(self) -> FloatArray:
        """(4,) xywh of the foreground in px, as ``pycocotools.mask.toBbox``; zeros for an empty mask."""
        return np.asarray(_pack([self]).bbox[0], dtype=np.float64)


def _intervals(counts: IntArray) -> tuple[IntArray, IntArray]:
    """Non-empty foreground runs ``[start, end)`` in column-major pixel index."""
    pos = np.concatenate(([0], np.cumsum(counts)))
    starts, ends = pos[1:-1:2], pos[2::2]
    ok = ends > starts
    return starts[ok], ends[ok]


def _from_intervals(starts: IntArray, ends: IntArray, height: int, width: int) -> Rle:
    """Canonical RLE of a union of runs (``rleMerge``'s output: adjacent and overlapping runs joined)."""
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], ends[order]
    bounds = np.zeros(0, dtype=np.int64)
    if len(s):
        new = np.concatenate(([True], s[1:] > np.maximum.accumulate(e)[:-1]))
        bounds = np.column_stack([s[new], np.maximum.reduceat(e, np.flatnonzero(new))]).ravel()
    total = height * width
    counts = np.diff(np.concatenate(([0], bounds, [total])))
    if len(bounds) and bounds[-1] == total:
        counts = counts[:-1]
    return Rle(height, width, counts)


def merge(rles: Sequence[Rle], *, name: str = "masks") -> Rle:
    """Union of masks of one size, like ``pycocotools.mask.merge(rles)`` (one mask is returned as is)."""
    if not rles:
        raise _bad(name, "nothing to merge")
    h, w = rles[0].height, rles[0].width
    if any((r.height, r.width) != (h, w) for r in rles):
        raise _bad(name, "cannot merge masks of different sizes")
    if len(rles) == 1:
        return rles[0]
    parts = [_intervals(r.counts) for r in rles]
    return _from_intervals(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), h, w)


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


@dataclass(frozen=True, eq=False)
class _Packed:
    """Foreground runs of many masks, mask after mask (``first[i]:first[i+1]`` are mask i's), with each
    mask's area, size (h, w), first and last column holding foreground, and ``rleToBbox`` box."""

    starts: IntArray
    ends: IntArray
    first: IntArray
    area: IntArray
    size: IntArray
    col_lo: IntArray
    col_hi: IntArray
    bbox: FloatArray


def _pack(rles: Sequence[Rle]) -> _Packed:
    n = len(rles)
    lens = np.fromiter((len(r.counts) for r in rles), dtype=np.int64, count=n)
    size = np.array([(r.height, r.width) for r in rles], dtype=np.int64).reshape(n, 2)
    counts = np.concatenate([r.counts for r in rles]) if n else np.zeros(0, dtype=np.int64)
    run_owner = np.repeat(np.arange(n), lens)
    offset = np.cumsum(lens) - lens
    excl = np.cumsum(counts) - counts
    pos = excl - excl[offset][run_owner]  # every RLE has at least one count
    fg = ((np.arange(len(counts)) - offset[run_owner]) % 2 == 1) & (counts > 0)
    starts, ends, owner = pos[fg], pos[fg] + counts[fg], run_owner[fg]
    n_runs = np.bincount(owner, minlength=n)
    first = np.concatenate(([0], np.cumsum(n_runs)))
    area = np.zeros(n, dtype=np.int64)
    np.add.at(area, owner, ends - starts)
    has = n_runs > 0
    # Empty masks get an empty column range, so they overlap nothing.
    col_lo = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    col_hi = np.full(n, -1, dtype=np.int64)
    h_run = size[owner, 0]
    x0, x1 = starts // h_run, (ends - 1) // h_run
    col_lo[has], col_hi[has] = x0[first[:-1][has]], x1[first[1:][has] - 1]
    bbox = np.zeros((n, 4))
    if has.any():
        seg = first[:-1][has]
        across = np.logical_or.reduceat(x0 < x1, seg)
        y0 = np.where(across, 0, np.minimum.reduceat(starts % h_run, seg))
        y1 = np.where(across, size[has, 0] - 1, np.maximum.reduceat((ends - 1) % h_run, seg))
        bbox[has] = np.column_stack([col_lo[has], y0, col_hi[has] - col_lo[has] + 1, y1 - y0 + 1])
    # rleToBbox's unsigned arithmetic on a mask with runs but no foreground.
    odd = ~has & (lens >= 2)
    h, w = size[odd, 0], size[odd, 1]
    bbox[odd] = np.column_stack([w, h, (1 - w) % 2**32, (1 - h) % 2**32])
    return _Packed(starts, ends, first, area, size, col_lo, col_hi, bbox)


def _pair_iou(dp: _Packed, gp: _Packed, di: IntArray, gi: IntArray, crowd: BoolArray | None) -> FloatArray:
    """IoU of mask ``di[k]`` with mask ``gi[k]`` for every k (``rleIou``), exact integer counts."""
    di = np.asarray(di, dtype=np.int64)
    gi = np.asarray(gi, dtype=np.int64)
    bad = np.flatnonzero((dp.size[di] != gp.size[gi]).any(axis=1))
    if len(bad):
        k = int(bad[0])
        d_hw, g_hw = dp.size[di[k]].tolist(), gp.size[gi[k]].tolist()
        raise InputFormatError(
            "masks", f"detection row {int(di[k])} vs ground-truth row {int(gi[k])}",
            f"mask sizes differ ({d_hw[0]}x{d_hw[1]} vs {g_hw[0]}x{g_hw[1]}, h x w) on one image",
        )  # fmt: skip
    out = np.zeros(len(di))
    live = np.flatnonzero((dp.col_lo[di] <= gp.col_hi[gi]) & (gp.col_lo[gi] <= dp.col_hi[di]))
    if len(live) == 0:
        return out
    d, g = di[live], gi[live]
    # Every ground-truth mask gets its own block of one pixel axis; before(x) counts foreground ahead of x.
    big = int((gp.size[:, 0] * gp.size[:, 1]).max()) + 1
    g_start = np.repeat(np.arange(len(gp.area)), np.diff(gp.first)) * big + gp.starts
    g_len = gp.ends - gp.starts
    g_cum = np.cumsum(g_len) - g_len
    nd = dp.first[d + 1] - dp.first[d]
    pair = np.repeat(np.arange(len(d)), nd)
    run = np.repeat(dp.first[d], nd) + np.arange(int(nd.sum())) - np.repeat(np.cumsum(nd) - nd, nd)
    offset = g[pair] * big

    def before(x: IntArray) -> IntArray:
        j = np.maximum(np.searchsorted(g_start, x, side="right") - 1, 0)
        return np.where(x >= g_start[j], g_cum[j] + np.minimum(x - g_start[j], g_len[j]), 0)

    contrib = before(offset + dp.ends[run]) - before(offset + dp.starts[run])
    csum = np.concatenate(([0], np.cumsum(contrib)))
    bounds = np.concatenate(([0], np.cumsum(nd)))
    inter = csum[bounds[1:]] - csum[bounds[:-1]]
    union = dp.area[d] + gp.area[g] - inter
    if crowd is not None:
        union = np.where(crowd[g], dp.area[d], union)
    out[live] = np.divide(inter.astype(np.float64), union.astype(np.float64), out=np.zeros(len(d)), where=inter > 0)
    return out


def mask_iou_matrix(
    dt: Sequence[Rle], gt: Sequence[Rle], crowd: Sequence[bool] | BoolArray | None = None
) -> FloatArray:
    """All-pairs mask IoU, shape (len(dt), len(gt)), equal to ``pycocotools.mask.iou(dt, gt, crowd)``.

    Args:
        dt: detection (or annotator) masks.
        gt: ground-truth masks, all of the detections' size.
        crowd (None): (len(gt),) flags; for a crowd region the union is the detection's area.

    Returns:
        float64 in [0, 1]; masks of different sizes raise :class:`~quality_gates.errors.InputFormatError`
        (pycocotools answers -1).
    """
    c = None if crowd is None else np.asarray(crowd, dtype=bool).reshape(-1)
    if c is not None and len(c) != len(gt):
        raise ValueError(f"crowd has {len(c)} flags for {len(gt)} ground-truth masks")
    n, m = len(dt), len(gt)
    di = np.repeat(np.arange(n), m)
    gi = np.tile(np.arange(m), n)
    return _pair_iou(_pack(dt), _pack(gt), di, gi, c).reshape(n, m)


@dataclass(frozen=True, eq=False)
class MaskSet:
    """Instance masks over many images: the rows of a :class:`~quality_gates.boxes.BoxSet` plus one RLE each.

    Attributes:
        boxes: image, category, score, area, crowd flags and annotation ids per row (``xywh``: the COCO
            ``bbox`` or the mask's box). ``boxes.areas`` decides COCO's area ranges: for ground truth the
            COCO ``area`` field; for detections pycocotools uses the mask area, or ``w * h`` of the record's
            ``bbox`` when the results record carries one.
        masks: one :class:`Rle` per row, sized like its image.
    """

    boxes: BoxSet
    masks: tuple[Rle, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "masks", tuple(self.masks))
        if len(self.masks) != len(self.boxes):
            raise ValueError(f"MaskSet has {len(self.boxes)} rows but {len(self.masks)} masks")

    @classmethod
    def build(
        cls,
        image: Any,
        category: Any,
        masks: Sequence[Rle],
        *,
        score: Any = None,
        area: Any = None,
        iscrowd: Any = None,
        ann_id: Any = None,
        xywh: Any = None,
    ) -> MaskSet:
        """Rows from columns; ``area`` defaults to the mask area and ``xywh`` to the mask's box (as
        pycocotools' ``loadRes`` does for segmentation results)."""
        ms = tuple(masks)
        packed = _pack(ms) if xywh is None or area is None else None
        box = packed.bbox if packed is not None and xywh is None else xywh
        a = packed.area.astype(np.float64) if packed is not None and area is None else area
        return cls(BoxSet(image, category, box, score=score, area=a, iscrowd=iscrowd, ann_id=ann_id), ms)

    def __len__(self) -> int:
        return len(self.boxes)

    def select(self, mask: BoolArray | IntArray) -> MaskSet:
        """Rows chosen by a boolean mask or an index array, in that order."""
        idx = np.arange(len(self))[mask]
        return MaskSet(self.boxes.select(idx), tuple(self.masks[i] for i in idx))


def mask_pair_iou(dt: MaskSet, gt: MaskSet, *, crowd: bool = True) -> PairIouFn:
    """The IoU function of a matching between two mask sets, for :mod:`quality_gates.matching`'s ``iou_fn``.

    Args:
        dt, gt: the two sets; rows are what the function's index arguments refer to.
        crowd (True): honour ``gt``'s crowd flags (the union of a crowd region is the detection's area).
    """
    dp, gp = _pack(dt.masks), _pack(gt.masks)
    c = gt.boxes.crowd if crowd and gt.boxes.crowd.any() else None

    def iou(di: IntArray, gi: IntArray) -> FloatArray:
        return _pair_iou(dp, gp, di, gi, c)

    return iou


def match_masks_greedy(
    gt: MaskSet,
    dt: MaskSet,
    *,
    iou_thresholds: Sequence[float] | FloatArray = (0.5,),
    classwise: bool = True,
    gt_ignore: BoolArray | None = None,
    max_dets: int | None = None,
) -> Matching:
    """:func:`~quality_gates.matching.match_greedy` with mask IoU (crowd masks are ignore regions)."""
    return match_greedy(
        gt.boxes, dt.boxes, iou_thresholds=iou_thresholds, classwise=classwise, gt_ignore=gt_ignore,
        max_dets=max_dets, iou_fn=mask_pair_iou(dt, gt),
    )  # fmt: skip


def match_masks_by_iou(
    gt: MaskSet, dt: MaskSet, *, iou_threshold: float = 0.5, classwise: bool = True
) -> tuple[IntArray, IntArray, FloatArray]:
    """:func:`~quality_gates.matching.match_by_iou` with mask IoU (crowd flags not special), for golden-set
    error and agreement between people."""
    fn = mask_pair_iou(dt, gt, crowd=False)
    return match_by_iou(gt.boxes, dt.boxes, iou_threshold=iou_threshold, classwise=classwise, iou_fn=fn)
