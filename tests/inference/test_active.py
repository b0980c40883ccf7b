"""Active-learning selection: uncertainty scores and diversity thinning (pure, hand-computed answers)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inference.active import (
    batch_size_for,
    binary_entropy,
    entropy_uncertainty,
    kcenter_greedy,
    kmeans_select,
    margin_uncertainty,
    select_batch,
)


def test_binary_entropy_known_values() -> None:
    h = binary_entropy([0.0, 0.5, 1.0, 0.25, 0.75])
    assert h[:3].tolist() == [0.0, 1.0, 0.0]
    expected = -(0.25 * math.log2(0.25) + 0.75 * math.log2(0.75))  # 0.8113 bits
    assert h[3] == pytest.approx(expected) and h[4] == pytest.approx(expected)


def test_item_uncertainty_scores() -> None:
    assert entropy_uncertainty([]) == 0.0
    assert entropy_uncertainty([0.99, 0.5, 0.1]) == pytest.approx(1.0)
    assert margin_uncertainty([], []) == 0.0
    assert margin_uncertainty([0.9, 0.35], [0.3, 0.3]) == pytest.approx(0.95)  # nearest: |0.35 - 0.3|
    assert margin_uncertainty([0.9], [math.inf]) == pytest.approx(0.9)  # never-auto classes: distance to 1


def test_batch_size_is_a_share_of_the_pool_rounded_up() -> None:
    assert batch_size_for(100, 0.03) == 3
    assert batch_size_for(101, 0.03) == 4
    assert batch_size_for(5, 0.02) == 1
    assert batch_size_for(0, 0.05) == 0
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError):
            batch_size_for(10, bad)


def test_kcenter_greedy_on_a_line() -> None:
    points = np.array([[0.0], [1.0], [2.0], [10.0], [11.0]])
    # from 0: farthest is 11; then distances {1: 1, 2: 2, 10: 1} -> 2; then {1: 1, 10: 1} -> first of the tie (1)
    assert kcenter_greedy(points, 4).tolist() == [0, 4, 2, 1]
    assert kcenter_greedy(points, 9).tolist() == [0, 4, 2, 1, 3]
    assert kcenter_greedy(points, 0).tolist() == []


def test_select_batch_prefers_uncertain_items_but_not_near_duplicates() -> None:
    # items 0-2 are near-identical and most uncertain; item 3 is different and slightly less uncertain
    features = np.array([[0.0, 0.0], [0.0, 0.01], [0.01, 0.0], [5.0, 5.0], [9.0, 9.0]])
    u = np.array([0.99, 0.98, 0.97, 0.9, 0.1])
    assert select_batch(u, features, 2, diversity="none").tolist() == [0, 1]
    picked = select_batch(u, features, 2, diversity="kcenter", oversample=2)
    assert picked.tolist() == [0, 3]  # candidates 0..3; k-center leaves the duplicates out
    km = select_batch(u, features, 2, diversity="kmeans", oversample=2, seed=1)
    assert len(set(km.tolist())) == 2 and 3 in km.tolist() and {0, 1, 2} & set(km.tolist())


def test_select_batch_edge_cases() -> None:
    assert select_batch([], np.zeros((0, 3)), 3).tolist() == []
    assert select_batch([0.5], np.zeros((1, 3)), 3).tolist() == [0]
    with pytest.raises(ValueError, match="features"):
        select_batch([0.5, 0.2], np.zeros((3, 2)), 1)
    with pytest.raises(ValueError, match="diversity"):
        select_batch([0.5, 0.2], np.zeros((2, 2)), 1, diversity="random")  # type: ignore[arg-type]


def test_kmeans_select_takes_one_per_cluster_and_is_seeded() -> None:
    rng = np.random.default_rng(0)
    blobs = np.concatenate([rng.normal(c, 0.05, (10, 2)) for c in ((0, 0), (5, 0), (0, 5))])
    picks = kmeans_select(blobs, 3, seed=3)
    assert sorted(int(p) // 10 for p in picks) == [0, 1, 2]
    assert kmeans_select(blobs, 3, seed=3).tolist() == picks.tolist()
