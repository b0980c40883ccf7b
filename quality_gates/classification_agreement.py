"""Agreement between annotators of classification labels: Krippendorff's alpha (nominal) over the items
themselves, overall and per class, with missing ratings allowed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from quality_gates._types import FloatArray, IntArray, JsonDict
from quality_gates.agreement import krippendorff_alpha
from quality_gates.classification import ClassLabels, ItemId, _names

__all__ = ["ClassificationAgreement", "classification_agreement", "reliability_data"]


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
    modes = {(annotators[a].num_classes, annotators[a].multi_label) for a in coders}
    if len(modes) > 1:
        raise ValueError(f"annotators disagree on K / multi_label: {sorted(modes)}")
    items = tuple(dict.fromkeys(i for a in coders for i in annotators[a].items))
    k = next(iter(modes))[0] if modes else 1
    multi = bool(modes) and next(iter(modes))[1]
    pooled = class_index is None and multi
    data = np.full((len(coders), len(items) * (k if pooled else 1)), np.nan)
    for r, a in enumerate(coders):
        ls = annotators[a]
        rows = np.array([ls.row(i) for i in items], dtype=np.int64)
        seen = rows >= 0
        ind = ls.indicator[rows[seen]]
        if pooled:
            data[r].reshape(len(items), k)[seen] = ind
        elif class_index is None:
            data[r, seen] = ind.argmax(axis=1)
        else:
            if not 0 <= class_index < k:
                raise ValueError(f"class_index {class_index} is outside 0..{k - 1}")
            data[r, seen] = ind[:, class_index]
    return items, data


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

    Args:
        annotators: name → labels (same K and mode); an item an annotator did not label is a missing value.
    """
    items, data = reliability_data(annotators)
    k = next(iter(annotators.values())).num_classes if annotators else 0
    per = tuple(_alpha(reliability_data(annotators, class_index=c)[1]) for c in range(k))
    counts: IntArray = np.zeros(len(items), dtype=np.int64)
    for ls in annotators.values():
        counts += np.array([ls.row(i) >= 0 for i in items], dtype=np.int64)
    multi = any(ls.multi_label for ls in annotators.values())
    return ClassificationAgreement(
        multi, _alpha(data), per, len(items), int((counts >= 2).sum()), tuple(sorted(annotators))
    )
