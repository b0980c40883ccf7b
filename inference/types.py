"""Value types shared by the runner, the executors and the pure selection code (numpy only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "BatchResult",
    "BatchTask",
    "BoolArray",
    "Detections",
    "FloatArray",
    "IntArray",
    "ItemRef",
    "ItemResult",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class Detections:
    """The boxes a model found in one image.

    Attributes:
        xywh: (n, 4) float64 boxes in pixels, ``x, y`` the top-left corner (COCO convention).
        score: (n,) float64 confidences in [0, 1].
        cls: (n,) int64 model class indices.
    """

    xywh: FloatArray
    score: FloatArray
    cls: IntArray

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.score)

    def to_dict(self) -> dict[str, Any]:
        return {"xywh": self.xywh.tolist(), "score": self.score.tolist(), "cls": self.cls.tolist()}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Detections:
        xywh = np.asarray(raw["xywh"], dtype=np.float64).reshape(-1, 4)
        return cls(xywh, np.asarray(raw["score"], dtype=np.float64), np.asarray(raw["cls"], dtype=np.int64))


@dataclass(frozen=True, slots=True)
class ItemRef:
    """An item to predict: its row id, its path in the version's content and the SHA-256 of its bytes."""

    item_id: int
    uri: str
    sha256: str


@dataclass(frozen=True, slots=True)
class BatchTask:
    """One batch of a run: ``index`` is its position in the run's fixed batch order."""

    index: int
    items: tuple[ItemRef, ...]


@dataclass(frozen=True, eq=False)
class ItemResult:
    """What the executor returns for one item: detections, a cheap appearance feature (for diversity) or an
    error message when the image could not be read or decoded."""

    item_id: int
    detections: Detections
    feature: FloatArray | None = None
    error: str | None = None


@dataclass(frozen=True, eq=False)
class BatchResult:
    """The results of one batch, in the batch's item order, and the seconds the device spent on it."""

    index: int
    items: list[ItemResult] = field(default_factory=list)
    predict_s: float = 0.0
