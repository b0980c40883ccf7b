"""Threshold calibration against a golden set: pure functions over one matching (numpy only).

Predictions (at a low confidence floor) are matched to the golden boxes once, class-wise, greedily by score,
at IoU ``iou`` (:func:`quality_gates.match_detections`); every threshold is then read off that one matching.

- **F1-optimal** threshold per class: the threshold of maximum F1 on the class's PR curve
  (:meth:`quality_gates.DetectionMatch.curves`).
- **TBAL** (threshold-based auto-labelling) threshold per class: the *lowest* confidence ``t`` such that the
  auto-labelled error of the class's predictions at or above ``t``, ``FP / (TP + FP)``, has a one-sided
  Clopper–Pearson upper bound at ``level`` below ``target_error``. ``None`` when no threshold qualifies:
  that class is never auto-labelled. (Scanning thresholds is a search over many candidates, so the bound
  holds per threshold, not simultaneously; a larger golden set narrows the gap.)

Coverage ("how many items it would auto-label, how many go to people") applies the runner's own routing
(:func:`inference.routing.route_item`) to the golden items' predictions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from inference.routing import Thresholds, route_item
from inference.types import BoolArray, FloatArray
from quality_gates import DetectionMatch, clopper_pearson_interval

__all__ = [
    "CalibrationReport",
    "ClassCalibration",
    "Coverage",
    "TbalPoint",
    "calibrate_classes",
    "coverage",
    "one_sided_upper",
    "tbal_threshold",
    "thresholds_for",
]


def one_sided_upper(errors: int, n: int, *, level: float = 0.95) -> float:
    """One-sided Clopper–Pearson upper bound at ``level`` (in (0.5, 1)) on an error rate ``errors / n``.

    It is the upper end of the two-sided interval at confidence ``2 * level - 1``; 1.0 when ``n == 0``.
    """
    if not 0.5 < level < 1.0:
        raise ValueError(f"level must be within (0.5, 1), got {level}")
    return clopper_pearson_interval(errors, n, confidence=2 * level - 1)[1]


@dataclass(frozen=True, slots=True)
class TbalPoint:
    """A TBAL threshold and what it admits on the golden set: ``n`` predictions, ``fp`` of them wrong."""

    threshold: float
    n: int
    fp: int
    error: float
    upper: float


def tbal_threshold(
    score: FloatArray | Sequence[float],
    correct: BoolArray | Sequence[bool],
    *,
    target_error: float = 0.05,
    level: float = 0.95,
) -> TbalPoint | None:
    """The lowest threshold whose predictions at or above it have an error upper bound below ``target_error``.

    Args:
        score: (n,) confidences of one class's predictions.
        correct: (n,) whether each matched a golden box (a true positive).
        target_error (0.05): the bound must be strictly below it; in (0, 1).
        level (0.95): one-sided confidence of the Clopper–Pearson bound, in (0.5, 1).
    """
    if not 0.0 < target_error < 1.0:
        raise ValueError(f"target_error must be within (0, 1), got {target_error}")
    s = np.asarray(score, dtype=np.float64).reshape(-1)
    ok = np.asarray(correct, dtype=bool).reshape(-1)
    if len(s) != len(ok):
        raise ValueError(f"{len(s)} scores but {len(ok)} correctness flags")
    if len(s) == 0:
        return None
    order = np.argsort(-s, kind="stable")
    s, ok = s[order], ok[order]
    n = np.arange(1, len(s) + 1)
    fp = np.cumsum(~ok)
    last = np.flatnonzero(np.append(s[1:] != s[:-1], True))  # a threshold admits every tie
    best: TbalPoint | None = None
    for j in last:  # descending thresholds; keep the lowest that qualifies
        upper = one_sided_upper(int(fp[j]), int(n[j]), level=level)
        if upper < target_error:
            best = TbalPoint(float(s[j]), int(n[j]), int(fp[j]), float(fp[j] / n[j]), float(upper))
    return best


@dataclass(frozen=True, slots=True)
class ClassCalibration:
    """Calibration of one class on the golden set.

    Attributes:
        name: class name. n_gt: golden boxes. n_pred: predictions at the floor.
        f1_threshold, f1, precision, recall: the F1-optimal point (None without predictions).
        tbal: the TBAL threshold and its evidence (None: no threshold meets the target).
    """

    name: str
    n_gt: int
    n_pred: int
    f1_threshold: float | None
    f1: float | None
    precision: float | None
    recall: float | None
    tbal: TbalPoint | None


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def calibrate_classes(
    match: DetectionMatch, class_names: Sequence[str], *, target_error: float = 0.05, level: float = 0.95
) -> list[ClassCalibration]:
    """Per-class F1-optimal and TBAL thresholds from one matching (class ``k`` is ``class_names[k]``)."""
    if len(class_names) != match.num_classes:
        raise ValueError(f"{len(class_names)} class names for a matching of {match.num_classes} classes")
    out = []
    for k, curve in enumerate(match.curves()):
        sel = (match.category == k) & ~match.ignored
        has = len(curve.thresholds) > 0
        best = int(np.argmax(np.nan_to_num(curve.f1, nan=-1.0))) if has else -1
        out.append(
            ClassCalibration(
                name=class_names[k],
                n_gt=int(match.n_gt[k]),
                n_pred=int(sel.sum()),
                f1_threshold=_num(curve.best_threshold) if has else None,
                f1=_num(curve.best_f1) if has else None,
                precision=_num(float(curve.precision[best])) if has else None,
                recall=_num(float(curve.recall[best])) if has else None,
                tbal=tbal_threshold(match.score[sel], match.matched[sel], target_error=target_error, level=level),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class Coverage:
    """Items of the golden set the thresholds would auto-label (nothing routed) or send to people."""

    items: int
    auto_labelled: int
    to_humans: int
    labels: int
    wrong_labels: int


def coverage(items: Sequence[tuple[FloatArray, Sequence[str], BoolArray]], thresholds: Thresholds) -> Coverage:
    """Apply the runner's routing to golden items: each is ``(scores, class names, correct flags)``."""
    auto = labels = wrong = 0
    for scores, names, correct in items:
        route = route_item(scores, names, thresholds)
        auto += 0 if route.review else 1
        labels += int(route.accepted.sum())
        wrong += int((route.accepted & ~np.asarray(correct, dtype=bool)).sum())
    return Coverage(len(items), auto, len(items) - auto, labels, wrong)


@dataclass(frozen=True)
class CalibrationReport:
    """Everything calibration found, serialisable as evidence (:meth:`to_dict`)."""

    iou: float
    target_error: float
    level: float
    band: float
    classes: tuple[ClassCalibration, ...]
    coverage_f1: Coverage
    coverage_tbal: Coverage

    def thresholds(self, strategy: str) -> dict[str, float | None]:
        """``{class: threshold}`` for ``tbal`` or ``f1`` (``None``: never auto-label the class)."""
        if strategy == "tbal":
            return {c.name: (c.tbal.threshold if c.tbal else None) for c in self.classes}
        if strategy == "f1":
            return {c.name: c.f1_threshold for c in self.classes}
        raise ValueError(f"unknown strategy {strategy!r} (tbal or f1)")

    def to_dict(self) -> dict[str, Any]:
        return {
            "iou": self.iou,
            "target_error": self.target_error,
            "level": self.level,
            "band": self.band,
            "classes": [asdict(c) for c in self.classes],
            "thresholds": {"f1": self.thresholds("f1"), "tbal": self.thresholds("tbal")},
            "coverage": {"f1": asdict(self.coverage_f1), "tbal": asdict(self.coverage_tbal)},
        }


def thresholds_for(per_class: Mapping[str, float | None], *, band: float, default: float = 1.0) -> Thresholds:
    """Run thresholds from calibrated per-class values (classes left out use ``default``)."""
    return Thresholds(default=default, band=band, per_class=dict(per_class))
