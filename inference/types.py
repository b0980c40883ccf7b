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
    """What a model found in one image.

    Attributes:
        xywh: (n, 4) float64 boxes in pixels, ``x, y`` the top-left corner (COCO convention).
        score: (n,) float64 confidences in [0, 1].
        cls: (n,) int64 model class indices.
        polygons (None): segment models: one (m, 2) float64 outline per box, pixels of the original image
            (Ultralytics ``masks.xy``; m may be 0 when the mask had no contour).
        rles (None): segment models asked for masks: one :class:`quality_gates.rle.Rle` per box, the model's
            mask at the original image's size.
        keypoints (None): pose models: (n, K, 3) float64 ``x, y, confidence`` per box, pixels of the original
            image (confidence 1.0 for models that predict no visibility).
        probs (None): classify models: (C,) float64 class probabilities (then there are no boxes).
    """

    xywh: FloatArray
    score: FloatArray
    cls: IntArray
    polygons: tuple[FloatArray, ...] | None = None
    rles: tuple[Any, ...] | None = None
    keypoints: FloatArray | None = None
    probs: FloatArray | None = None

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.score)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"xywh": self.xywh.tolist(), "score": self.score.tolist(), "cls": self.cls.tolist()}
        if self.polygons is not None:
            out["polygons"] = [p.tolist() for p in self.polygons]
        if self.rles is not None:
            out["rles"] = [r.to_coco() for r in self.rles]
        if self.keypoints is not None:
            out["keypoints"] = self.keypoints.tolist()
        if self.probs is not None:
            out["probs"] = self.probs.tolist()
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Detections:
        xywh = np.asarray(raw["xywh"], dtype=np.float64).reshape(-1, 4)
        polygons = raw.get("polygons")
        outlines = None if polygons is None else tuple(np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in polygons)
        rles = raw.get("rles")
        keypoints = raw.get("keypoints")
        probs = raw.get("probs")
        if rles is not None:
            from quality_gates.rle import Rle

            rles = tuple(Rle.from_string(r["counts"], *r["size"]) for r in rles)
        return cls(
            xywh,
            np.asarray(raw["score"], dtype=np.float64),
            np.asarray(raw["cls"], dtype=np.int64),
            polygons=outlines,
            rles=rles,
            keypoints=None if keypoints is None else np.asarray(keypoints, dtype=np.float64).reshape(len(xywh), -1, 3),
            probs=None if probs is None else np.asarray(probs, dtype=np.float64),
        )


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
