"""Active learning: which items people should label next. Pure functions over numpy arrays.

The next human batch is chosen in two steps (uncertainty first, then diversity):

1. score each item's **uncertainty** from its detections' confidences (detect, segment and pose models alike:
   one confidence per object), either
   ``entropy``: the largest binary entropy ``H(p) = -p log2 p - (1-p) log2 (1-p)`` among its detections
   (1 bit at p = 0.5, 0 for an item without detections), or
   ``margin``: ``1 - min |p - t|``, one minus the smallest distance of a confidence to its class threshold;
   for a classify model, from its class probabilities ``p`` (K classes): ``entropy`` is the normalised
   Shannon entropy ``-sum p log2 p / log2 K`` (1 for a uniform guess, 0 for a certain one) and ``margin``
   is ``1 - (p1 - p2)``, one minus the gap between the two most probable classes;
2. keep the ``oversample x budget`` most uncertain items and thin them for **diversity** to ``budget`` with
   ``kcenter`` (greedy k-center: each pick is the candidate farthest from those already picked, the first
   being the most uncertain) or ``kmeans`` (k-means++ seeding + Lloyd steps; per cluster, its most uncertain
   member). Features are any per-item vectors; labelgate uses an 8x8 thumbnail (:mod:`inference.images`).

Ties break by item order, so results are deterministic for a given ``seed``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

from inference.types import FloatArray, IntArray

__all__ = [
    "Diversity",
    "Uncertainty",
    "batch_size_for",
    "binary_entropy",
    "entropy_uncertainty",
    "kcenter_greedy",
    "kmeans_select",
    "margin_uncertainty",
    "probability_entropy",
    "probability_margin",
    "select_batch",
]

Uncertainty = Literal["entropy", "margin"]
Diversity = Literal["kcenter", "kmeans", "none"]


def binary_entropy(p: FloatArray | Sequence[float]) -> FloatArray:
    """Entropy in bits of a Bernoulli(p), element-wise; 0 at p = 0 and p = 1."""
    q = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    out = np.zeros_like(q)
    inside = (q > 0) & (q < 1)
    x = q[inside]
    out[inside] = -(x * np.log2(x) + (1 - x) * np.log2(1 - x))
    return out


def entropy_uncertainty(scores: FloatArray | Sequence[float]) -> float:
    """The largest binary entropy among one item's detection confidences (0 without detections)."""
    h = binary_entropy(scores)
    return float(h.max()) if len(h) else 0.0


def margin_uncertainty(scores: FloatArray | Sequence[float], thresholds: FloatArray | Sequence[float]) -> float:
    """``1 - min |score - threshold|`` over one item's detections (0 without detections); in [0, 1]."""
    s = np.asarray(scores, dtype=np.float64)
    t = np.asarray(thresholds, dtype=np.float64)
    if len(s) == 0:
        return 0.0
    gap = np.abs(s - np.where(np.isfinite(t), t, 1.0))
    return float(1.0 - min(1.0, float(gap.min())))


def probability_entropy(probs: FloatArray | Sequence[float]) -> float:
    """Shannon entropy of one item's class probabilities over ``log2 K``, in [0, 1] (0 for K < 2 or none).
    The probabilities are renormalised to sum to 1 first."""
    p = np.clip(np.asarray(probs, dtype=np.float64).reshape(-1), 0.0, None)
    total = float(p.sum())
    if len(p) < 2 or total <= 0:
        return 0.0
    q = p[p > 0] / total
    return float(min(1.0, max(0.0, -(q * np.log2(q)).sum() / math.log2(len(p)))))


def probability_margin(probs: FloatArray | Sequence[float]) -> float:
    """``1 - (p1 - p2)`` of one item's two most probable classes, in [0, 1] (0 with fewer than two)."""
    p = np.sort(np.clip(np.asarray(probs, dtype=np.float64).reshape(-1), 0.0, 1.0))
    if len(p) < 2:
        return 0.0
    return float(min(1.0, max(0.0, 1.0 - (p[-1] - p[-2]))))


def batch_size_for(pool: int, fraction: float) -> int:
    """``ceil(fraction * pool)``, at least 1 for a non-empty pool; ``fraction`` in (0, 1]."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be within (0, 1], got {fraction}")
    return 0 if pool == 0 else max(1, math.ceil(fraction * pool))


def _as_features(features: FloatArray, n: int) -> FloatArray:
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or len(f) != n:
        raise ValueError(f"features must have shape ({n}, d), got {f.shape}")
    return f


def kcenter_greedy(features: FloatArray, k: int, *, first: int = 0) -> IntArray:
    """Greedy k-center over the rows of ``features``: start at row ``first``, then repeatedly add the row
    farthest (Euclidean) from everything chosen. Returns ``min(k, n)`` distinct row indices in pick order."""
    f = np.asarray(features, dtype=np.float64)
    n = len(f)
    k = min(k, n)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    chosen = [int(first)]
    dist = np.linalg.norm(f - f[first], axis=1)
    while len(chosen) < k:
        dist[chosen] = -1.0
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(f - f[nxt], axis=1))
    return np.asarray(chosen, dtype=np.int64)


def kmeans_select(
    features: FloatArray, k: int, *, weights: FloatArray | None = None, seed: int = 0, steps: int = 10
) -> IntArray:
    """k-means++ seeding and ``steps`` Lloyd iterations; from each non-empty cluster, the member with the
    highest ``weights`` (default: nearest the centroid). Returns up to ``k`` distinct row indices."""
    f = np.asarray(features, dtype=np.float64)
    n = len(f)
    k = min(k, n)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    centres = [f[int(rng.integers(n))]]
    for _ in range(1, k):
        d2 = np.min([np.sum((f - c) ** 2, axis=1) for c in centres], axis=0)
        total = float(d2.sum())
        idx = int(rng.choice(n, p=d2 / total)) if total > 0 else int(rng.integers(n))
        centres.append(f[idx])
    c = np.asarray(centres)
    for _ in range(steps):
        assign = np.argmin(((f[:, None, :] - c[None, :, :]) ** 2).sum(axis=2), axis=1)
        for j in range(k):
            members = f[assign == j]
            if len(members):
                c[j] = members.mean(axis=0)
    d = ((f[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)
    assign = np.argmin(d, axis=1)
    picks: list[int] = []
    for j in range(k):
        members = np.flatnonzero(assign == j)
        if len(members) == 0:
            continue
        if weights is not None:
            w = np.asarray(weights, dtype=np.float64)[members]
            picks.append(int(members[np.lexsort((members, -w))[0]]))
        else:
            picks.append(int(members[np.lexsort((members, d[members, j]))[0]]))
    return np.asarray(picks, dtype=np.int64)


def select_batch(
    uncertainty: FloatArray | Sequence[float],
    features: FloatArray,
    budget: int,
    *,
    diversity: Diversity = "kcenter",
    oversample: int = 4,
    seed: int = 0,
) -> IntArray:
    """Indices of the items to send to people, most uncertain first among the thinned candidates.

    Args:
        uncertainty: (n,) higher = more uncertain.
        features: (n, d) appearance features for the diversity step.
        budget: how many to pick (at most n).
        diversity ("kcenter"): ``kcenter``, ``kmeans`` or ``none`` (plain top-``budget`` by uncertainty).
        oversample (4): candidates kept before thinning = ``oversample * budget``.
        seed (0): seeds k-means.
    """
    u = np.asarray(uncertainty, dtype=np.float64).reshape(-1)
    n = len(u)
    f = _as_features(features, n)
    budget = min(max(0, budget), n)
    if budget == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((np.arange(n), -u))  # most uncertain first, ties by position
    if diversity == "none":
        return order[:budget].astype(np.int64)
    cand = order[: min(n, max(budget, oversample * budget))]
    if diversity == "kcenter":
        local = kcenter_greedy(f[cand], budget, first=0)
    elif diversity == "kmeans":
        local = kmeans_select(f[cand], budget, weights=u[cand], seed=seed)
        if len(local) < budget:  # empty clusters: fill with the most uncertain left over
            rest = [i for i in range(len(cand)) if i not in set(local.tolist())]
            local = np.concatenate([local, np.asarray(rest[: budget - len(local)], dtype=np.int64)])
    else:
        raise ValueError(f"unknown diversity method {diversity!r} (kcenter, kmeans or none)")
    picked = cand[local]
    return picked[np.lexsort((picked, -u[picked]))].astype(np.int64)
