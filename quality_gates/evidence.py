"""The evidence of each gate kind, typed: what a gate measured beside its one value, in the dict form the
report, the API and the evidence bundle carry (``to_dict``) and back (``from_dict``, strict).

One class per gate family; :data:`EVIDENCE_TYPES` says which gate carries which. Undefined quantities
are None (never NaN); per-class and per-source values are keyed by class or source name.

==========================  ==============================================================================
gate                        evidence
==========================  ==============================================================================
golden_set_error            :class:`GoldenErrorEvidence`: pooled counts and intervals, per source
                            (annotator or ``model:<name>``) a :class:`SourceError`
krippendorff_alpha          :class:`AgreementEvidence`: units, coders, alpha per class
precision, recall, f1       :class:`PrecisionRecallEvidence`: counts at the threshold, the gate's metric
                            per class, the F1-optimal threshold per class
map, ap50                   :class:`CocoEvidence`: the 12 COCO summary numbers, AP per class
class_drift_psi, _js        :class:`DriftEvidence`: class shares of both versions, pending schema changes
expectations                :class:`ExpectationsEvidence`: every expectation's outcome
review_coverage             :class:`ReviewEvidence`: review counts and the routed share
training_leakage            :class:`LeakageEvidence`: per judged model, its training and validation
                            versions and the golden items and its own labelled items they hold (counts);
                            every task, in :data:`RECORD_EVIDENCE_TYPES` (its inputs exist on the record only)
==========================  ==============================================================================

Segmentation and pose gates carry the same types (their ``iou`` is mask IoU or OKS). A classification
report's gates carry the types of :mod:`quality_gates.evidence_classify` where they differ
(:func:`evidence_types` gives the table of each task).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeAlias

from quality_gates._json import Fields, finite_or_none
from quality_gates._types import JsonDict
from quality_gates.errors import ReportFormatError
from quality_gates.evidence_checks import DriftEvidence, ExpectationsEvidence, ReviewEvidence
from quality_gates.evidence_classify import (
    ClassAgreementEvidence,
    ClassGoldenEvidence,
    ClassificationEvidence,
)
from quality_gates.evidence_leakage import LeakageEvidence
from quality_gates.golden import GoldenError

__all__ = [
    "CLASSIFY_EVIDENCE_TYPES",
    "EVIDENCE_TYPES",
    "RECORD_EVIDENCE_TYPES",
    "AgreementEvidence",
    "CocoEvidence",
    "DriftEvidence",
    "ExpectationsEvidence",
    "GateEvidence",
    "GoldenErrorEvidence",
    "LeakageEvidence",
    "PrecisionRecallEvidence",
    "ReviewEvidence",
    "SourceError",
    "evidence_from_dict",
    "evidence_types",
]

Interval: TypeAlias = tuple[float, float]
PerClass: TypeAlias = Mapping[str, float | None]


@dataclass(frozen=True)
class SourceError:
    """Golden-set error of one label source: matched, extra and missed objects, the error (None when there
    was nothing to judge) and its 95% Wilson and Clopper–Pearson intervals."""

    tp: int
    fp: int
    fn: int
    error: float | None
    wilson: Interval
    clopper_pearson: Interval

    @classmethod
    def of(cls, g: GoldenError) -> SourceError:
        """From a :class:`~quality_gates.golden.GoldenError`."""
        return cls(g.tp, g.fp, g.fn, finite_or_none(g.error), g.wilson, g.clopper_pearson)

    def to_dict(self) -> JsonDict:
        """``{tp, fp, fn, error, wilson, clopper_pearson}``."""
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "error": self.error,
            "wilson": list(self.wilson),
            "clopper_pearson": list(self.clopper_pearson),
        }

    @classmethod
    def from_dict(cls, data: object, *, key: str = "source") -> SourceError:
        f = Fields(data, key)
        out = cls(f.count("tp"), f.count("fp"), f.count("fn"), f.optional_number("error"), f.pair("wilson"),
                  f.pair("clopper_pearson"))  # fmt: skip
        f.done()
        return out


@dataclass(frozen=True)
class GoldenErrorEvidence:
    """Evidence of ``golden_set_error``: IoU and model threshold used, the pooled trials (labels plus golden
    objects) and errors with their intervals, and the error of each source."""

    iou: float
    model_threshold: float
    trials: int
    errors: int
    wilson: Interval
    clopper_pearson: Interval
    per_source: Mapping[str, SourceError]

    def to_dict(self) -> JsonDict:
        """``{iou, model_threshold, trials, errors, wilson, clopper_pearson, per_source: {source: ...}}``."""
        return {
            "iou": self.iou,
            "model_threshold": self.model_threshold,
            "trials": self.trials,
            "errors": self.errors,
            "wilson": list(self.wilson),
            "clopper_pearson": list(self.clopper_pearson),
            "per_source": {name: s.to_dict() for name, s in self.per_source.items()},
        }

    @classmethod
    def from_dict(cls, data: object, *, key: str = "evidence") -> GoldenErrorEvidence:
        f = Fields(data, key)
        out = cls(
            f.number("iou"),
            f.number("model_threshold"),
            f.count("trials"),
            f.count("errors"),
            f.pair("wilson"),
            f.pair("clopper_pearson"),
            {name: SourceError.from_dict(v, key=path) for name, v, path in f.entries("per_source")},
        )
        f.done()
        return out


@dataclass(frozen=True)
class AgreementEvidence:
    """Evidence of ``krippendorff_alpha``: level and IoU, object units formed and those two or more coders
    labelled, the coders, and alpha per class (classes no unit holds are absent; None where undefined)."""

    level: str
    iou: float
    units: int
    pairable_units: int
    coders: tuple[str, ...]
    per_class: PerClass

    def to_dict(self) -> JsonDict:
        """``{level, iou, units, pairable_units, coders, per_class: {class: alpha}}``."""
        return {
            "level": self.level,
            "iou": self.iou,
            "units": self.units,
            "pairable_units": self.pairable_units,
            "coders": list(self.coders),
            "per_class": dict(self.per_class),
        }

    @classmethod
    def from_dict(cls, data: object, *, key: str = "evidence") -> AgreementEvidence:
        f = Fields(data, key)
        out = cls(f.text("level"), f.number("iou"), f.count("units"), f.count("pairable_units"), f.texts("coders"),
                  f.numbers("per_class"))  # fmt: skip
        f.done()
        return out


@dataclass(frozen=True)
class PrecisionRecallEvidence:
    """Evidence of ``precision``, ``recall`` and ``f1``: the confidence threshold, IoU and baseline, pooled
    counts, the gate's metric per class and the F1-optimal threshold per class (None where undefined)."""

    threshold: float
    iou: float
    baseline: str
    tp: int
    fp: int
    fn: int
    per_class: PerClass
    f1_optimal_threshold: PerClass

    def to_dict(self) -> JsonDict:
        """``{threshold, iou, baseline, tp, fp, fn, per_class, f1_optimal_threshold}``."""
        return {
            "threshold": self.threshold,
            "iou": self.iou,
            "baseline": self.baseline,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "per_class": dict(self.per_class),
            "f1_optimal_threshold": dict(self.f1_optimal_threshold),
        }

    @classmethod
    def from_dict(cls, data: object, *, key: str = "evidence") -> PrecisionRecallEvidence:
        f = Fields(data, key)
        out = cls(f.number("threshold"), f.number("iou"), f.text("baseline"), f.count("tp"), f.count("fp"),
                  f.count("fn"), f.numbers("per_class"), f.numbers("f1_optimal_threshold"))  # fmt: skip
        f.done()
        return out


@dataclass(frozen=True)
class CocoEvidence:
    """Evidence of ``map`` and ``ap50``: the baseline, COCO's summary numbers by name (-1 where COCO has
    none), AP per class, and how many matches to ground-truth annotation id 0 counted as misses (0: none;
    the dict form carries the key only when there were some)."""

    baseline: str
    coco_stats: PerClass
    per_class: PerClass
    id_zero_matches: int = 0

    def to_dict(self) -> JsonDict:
        """``{baseline, coco_stats, per_class[, id_zero_matches]}``."""
        out: JsonDict = {"baseline": self.baseline, "coco_stats": dict(self.coco_stats),
                         "per_class": dict(self.per_class)}  # fmt: skip
        if self.id_zero_matches:
            out["id_zero_matches"] = self.id_zero_matches
        return out

    @classmethod
    def from_dict(cls, data: object, *, key: str = "evidence") -> CocoEvidence:
        f = Fields(data, key)
        zero = 0
        if "id_zero_matches" in f:
            zero = f.count("id_zero_matches")
            if zero == 0:
                raise ReportFormatError(f.at("id_zero_matches"), "expected a count >= 1 (0 is written as no key)")
        out = cls(f.text("baseline"), f.numbers("coco_stats"), f.numbers("per_class"), zero)
        f.done()
        return out


GateEvidence: TypeAlias = (
    GoldenErrorEvidence
    | AgreementEvidence
    | PrecisionRecallEvidence
    | CocoEvidence
    | DriftEvidence
    | ExpectationsEvidence
    | ReviewEvidence
    | ClassGoldenEvidence
    | ClassAgreementEvidence
    | ClassificationEvidence
    | LeakageEvidence
)

#: Gate name → the type of its evidence (tasks detect, segment and pose).
EVIDENCE_TYPES: dict[str, type[GateEvidence]] = {
    "golden_set_error": GoldenErrorEvidence,
    "krippendorff_alpha": AgreementEvidence,
    "precision": PrecisionRecallEvidence,
    "recall": PrecisionRecallEvidence,
    "f1": PrecisionRecallEvidence,
    "map": CocoEvidence,
    "ap50": CocoEvidence,
    "class_drift_psi": DriftEvidence,
    "class_drift_js": DriftEvidence,
    "expectations": ExpectationsEvidence,
    "review_coverage": ReviewEvidence,
}


#: Gate name → the type of its evidence, task classify.
CLASSIFY_EVIDENCE_TYPES: dict[str, type[GateEvidence]] = {
    "golden_set_error": ClassGoldenEvidence,
    "krippendorff_alpha": ClassAgreementEvidence,
    "precision": ClassificationEvidence,
    "recall": ClassificationEvidence,
    "f1": ClassificationEvidence,
    "accuracy": ClassificationEvidence,
    "hamming_loss": ClassificationEvidence,
    "class_drift_psi": DriftEvidence,
    "class_drift_js": DriftEvidence,
    "review_coverage": ReviewEvidence,
}

#: Gate name → the type of its evidence, for the gates whose inputs exist on the record only (every task).
RECORD_EVIDENCE_TYPES: dict[str, type[GateEvidence]] = {"training_leakage": LeakageEvidence}

_CLASSIFY_ONLY = frozenset(CLASSIFY_EVIDENCE_TYPES) - frozenset(EVIDENCE_TYPES)


def evidence_types(task: str) -> dict[str, type[GateEvidence]]:
    """Gate name → evidence type for a report of ``task`` (``detect``, ``segment``, ``pose`` or ``classify``):
    the task's table plus :data:`RECORD_EVIDENCE_TYPES`."""
    return {**(CLASSIFY_EVIDENCE_TYPES if task == "classify" else EVIDENCE_TYPES), **RECORD_EVIDENCE_TYPES}


def evidence_from_dict(gate: str, data: object, *, key: str = "evidence", task: str | None = None) -> GateEvidence:
    """The evidence of gate ``gate`` from its dict form.

    Args:
        gate: the gate's name.
        data: the dict form.
        key ("evidence"): where it sits in the report, for errors.
        task (None): the report's task; None: ``classify`` for the gates only classification has
            (accuracy, hamming_loss), else ``detect``.

    Raises:
        ReportFormatError: an unknown gate, or a malformed dict (naming the key under ``key``).
    """
    if task is None:
        task = "classify" if gate in _CLASSIFY_ONLY else "detect"
    types = evidence_types(task)
    kind = types.get(gate)
    if kind is None:
        raise ReportFormatError(
            key, f"no evidence type for gate {gate!r} of task {task!r}; known gates: {', '.join(types)}"
        )
    return kind.from_dict(data, key=key)
