"""What a gate evaluation looks at (:class:`GateInputs`) and the measurements derived from it, each computed
once and shared by the gates that need it (:class:`Measurements`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from quality_gates._types import IntArray
from quality_gates.agreement import AgreementReport, Level, detection_agreement
from quality_gates.boxes import BoxSet, LabelSet
from quality_gates.cocoeval import CocoEvalResult, coco_evaluate
from quality_gates.coverage import ReviewCoverage
from quality_gates.detection import DetectionMatch, match_detections
from quality_gates.drift import SchemaChange, pending_schema_changes, schema_changes
from quality_gates.errors import MissingInputError
from quality_gates.expectations import ExpectationsReport, run_expectations
from quality_gates.golden import GoldenSetReport, golden_set_error

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["GateInputs", "Measurements"]

T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class GateInputs:
    """Everything a policy may look at; every field but ``class_names`` is optional.

    Attributes:
        class_names: the schema's classes; class index ``k`` of every box set is ``class_names[k]``.
        golden (None): expert labels (the golden set), the default baseline.
        golden_images (None): the golden set's image ids, including images without objects; predictions and
            labels outside them are not judged against the golden set. Default: images with golden boxes.
        predictions (None): model predictions with scores (all of them; thresholds come from the policy).
        model_name ("model"): names the model run in per-source evidence (``"model:<name>"``).
        annotators (None): annotator name → labels of (some of) the golden images.
        references (None): other baselines by name (``precision: {baseline: v3}``).
        parent_distribution (None): class name → count in the parent version (drift gates).
        parent_class_names (None): the parent's schema; differences are schema changes.
        schema_change_records (None): explicit change records (override the computed ones).
        acknowledged_changes (()): keys of acknowledged schema changes (``"added:dog"``).
        current_distribution (None): class name → count in this version; default: annotators' boxes plus
            predictions at the model threshold.
        annotation_frame (None): the annotation table for the expectations gate.
        extra_expectations (()): expectations added to the suite (see :mod:`quality_gates.expectations`).
        review (None): review counts for the review-coverage gate.
        data_hashes ({}): input name → SHA-256 of the files or records evaluated (added to the report).
    """

    class_names: Sequence[str]
    golden: BoxSet | None = None
    golden_images: IntArray | None = None
    predictions: BoxSet | None = None
    model_name: str = "model"
    annotators: Mapping[str, LabelSet] | None = None
    references: Mapping[str, BoxSet] | None = None
    parent_distribution: Mapping[str, float] | None = None
    parent_class_names: Sequence[str] | None = None
    schema_change_records: Sequence[SchemaChange | Mapping[str, Any]] | None = None
    acknowledged_changes: Collection[str] = ()
    current_distribution: Mapping[str, float] | None = None
    annotation_frame: pd.DataFrame | None = None
    extra_expectations: Sequence[Any] = ()
    review: ReviewCoverage | None = None
    data_hashes: Mapping[str, str] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        """K."""
        return len(self.class_names)

    def content_hashes(self) -> dict[str, str]:
        """SHA-256 of each box input's contents, merged under the caller's ``data_hashes``."""
        out: dict[str, str] = {}
        if self.golden is not None:
            out["golden.boxes"] = self.golden.content_hash()
        if self.predictions is not None:
            out["predictions.boxes"] = self.predictions.content_hash()
        for name, ls in sorted((self.annotators or {}).items()):
            out[f"annotator:{name}.boxes"] = ls.boxes.content_hash()
        out.update(self.data_hashes)
        return out


class Measurements:
    """Lazily computed, cached measurements over one :class:`GateInputs`.

    Raises :class:`~quality_gates.errors.MissingInputError` (naming the gate) when asked for something whose
    inputs are absent.
    """

    def __init__(self, inputs: GateInputs) -> None:
        self.inputs = inputs
        self._cache: dict[tuple[Any, ...], Any] = {}

    def _cached(self, key: tuple[Any, ...], make: Callable[[], T]) -> T:
        if key not in self._cache:
            self._cache[key] = make()
        value: T = self._cache[key]
        return value

    def baseline(self, name: str, *, gate: str) -> BoxSet:
        """The baseline box set: ``"golden"`` or one of ``references``."""
        if name == "golden":
            if self.inputs.golden is None:
                raise MissingInputError(gate, "the golden set (ground truth)", hint="pass the golden labels")
            return self.inputs.golden
        refs = self.inputs.references or {}
        if name not in refs:
            known = ", ".join(["golden", *sorted(refs)])
            raise MissingInputError(gate, f"baseline {name!r}", hint=f"available baselines: {known}")
        return refs[name]

    def predictions(self, *, gate: str, baseline: str = "golden") -> BoxSet:
        """Model predictions, restricted to the golden images when judged against the golden set."""
        if self.inputs.predictions is None:
            raise MissingInputError(gate, "model predictions")
        pred = self.inputs.predictions
        if baseline == "golden" and self.inputs.golden_images is not None:
            pred = pred.select(np.isin(pred.image, self.inputs.golden_images))
        return pred

    def detection_match(self, *, baseline: str, iou: float, gate: str) -> DetectionMatch:
        """One class-wise matching of predictions to the baseline at ``iou``."""
        gt = self.baseline(baseline, gate=gate)
        dt = self.predictions(gate=gate, baseline=baseline)
        return self._cached(
            ("match", baseline, iou),
            lambda: match_detections(gt, dt, num_classes=self.inputs.num_classes, iou=iou),
        )

    def coco(self, *, baseline: str, gate: str) -> CocoEvalResult:
        """COCO AP/AR of the predictions against the baseline."""
        gt = self.baseline(baseline, gate=gate)
        dt = self.predictions(gate=gate, baseline=baseline)
        imgs = self.inputs.golden_images if baseline == "golden" else None
        return self._cached(
            ("coco", baseline),
            lambda: coco_evaluate(gt, dt, num_classes=self.inputs.num_classes, image_ids=imgs),
        )

    def label_sources(self, *, gate: str) -> dict[str, LabelSet]:
        """Annotators and the model run, as label sources for the golden-set error."""
        sources = dict(self.inputs.annotators or {})
        if self.inputs.predictions is not None:
            sources[f"model:{self.inputs.model_name}"] = LabelSet(self.inputs.predictions)
        if not sources:
            raise MissingInputError(gate, "labels to judge (annotator label sets or model predictions)")
        return sources

    def golden(self, *, iou: float, model_threshold: float, gate: str) -> GoldenSetReport:
        """Golden-set error per annotator, for the model run and pooled."""
        gt = self.baseline("golden", gate=gate)
        sources = self.label_sources(gate=gate)
        thr = {f"model:{self.inputs.model_name}": model_threshold}
        return self._cached(
            ("golden", iou, model_threshold),
            lambda: golden_set_error(
                gt,
                sources,
                num_classes=self.inputs.num_classes,
                iou=iou,
                thresholds=thr,
                golden_images=self.inputs.golden_images,
            ),
        )

    def agreement(self, *, iou: float, level: Level, gate: str) -> AgreementReport:
        """Krippendorff's alpha between annotators over object units."""
        ann = self.inputs.annotators or {}
        if len(ann) < 2:
            raise MissingInputError(gate, f"label sets of two or more annotators (got {len(ann)})")
        return self._cached(
            ("alpha", iou, level),
            lambda: detection_agreement(ann, num_classes=self.inputs.num_classes, iou=iou, level=level),
        )

    def current_distribution(self, *, model_threshold: float, gate: str) -> dict[str, float]:
        """Class name → count in this version (given, or annotators' boxes plus thresholded predictions)."""
        if self.inputs.current_distribution is not None:
            return {str(k): float(v) for k, v in self.inputs.current_distribution.items()}
        k = self.inputs.num_classes
        counts = np.zeros(k, dtype=np.int64)
        for ls in (self.inputs.annotators or {}).values():
            counts += ls.boxes.class_counts(k)
        if self.inputs.predictions is not None:
            counts += self.inputs.predictions.at_threshold(model_threshold).class_counts(k)
        if counts.sum() == 0:
            raise MissingInputError(gate, "the class distribution of this version (labels or predictions)")
        return {n: float(c) for n, c in zip(self.inputs.class_names, counts.tolist(), strict=True)}

    def parent_distribution(self, *, gate: str) -> dict[str, float]:
        """Class name → count in the parent version."""
        if self.inputs.parent_distribution is None:
            raise MissingInputError(gate, "the parent version's class distribution", hint="pass the parent labels")
        return {str(k): float(v) for k, v in self.inputs.parent_distribution.items()}

    def pending_changes(self) -> tuple[SchemaChange, ...]:
        """Schema changes against the parent that are not acknowledged."""
        recs = self.inputs.schema_change_records
        if recs is None:
            if self.inputs.parent_class_names is None:
                return ()
            recs = schema_changes(self.inputs.parent_class_names, self.inputs.class_names)
        return pending_schema_changes(recs, self.inputs.acknowledged_changes)

    def expectations(self, *, duplicate_iou: float, gate: str) -> ExpectationsReport:
        """The expectation suite's outcomes over the annotation frame."""
        frame = self.inputs.annotation_frame
        if frame is None:
            raise MissingInputError(gate, "the annotation table (a data frame of boxes with provenance)")
        return self._cached(
            ("expectations", duplicate_iou),
            lambda: run_expectations(
                frame,
                class_names=list(self.inputs.class_names),
                extra=self.inputs.extra_expectations,
                duplicate_iou=duplicate_iou,
            ),
        )

    def review(self, *, gate: str) -> ReviewCoverage:
        """Review counts."""
        if self.inputs.review is None:
            raise MissingInputError(gate, "review statistics (model labels reviewed / routed)")
        return self.inputs.review
