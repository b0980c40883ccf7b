"""COCO run-length encoding, identical to pycocotools' mask API (``common/maskApi.c``).

An :class:`Rle` is pycocotools' uncompressed RLE: ``counts`` are the run lengths of the mask read in
column-major (Fortran) order, starting with a run of zeros (possibly empty) and alternating. Here: encoding
and decoding (``encode``/``decode``), the compressed string form (``rleToString`` / ``rleFrString``), the
union of masks (``rleMerge``), the bounding box (``rleToBbox``), and the foreground runs of many masks packed
together that the box and :mod:`quality_gates.masks`' IoU read. Counts that do not add up to
``height * width`` (where pycocotools reads past a buffer) raise
:class:`~quality_gates.errors.InputFormatError` naming the object.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from quality_gates._types import FloatArray, IntArray
from quality_gates.errors import InputFormatError

__all__ = ["Rle", "merge"]


def _bad(name: str, message: str) -> InputFormatError:
    return InputFormatError(name, "", message)


def _checked_counts(height: int, width: int, counts: Any, name: str) -> IntArray:
    if height < 1 or width < 1:
        raise _bad(name, f"RLE size must be positive, got {height}x{width}")
    arr = np.asarray(counts)
    if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer):
        raise _bad(name, "RLE counts must be a non-empty flat list of non-negative integers")
    if arr.dtype.kind == "O" or (arr.dtype.kind == "u" and arr.dtype.itemsize >= 8 and int(arr.max()) >= 2**63):
        raise _bad(name, "RLE counts must be integers that fit the mask")
    out = arr.astype(np.int64)
    if out.min() < 0:
        raise _bad(name, "RLE counts must be non-negative")
    if int(out.max()) > height * width:  # checked before summing: a sum of huge runs would wrap around in int64
        raise _bad(name, f"an RLE run of {int(out.max())} pixels is longer than the {height}x{width} mask")
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
    def _unchecked(cls, height: int, width: int, counts: IntArray) -> Rle:
        """An RLE from counts already known to be valid int64 (skips ``_checked_counts``; bulk paths only)."""
        r = object.__new__(cls)
        object.__setattr__(r, "height", height)
        object.__setattr__(r, "width", width)
        object.__setattr__(r, "counts", counts)
        return r

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


def _slices(values: IntArray, starts: IntArray) -> list[IntArray]:
    """``values`` cut before each of the ascending ``starts`` (the first is 0): views, like ``np.split``."""
    return [values[a:b] for a, b in itertools.pairwise([*starts.tolist(), len(values)])]


def _decode_strings(raw: Sequence[bytes], heights: IntArray, widths: IntArray) -> list[IntArray] | None:
    """``rleFrString`` of many compressed strings at once: the counts of each, or None when any string is
    invalid (then :meth:`Rle.from_string`, one by one, names the first bad one)."""
    n = len(raw)
    if n == 0:
        return []
    lens = np.fromiter((len(b) for b in raw), dtype=np.int64, count=n)
    if lens.min() == 0:
        return None
    # Characters '0'..'o' are 0..63; anything below '0' wraps to 208 and above.
    c = np.frombuffer(b"".join(raw), dtype=np.uint8) - np.uint8(48)
    if c.max() > 63:
        return None
    last_char = np.cumsum(lens) - 1
    if (c[last_char] >= 32).any():  # a string ending in the middle of a number
        return None
    # Numbers never straddle two strings: every string ends on a character without the "more" bit (0x20).
    ends = np.flatnonzero(c < 32)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    nlen = ends - starts + 1
    longest = int(nlen.max())
    if longest > 7:
        return None
    low = (c & 0x1F).astype(np.int64)
    x = low[starts]
    for j in range(1, longest):
        sel = np.flatnonzero(nlen > j)
        x[sel] |= low[starts[sel] + j] << (5 * j)
    neg = np.flatnonzero(low[ends] & 0x10)
    x[neg] |= -1 << (5 * nlen[neg])
    # Numbers per string; counts[j] = x[j] + counts[j - 2] for j >= 3 (j: the number's place in its string),
    # from running sums over every other number of the whole array, less their value before the string.
    per = np.diff(np.searchsorted(ends, np.concatenate(([-1], last_char)), side="right"))
    first = np.cumsum(per) - per
    cs = np.empty_like(x)
    cs[0::2] = np.cumsum(x[0::2])
    cs[1::2] = np.cumsum(x[1::2])
    before_odd = np.where(first > 0, cs[np.maximum(first - 1, 0)], 0)  # chain of j = 1, 3, 5, ...
    before_even = cs[first]  # chain of j = 2, 4, ... (j = 0 stands alone)
    j = np.arange(len(x)) - np.repeat(first, per)
    counts = cs - np.where(j % 2 == 1, np.repeat(before_odd, per), np.repeat(before_even, per))
    counts[first] = x[first]
    if counts.min() < 0:
        return None
    sums = np.add.reduceat(counts, first)
    if not np.array_equal(sums, np.asarray(heights, dtype=np.int64) * np.asarray(widths, dtype=np.int64)):
        return None
    return _slices(counts, first)


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


def _union_many(parts: Sequence[IntArray], group: IntArray, heights: IntArray, widths: IntArray) -> list[IntArray]:
    """``rleMerge`` of many groups of valid counts at once: group ``g`` unites the parts with ``group == g``
    (``group`` ascending, every group non-empty, sizes ``heights[g] x widths[g]``); counts per group."""
    n = len(heights)
    total = np.asarray(heights, dtype=np.int64) * np.asarray(widths, dtype=np.int64)
    lens = np.fromiter((len(p) for p in parts), dtype=np.int64, count=len(parts))
    counts = np.concatenate(parts)
    part = np.repeat(np.arange(len(parts)), lens)
    offset = np.cumsum(lens) - lens
    local = np.arange(len(counts)) - offset[part]
    pos = np.cumsum(counts) - counts
    pos -= pos[offset][part]
    fg = (local % 2 == 1) & (counts > 0)
    g = group[part[fg]]
    # Runs of all groups on one axis, each group in its own block, so that no union crosses groups.
    stride = int(total.max()) + 1
    s = g * stride + pos[fg]
    order = np.argsort(s, kind="stable")
    s, e, g = s[order], (s + counts[fg])[order], g[order]
    new = np.ones(len(s), dtype=bool)
    if len(s):
        new[1:] = s[1:] > np.maximum.accumulate(e)[:-1]
    heads = np.flatnonzero(new)
    run_s = s[heads] - g[heads] * stride
    run_e = (np.maximum.reduceat(e, heads) if len(s) else e[:0]) - g[heads] * stride
    run_g = g[heads]
    runs = np.bincount(run_g, minlength=n)
    run_first = np.cumsum(runs) - runs
    q = np.arange(len(run_g)) - run_first[run_g]
    prev_e = np.where(q > 0, np.concatenate(([0], run_e[:-1])), 0)
    last_e = np.zeros(n, dtype=np.int64)
    last_e[run_g] = run_e  # the last run of a group is written last
    tail = total - last_e
    has_tail = (tail > 0) | (runs == 0)
    size = 2 * runs + has_tail
    start = np.cumsum(size) - size
    out = np.empty(int(size.sum()), dtype=np.int64)
    at = start[run_g] + 2 * q
    out[at] = run_s - prev_e
    out[at + 1] = run_e - run_s
    out[(start + 2 * runs)[has_tail]] = tail[has_tail]
    return _slices(out, start)


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
