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

For detection, boxes are first grouped into *object units* across annotators by IoU; an annotator who
labelled the image but has no box in a unit contributes the value "no object", one who did not label the
image contributes nothing (missing). Per-class alpha is Krippendorff's category-specific alpha: the data
reduced to "class c" versus "anything else" (including "no object").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from quality_gates._types import FloatArray, IntArray
from quality_gates.boxes import BoxSet, LabelSet
from quality_gates.matching import match_by_iou

__all__ = [
    "AgreementReport",
    "Level",
    "ObjectUnits",
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
    m = counts.sum(axis=1)
    pairable = m >= 2
    if len(domain) < 2 or not pairable.any():
        return float("nan")
    c = counts[pairable]
    w = 1.0 / (m[pairable] - 1)
    o = (c * w[:, None]).T @ c
    o[np.diag_indices_from(o)] -= (c * w[:, None]).sum(axis=0)
    n_v = o.sum(axis=0)
    n = n_v.sum()
    e = (np.outer(n_v, n_v) - np.diag(n_v)) / (n - 1)
    d = _distance(domain, n_v, level)
    denom = float((e * d).sum())
    if denom == 0:
        return float("nan")
    return float(1 - (o * d).sum() / denom)


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


def object_units(label_sets: Mapping[str, LabelSet], *, num_classes: int, iou: float = 0.5) -> ObjectUnits:
    """Group boxes across annotators into object units by IoU.

    Annotators are taken in name order. The first one's boxes open units; each next annotator's boxes are
    matched one-to-one to the existing units of the same image by descending IoU (class-agnostic, so a
    class disagreement stays inside one unit), against the box that opened the unit; unmatched boxes open
    new units. Each annotator contributes at most one box per unit.

    Args:
        label_sets: annotator name → labels and the images they labelled (None: all images seen).
        num_classes: K; "no object" is coded as K.
        iou (0.5): IoU needed to join a unit.
    """
    names = tuple(sorted(label_sets))
    all_images = np.unique(
        np.concatenate([ls.boxes.image for ls in label_sets.values()] or [np.zeros(0, dtype=np.int64)])
    )
    unit_img = np.zeros(0, dtype=np.int64)
    unit_box = np.zeros((0, 4))
    members: list[tuple[IntArray, IntArray]] = []  # per coder: (unit index, class)
    for name in names:
        b = label_sets[name].boxes
        units = BoxSet(unit_img, np.zeros(len(unit_img), dtype=np.int64), unit_box)
        mine = BoxSet(b.image, np.zeros(len(b), dtype=np.int64), b.xywh)
        dt_match, _, _ = match_by_iou(units, mine, iou_threshold=iou, classwise=False)
        new = dt_match < 0
        first_new = len(unit_img)
        unit_of = dt_match.copy()
        unit_of[new] = first_new + np.arange(int(new.sum()))
        unit_img = np.concatenate([unit_img, b.image[new]])
        unit_box = np.concatenate([unit_box, b.xywh[new]])
        members.append((unit_of, b.category))
    n_units = len(unit_img)
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
) -> AgreementReport:
    """Alpha over object units formed by :func:`object_units`, overall and per class.

    Args:
        label_sets: annotator name → labels (two or more annotators).
        num_classes: K.
        iou (0.5): IoU for grouping boxes into a unit.
        level ("nominal"): level of measurement of the overall alpha (class labels are nominal).
    """
    units = object_units(label_sets, num_classes=num_classes, iou=iou)
    n_pairable = int(((~np.isnan(units.data)).sum(axis=0) >= 2).sum())
    domain = np.arange(num_classes + 1, dtype=np.float64)
    alpha = krippendorff_alpha(units.data, level=level, value_domain=domain)
    per = alpha_per_class(units.data, classes=np.arange(num_classes))
    return AgreementReport(alpha, per, units.data.shape[1], n_pairable, units.coders)
