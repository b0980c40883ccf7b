"""The measurements of a classification evaluation (``task: classify``), computed once and shared by the gates
that need them: the model's classes at a threshold, the report against a baseline, the decision table the PR
curves sweep, the item confusion matrix, the golden-set error per source and the agreement of annotators.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from quality_gates._types import FloatArray, IntArray
from quality_gates.classification import ClassificationReport, ClassLabels, classification_report
from quality_gates.classification_agreement import ClassificationAgreement, classification_agreement
from quality_gates.classification_golden import ClassificationGoldenSetReport, classification_golden_set_error
from quality_gates.detection import DetectionMatch, PRCurve
from quality_gates.errors import MissingInputError
from quality_gates.inputs import Measurements

__all__ = ["ClassMeasurements", "decision_match", "item_confusion"]


def decision_match(truth: ClassLabels, predictions: ClassLabels) -> DetectionMatch:
    """The model's (item, class) decisions on the truth items as a :class:`~quality_gates.detection.DetectionMatch`:
    one candidate per predicted class of a truth item, scored by its confidence (1.0 without scores), a hit when
    the truth item has that class; ``n_gt`` is the support of each class. Its counts at a threshold are the
    classification report's micro counts at that threshold; its curves are the PR curves of the class scores."""
    rows = predictions.rows(truth.items)
    present = rows >= 0
    ind = predictions.indicator[rows[present]]
    sc = predictions.scores[rows[present]] if predictions.scores is not None else ind.astype(np.float64)
    item, cls = np.nonzero(ind)
    hit = truth.indicator[np.flatnonzero(present)[item], cls]
    k = truth.num_classes
    n_gt = truth.indicator.sum(axis=0).astype(np.int64)
    empty = np.zeros(0, dtype=np.int64)
    return DetectionMatch(float("nan"), k, cls.astype(np.int64), sc[item, cls], hit, np.zeros(len(cls), bool),
                          empty, n_gt)  # fmt: skip


def item_confusion(rep: ClassificationReport) -> IntArray:
    """(K + 1, K + 1) items of golden class ``g`` predicted ``p``, the last column items without a prediction
    (single-label); multi-label: true positives on the diagonal, misses in the last column, false positives in
    the last row."""
    k = rep.num_classes
    cm = np.zeros((k + 1, k + 1), dtype=np.int64)
    if rep.confusion is not None:
        cm[:k, :k] = np.asarray(rep.confusion, dtype=np.int64).reshape(k, k)
        cm[:k, k] = rep.missing_per_class
    else:
        cm[np.arange(k), np.arange(k)] = rep.tp
        cm[:k, k] = rep.fn
        cm[k, :k] = rep.fp
    return cm


class ClassMeasurements(Measurements):
    """Cached measurements over classification inputs (``GateInputs.task == "classify"``)."""

    def class_baseline(self, name: str, *, gate: str) -> ClassLabels:
        """The baseline class sets: ``"golden"`` or one of ``references``."""
        found = self._labels(name, gate=gate)
        assert isinstance(found, ClassLabels)
        return found

    def class_predictions(self, *, threshold: float, gate: str) -> ClassLabels:
        """The model's classes scoring at least ``threshold``."""
        pred = self.inputs.predictions
        if pred is None:
            raise MissingInputError(gate, "model predictions")
        assert isinstance(pred, ClassLabels)
        return self._cached(("pred", threshold), lambda: pred.at_threshold(threshold))

    def report(self, *, baseline: str, threshold: float, gate: str) -> ClassificationReport:
        """Accuracy, Hamming loss, per-class P/R/F1 and confusion of the predictions at ``threshold``."""
        truth = self.class_baseline(baseline, gate=gate)
        pred = self.class_predictions(threshold=threshold, gate=gate)
        return self._cached(("report", baseline, threshold), lambda: classification_report(truth, pred))

    def decisions(self, *, baseline: str, gate: str) -> DetectionMatch:
        """The decision table of every prediction (all thresholds) against the baseline."""
        truth = self.class_baseline(baseline, gate=gate)
        pred = self.class_predictions(threshold=0.0, gate=gate)
        return self._cached(("decisions", baseline), lambda: decision_match(truth, pred))

    def curves(self, *, baseline: str, gate: str) -> list[PRCurve]:
        """Per class the precision–recall curve of the model's class scores against the baseline."""
        dm = self.decisions(baseline=baseline, gate=gate)
        return self._cached(("curves", baseline), dm.curves)

    def f1_optimal(self, *, baseline: str, gate: str) -> FloatArray:
        """(K,) the F1-maximising threshold per class of the model's class scores (NaN: never predicted)."""
        return np.array([c.best_threshold for c in self.curves(baseline=baseline, gate=gate)], dtype=np.float64)

    def class_sources(self, *, model_threshold: float, gate: str) -> dict[str, ClassLabels]:
        """Annotators and the model at its threshold, as sources for the golden-set error."""
        sources: dict[str, ClassLabels] = {}
        for name, ls in (self.inputs.annotators or {}).items():
            assert isinstance(ls, ClassLabels)
            sources[name] = ls
        if self.inputs.predictions is not None:
            sources[f"model:{self.inputs.model_name}"] = self.class_predictions(threshold=model_threshold, gate=gate)
        if not sources:
            raise MissingInputError(gate, "labels to judge (annotator label sets or model predictions)")
        return sources

    def class_golden(self, *, model_threshold: float, gate: str) -> ClassificationGoldenSetReport:
        """Misclassification rate per source and pooled; an annotator is judged on the items it labelled,
        the model on every golden item (an item it leaves without a class at the threshold is wrong)."""
        golden = self.class_baseline("golden", gate=gate)
        sources = self.class_sources(model_threshold=model_threshold, gate=gate)
        scopes = {n: ls.items for n, ls in (self.inputs.annotators or {}).items() if isinstance(ls, ClassLabels)}
        return self._cached(
            ("class_golden", model_threshold),
            lambda: classification_golden_set_error(golden, sources, scopes=scopes),
        )

    def class_agreement(self, *, gate: str) -> ClassificationAgreement:
        """Nominal Krippendorff's alpha of the annotators over the items."""
        ann = {n: ls for n, ls in (self.inputs.annotators or {}).items() if isinstance(ls, ClassLabels)}
        if len(ann) < 2:
            raise MissingInputError(gate, f"label sets of two or more annotators (got {len(ann)})")
        return self._cached(("class_alpha",), lambda: classification_agreement(ann))

    def current_distribution(self, *, model_threshold: float, gate: str) -> dict[str, float]:
        """Class name → items with that class in this version (given, or the annotators' labels plus the model's
        classes at its threshold)."""
        if self.inputs.current_distribution is not None:
            return {str(k): float(v) for k, v in self.inputs.current_distribution.items()}
        counts = np.zeros(self.inputs.num_classes, dtype=np.int64)
        for ls in (self.inputs.annotators or {}).values():
            assert isinstance(ls, ClassLabels)
            counts += ls.indicator.sum(axis=0)
        if self.inputs.predictions is not None:
            counts += self.class_predictions(threshold=model_threshold, gate=gate).indicator.sum(axis=0)
        if counts.sum() == 0:
            raise MissingInputError(gate, "the class distribution of this version (labels or predictions)")
        return {n: float(c) for n, c in zip(self.inputs.class_names, counts.tolist(), strict=True)}

    def expectations(self, *, duplicate_iou: float, gate: str) -> Any:
        """Refused: the expectation suite checks boxes (the policy refuses the gate for classify)."""
        raise MissingInputError(gate, "an annotation table of boxes; classification labels have none")
