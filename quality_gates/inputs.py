"""What a gate evaluation looks at (:class:`GateInputs`) and the measurements derived from it, each computed
once and shared by the gates that need it (:class:`Measurements`; for classification
:class:`quality_gates.class_measure.ClassMeasurements`).

The inputs' ``task`` says what the labels are: ``detect`` (boxes, :class:`~quality_gates.boxes.BoxSet`),
``segment`` (instance masks, :class:`~quality_gates.masks.MaskSet`), ``pose`` (keypoint objects,
:class:`~quality_gates.keypoints.KeypointSet`, matched by OKS with ``oks_sigmas``) or ``classify`` (class sets
of whole items, :class:`~quality_gates.classification.ClassLabels`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from quality_gates._types import FloatArray, IntArray
from quality_gates.agreement import AgreementReport, Level, detection_agreement
from quality_gates.boxes import BoxSet, LabelSet
from quality_gates.classification import ClassLabels, items_digest
from quality_gates.cocoeval import CocoEvalParams, CocoEvalResult, coco_evaluate
from quality_gates.coverage import ReviewCoverage
from quality_gates.detection import DetectionMatch, match_detections
from quality_gates.drift import SchemaChange, pending_schema_changes, schema_changes
from quality_gates.errors import GateError, MissingInputError
from quality_gates.expectations import ExpectationsReport, run_expectations
from quality_gates.golden import GoldenSetReport, golden_set_error
from quality_gates.keypoints import KeypointSet, check_sigmas
from quality_gates.leakage import LeakageInputs
from quality_gates.masks import MaskSet
from quality_gates.policy import TASKS, Task
from quality_gates.shapes import Instances, content_hash, rows_of

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["GateInputs", "Labels", "Measurements", "Task"]

#: What one source's labels are, whatever the task.
Labels = BoxSet | MaskSet | KeypointSet | ClassLabels
_KIND: dict[str, tuple[type, ...]] = {
    "detect": (BoxSet,),
    "segment": (MaskSet,),
    "pose": (KeypointSet,),
    "classify": (ClassLabels,),
}

T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class GateInputs:
    """Everything a policy may look at; every field but ``class_names`` is optional.

    Attributes:
        class_names: the schema's classes; class index ``k`` of every label set is ``class_names[k]``.
        task ("detect"): ``detect``, ``segment``, ``pose`` or ``classify``; it fixes the kind of every label
            set below (boxes, masks, keypoint objects, class sets) and must be the policy's task.
        golden (None): expert labels (the golden set), the default baseline. classify: a ``ClassLabels``
            whose items are the golden items.
        golden_images (None): the golden set's image ids, including images without objects; predictions and
            labels outside them are not judged against the golden set. Default: images with golden boxes.
            Unused for classify.
        predictions (None): model predictions with scores (all of them; thresholds come from the policy).
            classify: a ``ClassLabels`` whose ``indicator`` holds the predicted classes and ``scores``
            (items × K) their confidences (0 where not predicted); a threshold keeps the classes scoring at
            least it (single-label: an item whose class scores below it has no prediction, hence is missing).
        model_name ("model"): names the model run in per-source evidence (``"model:<name>"``).
        annotators (None): annotator name → labels of (some of) the golden images: a ``LabelSet`` whose
            ``boxes`` hold the task's kind (``MaskSet``, ``KeypointSet``); classify: a ``ClassLabels`` (its
            items are the items that annotator labelled).
        references (None): other baselines by name (``precision: {baseline: v3}``), of the task's kind.
        oks_sigmas (None): (K_points,) the OKS sigmas of every keypoint object; required for pose.
        parent_distribution (None): class name → count in the parent version (drift gates).
        parent_class_names (None): the parent's schema; differences are schema changes.
        schema_change_records (None): explicit change records (override the computed ones).
        acknowledged_changes (()): keys of acknowledged schema changes (``"added:dog"``).
        current_distribution (None): class name → count in this version; default: annotators' labels plus
            predictions at the model threshold (classify: items per class).
        annotation_frame (None): the annotation table for the expectations gate.
        extra_expectations (()): expectations added to the suite (see :mod:`quality_gates.expectations`).
        review (None): review counts for the review-coverage gate.
        leakage (None): the judged models' training data and the golden set's item hashes, for the
            training-leakage gate (:mod:`quality_gates.leakage`); known on the record only.
        data_hashes ({}): input name → SHA-256 of the files or records evaluated (added to the report).
    """

    class_names: Sequence[str]
    task: Task = "detect"
    golden: Labels | None = None
    golden_images: IntArray | None = None
    predictions: Labels | None = None
    model_name: str = "model"
    annotators: Mapping[str, LabelSet] | Mapping[str, ClassLabels] | None = None
    references: Mapping[str, Labels] | None = None
    oks_sigmas: Sequence[float] | FloatArray | None = None
    parent_distribution: Mapping[str, float] | None = None
    parent_class_names: Sequence[str] | None = None
    schema_change_records: Sequence[SchemaChange | Mapping[str, Any]] | None = None
    acknowledged_changes: Collection[str] = ()
    current_distribution: Mapping[str, float] | None = None
    annotation_frame: pd.DataFrame | None = None
    extra_expectations: Sequence[Any] = ()
    review: ReviewCoverage | None = None
    leakage: LeakageInputs | None = None
    data_hashes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise GateError(f"GateInputs.task: expected one of {', '.join(TASKS)}, got {self.task!r}")
        kind = _KIND[self.task]
        want = " or ".join(k.__name__ for k in kind)
        named: list[tuple[str, Any]] = [("golden", self.golden), ("predictions", self.predictions)]
        named += [(f"references[{n!r}]", r) for n, r in (self.references or {}).items()]
        for n, a in (self.annotators or {}).items():
            named.append((f"annotators[{n!r}]", a if isinstance(a, ClassLabels) else getattr(a, "boxes", a)))
            if self.task != "classify" and not isinstance(a, LabelSet):
                raise GateError(f"GateInputs.annotators[{n!r}]: task {self.task!r} takes a LabelSet of {want}")
        for where, value in named:
            if value is not None and not isinstance(value, kind):
                raise GateError(f"GateInputs.{where}: task {self.task!r} takes {want}, got {type(value).__name__}")
        if self.task == "pose":
            if self.oks_sigmas is None:
                raise GateError("GateInputs.oks_sigmas: task 'pose' needs the OKS sigmas of the keypoints")
            sigmas = check_sigmas(self.oks_sigmas)
            for where, value in named:
                if isinstance(value, KeypointSet) and len(value) and value.keypoints.shape[1] != len(sigmas):
                    raise GateError(
                        f"GateInputs.{where}: {value.keypoints.shape[1]} points per object, but "
                        f"{len(sigmas)} OKS sigmas"
                    )
            object.__setattr__(self, "oks_sigmas", sigmas)

    @property
    def num_classes(self) -> int:
        """K."""
        return len(self.class_names)

    @property
    def sigmas(self) -> FloatArray | None:
        """The OKS sigmas as an array (pose), else None."""
        return None if self.oks_sigmas is None else np.asarray(self.oks_sigmas, dtype=np.float64)

    def content_hashes(self) -> dict[str, str]:
        """SHA-256 of each label input's contents, merged under the caller's ``data_hashes``. Boxes are
        ``<input>.boxes``, masks ``<input>.masks``, keypoint objects ``<input>.keypoints``, class sets
        ``<input>.classes``."""
        out: dict[str, str] = {}
        suffix = {"detect": "boxes", "segment": "masks", "pose": "keypoints", "classify": "classes"}[self.task]
        digests: dict[int, tuple[Any, bytes]] = {}  # sources read from one file share their item tuple

        def hash_of(labels: Labels) -> str:
            if not isinstance(labels, ClassLabels):
                return content_hash(labels)
            hit = digests.get(id(labels.items))
            if hit is None or hit[0] is not labels.items:
                hit = digests[id(labels.items)] = (labels.items, items_digest(labels.items))
            return labels.content_hash(items_sha256=hit[1])

        if self.golden is not None:
            out[f"golden.{suffix}"] = hash_of(self.golden)
        if self.predictions is not None:
            out[f"predictions.{suffix}"] = hash_of(self.predictions)
        annotators: Mapping[str, Any] = self.annotators or {}
        for name, ls in sorted(annotators.items()):
            out[f"annotator:{name}.{suffix}"] = hash_of(ls if isinstance(ls, ClassLabels) else ls.boxes)
        out.update(self.data_hashes)
        return out


class Measurements:
    """Lazily computed, cached measurements over one :class:`GateInputs` of objects (detect, segment, pose):
    matching by box IoU, mask IoU or OKS as the task says.

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

    def _labels(self, name: str, *, gate: str) -> Labels:
        if name == "golden":
            if self.inputs.golden is None:
                raise MissingInputError(gate, "the golden set (ground truth)", hint="pass the golden labels")
            return self.inputs.golden
        refs = self.inputs.references or {}
        if name not in refs:
            known = ", ".join(["golden", *sorted(refs)])
            raise MissingInputError(gate, f"baseline {name!r}", hint=f"available baselines: {known}")
        return refs[name]

    def baseline(self, name: str, *, gate: str) -> Instances:
        """The baseline objects: ``"golden"`` or one of ``references``."""
        found = self._labels(name, gate=gate)
        assert not isinstance(found, ClassLabels)  # GateInputs checks the kind against the task
        return found

    def predictions(self, *, gate: str, baseline: str = "golden") -> Instances:
        """Model predictions, restricted to the golden images when judged against the golden set."""
        pred = self.inputs.predictions
        if pred is None:
            raise MissingInputError(gate, "model predictions")
        assert not isinstance(pred, ClassLabels)
        if baseline == "golden" and self.inputs.golden_images is not None:
            pred = pred.select(np.isin(rows_of(pred).image, self.inputs.golden_images))
        return pred

    def detection_match(self, *, baseline: str, iou: float, gate: str) -> DetectionMatch:
        """One class-wise matching of predictions to the baseline at ``iou`` (the task's overlap)."""
        gt = self.baseline(baseline, gate=gate)
        dt = self.predictions(gate=gate, baseline=baseline)
        k = self.inputs.num_classes
        return self._cached(
            ("match", baseline, iou),
            lambda: match_detections(gt, dt, num_classes=k, iou=iou, sigmas=self.inputs.sigmas),
        )

    def coco(self, *, baseline: str, gate: str) -> CocoEvalResult:
        """COCO AP/AR of the predictions against the baseline: ``bbox``, ``segm`` or ``keypoints`` (with the
        inputs' OKS sigmas) by the task."""
        gt = self.baseline(baseline, gate=gate)
        dt = self.predictions(gate=gate, baseline=baseline)
        imgs = self.inputs.golden_images if baseline == "golden" else None
        sig = self.inputs.sigmas
        params = CocoEvalParams.keypoints(sig) if self.inputs.task == "pose" else None
        return self._cached(
            ("coco", baseline),
            lambda: coco_evaluate(gt, dt, num_classes=self.inputs.num_classes, image_ids=imgs, params=params),
        )

    def label_sources(self, *, gate: str) -> dict[str, LabelSet]:
        """Annotators and the model run, as label sources for the golden-set error."""
        sources: dict[str, LabelSet] = {}
        for name, ls in (self.inputs.annotators or {}).items():
            assert isinstance(ls, LabelSet)
            sources[name] = ls
        pred = self.inputs.predictions
        if pred is not None:
            assert not isinstance(pred, ClassLabels)
            sources[f"model:{self.inputs.model_name}"] = LabelSet(pred)
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
                sigmas=self.inputs.sigmas,
            ),
        )

    def agreement(self, *, iou: float, level: Level, gate: str) -> AgreementReport:
        """Krippendorff's alpha between annotators over object units."""
        ann = self.inputs.annotators or {}
        if len(ann) < 2:
            raise MissingInputError(gate, f"label sets of two or more annotators (got {len(ann)})")
        sets = {n: ls for n, ls in ann.items() if isinstance(ls, LabelSet)}
        return self._cached(
            ("alpha", iou, level),
            lambda: detection_agreement(
                sets, num_classes=self.inputs.num_classes, iou=iou, level=level, sigmas=self.inputs.sigmas
            ),
        )

    def current_distribution(self, *, model_threshold: float, gate: str) -> dict[str, float]:
        """Class name → count in this version (given, or annotators' objects plus thresholded predictions)."""
        if self.inputs.current_distribution is not None:
            return {str(k): float(v) for k, v in self.inputs.current_distribution.items()}
        k = self.inputs.num_classes
        counts = np.zeros(k, dtype=np.int64)
        for ls in (self.inputs.annotators or {}).values():
            assert isinstance(ls, LabelSet)
            counts += rows_of(ls.boxes).class_counts(k)
        pred = self.inputs.predictions
        if pred is not None:
            assert not isinstance(pred, ClassLabels)
            counts += rows_of(pred).at_threshold(model_threshold).class_counts(k)
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
