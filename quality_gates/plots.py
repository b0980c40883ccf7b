"""The report-level evidence (:class:`ReportEvidence`): what the dashboard plots beside the gates' own
evidence, computed once when the gates run: precision–recall curve points per class and the confusion
matrix (with background) of the model's predictions against the golden set. For masks and keypoint objects
the matching is by mask IoU or OKS; for classification (:func:`classification_evidence`) the curves sweep the
model's class scores and the matrix counts items (no ``iou``).

Dict form (``to_dict``; empty without golden labels and predictions)::

    {"pr_curves": {class: {"thresholds": [...], "precision": [...], "recall": [... | null]}},
     "confusion_matrix": {"labels": [class..., "background"], "matrix": [[count]], "iou": float}}

(``iou`` absent for classification.)

Curve thresholds descend; a curve keeps at most :data:`MAX_CURVE_POINTS` points, evenly spaced along them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from quality_gates._json import Fields, as_int, as_list, as_number, as_optional_number
from quality_gates._types import FloatArray, IntArray, JsonDict
from quality_gates.detection import DetectionMatch, PRCurve, confusion_matrix
from quality_gates.errors import ReportFormatError
from quality_gates.shapes import Instances

__all__ = [
    "BACKGROUND",
    "MAX_CURVE_POINTS",
    "ConfusionMatrixPlot",
    "PRCurvePoints",
    "ReportEvidence",
    "classification_evidence",
    "detection_evidence",
]

#: Points kept per precision–recall curve.
MAX_CURVE_POINTS = 200
#: The confusion matrix's last label: no object (false positives in its row, misses in its column).
BACKGROUND = "background"


@dataclass(frozen=True)
class PRCurvePoints:
    """One class's precision–recall curve as plotted: descending thresholds, precision and recall at each
    (recall None when the class has no golden object); all three of one length, empty without predictions."""

    thresholds: tuple[float, ...]
    precision: tuple[float, ...]
    recall: tuple[float | None, ...]

    @classmethod
    def of(cls, curve: PRCurve, *, max_points: int = MAX_CURVE_POINTS) -> PRCurvePoints:
        """At most ``max_points`` points of ``curve``, evenly spaced along its thresholds (first and last kept)."""
        n = len(curve.thresholds)
        keep = np.unique(np.linspace(0, n - 1, min(n, max_points)).astype(int)) if n else np.zeros(0, dtype=int)
        return cls(
            tuple(float(v) for v in curve.thresholds[keep]),
            tuple(float(v) for v in curve.precision[keep]),
            tuple(None if np.isnan(v) else float(v) for v in curve.recall[keep]),
        )

    def to_dict(self) -> JsonDict:
        """``{thresholds, precision, recall}``."""
        return {"thresholds": list(self.thresholds), "precision": list(self.precision), "recall": list(self.recall)}

    @classmethod
    def from_dict(cls, data: object, *, key: str = "curve") -> PRCurvePoints:
        f = Fields(data, key)
        thr = as_list(f.get("thresholds"), f.at("thresholds"))
        n = len(thr)
        prec = as_list(f.get("precision"), f.at("precision"), length=n)
        rec = as_list(f.get("recall"), f.at("recall"), length=n)
        f.done()
        return cls(
            tuple(as_number(v, f"{f.at('thresholds')}[{i}]") for i, v in enumerate(thr)),
            tuple(as_number(v, f"{f.at('precision')}[{i}]") for i, v in enumerate(prec)),
            tuple(as_optional_number(v, f"{f.at('recall')}[{i}]") for i, v in enumerate(rec)),
        )


@dataclass(frozen=True)
class ConfusionMatrixPlot:
    """The confusion matrix as plotted: ``labels`` are the classes then :data:`BACKGROUND`; ``matrix[g][p]``
    counts golden objects of label ``g`` matched to predictions of label ``p`` (rows: golden, columns:
    predicted), at the model threshold and overlap ``iou`` (box IoU, mask IoU or OKS).

    Classification (``iou`` None, absent from the dict form): single-label, golden items of class ``g``
    predicted ``p``, the background column holding items without a prediction at the threshold; multi-label,
    each class is its own decision: true positives on the diagonal, missed classes in the background column,
    false positives in the background row."""

    labels: tuple[str, ...]
    matrix: tuple[tuple[int, ...], ...]
    iou: float | None

    def to_dict(self) -> JsonDict:
        """``{labels, matrix[, iou]}``."""
        out: JsonDict = {"labels": list(self.labels), "matrix": [list(r) for r in self.matrix]}
        if self.iou is not None:
            out["iou"] = self.iou
        return out

    @classmethod
    def from_dict(cls, data: object, *, key: str = "confusion_matrix") -> ConfusionMatrixPlot:
        f = Fields(data, key)
        labels = f.texts("labels")
        if not labels or labels[-1] != BACKGROUND:
            raise ReportFormatError(f.at("labels"), f"expected the class names then {BACKGROUND!r}, got {labels!r}")
        at = f.at("matrix")
        rows = as_list(f.get("matrix"), at, length=len(labels))
        matrix = tuple(
            tuple(as_int(v, f"{at}[{i}][{j}]") for j, v in enumerate(as_list(r, f"{at}[{i}]", length=len(labels))))
            for i, r in enumerate(rows)
        )
        out = cls(labels, matrix, f.number("iou") if "iou" in f else None)
        f.done()
        return out


@dataclass(frozen=True)
class ReportEvidence:
    """Plot data of a report: precision–recall curve points per class name, and the confusion matrix; None
    (absent from the dict form) when the inputs lack golden labels or predictions."""

    pr_curves: Mapping[str, PRCurvePoints] | None = None
    confusion_matrix: ConfusionMatrixPlot | None = None

    def to_dict(self) -> JsonDict:
        """``{pr_curves, confusion_matrix}``, each only when present (so ``{}`` without either)."""
        out: JsonDict = {}
        if self.pr_curves is not None:
            out["pr_curves"] = {name: c.to_dict() for name, c in self.pr_curves.items()}
        if self.confusion_matrix is not None:
            out["confusion_matrix"] = self.confusion_matrix.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: object, *, key: str = "evidence") -> ReportEvidence:
        f = Fields(data, key)
        curves, cm = None, None
        if "pr_curves" in f:
            curves = {name: PRCurvePoints.from_dict(v, key=path) for name, v, path in f.entries("pr_curves")}
        if "confusion_matrix" in f:
            cm = ConfusionMatrixPlot.from_dict(f.get("confusion_matrix"), key=f.at("confusion_matrix"))
        f.done()
        return cls(curves, cm)


def detection_evidence(
    golden: Instances,
    predictions: Instances,
    match: DetectionMatch,
    *,
    class_names: Sequence[str],
    threshold: float,
    sigmas: Sequence[float] | FloatArray | None = None,
) -> ReportEvidence:
    """PR curve points per class and the confusion matrix of ``predictions`` against ``golden``.

    Args:
        golden: the golden objects (boxes, masks or keypoint objects).
        predictions: the scored predictions judged (those on golden images), of the same kind.
        match: :func:`~quality_gates.detection.match_detections` of the two; its IoU is the matrix's.
        class_names: K names, class ``k`` of both sets is ``class_names[k]``.
        threshold: the model threshold: predictions with ``score >= threshold`` enter the matrix.
        sigmas (None): OKS sigmas, required for keypoint objects.
    """
    curves = {name: PRCurvePoints.of(c) for name, c in zip(class_names, match.curves(), strict=True)}
    cm = confusion_matrix(
        golden, predictions, num_classes=len(class_names), iou=match.iou, threshold=float(threshold), match=match,
        sigmas=sigmas,
    )  # fmt: skip
    matrix = tuple(tuple(int(v) for v in row) for row in cm)
    return ReportEvidence(curves, ConfusionMatrixPlot((*map(str, class_names), BACKGROUND), matrix, float(match.iou)))


def classification_evidence(
    curves: Sequence[PRCurve], matrix: IntArray, *, class_names: Sequence[str]
) -> ReportEvidence:
    """PR curve points per class (the curves of the model's class scores, see
    :func:`quality_gates.class_measure.decision_match`) and the (K + 1, K + 1) item confusion matrix."""
    points = {name: PRCurvePoints.of(c) for name, c in zip(class_names, curves, strict=True)}
    rows = tuple(tuple(int(v) for v in row) for row in matrix)
    return ReportEvidence(points, ConfusionMatrixPlot((*map(str, class_names), BACKGROUND), rows, None))
