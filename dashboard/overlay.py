"""Labels drawn over an image: the one drawing function every view that shows labels on an item calls
(pure: Pillow and numpy in, a Pillow image out; no Streamlit).

How each geometry looks, in its class's colour: a box is outlined; a polygon has every part outlined over a
translucent fill; a mask is a translucent fill, a crowd mask (``attributes.coco.iscrowd = 1``) hatched and
dimmer; keypoints are a filled dot where ``v = 2`` (labelled, visible), a ring where ``v = 1`` (labelled, not
visible) and nothing where ``v = 0``, with the schema's skeleton as lines between labelled points; a point is a
dot; tags (image-level classes) are a badge in the bottom-left corner listing the class names, with the
model's confidence. Object labels carry their class name (and confidence) at their top-left corner.
Labels whose geometry does not read are listed in :attr:`Overlay.warnings` (see :mod:`dashboard.geometry`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from dashboard.geometry import Drawable, parse_label
from dashboard.highlight import HIGHLIGHT, bounds_of, frame  # HIGHLIGHT: re-exported

__all__ = ["CANVAS", "HIGHLIGHT", "PALETTE", "ClassStyle", "Overlay", "class_styles", "colour_of", "draw_labels"]

Rgb = tuple[int, int, int]

#: Class colours, in the schema's class order (Tableau 10).
PALETTE: tuple[Rgb, ...] = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
)  # fmt: skip
#: The background when the API gives no image pixels: labels are drawn on a blank canvas of the item's size.
CANVAS: Rgb = (246, 246, 246)
FILL_ALPHA = 90  # polygon fill
MASK_ALPHA = 110
CROWD_ALPHA = 40  # a crowd mask is dimmer ...
HATCH_ALPHA = 170  # ... and hatched with diagonal stripes
HATCH_PERIOD = 6  # px between stripes; each stripe is 2 px wide
POINT_RADIUS = 4  # px, keypoints and points
LINE_WIDTH = 2  # px, outlines and skeleton lines


@dataclass(frozen=True, slots=True)
class ClassStyle:
    """How a class is drawn: its colour, its keypoints' skeleton (0-based index pairs), its point count."""

    colour: Rgb
    skeleton: tuple[tuple[int, int], ...] = ()
    keypoint_count: int | None = None


@dataclass(frozen=True, eq=False)
class Overlay:
    """The drawn image and what a page shows around it.

    Attributes:
        image: RGB, the image's size times ``scale``.
        warnings: one text per label (or skeleton) that could not be drawn as stored, naming it and the field.
        legend: (class name, ``#rrggbb``) of every class drawn, in the schema's order.
        notes: how to read what was drawn (crowd hatching, keypoint symbols, scale), when it applies.
        tags: the image-level classes, ``name`` or ``name 0.91`` (a model's confidence).
        scale: drawn size / image size, at most 1.
        highlighted: the frame drawn around the ``highlight`` label, ``(x0, y0, x1, y1)`` px of the drawing;
            None when none was asked for or it has nothing to frame (a tag, a label that does not read).
    """

    image: Image.Image
    warnings: tuple[str, ...]
    legend: tuple[tuple[str, str], ...]
    notes: tuple[str, ...]
    tags: tuple[str, ...]
    scale: float
    highlighted: tuple[float, float, float, float] | None = None


def _pairs(spec: Mapping[str, Any]) -> tuple[tuple[int, int], ...]:
    raw = spec.get("skeleton") or ()
    out = []
    for pair in raw if isinstance(raw, Sequence) else ():
        if isinstance(pair, Sequence) and len(pair) == 2 and all(isinstance(i, int) for i in pair):
            out.append((int(pair[0]), int(pair[1])))
    return tuple(out)


def class_styles(classes: Sequence[Any]) -> dict[str, ClassStyle]:
    """Name → style of the schema's classes as the API gives them (``{name, geometry, keypoints: {names,
    skeleton, sigmas}}``), colours in class order; entries that are not such mappings are skipped."""
    styles: dict[str, ClassStyle] = {}
    for cls in classes:
        if not isinstance(cls, Mapping) or not isinstance(cls.get("name"), str):
            continue
        raw = cls.get("keypoints")
        spec: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        names = spec.get("names") if isinstance(spec.get("names"), list | tuple) else None
        colour = PALETTE[len(styles) % len(PALETTE)]
        styles[cls["name"]] = ClassStyle(colour, _pairs(spec), len(names) if names is not None else None)
    return styles


def colour_of(name: str, styles: Mapping[str, ClassStyle]) -> Rgb:
    """The class's colour: its schema position's, else one fixed by its name (the same on every page)."""
    if name in styles:
        return styles[name].colour
    return PALETTE[hashlib.sha256(name.encode()).digest()[0] % len(PALETTE)]


@cache
def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=11)


def _hex(rgb: Rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _valid_size(size: Any) -> tuple[int, int] | None:
    if isinstance(size, Sequence) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size):
        return int(size[0]), int(size[1])
    return None


def _extent(drawables: Sequence[Drawable]) -> tuple[int, int]:
    """(height, width) that holds every drawn coordinate, plus a margin: the canvas when the size is unknown."""
    xs, ys = [1.0], [1.0]
    for d in drawables:
        if d.box is not None:
            xs.append(d.box[0] + d.box[2])
            ys.append(d.box[1] + d.box[3])
        for part in d.polygons:
            xs.append(float(part[:, 0].max()))
            ys.append(float(part[:, 1].max()))
        if d.keypoints is not None:
            xs += [float(v) for v in d.keypoints[d.keypoints[:, 2] > 0, 0]]
            ys += [float(v) for v in d.keypoints[d.keypoints[:, 2] > 0, 1]]
        if d.point is not None:
            xs.append(d.point[0])
            ys.append(d.point[1])
    return max(32, int(np.ceil(max(ys))) + 8), max(32, int(np.ceil(max(xs))) + 8)


def _read(
    labels: Sequence[Any], size: tuple[int, int] | None, styles: Mapping[str, ClassStyle]
) -> tuple[list[Drawable], tuple[int, int]]:
    """The labels read against ``size``; without one, the first mask's size (the item's, by the contract) or
    the extent of the coordinates is the canvas, and a mask of another size is refused as it would be."""

    def read(i: int, label: Any, at: tuple[int, int] | None) -> Drawable:
        style = styles.get(str(label.get("category"))) if isinstance(label, Mapping) else None
        return parse_label(label, index=i, size=at, keypoint_count=style.keypoint_count if style else None)

    drawables = [read(i, lab, size) for i, lab in enumerate(labels)]
    if size is not None:
        return drawables, size
    first = next((d.mask.shape for d in drawables if d.mask is not None), None)
    if first is None:
        return drawables, _extent(drawables)
    found = (int(first[0]), int(first[1]))
    masks = [isinstance(lab, Mapping) and lab.get("geometry_type") == "mask" for lab in labels]
    return [
        read(i, lab, found) if m else d for i, (lab, d, m) in enumerate(zip(labels, drawables, masks, strict=True))
    ], found


def _anchor(d: Drawable) -> tuple[float, float] | None:
    if d.box is not None:
        return d.box[0], d.box[1]
    if d.polygons:
        return min(float(p[:, 0].min()) for p in d.polygons), min(float(p[:, 1].min()) for p in d.polygons)
    if d.mask is not None and d.mask.any():
        rows, cols = np.nonzero(d.mask)
        return float(cols.min()), float(rows.min())
    if d.keypoints is not None and (d.keypoints[:, 2] > 0).any():
        seen = d.keypoints[d.keypoints[:, 2] > 0]
        return float(seen[:, 0].min()), float(seen[:, 1].min())
    return d.point


def _caption(d: Drawable) -> str:
    return d.category if d.confidence is None else f"{d.category} {d.confidence:.2f}"


def _masks(drawables: Sequence[Drawable], styles: Mapping[str, ClassStyle], shape: tuple[int, int]) -> Image.Image:
    """One RGBA layer with every mask: translucent, crowd masks hatched and dimmer; a later mask covers an
    earlier one where they overlap."""
    h, w = shape
    layer = np.zeros((h, w, 4), dtype=np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    hatch = (xx + yy) % HATCH_PERIOD < 2
    for d in drawables:
        if d.mask is None:
            continue
        m = d.mask
        if m.shape != (h, w):
            m = np.asarray(Image.fromarray(m).resize((w, h), Image.Resampling.NEAREST))
        alpha = np.where(hatch, HATCH_ALPHA, CROWD_ALPHA) if d.crowd else np.full((h, w), MASK_ALPHA)
        layer[m] = (*colour_of(d.category, styles), 0)
        layer[..., 3][m] = alpha[m]
    return Image.fromarray(layer, "RGBA")


def _skeleton(
    draw: ImageDraw.ImageDraw, d: Drawable, style: ClassStyle | None, s: float, colour: Rgb, warnings: list[str]
) -> None:
    assert d.keypoints is not None
    k = len(d.keypoints)
    for i, j in style.skeleton if style else ():
        if not (0 <= i < k and 0 <= j < k):
            warnings.append(f"class {d.category}: skeleton pair ({i}, {j}) names a point outside 0..{k - 1}")
            continue
        a, b = d.keypoints[i], d.keypoints[j]
        if a[2] > 0 and b[2] > 0:
            draw.line([(a[0] * s, a[1] * s), (b[0] * s, b[1] * s)], fill=colour, width=LINE_WIDTH)


def _points(draw: ImageDraw.ImageDraw, d: Drawable, s: float, colour: Rgb) -> None:
    r = POINT_RADIUS
    points = d.keypoints if d.keypoints is not None else np.asarray([[*(d.point or (0, 0)), 2]])
    for x, y, v in points:
        box = (x * s - r, y * s - r, x * s + r, y * s + r)
        if v == 2:
            draw.ellipse(box, fill=colour, outline=(255, 255, 255))
        elif v == 1:
            draw.ellipse(box, outline=colour, width=LINE_WIDTH)


def _text(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, colour: Rgb, *, above: bool = True) -> None:
    """``text`` in white on a ``colour`` badge whose bottom-left (``above``) or top-left corner is ``xy``."""
    left, top, right, bottom = draw.textbbox((0, 0), text, font=_font())
    x, y = max(0.0, xy[0]), max(0.0, xy[1] - (bottom - top) - 4 if above else xy[1])
    draw.rectangle((x, y, x + right - left + 4, y + bottom - top + 4), fill=colour)
    draw.text((x + 2 - left, y + 2 - top), text, fill=(255, 255, 255), font=_font())


def _notes(drawn: Sequence[Drawable], styles: Mapping[str, ClassStyle], scale: float) -> list[str]:
    notes = []
    if any(d.crowd for d in drawn):
        notes.append("Crowd masks (iscrowd = 1) are hatched and dimmer.")
    if any(d.keypoints is not None for d in drawn):
        notes.append("Keypoints: ● labelled and visible (v = 2), ○ labelled, not visible (v = 1); lines: skeleton.")
        bare = sorted({d.category for d in drawn if d.keypoints is not None and not _has_skeleton(d, styles)})
        if bare:
            notes.append(f"No skeleton drawn for {', '.join(bare)}: the schema gives none.")
    if scale < 1:
        notes.append(f"Drawn at {scale:.0%} of the image's size.")
    return notes


def _has_skeleton(d: Drawable, styles: Mapping[str, ClassStyle]) -> bool:
    style = styles.get(d.category)
    return bool(style and style.skeleton)


def draw_labels(
    labels: Sequence[Any],
    *,
    image: Image.Image | None = None,
    size: Any = None,
    classes: Sequence[Any] = (),
    max_side: int = 1024,
    names: bool = True,
    highlight: int | None = None,
) -> Overlay:
    """Draw an item's labels over its image (or a blank canvas of its size).

    Args:
        labels: the item's labels as the API gives them (see :mod:`dashboard.geometry`).
        image (None): the item's pixels; None: a blank :data:`CANVAS`.
        size (None): (height, width) px of the item when there is no ``image``; None or not two positive
            integers: the first mask's size, else the extent of the labels' coordinates.
        classes (()): the schema's classes as the API gives them: colours in their order, skeletons, and the
            number of keypoints a label of each class must have.
        max_side (1024): the drawing is scaled down so that neither side exceeds this many px.
        names (True): write each object label's class (and confidence) at its top-left corner.
        highlight (None): the index in ``labels`` of one label to frame (``dashboard.highlight``), the one a
            page is talking about; out of range or a tag: nothing is framed.

    Returns:
        The :class:`Overlay`; labels that do not read are drawn as their box or not at all, and named in
        ``warnings``.
    """
    styles = class_styles(classes)
    known = (image.height, image.width) if image is not None else _valid_size(size)
    drawables, (h, w) = _read(labels, known, styles)
    scale = min(1.0, max_side / max(h, w))
    shape = (max(1, round(h * scale)), max(1, round(w * scale)))
    if image is not None:
        base = image.convert("RGBA").resize((shape[1], shape[0])) if scale < 1 else image.convert("RGBA")
    else:
        base = Image.new("RGBA", (shape[1], shape[0]), (*CANVAS, 255))
    warnings = [p for d in drawables for p in d.problems]
    drawn = [d for d in drawables if d.geometry_type not in ("none", "tag")]
    base = Image.alpha_composite(base, _masks(drawn, styles, shape))
    fills = Image.new("RGBA", base.size, (0, 0, 0, 0))
    fill_draw = ImageDraw.Draw(fills)
    for d in drawn:
        for part in d.polygons:
            fill_draw.polygon(
                [(x * scale, y * scale) for x, y in part], fill=(*colour_of(d.category, styles), FILL_ALPHA)
            )
    base = Image.alpha_composite(base, fills)
    draw = ImageDraw.Draw(base)
    for d in drawn:
        colour = colour_of(d.category, styles)
        for part in d.polygons:
            ring = [(x * scale, y * scale) for x, y in part]
            draw.line([*ring, ring[0]], fill=colour, width=LINE_WIDTH)
        if d.geometry_type == "box" and d.box is not None:
            x, y, bw, bh = (v * scale for v in d.box)
            draw.rectangle((x, y, x + bw, y + bh), outline=colour, width=LINE_WIDTH)
        if d.keypoints is not None:
            _skeleton(draw, d, styles.get(d.category), scale, colour, warnings)
        if d.keypoints is not None or d.point is not None:
            _points(draw, d, scale, colour)
    if names:
        for d in drawn:
            anchor = _anchor(d)
            if anchor is not None:
                _text(draw, (anchor[0] * scale, anchor[1] * scale), _caption(d), colour_of(d.category, styles))
    framed = None
    if highlight is not None and 0 <= highlight < len(drawables):
        bounds = bounds_of(drawables[highlight])
        if bounds is not None:
            framed = frame(draw, bounds, scale, base.size)
    tags = [_caption(d) for d in drawables if d.geometry_type == "tag"]
    if tags:
        _text(draw, (4, shape[0] - 4), " · ".join(tags), (40, 40, 40))
    seen = {d.category for d in drawables if d.geometry_type != "none"}
    order = [n for n in styles if n in seen] + sorted(seen - set(styles))
    legend = tuple((n, _hex(colour_of(n, styles))) for n in order)
    return Overlay(
        base.convert("RGB"), tuple(warnings), legend, tuple(_notes(drawn, styles, scale)), tuple(tags), scale, framed
    )
