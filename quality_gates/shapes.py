"""Objects of every geometry treated alike: boxes (:class:`~quality_gates.boxes.BoxSet`), instance masks
(:class:`~quality_gates.masks.MaskSet`) and keypoint objects (:class:`~quality_gates.keypoints.KeypointSet`).

Each has the rows of a box set (image, class, score, area, crowd flags) and an overlap between two of its
objects: box IoU, mask IoU (pycocotools' ``rleIou``) or OKS (pycocotools' ``computeOks``, the second set
giving the scale and the visibility). The helpers here let the golden-set error, the agreement and the
detection metrics run on any of them with the same matching rules (:mod:`quality_gates.matching`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TypeAlias, TypeVar

import numpy as np

from quality_gates._types import BoolArray, FloatArray, IntArray
from quality_gates.boxes import BoxSet
from quality_gates.keypoints import KeypointSet, oks_pair_fn
from quality_gates.masks import MaskSet, mask_pair_iou
from quality_gates.matching import PairIouFn

__all__ = ["Instances", "concat", "content_hash", "overlap_fn", "overlap_name", "rows_of", "select", "with_score"]

Instances: TypeAlias = BoxSet | MaskSet | KeypointSet
S = TypeVar("S", BoxSet, MaskSet, KeypointSet)


def rows_of(s: Instances) -> BoxSet:
    """The box-set rows of ``s`` (``s`` itself for boxes)."""
    return s if isinstance(s, BoxSet) else s.boxes


def select(s: S, mask: BoolArray | IntArray) -> S:
    """Rows of ``s`` chosen by a boolean mask or an index array."""
    return s.select(mask)


def with_score(s: S, score: FloatArray) -> S:
    """``s`` with its rows' ``score`` replaced (the rows are otherwise the same)."""
    r = rows_of(s)
    rows = BoxSet(r.image, r.category, r.xywh, score=score, area=r.area, iscrowd=r.iscrowd, ann_id=r.ann_id)
    if isinstance(s, MaskSet):
        return MaskSet(rows, s.masks)
    if isinstance(s, KeypointSet):
        return KeypointSet(rows, s.keypoints, s.num_keypoints)
    return rows


def overlap_name(s: Instances | None) -> str:
    """``"IoU"``, ``"mask IoU"`` or ``"OKS"``: what the ``iou`` of a policy means for ``s``."""
    return "mask IoU" if isinstance(s, MaskSet) else "OKS" if isinstance(s, KeypointSet) else "IoU"


def overlap_fn(
    dt: Instances, gt: Instances, *, sigmas: Sequence[float] | FloatArray | None = None, crowd: bool = True
) -> PairIouFn | None:
    """The overlap of a matching between ``dt`` rows and ``gt`` rows; None for boxes (the matching's own box
    IoU). Masks: mask IoU (``crowd``: a crowd ground truth's union is the detection's area). Keypoints: OKS
    with ``sigmas`` (required), ``gt`` giving the scale.

    Raises:
        TypeError: the two sets differ in kind.
        ValueError: keypoints without sigmas.
    """
    if type(dt) is not type(gt):
        raise TypeError(f"the two sets differ in kind: {type(dt).__name__}, {type(gt).__name__}")
    if isinstance(dt, MaskSet) and isinstance(gt, MaskSet):
        return mask_pair_iou(dt, gt, crowd=crowd)
    if isinstance(dt, KeypointSet) and isinstance(gt, KeypointSet):
        if sigmas is None:
            raise ValueError("keypoint objects are matched by OKS, which needs the per-point sigmas")
        return oks_pair_fn(dt, gt, sigmas=sigmas)
    return None


def concat(sets: Sequence[S], *, like: S) -> S:
    """The rows of ``sets`` one after the other (``like`` gives the kind and the point count when empty)."""
    parts = [rows_of(s) for s in sets]
    image = np.concatenate([p.image for p in parts] or [np.zeros(0, dtype=np.int64)])
    category = np.concatenate([p.category for p in parts] or [np.zeros(0, dtype=np.int64)])
    xywh = np.concatenate([p.xywh for p in parts] or [np.zeros((0, 4))])
    area = np.concatenate([p.areas for p in parts] or [np.zeros(0)])
    rows = BoxSet(image, category, xywh, area=area)
    if isinstance(like, MaskSet):
        return MaskSet(rows, tuple(m for s in sets for m in s.masks))
    if isinstance(like, KeypointSet):
        k = like.keypoints.shape[1]
        kp = np.concatenate([s.keypoints for s in sets] or [np.zeros((0, k, 3))])
        return KeypointSet(rows, kp)
    return rows


def content_hash(s: Instances) -> str:
    """SHA-256 hex of the set's contents: a box set's :meth:`~quality_gates.boxes.BoxSet.content_hash`, for masks
    and keypoints the rows' hash followed by every mask's size and counts or every point."""
    rows = rows_of(s)
    if isinstance(s, BoxSet):
        return rows.content_hash()
    h = hashlib.sha256(b"labelgate.masks.v1" if isinstance(s, MaskSet) else b"labelgate.keypoints.v1")
    h.update(rows.content_hash().encode())
    if isinstance(s, MaskSet):
        for m in s.masks:
            h.update(np.array([m.height, m.width, len(m.counts)], dtype=np.int64).tobytes())
            h.update(np.ascontiguousarray(m.counts, dtype=np.int64).tobytes())
    else:
        h.update(np.ascontiguousarray(s.keypoints, dtype=np.float64).tobytes())
        h.update(b"\x00" if s.num_keypoints is None else b"\x01" + s.num_keypoints.tobytes())
    return h.hexdigest()
