"""Review coverage: how much of what a model labelled a person looked at.

Two shares, both in [0, 1] and NaN when their denominator is 0:

- ``reviewed_share`` = model labels reviewed by a human / model labels;
- ``routed_reviewed_share`` = routed (low-confidence, sent to the review queue) labels reviewed / routed labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quality_gates._types import BoolArray

__all__ = ["ReviewCoverage", "review_coverage", "review_coverage_from_flags"]


@dataclass(frozen=True)
class ReviewCoverage:
    """Review counts and shares.

    Attributes:
        model_labels: labels produced by a model.
        reviewed: of those, reviewed by a human.
        routed: labels routed to the review queue (uncertain band).
        routed_reviewed: routed labels that were reviewed.
    """

    model_labels: int
    reviewed: int
    routed: int
    routed_reviewed: int

    @property
    def reviewed_share(self) -> float:
        """reviewed / model_labels, NaN without model labels."""
        return self.reviewed / self.model_labels if self.model_labels else float("nan")

    @property
    def routed_reviewed_share(self) -> float:
        """routed_reviewed / routed, NaN when nothing was routed."""
        return self.routed_reviewed / self.routed if self.routed else float("nan")


def review_coverage(*, model_labels: int, reviewed: int, routed: int = 0, routed_reviewed: int = 0) -> ReviewCoverage:
    """Validate counts (``0 <= reviewed <= model_labels``, ``0 <= routed_reviewed <= routed <= model_labels``)."""
    if not 0 <= reviewed <= model_labels:
        raise ValueError(f"need 0 <= reviewed <= model_labels, got {reviewed} of {model_labels}")
    if not 0 <= routed_reviewed <= routed <= model_labels:
        raise ValueError(f"need 0 <= routed_reviewed <= routed <= model_labels, got {routed_reviewed}, {routed}")
    return ReviewCoverage(model_labels, reviewed, routed, routed_reviewed)


def review_coverage_from_flags(reviewed: BoolArray, routed: BoolArray | None = None) -> ReviewCoverage:
    """Counts from per-label flags (one entry per model label)."""
    rv = np.asarray(reviewed, dtype=bool)
    ro = np.zeros(len(rv), dtype=bool) if routed is None else np.asarray(routed, dtype=bool)
    if len(ro) != len(rv):
        raise ValueError("reviewed and routed flags differ in length")
    return review_coverage(
        model_labels=len(rv), reviewed=int(rv.sum()), routed=int(ro.sum()), routed_reviewed=int((rv & ro).sum())
    )
