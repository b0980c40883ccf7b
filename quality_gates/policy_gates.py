"""The gates of a policy: one pydantic model per gate (its bounds and options), :class:`Gates` (the configured
set, in the canonical order :data:`GATE_NAMES`), and which gates each task may configure (:data:`TASK_GATES`).

``quality_gates.policy`` re-exports every name; a policy names its task and the gates it configures there.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "GATE_NAMES",
    "TASKS",
    "TASK_GATES",
    "AccuracyGate",
    "Ap50Gate",
    "ClassDriftJsGate",
    "ClassDriftPsiGate",
    "ExpectationsGate",
    "F1Gate",
    "Gates",
    "GoldenSetErrorGate",
    "HammingLossGate",
    "KrippendorffAlphaGate",
    "LeakageMode",
    "MapGate",
    "PrecisionGate",
    "RecallGate",
    "ReviewCoverageGate",
    "Task",
    "TaskError",
    "TrainingLeakageGate",
    "Unit",
    "check_task",
]

#: What a dataset's labels are: boxes, instance masks (or polygons), keypoints, or class tags of whole items.
Task = Literal["detect", "segment", "pose", "classify"]
TASKS: tuple[Task, ...] = get_args(Task)

Unit = Annotated[float, Field(ge=0.0, le=1.0)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class GoldenSetErrorGate(Strict):
    """Block when the pooled golden-set error exceeds ``max``.

    max: highest allowed error in [0, 1]. iou (0.5): overlap for a match: box IoU (detect), mask IoU
    (segment), OKS (pose); classify compares items' class sets (the error is the misclassification rate) and
    refuses ``iou``. threshold (None): confidence cut for model labels; None takes the
    precision/recall/f1/accuracy/hamming_loss gate's threshold, else 0.
    """

    max: Unit
    iou: float = Field(0.5, gt=0.0, le=1.0)
    threshold: float | None = Field(None, ge=0.0, le=1.0)


class KrippendorffAlphaGate(Strict):
    """Block when Krippendorff's alpha between annotators is below ``min``.

    min: lowest allowed alpha in [-1, 1]. level ("nominal"): level of measurement. iou (0.5): overlap for
    grouping objects into units: box IoU (detect), mask IoU (segment), OKS (pose). classify: the units are
    the items themselves, nominal (per class for multi-label); ``iou`` and another level are refused.
    """

    min: float = Field(ge=-1.0, le=1.0)
    level: Literal["nominal", "ordinal", "interval", "ratio"] = "nominal"
    iou: float = Field(0.5, gt=0.0, le=1.0)


class _AgainstBaseline(Strict):
    min: Unit
    iou: float = Field(0.5, gt=0.0, le=1.0)
    baseline: str = Field("golden", min_length=1)
    threshold: float | None = Field(None, ge=0.0, le=1.0)


class PrecisionGate(_AgainstBaseline):
    """Block when overall (micro) precision is below ``min``.

    min in [0, 1]; iou (0.5): box IoU (detect), mask IoU (segment) or OKS (pose) for a match (classify:
    micro over the (item, class) decisions; ``iou`` refused); baseline ("golden", or a reference version's
    name); threshold (None): confidence cut in [0, 1], None counts every prediction.
    """


class RecallGate(_AgainstBaseline):
    """Block when overall (micro) recall is below ``min``; fields as :class:`PrecisionGate`."""


class F1Gate(_AgainstBaseline):
    """Block when overall (micro) F1 is below ``min``; fields as :class:`PrecisionGate`."""


class MapGate(Strict):
    """Block when COCO mAP (AP at IoU 0.50:0.95) is below ``min``; baseline as :class:`PrecisionGate`.
    detect: COCO ``bbox``; segment: ``segm`` (mask IoU); pose: ``keypoints`` (OKS); refused for classify."""

    min: Unit
    baseline: str = Field("golden", min_length=1)


class Ap50Gate(MapGate):
    """Block when COCO AP at IoU 0.50 is below ``min``."""


class AccuracyGate(Strict):
    """classify only: block when the accuracy (single-label; subset accuracy for multi-label) is below ``min``.

    min in [0, 1]; baseline ("golden"); threshold (None): confidence cut for the model's classes (single-label:
    an item whose top class scores below it is missing, hence wrong); None counts every prediction.
    """

    min: Unit
    baseline: str = Field("golden", min_length=1)
    threshold: float | None = Field(None, ge=0.0, le=1.0)


class HammingLossGate(Strict):
    """classify only: block when the Hamming loss (share of wrong (item, class) decisions) exceeds ``max``;
    baseline and threshold as :class:`AccuracyGate`."""

    max: Unit
    baseline: str = Field("golden", min_length=1)
    threshold: float | None = Field(None, ge=0.0, le=1.0)


class ClassDriftPsiGate(Strict):
    """Block when the PSI of the class distribution against the parent exceeds ``max`` (>= 0), or when
    schema changes are not acknowledged. epsilon (1e-4): proportion floor."""

    max: float = Field(ge=0.0)
    epsilon: float = Field(1e-4, gt=0.0, lt=1.0)


class ClassDriftJsGate(Strict):
    """Block when the Jensen–Shannon divergence (base 2, in [0, 1]) against the parent exceeds ``max``."""

    max: Unit


class ExpectationsGate(Strict):
    """Block when any expectation of the suite fails. suite ("default"): the label-aware default suite."""

    suite: Literal["default"] = "default"
    duplicate_iou: float = Field(0.95, gt=0.0, le=1.0)


class ReviewCoverageGate(Strict):
    """Block when the share of model labels reviewed by a human is below ``min`` (in [0, 1]), or, when
    ``min_routed`` is set, the share of routed low-confidence labels reviewed is below it."""

    min: Unit
    min_routed: float | None = Field(None, ge=0.0, le=1.0)


#: What a training-leakage check does with what it finds: block the version, warn (pass, saying so), or skip.
LeakageMode = Literal["block", "warn", "off"]


class TrainingLeakageGate(Strict):
    """Check what the models whose labels the version holds were trained on (:mod:`quality_gates.leakage`).

    golden ("block"): an item of the golden set (matched by content hash) in the training or validation data
    of such a model; needs the policy's golden set. autolabelled ("warn"): a model's labels on items in its
    own training data. unrecorded ("warn"): a model whose training data is not on the record (nothing to
    check it against). Each is ``block``, ``warn`` or ``off`` (YAML's bare ``off`` reads as false, taken as
    ``off``); a warning passes the gate and says so. At least one must not be ``off``.
    """

    golden: LeakageMode = "block"
    autolabelled: LeakageMode = "warn"
    unrecorded: LeakageMode = "warn"

    @field_validator("golden", "autolabelled", "unrecorded", mode="before")
    @classmethod
    def _bare_off(cls, value: object) -> object:
        # YAML 1.1 reads a bare `off` as false; `on`/true would be no mode at all and is refused below.
        return "off" if value is False else value

    @model_validator(mode="after")
    def _something_on(self) -> TrainingLeakageGate:
        if self.golden == self.autolabelled == self.unrecorded == "off":
            raise ValueError("golden, autolabelled and unrecorded are all off: remove the gate instead")
        return self


class Gates(Strict):
    """The configured gates; each key is optional, at least one must be present."""

    golden_set_error: GoldenSetErrorGate | None = None
    krippendorff_alpha: KrippendorffAlphaGate | None = None
    precision: PrecisionGate | None = None
    recall: RecallGate | None = None
    f1: F1Gate | None = None
    accuracy: AccuracyGate | None = None
    hamming_loss: HammingLossGate | None = None
    map: MapGate | None = None
    ap50: Ap50Gate | None = None
    class_drift_psi: ClassDriftPsiGate | None = None
    class_drift_js: ClassDriftJsGate | None = None
    expectations: ExpectationsGate | None = None
    review_coverage: ReviewCoverageGate | None = None
    training_leakage: TrainingLeakageGate | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> Gates:
        if not self.configured():
            raise ValueError(f"no gate configured; choose from: {', '.join(GATE_NAMES)}")
        return self

    def configured(self) -> list[str]:
        """Names of the configured gates, in the canonical order of :data:`GATE_NAMES`."""
        return [n for n in GATE_NAMES if getattr(self, n) is not None]


GATE_NAMES: tuple[str, ...] = tuple(Gates.model_fields)

#: The gates each task may configure.
TASK_GATES: dict[Task, tuple[str, ...]] = {
    "detect": tuple(n for n in GATE_NAMES if n not in ("accuracy", "hamming_loss")),
    "segment": tuple(n for n in GATE_NAMES if n not in ("accuracy", "hamming_loss")),
    "pose": tuple(n for n in GATE_NAMES if n not in ("accuracy", "hamming_loss")),
    "classify": tuple(n for n in GATE_NAMES if n not in ("map", "ap50", "expectations")),
}

_NOT_FOR: dict[str, str] = {
    "map": "COCO AP needs objects (boxes, masks or keypoints); classify gates accuracy, precision, recall, f1",
    "ap50": "COCO AP needs objects (boxes, masks or keypoints); classify gates accuracy, precision, recall, f1",
    "expectations": "the default suite checks boxes; classification labels have none",
    "accuracy": "accuracy and hamming_loss judge class labels of whole items and need `task: classify`",
    "hamming_loss": "accuracy and hamming_loss judge class labels of whole items and need `task: classify`",
}


def check_task(task: Task, gates: Gates) -> None:
    """Refuse a gate (or a gate field) that does not apply to ``task``, naming both."""
    for name in gates.configured():
        if name not in TASK_GATES[task]:
            unset = " (the default when `task` is unset)" if task == "detect" else ""
            raise TaskError(
                ("gates", name),
                f"gate {name!r} does not apply to task {task!r}{unset}: {_NOT_FOR[name]}; gates of task "
                f"{task!r}: {', '.join(TASK_GATES[task])}",
            )
        gate = getattr(gates, name)
        if task == "classify" and "iou" in gate.model_fields_set:
            raise TaskError(
                ("gates", name, "iou"),
                "task 'classify' matches items, not objects: no IoU/OKS applies; remove `iou`",
            )
        if task == "classify" and name == "krippendorff_alpha" and gate.level != "nominal":
            raise TaskError(
                ("gates", name, "level"),
                f"task 'classify' measures nominal alpha over class labels, got level {gate.level!r}",
            )


class TaskError(ValueError):
    """A gate that does not apply to the policy's task (turned into a PolicyError naming the field)."""

    def __init__(self, loc: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message
