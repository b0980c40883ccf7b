"""Label Studio's brush RLE (``brushlabels`` results, ``"format": "rle"``) decoded to a binary mask.

The layout is thi.ng's ``rle-pack`` (what Label Studio's front end writes and ``label_studio_converter.brush
.decode_rle`` reads), a big-endian bit stream over the bytes of ``value.rle``::

    num: 32 bits            values in the image (4 per pixel: R, G, B, A, row-major)
    word_size - 1: 5 bits   bits per value
    rle_sizes[0..3] - 1: 4 bits each
    then records until num values are out:
        repeat: 1 bit   1 = one value repeated, 0 = a run of literal values
        size index: 2 bits; count - 1: rle_sizes[index] bits
        the value (repeat) or count values (literal), word_size bits each

The mask is the alpha channel (the 4th value of each pixel) being non-zero, as the converter's layers are
(Label Studio writes 0 or 255). The records are walked in Python (each one's length depends on the one
before); the values are then read and expanded with numpy in one go, so the cost is per record, not per
pixel. Anything the stream does not hold up (too short, a run past ``num``, ``num`` not ``4·width·height``)
raises :class:`BrushError` with what was expected.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BrushError", "decode_brush"]

_HEADER_BITS = 32 + 5 + 4 * 4


class BrushError(ValueError):
    """Brush RLE that does not decode to a mask of the image's size."""


def _rle_bytes(rle: object) -> bytes:
    if isinstance(rle, bytes | bytearray):
        return bytes(rle)
    if not isinstance(rle, list) or not rle:
        raise BrushError("expected value.rle as a non-empty list of bytes (integers 0..255)")
    try:
        return bytes(rle)
    except (TypeError, ValueError):
        raise BrushError("expected value.rle as a list of integers 0..255") from None


def _values(padded: np.ndarray, pos: np.ndarray, bits: int) -> np.ndarray:
    """The ``bits``-bit big-endian words starting at each bit position ``pos`` (``bits`` <= 32)."""
    b = pos >> 3
    window = np.zeros(pos.shape, dtype=np.uint64)
    for k in range(5):
        window = (window << np.uint64(8)) | padded[b + k]
    shift = (np.uint64(40 - bits) - (pos & 7).astype(np.uint64)).astype(np.uint64)
    return ((window >> shift) & np.uint64((1 << bits) - 1)).astype(np.uint32)


def decode_brush(rle: object, *, width: int, height: int) -> np.ndarray:
    """The (height, width) boolean mask of a brush result's ``value.rle`` (module docstring).

    Raises ``BrushError`` when the stream is malformed or does not hold ``4 * width * height`` values."""
    data = _rle_bytes(rle)
    nbits = len(data) * 8
    if nbits < _HEADER_BITS:
        raise BrushError(f"brush RLE of {len(data)} bytes is shorter than its {_HEADER_BITS}-bit header")
    head = int.from_bytes(data[:7], "big") >> (56 - _HEADER_BITS)
    num = head >> 21
    word = ((head >> 16) & 0x1F) + 1
    sizes = [((head >> s) & 0xF) + 1 for s in (12, 8, 4, 0)]
    if num != 4 * width * height:
        raise BrushError(
            f"brush RLE holds {num} values, a {width}x{height} image needs {4 * width * height} (4 per pixel)"
        )
    # Walk the records: where each one's value(s) start, how many values it makes, and whether it repeats.
    buf = data + bytes(8)
    frombytes = int.from_bytes
    starts: list[int] = []
    counts: list[int] = []
    literal: list[bool] = []
    pos, i = _HEADER_BITS, 0
    while i < num:
        if pos + 3 > nbits:
            raise BrushError(f"brush RLE ends after {i} of {num} values")
        b, off = pos >> 3, pos & 7
        window = frombytes(buf[b : b + 5], "big")  # 40 bits: room for any 3 + 16-bit header at any offset
        repeat = (window >> (39 - off)) & 1
        k = sizes[(window >> (37 - off)) & 3]
        pos += 3
        if pos + k > nbits:
            raise BrushError(f"brush RLE ends after {i} of {num} values")
        n = 1 + ((window >> (37 - off - k)) & ((1 << k) - 1))
        pos += k
        if i + n > num:
            raise BrushError(f"a brush RLE run of {n} values passes the end of the image ({num} values)")
        starts.append(pos)
        counts.append(n)
        literal.append(not repeat)
        pos += word if repeat else n * word
        if pos > nbits:
            raise BrushError(f"brush RLE ends after {i} of {num} values")
        i += n
    start = np.asarray(starts, dtype=np.int64)
    count = np.asarray(counts, dtype=np.int64)
    lit = np.asarray(literal, dtype=bool)
    # One entry per value read: a literal record reads ``count`` words, a repeat record one.
    reads = np.where(lit, count, 1)
    record = np.repeat(np.arange(len(reads)), reads)
    k = np.arange(int(reads.sum()), dtype=np.int64) - np.repeat(np.cumsum(reads) - reads, reads)
    values = _values(np.frombuffer(buf, dtype=np.uint8).astype(np.uint64), start[record] + word * k, word)
    out = np.repeat(values, np.where(lit[record], 1, count[record]))
    mask: np.ndarray = out[3::4].reshape(height, width) != 0
    return mask
