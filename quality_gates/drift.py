"""Drift of a dataset version against its parent: class distribution and schema changes.

Distributions are class-name → count (or weight) mappings; classes present on one side only count as 0 on
the other. Both metrics compare *proportions*.

- PSI (population stability index) = Σ (p_i − q_i) · ln(p_i / q_i), p the current and q the parent
  proportions. A class empty on one side would make the log infinite, so proportions are floored at
  ``epsilon`` (default 1e-4) and renormalised to sum to 1 before the sum. Common reading: < 0.1 stable,
  0.1–0.25 moderate shift, > 0.25 major shift.
- Jensen–Shannon divergence = ½ KL(p‖m) + ½ KL(q‖m), m = (p + q)/2, in base 2, so it lies in [0, 1]. Empty
  classes need no epsilon (0 · log 0 = 0). This is the divergence, not its square root (the "JS distance").

Schema changes (classes added, removed, renamed or redefined) need a person's acknowledgement before a
release; :func:`pending_schema_changes` lists those not yet acknowledged.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from quality_gates._types import FloatArray

__all__ = [
    "SchemaChange",
    "aligned_proportions",
    "jensen_shannon",
    "pending_schema_changes",
    "psi",
    "schema_changes",
]

ChangeKind = Literal["added", "removed", "renamed", "redefined"]


def aligned_proportions(
    current: Mapping[str, float], parent: Mapping[str, float]
) -> tuple[list[str], FloatArray, FloatArray]:
    """Class names (sorted union) and the two proportion vectors over them.

    Raises:
        ValueError: a negative or non-finite count, or a side whose counts sum to 0.
    """
    names = sorted(set(current) | set(parent))
    p = np.array([float(current.get(n, 0.0)) for n in names])
    q = np.array([float(parent.get(n, 0.0)) for n in names])
    for side, v in (("current", p), ("parent", q)):
        if not np.isfinite(v).all() or (v < 0).any():
            raise ValueError(f"{side} class counts must be finite and >= 0")
        if v.sum() <= 0:
            raise ValueError(f"{side} class distribution is empty (all counts are 0)")
    return names, p / p.sum(), q / q.sum()


def psi(current: Mapping[str, float], parent: Mapping[str, float], *, epsilon: float = 1e-4) -> float:
    """Population stability index of the class distribution, >= 0 (0 = identical).

    Args:
        current: class name → count in the new version.
        parent: class name → count in the parent version.
        epsilon (1e-4): floor for proportions before renormalising, see the module docstring.
    """
    _, p, q = aligned_proportions(current, parent)
    p = np.maximum(p, epsilon)
    q = np.maximum(q, epsilon)
    p, q = p / p.sum(), q / q.sum()
    return float(np.sum((p - q) * np.log(p / q)))


def jensen_shannon(current: Mapping[str, float], parent: Mapping[str, float]) -> float:
    """Jensen–Shannon divergence (base 2) of the class distributions, in [0, 1] (0 = identical)."""
    _, p, q = aligned_proportions(current, parent)
    m = (p + q) / 2

    def kl(a: FloatArray, b: FloatArray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / b[nz])))

    return max(0.0, 0.5 * kl(p, m) + 0.5 * kl(q, m))


@dataclass(frozen=True)
class SchemaChange:
    """One change between two label schemas.

    Attributes:
        kind: added, removed, renamed or redefined.
        name: the class concerned (the old name for a rename).
        new_name: the new name of a renamed class, else ``""``.
    """

    kind: ChangeKind
    name: str
    new_name: str = ""

    @property
    def key(self) -> str:
        """Stable identifier used for acknowledgements: ``"added:dog"``, ``"renamed:cat->feline"``."""
        return f"{self.kind}:{self.name}->{self.new_name}" if self.kind == "renamed" else f"{self.kind}:{self.name}"

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SchemaChange:
        """From a change record ``{"kind": ..., "name": ..., "new_name": ...}`` (e.g. a schema diff)."""
        kind = record.get("kind")
        if kind not in ("added", "removed", "renamed", "redefined"):
            raise ValueError(f"schema change kind must be added/removed/renamed/redefined, got {kind!r}")
        name = record.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"schema change needs a class name, got {name!r}")
        return cls(kind, name, str(record.get("new_name", "") or ""))


def schema_changes(
    old: Iterable[str], new: Iterable[str], *, renames: Mapping[str, str] | None = None
) -> tuple[SchemaChange, ...]:
    """Changes from the class-name set ``old`` to ``new``, sorted by kind then name.

    Args:
        old, new: class names of the parent and the new version.
        renames (None): old name → new name pairs known to be renames (reported as one ``renamed``
            change instead of a removal plus an addition).
    """
    o, n = set(old), set(new)
    ren = {a: b for a, b in (renames or {}).items() if a in o - n and b in n - o}
    out = [SchemaChange("renamed", a, b) for a, b in ren.items()]
    out += [SchemaChange("removed", a) for a in o - n - set(ren)]
    out += [SchemaChange("added", b) for b in n - o - set(ren.values())]
    return tuple(sorted(out, key=lambda c: (c.kind, c.name, c.new_name)))


def pending_schema_changes(
    changes: Iterable[SchemaChange | Mapping[str, Any]], acknowledged: Collection[str] = ()
) -> tuple[SchemaChange, ...]:
    """The changes whose :attr:`SchemaChange.key` is not in ``acknowledged``.

    Args:
        changes: :class:`SchemaChange` values or change records (see :meth:`SchemaChange.from_record`).
        acknowledged (()): keys of acknowledged changes.
    """
    parsed = [c if isinstance(c, SchemaChange) else SchemaChange.from_record(c) for c in changes]
    return tuple(c for c in parsed if c.key not in set(acknowledged))
