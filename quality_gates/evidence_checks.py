"""The evidence of the gates that match nothing: class drift, the expectations suite and review coverage
(typed, with ``to_dict``/``from_dict`` as :mod:`quality_gates.evidence`, which re-exports them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from quality_gates._json import Fields, as_int, as_list, as_number, as_scalar
from quality_gates._types import JsonDict
from quality_gates.expectations import ExpectationOutcome

__all__ = ["DriftEvidence", "ExpectationsEvidence", "ReviewEvidence"]


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
