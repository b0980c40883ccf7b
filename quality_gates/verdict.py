"""The values a gate evaluation produces: one :class:`GateResult` per gate and the :class:`GateReport`.

Both are frozen and typed, and hold no NaN (an undefined quantity is None). ``GateReport.to_dict()`` is the
one JSON shape the CLI, the API and the evidence bundle share, and ``GateReport.from_dict()`` reads it back
exactly (``from_dict(r.to_dict()) == r``), refusing a malformed dict with a
:class:`~quality_gates.errors.ReportFormatError` that names the key::

    {"report_version": 1, "passed", "policy_name", "policy_hash", ["task",]
     "gates": [{"name", "metric", "value", "threshold", "op", "passed", "explanation", "evidence"}],
     "metrics": {"precision", "recall", "f1", "ap50", "map", "golden_error", "krippendorff_alpha", ...},
     "per_class": {class name: {"n_gt", "tp", ..., "golden_error", "krippendorff_alpha", "n_pred"}},
     "data_hashes": {input name: sha256},
     "evidence": {"pr_curves": {...}, "confusion_matrix": {...}}}

A gate's ``evidence`` is typed per gate kind (:mod:`quality_gates.evidence`); the report's ``evidence`` is
its plot data (:mod:`quality_gates.plots`). ``report_version`` changes whenever the shape does.

``task`` (``segment``, ``pose`` or ``classify``) is written only for those: a detection report has no
``task`` key, so detection reports keep the very bytes they had before tasks existed, and reports stored
then read back as ``task == "detect"``. A classification report's ``metrics`` also hold
:data:`CLASSIFY_METRIC_KEYS` and its gates carry the evidence of :mod:`quality_gates.evidence_classify`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from quality_gates._json import Fields, as_list, as_optional_number, as_text, finite_or_none, jsonable
from quality_gates._types import JsonDict
from quality_gates.errors import ReportFormatError
from quality_gates.evidence import GateEvidence, evidence_from_dict
from quality_gates.plots import ReportEvidence
from quality_gates.policy import TASKS, Task

__all__ = [
    "CLASSIFY_METRIC_KEYS",
    "COUNT_KEYS",
    "METRIC_KEYS",
    "PER_CLASS_KEYS",
    "REPORT_VERSION",
    "GateReport",
    "GateResult",
    "Op",
    "metric_keys",
]

#: The version of the dict form; a reader refuses any other.
REPORT_VERSION = 1

#: Keys always present in ``GateReport.metrics`` (None when the inputs did not allow the metric).
METRIC_KEYS: tuple[str, ...] = (
    "precision",
    "recall",
    "f1",
    "ap50",
    "map",
    "golden_error",
    "krippendorff_alpha",
    "class_drift_psi",
    "class_drift_js",
    "review_coverage",
    "routed_review_coverage",
    "expectations_failed",
    "threshold",
)

#: Keys a classification report's ``metrics`` hold beyond :data:`METRIC_KEYS` (``ap50`` and ``map`` stay None).
CLASSIFY_METRIC_KEYS: tuple[str, ...] = ("accuracy", "hamming_loss")


def metric_keys(task: str) -> tuple[str, ...]:
    """The keys of ``GateReport.metrics`` for a report of ``task``."""
    return METRIC_KEYS + CLASSIFY_METRIC_KEYS if task == "classify" else METRIC_KEYS


#: Keys a ``GateReport.per_class`` row may hold (those the inputs allow), in the order they are written.
PER_CLASS_KEYS: tuple[str, ...] = (
    "n_gt",
    "tp",
    "fp",
    "fn",
    "precision",
    "recall",
    "f1",
    "f1_optimal_threshold",
    "ap",
    "ap50",
    "golden_error",
    "krippendorff_alpha",
    "n_pred",
)
#: The per-class keys that are counts (integers); the others are ratios (numbers or None).
COUNT_KEYS: frozenset[str] = frozenset({"n_gt", "tp", "fp", "fn", "n_pred"})

Op = Literal["<=", ">="]
_OPS: tuple[Op, ...] = ("<=", ">=")


@dataclass(frozen=True)
class GateResult:
    """The verdict of one gate.

    Attributes:
        name: the gate's policy key (``"precision"``).
        metric: the measured quantity (``"precision"``, ``"golden_error"``, ``"psi"``); its settings
            (threshold, IoU, baseline) are in ``evidence``.
        value: the measured value; None when it could not be defined (which blocks). NaN is stored as None.
        threshold: the policy's bound; ``inf`` for a ``<=`` bound that never blocks (``max: .inf``), written
            null in the dict form (JSON has no infinity).
        op: ``">="`` (value must reach the bound) or ``"<="`` (must not exceed it).
        passed: ``value op threshold``, false for None and for any extra condition named in ``explanation``.
        explanation: one line a person can act on.
        evidence: the gate kind's typed evidence (:data:`quality_gates.evidence.EVIDENCE_TYPES`); its dict
            form is accepted too, and parsed as :meth:`from_dict` does.
    """

    name: str
    metric: str
    value: float | None
    threshold: float
    op: Op
    passed: bool
    explanation: str
    evidence: GateEvidence

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", finite_or_none(self.value))
        if math.isnan(self.threshold):
            # A null bound read back as a float: only an unbounded maximum is written null.
            if self.op != "<=":
                raise ReportFormatError("threshold", f"NaN is not a bound for op {self.op!r}")
            object.__setattr__(self, "threshold", math.inf)
        if isinstance(self.evidence, Mapping):
            object.__setattr__(self, "evidence", evidence_from_dict(self.name, self.evidence))

    @staticmethod
    def compare(value: float | None, op: Op, threshold: float) -> bool:
        """``value op threshold``; None and NaN never pass."""
        if value is None or not math.isfinite(value):
            return False
        return value <= threshold if op == "<=" else value >= threshold

    def to_dict(self) -> JsonDict:
        """``{name, metric, value, threshold, op, passed, explanation, evidence}``."""
        return {
            "name": self.name,
            "metric": self.metric,
            "value": self.value,
            "threshold": finite_or_none(self.threshold),
            "op": self.op,
            "passed": self.passed,
            "explanation": self.explanation,
            "evidence": self.evidence.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: object, *, key: str = "gate", task: str | None = None) -> GateResult:
        """Read :meth:`to_dict`'s form back; the evidence type follows ``name`` and the report's ``task``
        (None: see :func:`~quality_gates.evidence.evidence_from_dict`).

        Raises:
            ReportFormatError: naming the first malformed key.
        """
        f = Fields(data, key)
        name = f.text("name")
        op = f.text("op")
        if op not in _OPS:
            raise ReportFormatError(f.at("op"), f"expected '<=' or '>=', got {op!r}")
        threshold = f.optional_number("threshold")
        if threshold is None and op != "<=":
            raise ReportFormatError(f.at("threshold"), "null (an unbounded maximum) needs op '<='")
        out = cls(
            name,
            f.text("metric"),
            f.optional_number("value"),
            math.inf if threshold is None else threshold,
            ">=" if op == ">=" else "<=",
            f.flag("passed"),
            f.text("explanation"),
            evidence_from_dict(name, f.get("evidence"), key=f.at("evidence"), task=task),
        )
        f.done()
        return out


def _per_class_row(data: object, key: str) -> dict[str, float | None]:
    f = Fields(data, key)
    row: dict[str, float | None] = {}
    for name in f.names():
        if name not in PER_CLASS_KEYS:
            raise ReportFormatError(f.at(name), f"unknown per-class metric; known: {', '.join(PER_CLASS_KEYS)}")
        row[name] = f.count(name) if name in COUNT_KEYS else f.optional_number(name)
    f.done()
    return row


@dataclass(frozen=True)
class GateReport:
    """The outcome of evaluating a policy on one set of inputs.

    Attributes:
        passed: every gate passed.
        policy_name, policy_hash: which policy (see :func:`quality_gates.policy.policy_hash`).
        gates: one result per configured gate, in the policy's canonical order.
        metrics: every key of :func:`metric_keys` of the task (None when not computable from the inputs).
        per_class: class name → metrics of that class (keys among :data:`PER_CLASS_KEYS`).
        data_hashes: input name → SHA-256 hex of what was evaluated.
        evidence (empty): the plot data (:class:`~quality_gates.plots.ReportEvidence`; its dict form is
            accepted too).
        task ("detect"): what was judged: ``detect``, ``segment``, ``pose`` or ``classify``.

    NaN in ``metrics`` and ``per_class`` is stored as None, numpy scalars as Python numbers.
    """

    passed: bool
    policy_name: str
    policy_hash: str
    gates: tuple[GateResult, ...]
    metrics: Mapping[str, float | None]
    per_class: Mapping[str, Mapping[str, float | None]]
    data_hashes: Mapping[str, str]
    evidence: ReportEvidence = field(default_factory=ReportEvidence)
    task: Task = "detect"

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ReportFormatError("task", f"expected one of {', '.join(TASKS)}, got {self.task!r}")
        object.__setattr__(self, "gates", tuple(self.gates))
        object.__setattr__(self, "metrics", jsonable(self.metrics))
        object.__setattr__(self, "per_class", jsonable(self.per_class))
        object.__setattr__(self, "data_hashes", dict(self.data_hashes))
        if isinstance(self.evidence, Mapping):
            object.__setattr__(self, "evidence", ReportEvidence.from_dict(self.evidence))

    @property
    def blocking(self) -> tuple[GateResult, ...]:
        """The gates that did not pass."""
        return tuple(g for g in self.gates if not g.passed)

    def result(self, name: str) -> GateResult | None:
        """The result of gate ``name`` (None when the policy does not configure it)."""
        return next((g for g in self.gates if g.name == name), None)

    def to_dict(self) -> JsonDict:
        """The dict form (see the module docstring); JSON-ready, no NaN; ``task`` only when not ``detect``."""
        head: JsonDict = {
            "report_version": REPORT_VERSION,
            "passed": self.passed,
            "policy_name": self.policy_name,
            "policy_hash": self.policy_hash,
        }
        if self.task != "detect":
            head["task"] = self.task
        return head | {
            "gates": [g.to_dict() for g in self.gates],
            "metrics": dict(self.metrics),
            "per_class": {name: dict(row) for name, row in self.per_class.items()},
            "data_hashes": dict(self.data_hashes),
            "evidence": self.evidence.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: object) -> GateReport:
        """Read :meth:`to_dict`'s form back, exactly.

        Raises:
            ReportFormatError: another ``report_version``, a missing, unknown or mistyped key (named), an
                unknown ``task``, or ``passed`` that disagrees with the gates.
        """
        f = Fields(data, "")
        if "report_version" not in f:
            raise ReportFormatError("report_version", f"missing: not a gate report dict of version {REPORT_VERSION}")
        version = f.get("report_version")
        if version != REPORT_VERSION or isinstance(version, bool):
            raise ReportFormatError("report_version", f"this labelgate reads version {REPORT_VERSION}, got {version!r}")
        task = f.text("task") if "task" in f else "detect"
        if task not in TASKS:
            raise ReportFormatError("task", f"expected one of {', '.join(TASKS)}, got {task!r}")
        gates = tuple(
            GateResult.from_dict(g, key=f"gates[{i}]", task=task)
            for i, g in enumerate(as_list(f.get("gates"), "gates"))
        )
        passed = f.flag("passed")
        if passed != all(g.passed for g in gates):
            blocking = [g.name for g in gates if not g.passed]
            raise ReportFormatError("passed", f"is {passed} but the gates say otherwise (blocking: {blocking})")
        metrics: dict[str, float | None] = {}
        known = metric_keys(task)
        for name, value, path in f.entries("metrics"):
            if name not in known:
                raise ReportFormatError(path, f"unknown metric; known: {', '.join(known)}")
            metrics[name] = as_optional_number(value, path)
        out = cls(
            passed,
            f.text("policy_name"),
            f.text("policy_hash"),
            gates,
            metrics,
            {name: _per_class_row(row, path) for name, row, path in f.entries("per_class")},
            {name: as_text(v, path) for name, v, path in f.entries("data_hashes")},
            ReportEvidence.from_dict(f.get("evidence"), key="evidence"),
            task,  # checked against TASKS above
        )
        f.done()
        return out
