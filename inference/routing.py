"""Which predictions become labels and which items go to a person: pure functions, numpy only.

For a detection of class ``c`` with confidence ``s`` and the class's threshold ``t_c``:

- ``s >= t_c``: **accepted**, it becomes a ``model`` annotation;
- ``t_c - band <= s < t_c``: **uncertain**;
- below that: dropped.

An item goes to the review queue when nothing of it was accepted (reason ``no_label``, or ``uncertain`` when
its best prediction lies in the band) and also when some predictions were accepted but another lies in the
band (reason ``uncertain``): an uncertain box next to a confident one is as likely a missed object.
A class whose threshold is ``None`` is never auto-labelled; its detections count as uncertain down to
``default - band``.

The queue's ``priority`` is the best confidence among the item's not-accepted predictions (0 when none):
lower is shown first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from inference.types import FloatArray

__all__ = ["REASON_NO_LABEL", "REASON_UNCERTAIN", "REASON_UNREADABLE", "Route", "Thresholds", "route_item"]

REASON_NO_LABEL = "no_label"
REASON_UNCERTAIN = "uncertain"
REASON_UNREADABLE = "unreadable"


@dataclass(frozen=True)
class Thresholds:
    """Confidence thresholds of a run.

    Attributes:
        default: threshold in [0, 1] for classes without their own.
        band (0.0): width of the uncertain band below each threshold, in [0, 1].
        per_class ({}): ``{class name: threshold or None}``; ``None`` = never auto-label that class.
    """

    default: float
    band: float = 0.0
    per_class: Mapping[str, float | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for what, bound in (("default", self.default), ("band", self.band)):
            if not 0.0 <= bound <= 1.0:
                raise ValueError(f"{what} must be within [0, 1], got {bound}")
        for cls, value in self.per_class.items():
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"threshold of class {cls!r} must be within [0, 1] or None, got {value}")

    def for_class(self, name: str) -> float | None:
        """The class's threshold; ``None`` when the class is never auto-labelled."""
        return self.per_class.get(name, self.default)

    def lowest(self) -> float:
        """The lowest confidence that can matter (accepted or uncertain), for the model's ``conf`` floor."""
        values = [self.default, *(v for v in self.per_class.values() if v is not None)]
        return max(0.0, min(values) - self.band)

    def as_dict(self) -> dict[str, object]:
        return {"default": self.default, "band": self.band, "per_class": dict(self.per_class)}


@dataclass(frozen=True, eq=False)
class Route:
    """The decision for one item.

    Attributes:
        accepted: (n,) bool per detection: it becomes a label.
        thresholds: (n,) the threshold each detection was held to (``inf`` for never-auto-label classes).
        review: whether the item goes to the review queue.
        reason: ``no_label`` or ``uncertain`` when ``review``, else ``None``.
        priority: the best confidence among not-accepted detections (0 when none); lower = sooner.
    """

    accepted: npt.NDArray[np.bool_]
    thresholds: FloatArray
    review: bool
    reason: str | None
    priority: float


def route_item(scores: FloatArray | Sequence[float], classes: Sequence[str], thresholds: Thresholds) -> Route:
    """Route one item's detections (``scores[i]`` of class ``classes[i]``)."""
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(s) != len(classes):
        raise ValueError(f"{len(s)} scores but {len(classes)} classes")
    thr = np.array(
        [math.inf if (t := thresholds.for_class(c)) is None else t for c in classes], dtype=np.float64
    ).reshape(-1)
    accepted = s >= thr
    band_floor = np.where(np.isinf(thr), thresholds.default, thr) - thresholds.band
    uncertain = ~accepted & (s >= band_floor)
    rest = s[~accepted]
    priority = float(rest.max()) if len(rest) else 0.0
    if uncertain.any():
        return Route(accepted, thr, True, REASON_UNCERTAIN, priority)
    if not accepted.any():
        return Route(accepted, thr, True, REASON_NO_LABEL, priority)
    return Route(accepted, thr, False, None, priority)
