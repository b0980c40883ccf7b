"""Inter-annotator agreement: Krippendorff's alpha, for class labels and for boxes.

Reliability data is a (coders × units) float array with ``NaN`` for a missing value. Alpha is computed
from the coincidence matrix as in Krippendorff (2011, "Computing Krippendorff's alpha-reliability")::

    o[c, k] = Σ_u n_uc · n_uk / (m_u − 1)   (minus n_uc on the diagonal), over units with m_u ≥ 2 values
    e[c, k] = (n_c · n_k − δ_ck · n_c) / (n − 1)
    alpha   = 1 − Σ o·δ² / Σ e·δ²

with the unit-by-value counts built by one ``bincount`` and ``o`` by one matrix product: memory is
O(units × values + values²) instead of the ``krippendorff`` package's (units × values × values). The
distances δ² are the package's (nominal, ordinal, interval, ratio), so both give the same numbers
(:func:`alpha_reference` wraps the package for cross-checks). Alpha is NaN when undefined: fewer than two
distinct values, or no unit coded by two coders.

For detection, boxes are first grouped into *object units* across annotators by IoU (mask IoU for instance
masks, OKS for keypoint objects, the unit's first object giving OKS its scale); an annotator who
labelled the image but has no box in a unit contributes the value "no object", one who did not label the
image contributes nothing (missing). Per-class alpha is Krippendorff's category-specific alpha: the data
reduced to "class c" versus "anything else" (including "no object").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from quality_gates._types import FloatArray, IntArray
from quality_gates.boxes import BoxSet, LabelSet
from quality_gates.matching import match_by_iou
from quality_gates.shapes import concat, overlap_fn, rows_of

__all__ = [
    "AgreementReport",
    "Level",
    "ObjectUnits",
    "alpha_from_counts",
    "alpha_per_class",
    "alpha_reference",
    "detection_agreement",
    "krippendorff_alpha",
    "object_units",
    "value_counts",
]

Level = Literal["nominal", "ordinal", "interval", "ratio"]


def value_counts(data: FloatArray, *, value_domain: FloatArray | None = None) -> tuple[FloatArray, FloatArray]:
    """Unit-by-value counts of reliability data.

    Args:
        data: (coders, units) values with NaN for missing.
        value_domain (None): sorted possible values; default the distinct values present.

    Returns:
        ``(counts, domain)``: (units, V) float64 counts and the (V,) domain.
    """
    arr = np.asarray(data, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"reliability data must be 2-D (coders × units), got shape {arr.shape}")
    present = ~np.isnan(arr)
    values = arr[present]
    domain = np.unique(values) if value_domain is None else np.asarray(value_domain, dtype=np.float64)
    idx = np.searchsorted(domain, values)
    if len(values) and (idx.max() >= len(domain) or not np.array_equal(domain[idx], values)):
        raise ValueError("the reliability data contains values outside the value domain")
    unit = np.nonzero(present)[1]
    n_units, n_values = arr.shape[1], len(domain)
    flat = np.bincount(unit * n_values + idx, minlength=n_units * n_values).astype(np.float64)
    return flat.reshape(n_units, n_values), domain


def _distance(domain: FloatArray, n_v: FloatArray, level: Level) -> FloatArray:
    v1, v2 = domain[:, None], domain[None, :]
    if level == "nominal":
        nd: FloatArray = (v1 != v2).astype(np.float64)
        return nd
    if level == "interval":
        d: FloatArray = (v1 - v2) ** 2
        return d
    if level == "ratio":
        s = v1 + v2
        r = np.divide(v1 - v2, s, out=np.zeros(np.broadcast(v1, v2).shape), where=s != 0)
        out: FloatArray = r**2
        return out
    if level == "ordinal":
        idx = np.arange(len(domain))
        i1, i2 = np.minimum(idx[:, None], idx[None, :]), np.maximum(idx[:, None], idx[None, :])
        cum = np.concatenate([[0.0], np.cumsum(n_v)])
        between = cum[i2 + 1] - cum[i1]
        od: FloatArray = (between - (n_v[i1] + n_v[i2]) / 2) ** 2
        return od
    raise ValueError(f"unknown level of measurement {level!r}; expected nominal, ordinal, interval or ratio")


def alpha_from_counts(
    counts: FloatArray,
    *,
    level: Level = "nominal",
    domain: FloatArray | None = None,
    weights: FloatArray | None = None,
) -> float:
    """Krippendorff's alpha from unit-by-value counts (:func:`value_counts`' first result), NaN when undefined.

    Args:
        counts: (units, V) how many coders gave each unit each value.
        level ("nominal"): level of measurement.
        domain (None): (V,) the sorted values (needed beyond nominal); default ``0..V-1``.
        weights (None): (units,) how many units each row stands for (rows of equal counts gathered once).
    """
    c_all = np.asarray(counts, dtype=np.float64)
    m = c_all.sum(axis=1)
    pairable = m >= 2
    n_values = c_all.shape[1]
    if weights is not None:
        pairable &= np.asarray(weights) > 0
    if n_values < 2 or not pairable.any():
        return float("nan")
    c = c_all[pairable]
    w = 1.0 / (m[pairable] - 1)
    if weights is not None:
        w = w * np.asarray(weights, dtype=np.float64)[pairable]
    cw = c * w[:, None]
    o = cw.T @ c
    o[np.diag_indices_from(o)] -= cw.sum(axis=0)
    n_v = o.sum(axis=0)
    n = n_v.sum()
    e = (np.outer(n_v, n_v) - np.diag(n_v)) / (n - 1)
    dom = np.arange(n_values, dtype=np.float64) if domain is None else np.asarray(domain, dtype=np.float64)
    d = _distance(dom, n_v, level)
    denom = float((e * d).sum())
    if denom == 0:
        return float("nan")
    return float(1 - (o * d).sum() / denom)


def krippendorff_alpha(
    data: FloatArray,
    *,
    level: Level = "nominal",
    value_domain: FloatArray | None = None,
) -> float:
    """Krippendorff's alpha in [-1, 1] (1 = perfect agreement, 0 = chance), NaN when undefined.

    Args:
        data: (coders, units) values with NaN for missing.
        level ("nominal"): nominal, ordinal, interval or ratio.
        value_domain (None): sorted possible values (ordinal/interval/ratio need the true order);
            default the distinct values present.
    """
    counts, domain = value_counts(data, value_domain=value_domain)
    return alpha_from_counts(counts, level=level, domain=domain)


def alpha_reference(data: FloatArray, *, level: Level = "nominal", value_domain: Any = None) -> float:
    """Alpha computed by the ``krippendorff`` package (memory O(units × V²)); for tests and audits."""
    import krippendorff  # imported here: only cross-checks need it

    return float(krippendorff.alpha(reliability_data=data, level_of_measurement=level, value_domain=value_domain))


def alpha_per_class(data: FloatArray, *, classes: IntArray | None = None) -> dict[int, float]:
    """Category-specific nominal alpha: for each class ``c``, alpha of "c" versus "not c" (NaN if undefined).

    Args:
        data: (coders, units) nominal class indices with NaN for missing.
        classes (None): the class values to report; default those present.
    """
    arr = np.asarray(data, dtype=np.float64)
    present = ~np.isnan(arr)
    wanted = np.unique(arr[present]) if classes is None else np.asarray(classes)
    out = {}
    for c in wanted.tolist():
        binary = np.where(present, (arr == c).astype(np.float64), np.nan)
        out[int(c)] = krippendorff_alpha(binary, level="nominal", value_domain=np.array([0.0, 1.0]))
    return out


@dataclass(frozen=True, eq=False)
class ObjectUnits:
    """Boxes of several annotators grouped into object units.

    Attributes:
        coders: annotator names, the rows of ``data``.
        data: (coders, units) class index, ``no_object`` for "labelled the image, no box here", NaN for
            "did not label this image".
        image: (units,) image id of each unit.
        no_object: the value used for "no object" (K, one past the last class index).
    """

    coders: tuple[str, ...]
    data: FloatArray
    image: IntArray
    no_object: int


def object_units(
    label_sets: Mapping[str, LabelSet],
    *,
    num_classes: int,
    iou: float = 0.5,
    sigmas: Sequence[float] | FloatArray | None = None,
) -> ObjectUnits:
    """Group objects across annotators into object units by overlap.

    Annotators are taken in name order. The first one's objects open units; each next annotator's objects
    are matched one-to-one to the existing units of the same image by descending overlap (class-agnostic, so
    a class disagreement stays inside one unit), against the object that opened the unit; unmatched objects
    open new units. Each annotator contributes at most one object per unit.

    Args:
        label_sets: annotator name → labels (boxes, masks or keypoint objects, all of one kind) and the images
            they labelled (None: all images seen).
        num_classes: K; "no object" is coded as K.
        iou (0.5): overlap needed to join a unit: box IoU, mask IoU, or OKS (the unit's first object giving
            the scale).
        sigmas (None): OKS sigmas, required for keypoint objects.
    """
    names = tuple(sorted(label_sets))
    sets: list[Any] = [label_sets[n].boxes for n in names]  # one kind for all: BoxSet, MaskSet or KeypointSet
    all_images = np.unique(np.concatenate([rows_of(s).image for s in sets] or [np.zeros(0, dtype=np.int64)]))
    openers: list[Any] = []  # per coder, the objects that opened units, in unit order
    members: list[tuple[IntArray, IntArray]] = []  # per coder: (unit index, class)
    n_units = 0
    for mine in sets:
        b = rows_of(mine)
        units = concat(openers, like=mine) if openers else mine.select(np.zeros(0, dtype=np.int64))
        u = rows_of(units)
        fn = overlap_fn(mine, units, sigmas=sigmas, crowd=False)
        plain_units = BoxSet(u.image, np.zeros(len(u), dtype=np.int64), u.xywh)
        plain_mine = BoxSet(b.image, np.zeros(len(b), dtype=np.int64), b.xywh)
        dt_match, _, _ = match_by_iou(plain_units, plain_mine, iou_threshold=iou, classwise=False, iou_fn=fn)
        new = dt_match < 0
        unit_of = dt_match.copy()
        unit_of[new] = n_units + np.arange(int(new.sum()))
        n_units += int(new.sum())
        openers.append(mine.select(new))
        members.append((unit_of, b.category))
    unit_img = np.concatenate([rows_of(o).image for o in openers] or [np.zeros(0, dtype=np.int64)])
    data = np.full((len(names), n_units), np.nan)
    for row, name in enumerate(names):
        imgs = label_sets[name].images
        seen = np.isin(unit_img, all_images if imgs is None else imgs)
        data[row, seen] = num_classes
        unit_of, cat = members[row]
        data[row, unit_of] = cat
    return ObjectUnits(names, data, unit_img, num_classes)


@dataclass(frozen=True)
class AgreementReport:
    """Krippendorff's alpha over object units (or items).

    Attributes:
        alpha: overall nominal alpha (NaN when undefined).
        per_class: class index → category-specific alpha.
        n_units: units formed; n_pairable: units with values from two or more coders.
        coders: annotator names.
    """

    alpha: float
    per_class: dict[int, float]
    n_units: int
    n_pairable: int
    coders: tuple[str, ...]


def detection_agreement(
    label_sets: Mapping[str, LabelSet],
    *,
    num_classes: int,
    iou: float = 0.5,
    level: Level = "nominal",
    sigmas: Sequence[float] | FloatArray | None = None,
) -> AgreementReport:
    """Alpha over object units formed by :func:`object_units`, overall and per class.

    Args:
        label_sets: annotator name → labels (two or more annotators; boxes, masks or keypoint objects).
        num_classes: K.
        iou (0.5): overlap for grouping objects into a unit (box IoU, mask IoU or OKS).
        level ("nominal"): level of measurement of the overall alpha (class labels are nominal).
        sigmas (None): OKS sigmas, required for keypoint objects.
    """
    units = object_units(label_sets, num_classes=num_classes, iou=iou, sigmas=sigmas)
    n_pairable = int(((~np.isnan(units.data)).sum(axis=0) >= 2).sum())
    domain = np.arange(num_classes + 1, dtype=np.float64)
    alpha = krippendorff_alpha(units.data, level=level, value_domain=domain)
    per = alpha_per_class(units.data, classes=np.arange(num_classes))
    return AgreementReport(alpha, per, units.data.shape[1], n_pairable, units.coders)
