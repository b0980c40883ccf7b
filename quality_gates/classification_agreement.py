"""Agreement between annotators of classification labels: Krippendorff's alpha (nominal) over the items
themselves, overall and per class, with missing ratings allowed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from quality_gates._types import FloatArray, IntArray, JsonDict
from quality_gates.agreement import alpha_from_counts, krippendorff_alpha
from quality_gates.classification import ClassLabels, ItemId, _names

__all__ = ["ClassificationAgreement", "classification_agreement", "reliability_data"]


def _union(annotators: Mapping[str, ClassLabels], coders: list[str]) -> tuple[tuple[ItemId, ...], IntArray]:
    """The items in order of first appearance (annotators by name) and each coder's row of each, -1 if absent."""
    first = annotators[coders[0]].items if coders else ()
    if all(annotators[a].items == first for a in coders):  # one shared item list (the common case): no lookups
        return tuple(first), np.tile(np.arange(len(first), dtype=np.int64), (len(coders), 1))
    items = tuple(dict.fromkeys(i for a in coders for i in annotators[a].items))
    rows = np.stack([annotators[a].rows(items) for a in coders]) if coders else np.zeros((0, 0), dtype=np.int64)
    return items, rows


def reliability_data(
    annotators: Mapping[str, ClassLabels], *, class_index: int | None = None
) -> tuple[tuple[ItemId, ...], FloatArray]:
    """Krippendorff reliability data (coders in name order × units), NaN where a coder did not label an item.

    Args:
        annotators: name → labels (same K and mode).
        class_index (None): None: single-label values are class indices; multi-label values are 0/1
            presence over (item, class) units, item-major. An int ``c``: 0/1 presence of class ``c``.

    Returns:
        ``(items, data)``: the items in order of first appearance (annotators by name) and the data.
    """
    coders = sorted(annotators)
    k, multi = _mode(annotators, coders)
    if class_index is not None and not 0 <= class_index < k:
        raise ValueError(f"class_index {class_index} is outside 0..{k - 1}")
    items, rows = _union(annotators, coders)
    return items, _data(annotators, coders, rows, k, multi, class_index)


def _mode(annotators: Mapping[str, ClassLabels], coders: list[str]) -> tuple[int, bool]:
    modes = {(annotators[a].num_classes, annotators[a].multi_label) for a in coders}
    if len(modes) > 1:
        raise ValueError(f"annotators disagree on K / multi_label: {sorted(modes)}")
    return next(iter(modes)) if modes else (1, False)


def _data(
    annotators: Mapping[str, ClassLabels],
    coders: list[str],
    rows: IntArray,
    k: int,
    multi: bool,
    class_index: int | None,
) -> FloatArray:
    n = rows.shape[1] if rows.ndim == 2 else 0
    pooled = class_index is None and multi
    data = np.full((len(coders), n * (k if pooled else 1)), np.nan)
    for r, a in enumerate(coders):
        seen = rows[r] >= 0
        ind = annotators[a].indicator[rows[r][seen]]
        if pooled:
            data[r].reshape(n, k)[seen] = ind
        elif class_index is None:
            data[r, seen] = ind.argmax(axis=1)
        else:
            data[r, seen] = ind[:, class_index]
    return data


@dataclass(frozen=True)
class ClassificationAgreement:
    """Krippendorff's alpha (nominal) between annotators over the items themselves.

    Attributes:
        multi_label: as the inputs.
        alpha: single-label: over class indices; multi-label: over (item, class) presence units. None when
            undefined (no item labelled twice, or no variation at all).
        per_class: per class, alpha of present/absent (single-label: "c" versus "not c"); None where undefined.
        n_units: items labelled by anyone; n_pairable: items labelled by two or more annotators.
        coders: annotator names.
    """

    multi_label: bool
    alpha: float | None
    per_class: tuple[float | None, ...]
    n_units: int
    n_pairable: int
    coders: tuple[str, ...]

    def to_dict(self, class_names: Sequence[str] | None = None) -> JsonDict:
        """JSON-safe evidence, ``per_class`` keyed by class name."""
        names = _names(class_names, len(self.per_class))
        keys = ("multi_label", "alpha", "n_units", "n_pairable")
        out: JsonDict = {k: getattr(self, k) for k in keys}
        return out | {"coders": list(self.coders), "per_class": dict(zip(names, self.per_class, strict=True))}


def _alpha(data: FloatArray) -> float | None:
    value = krippendorff_alpha(data, level="nominal")
    return value if np.isfinite(value) else None


def classification_agreement(annotators: Mapping[str, ClassLabels]) -> ClassificationAgreement:
    """Nominal Krippendorff's alpha between annotators, overall and per class, with missing ratings allowed.

    Computed from the unit-by-value counts directly (how many annotators gave each item each class, and how
    many labelled it), equal to :func:`~quality_gates.agreement.krippendorff_alpha` of
    :func:`reliability_data` without building the (coders × units) array.

    Args:
        annotators: name → labels (same K and mode); an item an annotator did not label is a missing value.
    """
    coders = sorted(annotators)
    k, multi = _mode(annotators, coders)
    items, rows = _union(annotators, coders)
    votes = np.zeros((len(items), k), dtype=np.float64)  # annotators giving item u class c
    m = np.zeros(len(items), dtype=np.float64)  # annotators labelling item u
    for r, a in enumerate(coders):
        ind = annotators[a].indicator
        if len(ind) == len(items) and (rows[r] == np.arange(len(items))).all():  # labelled every item, in order
            votes += ind
            m += 1
            continue
        seen = rows[r] >= 0
        votes[seen] += ind[rows[r][seen]]
        m[seen] += 1
    per = tuple(_binary_alpha(m, votes[:, c], len(coders)) for c in range(k)) if coders else ()
    alpha = _binary_alpha(np.repeat(m, k), votes.reshape(-1), len(coders)) if multi else _counts_alpha(votes)
    return ClassificationAgreement(multi, alpha, per, len(items), int((m >= 2).sum()), tuple(coders))


def _binary_alpha(m: FloatArray, yes: FloatArray, n_coders: int) -> float | None:
    """Alpha of present/absent data given, per unit, the coders ``m`` and those saying "present": units with
    the same (m, yes) are gathered (at most (coders + 1)² distinct rows)."""
    base = n_coders + 1
    key = m.astype(np.int64) * base + yes.astype(np.int64)
    weight = np.bincount(key, minlength=base * base).astype(np.float64)
    tm, ty = np.divmod(np.arange(base * base), base)
    table = np.column_stack([tm - ty, ty]).astype(np.float64)
    ok = (ty <= tm) & (weight > 0)
    value = alpha_from_counts(table[ok], level="nominal", weights=weight[ok])
    return value if np.isfinite(value) else None


def _counts_alpha(counts: FloatArray) -> float | None:
    value = alpha_from_counts(counts, level="nominal")
    return value if np.isfinite(value) else None
