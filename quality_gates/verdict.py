"""The values a gate evaluation produces: one :class:`GateResult` per gate and the :class:`GateReport`.

Both are frozen; ``GateReport.to_dict()`` gives the JSON shape the CLI, the API and the evidence bundle
share (NaN becomes ``null``)::

    {"passed", "policy_name", "policy_hash",
     "gates": [{"name", "metric", "value", "threshold", "op", "passed", "explanation", "evidence"}],
     "metrics": {"precision", "recall", "f1", "ap50", "map", "golden_error", "krippendorff_alpha", ...},
     "per_class": {class name: {...}}, "data_hashes": {input name: sha256}}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from quality_gates._types import JsonDict

__all__ = ["METRIC_KEYS", "GateReport", "GateResult", "jsonable"]

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

Op = Literal["<=", ">="]


def jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays, tuples and non-finite floats (→ None) into plain JSON values."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class GateResult:
    """The verdict of one gate.

    Attributes:
        name: the gate's policy key (``"precision"``).
        metric: the measured quantity (``"precision"``, ``"golden_error"``, ``"psi"``); its settings
            (threshold, IoU, baseline) are in ``evidence``.
        value: the measured value; NaN when it could not be defined (which blocks).
        threshold: the policy's bound.
        op: ``">="`` (value must reach the bound) or ``"<="`` (must not exceed it).
        passed: ``value op threshold``, false for NaN and for any extra condition named in ``explanation``.
        explanation: one line a person can act on.
        evidence: JSON-ready details (per class, per source, intervals, counts).
    """

    name: str
    metric: str
    value: float
    threshold: float
    op: Op
    passed: bool
    explanation: str
    evidence: Mapping[str, Any] = field(default_factory=dict)

    @staticmethod
    def compare(value: float, op: Op, threshold: float) -> bool:
        """``value op threshold``; NaN never passes."""
        if not math.isfinite(value):
            return False
        return value <= threshold if op == "<=" else value >= threshold

    def to_dict(self) -> JsonDict:
        """JSON-ready mapping."""
        return {
            "name": self.name,
            "metric": self.metric,
            "value": jsonable(self.value),
            "threshold": jsonable(self.threshold),
            "op": self.op,
            "passed": self.passed,
            "explanation": self.explanation,
            "evidence": jsonable(self.evidence),
        }


@dataclass(frozen=True)
class GateReport:
    """The outcome of evaluating a policy on one set of inputs.

    Attributes:
        passed: every gate passed.
        policy_name, policy_hash: which policy (see :func:`quality_gates.policy.policy_hash`).
        gates: one result per configured gate, in the policy's canonical order.
        metrics: every key of :data:`METRIC_KEYS` (None when not computable from the inputs).
        per_class: class name → metrics of that class.
        data_hashes: input name → SHA-256 hex of what was evaluated.
    """

    passed: bool
    policy_name: str
    policy_hash: str
    gates: tuple[GateResult, ...]
    metrics: Mapping[str, float | None]
    per_class: Mapping[str, Mapping[str, Any]]
    data_hashes: Mapping[str, str]

    @property
    def blocking(self) -> tuple[GateResult, ...]:
        """The gates that did not pass."""
        return tuple(g for g in self.gates if not g.passed)

    def to_dict(self) -> JsonDict:
        """JSON-ready mapping (NaN → None)."""
        return {
            "passed": self.passed,
            "policy_name": self.policy_name,
            "policy_hash": self.policy_hash,
            "gates": [g.to_dict() for g in self.gates],
            "metrics": jsonable(self.metrics),
            "per_class": jsonable(self.per_class),
            "data_hashes": dict(self.data_hashes),
        }
