"""The frame around the one label a page is about (the lineage explorer's chosen label): pure Pillow.

A frame, not a recolouring: the label keeps its class colour (the legend still reads), and a thick gold
line edged in black stands out on light and dark images alike.
"""

from __future__ import annotations

import numpy as np
from PIL import ImageDraw

from dashboard.geometry import Drawable

__all__ = ["HIGHLIGHT", "HIGHLIGHT_WIDTH", "bounds_of", "frame"]

#: The frame's colour (gold) and width in px; a dark edge of 1 px on each side.
HIGHLIGHT: tuple[int, int, int] = (255, 204, 0)
HIGHLIGHT_WIDTH = 4


def bounds_of(d: Drawable) -> tuple[float, float, float, float] | None:
    """``(x0, y0, x1, y1)`` px around what is drawn of ``d``; None when nothing is (a tag)."""
    if d.geometry_type in ("none", "tag"):
        return None
    if d.box is not None and d.geometry_type in ("box", "keypoints"):
        x, y, w, h = d.box
        return x, y, x + w, y + h
    if d.polygons:
        xs = [float(v) for p in d.polygons for v in p[:, 0]]
        ys = [float(v) for p in d.polygons for v in p[:, 1]]
        return min(xs), min(ys), max(xs), max(ys)
    if d.mask is not None and d.mask.any():
        rows, cols = np.nonzero(d.mask)
        return float(cols.min()), float(rows.min()), float(cols.max() + 1), float(rows.max() + 1)
    if d.keypoints is not None and (d.keypoints[:, 2] > 0).any():
        seen = d.keypoints[d.keypoints[:, 2] > 0]
        return float(seen[:, 0].min()), float(seen[:, 1].min()), float(seen[:, 0].max()), float(seen[:, 1].max())
    if d.point is not None:
        return d.point[0], d.point[1], d.point[0], d.point[1]
    if d.box is not None:
        x, y, w, h = d.box
        return x, y, x + w, y + h
    return None


def frame(
    draw: ImageDraw.ImageDraw, bounds: tuple[float, float, float, float], scale: float, size: tuple[int, int]
) -> tuple[float, float, float, float]:
    """A thick two-tone frame around ``bounds`` (dark outside, :data:`HIGHLIGHT` inside: visible on any
    image), kept inside the drawing; returns the frame's outer corners."""
    w, h = size
    x0, y0, x1, y1 = (v * scale for v in bounds)
    pad = HIGHLIGHT_WIDTH + 1
    box = (max(0.0, x0 - pad), max(0.0, y0 - pad), min(w - 1.0, x1 + pad), min(h - 1.0, y1 + pad))
    draw.rectangle(box, outline=(20, 20, 20), width=HIGHLIGHT_WIDTH + 2)
    inner = (box[0] + 1, box[1] + 1, box[2] - 1, box[3] - 1)
    if inner[2] > inner[0] and inner[3] > inner[1]:
        draw.rectangle(inner, outline=HIGHLIGHT, width=HIGHLIGHT_WIDTH)
    return box
