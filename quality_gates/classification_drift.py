"""Class-share drift of classification labels against the parent version (PSI and Jensen–Shannon, as
:mod:`quality_gates.drift` defines them), classes matched by name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from quality_gates._types import JsonDict
from quality_gates.classification import ClassLabels, _names, class_counts
from quality_gates.drift import aligned_proportions, jensen_shannon, psi

__all__ = ["ClassShareDrift", "class_share_drift"]


@dataclass(frozen=True)
class ClassShareDrift:
    """Drift of the class shares of a version against its parent (see :mod:`quality_gates.drift`).

    Attributes:
        psi: population stability index, >= 0; js: Jensen–Shannon divergence (base 2) in [0, 1].
        current, parent: class name → share (union of both sides' names, sorted; absent = 0).
        largest_shift: the class whose share moved most.
        epsilon: PSI's proportion floor.
    """

    psi: float
    js: float
    current: Mapping[str, float]
    parent: Mapping[str, float]
    largest_shift: str
    epsilon: float

    def to_dict(self) -> JsonDict:
        """JSON-safe evidence."""
        keys = ("psi", "js", "largest_shift", "epsilon")
        return {k: getattr(self, k) for k in keys} | {"current": dict(self.current), "parent": dict(self.parent)}


def class_share_drift(
    current: ClassLabels,
    parent: ClassLabels,
    *,
    class_names: Sequence[str] | None = None,
    parent_class_names: Sequence[str] | None = None,
    epsilon: float = 1e-4,
) -> ClassShareDrift:
    """PSI and Jensen–Shannon divergence of the class shares (:func:`class_counts` normalised).

    Args:
        current: labels of the version.
        parent: labels of its parent (its K may differ when the schema changed).
        class_names (None): names of ``current``'s classes; default ``"0"``, ``"1"``, ...
        parent_class_names (None): names of ``parent``'s classes; default ``class_names`` (required when K
            differs).
        epsilon (1e-4): PSI's proportion floor.

    Raises:
        ValueError: a side without any class label (its shares are undefined); K differs and
            ``parent_class_names`` is not given.
    """
    cur_names = _names(class_names, current.num_classes)
    if parent_class_names is None:
        if parent.num_classes != current.num_classes:
            raise ValueError(
                f"the parent has K={parent.num_classes}, this version K={current.num_classes}: pass "
                "class_names and parent_class_names so classes are matched by name"
            )
        parent_class_names = cur_names
    par_names = _names(parent_class_names, parent.num_classes)
    cur = dict(zip(cur_names, map(float, class_counts(current)), strict=True))
    par = dict(zip(par_names, map(float, class_counts(parent)), strict=True))
    names, p, q = aligned_proportions(cur, par)
    return ClassShareDrift(
        psi(cur, par, epsilon=epsilon),
        jensen_shannon(cur, par),
        dict(zip(names, p.tolist(), strict=True)),
        dict(zip(names, q.tolist(), strict=True)),
        names[int(np.argmax(np.abs(p - q)))],
        epsilon,
    )
