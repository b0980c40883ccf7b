"""The evidence of the gates of a classification policy (``task: classify``), in the dict form of
:mod:`quality_gates.evidence` (``to_dict``) and back (``from_dict``, strict).

==================================  ============================================================================
gate                                evidence
==================================  ============================================================================
golden_set_error                    :class:`ClassGoldenEvidence`: items judged and wrong with their intervals,
                                    per source (annotator or ``model:<name>``) a :class:`ClassSourceError`
krippendorff_alpha                  :class:`ClassAgreementEvidence`: items, coders, alpha per class
precision, recall, f1, accuracy,    :class:`ClassificationEvidence`: accuracy, Hamming loss, micro counts,
hamming_loss                        per-class precision/recall/F1 and support, the F1-optimal threshold per class
class_drift_*, review_coverage      as for every task (:mod:`quality_gates.evidence`)
==================================  ============================================================================

The keys the dashboard reads for every task keep their meaning: ``per_source.<name>.error/wilson/
clopper_pearson`` and ``wilson``/``clopper_pearson`` for the golden error, ``per_class`` for alpha,
``threshold`` and ``f1_optimal_threshold`` for the precision/recall/F1 family.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeAlias

from quality_gates._json import Fields, as_int
from quality_gates._types import JsonDict
from quality_gates.classification import ClassificationReport
from quality_gates.classification_golden import ClassificationGoldenError
from quality_gates.errors import ReportFormatError

__all__ = ["ClassAgreementEvidence", "ClassGoldenEvidence", "ClassSourceError", "ClassificationEvidence"]

Interval: TypeAlias = tuple[float, float]
PerClass: TypeAlias = Mapping[str, float | None]


@dataclass(frozen=True)
class ClassSourceError:
    """Misclassification rate of one source: golden items judged, wrong (including missing) and missing ones,
    the error (None when nothing was judged) and its 95% Wilson and Clopper–Pearson intervals."""

    n: int
    wrong: int
    missing: int
    error: float | None
    wilson: Interval
    clopper_pearson: Interval

    @classmethod
    def of(cls, g: ClassificationGoldenError) -> ClassSourceError:
        """From a :class:`~quality_gates.classification_golden.ClassificationGoldenError`."""
        return cls(g.n, g.wrong, g.missing, g.error, g.wilson, g.clopper_pearson)

    def to_dict(self) -> JsonDict:
        """``{n, wrong, missing, error, wilson, clopper_pearson}``."""
        return {"n": self.n, "wrong": self.wrong, "missing": self.missing, "error": self.error,
                "wilson": list(self.wilson), "clopper_pearson": list(self.clopper_pearson)}  # fmt: skip

    @classmethod
    def from_dict(cls, data: object, *, key: str = "source") -> ClassSourceError:
        f = Fields(data, key)
        out = cls(f.count("n"), f.count("wrong"), f.count("missing"), f.optional_number("error"), f.pair("wilson"),
                  f.pair("clopper_pearson"))  # fmt: skip
        f.done()
        return out


@dataclass(frozen=True)
class ClassGoldenEvidence:
    """Evidence of ``golden_set_error`` for classification: the model threshold, the pooled items judged and
    wrong with their intervals (one trial per item and source), and each source's error."""

    model_threshold: float
    n: int
    wrong: int
    missing: int
    wilson: Interval
    clopper_pearson: Interval
    per_source: Mapping[str, ClassSourceError]

    def to_dict(self) -> JsonDict:
        """``{model_threshold, n, wrong, missing, wilson, clopper_pearson, per_source: {source: ...}}``."""
        return {
            "model_threshold": self.model_threshold,
            "n": self.n,
            "wrong": self.wrong,
            "missing": self.missing,
            "wilson": list(self.wilson),
            "clopper_pearson": list(self.clopper_pearson),
            "per_source": {name: s.to_dict() for name, s in self.per_source.items()},
        }

    @classmethod
    def from_dict(cls, data: object, *, key: str = "evidence") -> ClassGoldenEvidence:
        f = Fields(data, key)
        out = cls(
            f.number("model_threshold"),
            f.count("n"),
            f.count("wrong"),
            f.count("missing"),
            f.pair("wilson"),
            f.pair("clopper_pearson"),
            {name: ClassSourceError.from_dict(v, key=path) for name, v, path in f.entries("per_source")},
        )
        f.done()
        return out


@dataclass(frozen=True)
class ClassAgreementEvidence:
    """Evidence of ``krippendorff_alpha`` for classification: nominal alpha over the items, the items
    labelled by anyone and by two or more annotators, the coders, and alpha per class (present/absent)."""

    level: str
    multi_label: bool
    units: int
    pairable_units: int
    coders: tuple[str, ...]
    per_class: PerClass

    def to_dict(self) -> JsonDict:
        """``{level, multi_label, units, pairable_units, coders, per_class: {class: alpha}}``."""
        return {"level": self.level, "multi_label": self.multi_label, "units": self.units,
                "pairable_units": self.pairable_units, "coders": list(self.coders),
                "per_class": dict(self.per_class)}  # fmt: skip

    @classmethod
    def from_dict(cls, data: object, *, key: str = "evidence") -> ClassAgreementEvidence:
        f = Fields(data, key)
        out = cls(f.text("level"), f.flag("multi_label"), f.count("units"), f.count("pairable_units"),
                  f.texts("coders"), f.numbers("per_class"))  # fmt: skip
        f.done()
        return out


@dataclass(frozen=True)
class ClassificationEvidence:
    """Evidence of ``precision``, ``recall``, ``f1``, ``accuracy`` and ``hamming_loss`` for classification:
    the model threshold and baseline, items judged and those without a prediction at the threshold (missing,
    counted wrong) or outside the baseline (extra, ignored), accuracy and Hamming loss, the micro counts of
    (item, class) decisions, per class precision, recall, F1 and support, and the F1-optimal threshold per
    class (None where undefined)."""

    threshold: float
    baseline: str
    multi_label: bool
    n_items: int
    n_missing: int
    n_extra: int
    accuracy: float | None
    hamming_loss: float | None
    tp: int
    fp: int
    fn: int
    precision: PerClass
    recall: PerClass
    f1: PerClass
    support: Mapping[str, int]
    f1_optimal_threshold: PerClass

    @classmethod
    def of(
        cls,
        rep: ClassificationReport,
        *,
        threshold: float,
        baseline: str,
        class_names: tuple[str, ...],
        f1_optimal: PerClass,
    ) -> ClassificationEvidence:
        """From a :class:`~quality_gates.classification.ClassificationReport`."""
        return cls(
            float(threshold), baseline, rep.multi_label, rep.n_items, rep.n_missing, rep.n_extra, rep.accuracy,
            rep.hamming_loss, sum(rep.tp), sum(rep.fp), sum(rep.fn),
            dict(zip(class_names, rep.precision, strict=True)), dict(zip(class_names, rep.recall, strict=True)),
            dict(zip(class_names, rep.f1, strict=True)), dict(zip(class_names, rep.support, strict=True)),
            dict(f1_optimal),
        )  # fmt: skip

    def to_dict(self) -> JsonDict:
        """``{threshold, baseline, multi_label, n_items, n_missing, n_extra, accuracy, hamming_loss, tp, fp, fn,
        precision, recall, f1, support, f1_optimal_threshold}`` (the last five keyed by class)."""
        keys = ("threshold", "baseline", "multi_label", "n_items", "n_missing", "n_extra", "accuracy",
                "hamming_loss", "tp", "fp", "fn")  # fmt: skip
        out: JsonDict = {k: getattr(self, k) for k in keys}
        for k in ("precision", "recall", "f1", "support", "f1_optimal_threshold"):
            out[k] = dict(getattr(self, k))
        return out

    @classmethod
    def from_dict(cls, data: object, *, key: str = "evidence") -> ClassificationEvidence:
        f = Fields(data, key)
        support = {name: as_int(v, path) for name, v, path in f.entries("support")}
        bad = next((name for name, v in support.items() if v < 0), None)
        if bad is not None:
            raise ReportFormatError(f"{f.at('support')}[{bad!r}]", f"expected a count (>= 0), got {support[bad]}")
        out = cls(
            f.number("threshold"), f.text("baseline"), f.flag("multi_label"), f.count("n_items"),
            f.count("n_missing"), f.count("n_extra"), f.optional_number("accuracy"),
            f.optional_number("hamming_loss"), f.count("tp"), f.count("fp"), f.count("fn"), f.numbers("precision"),
            f.numbers("recall"), f.numbers("f1"), support, f.numbers("f1_optimal_threshold"),
        )  # fmt: skip
        f.done()
        return out
