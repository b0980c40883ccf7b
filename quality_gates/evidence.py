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
==========================  ==============================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeAlias

from quality_gates._json import Fields, as_int, as_list, as_number, as_scalar, finite_or_none
from quality_gates._types import JsonDict
from quality_gates.errors import ReportFormatError
from quality_gates.expectations import ExpectationOutcome
from quality_gates.golden import GoldenError

__all__ = [
    "EVIDENCE_TYPES",
    "AgreementEvidence",
    "CocoEvidence",
    "DriftEvidence",
    "ExpectationsEvidence",
    "GateEvidence",
    "GoldenErrorEvidence",
    "PrecisionRecallEvidence",
    "ReviewEvidence",
    "SourceError",
    "evidence_from_dict",
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


@dataclass(frozen=True)
class DriftEvidence:
    """Evidence of ``class_drift_psi`` and ``class_drift_js``: class shares of this version and of its parent
    (class name → share in [0, 1]), the schema changes still to acknowledge, and PSI's epsilon (None for
    Jensen–Shannon)."""

    current: Mapping[str, float]
    parent: Mapping[str, float]
    pending_schema_changes: tuple[str, ...]
    epsilon: float | None = None

    def to_dict(self) -> JsonDict:
        """``{current, parent[, epsilon], pending_schema_changes}``."""
        out: JsonDict = {"current": dict(self.current), "parent": dict(self.parent)}
        if self.epsilon is not None:
            out["epsilon"] = self.epsilon
        out["pending_schema_changes"] = list(self.pending_schema_changes)
        return out

    @classmethod
    def from_dict(cls, data: object, *, key: str = "evidence") -> DriftEvidence:
        f = Fields(data, key)
        current = {k: as_number(v, path) for k, v, path in f.entries("current")}
        parent = {k: as_number(v, path) for k, v, path in f.entries("parent")}
        epsilon = f.number("epsilon") if "epsilon" in f else None
        out = cls(current, parent, f.texts("pending_schema_changes"), epsilon)
        f.done()
        return out


def _outcome_dict(o: ExpectationOutcome) -> JsonDict:
    return {
        "name": o.name,
        "expectation": o.expectation,
        "column": o.column,
        "success": o.success,
        "element_count": o.element_count,
        "unexpected_count": o.unexpected_count,
        "examples": [list(e) for e in o.examples],
    }


def _outcome_from(data: object, key: str) -> ExpectationOutcome:
    f = Fields(data, key)
    examples = []
    for i, e in enumerate(as_list(f.get("examples"), f.at("examples"))):
        at = f"{f.at('examples')}[{i}]"
        row, value = as_list(e, at, length=2)
        examples.append((as_int(row, f"{at}[0]"), as_scalar(value, f"{at}[1]")))
    out = ExpectationOutcome(f.text("name"), f.text("expectation"), f.text("column"), f.flag("success"),
                             f.count("element_count"), f.count("unexpected_count"), tuple(examples))  # fmt: skip
    f.done()
    return out


@dataclass(frozen=True)
class ExpectationsEvidence:
    """Evidence of ``expectations``: the suite and every expectation's outcome, with up to five offending
    ``(row, value)`` examples each."""

    suite: str
    outcomes: tuple[ExpectationOutcome, ...]

    def to_dict(self) -> JsonDict:
        """``{suite, outcomes: [{name, expectation, column, success, element_count, unexpected_count,
        examples: [[row, value]]}]}``."""
        return {"suite": self.suite, "outcomes": [_outcome_dict(o) for o in self.outcomes]}

    @classmethod
    def from_dict(cls, data: object, *, key: str = "evidence") -> ExpectationsEvidence:
        f = Fields(data, key)
        listed = as_list(f.get("outcomes"), f.at("outcomes"))
        out = cls(f.text("suite"), tuple(_outcome_from(o, f"{f.at('outcomes')}[{i}]") for i, o in enumerate(listed)))
        f.done()
        return out


@dataclass(frozen=True)
class ReviewEvidence:
    """Evidence of ``review_coverage``: model labels, those reviewed, those routed to the review queue and
    routed ones reviewed, the routed share reviewed (None when nothing was routed) and the policy's
    ``min_routed`` (None when unset)."""

    model_labels: int
    reviewed: int
    routed: int
    routed_reviewed: int
    routed_reviewed_share: float | None
    min_routed: float | None = None

    def to_dict(self) -> JsonDict:
        """``{model_labels, reviewed, routed, routed_reviewed, routed_reviewed_share, min_routed}``."""
        return {
            "model_labels": self.model_labels,
            "reviewed": self.reviewed,
            "routed": self.routed,
            "routed_reviewed": self.routed_reviewed,
            "routed_reviewed_share": self.routed_reviewed_share,
            "min_routed": self.min_routed,
        }

    @classmethod
    def from_dict(cls, data: object, *, key: str = "evidence") -> ReviewEvidence:
        f = Fields(data, key)
        out = cls(f.count("model_labels"), f.count("reviewed"), f.count("routed"), f.count("routed_reviewed"),
                  f.optional_number("routed_reviewed_share"), f.optional_number("min_routed"))  # fmt: skip
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
)

#: Gate name → the type of its evidence.
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


def evidence_from_dict(gate: str, data: object, *, key: str = "evidence") -> GateEvidence:
    """The evidence of gate ``gate`` from its dict form.

    Raises:
        ReportFormatError: an unknown gate, or a malformed dict (naming the key under ``key``).
    """
    kind = EVIDENCE_TYPES.get(gate)
    if kind is None:
        raise ReportFormatError(key, f"no evidence type for gate {gate!r}; known gates: {', '.join(EVIDENCE_TYPES)}")
    return kind.from_dict(data, key=key)
