"""Golden-set error with its intervals, and Krippendorff's alpha (package as the reference)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quality_gates.agreement import (
    alpha_per_class,
    alpha_reference,
    detection_agreement,
    krippendorff_alpha,
    object_units,
)
from quality_gates.boxes import BoxSet, LabelSet
from quality_gates.golden import golden_error, golden_set_error
from quality_gates.intervals import clopper_pearson_interval, wilson_interval

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability": 4 observers × 12 units.
K2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, np.nan, np.nan, np.nan],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, np.nan, 3],
        [np.nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, np.nan],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, np.nan],
    ]
)
K2011_ALPHA = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849, "ratio": 0.797}


def test_intervals_known_values() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0) and clopper_pearson_interval(0, 0) == (0.0, 1.0)
    lo, hi = wilson_interval(5, 10)
    assert (lo, hi) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    lo, hi = clopper_pearson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(1 - 0.025 ** (1 / 10), abs=1e-12)
    lo, hi = clopper_pearson_interval(10, 10)
    assert hi == 1.0 and lo == pytest.approx(0.025 ** (1 / 10), abs=1e-12)
    lo, hi = clopper_pearson_interval(3, 20, confidence=0.9)
    assert lo < 3 / 20 < hi
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_golden_error_empty_is_undefined() -> None:
    ge = golden_error(BoxSet.empty(), LabelSet(BoxSet.empty()), num_classes=2)
    assert (ge.tp, ge.fp, ge.fn, ge.trials) == (0, 0, 0, 0)
    assert math.isnan(ge.error) and ge.wilson == (0.0, 1.0)


def test_golden_error_by_hand() -> None:
    golden = BoxSet([1, 1, 2], [0, 1, 0], [[0, 0, 10, 10], [20, 20, 10, 10], [0, 0, 10, 10]])
    # Right cat; dog box labelled cat (FP + FN); the cat on image 2 missed (FN); a spurious box on image 3,
    # an empty golden image (FP).
    labels = BoxSet([1, 1, 3], [0, 0, 1], [[1, 1, 10, 10], [20, 20, 10, 10], [0, 0, 5, 5]])
    ge = golden_error(golden, LabelSet(labels), num_classes=2, golden_images=np.array([1, 2, 3]))
    assert (ge.tp, ge.fp, ge.fn) == (1, 2, 2)
    assert ge.error == pytest.approx(4 / 6) and ge.trials == 6
    assert ge.per_class == {0: (1, 1, 1), 1: (0, 1, 1)}
    # An annotator who only labelled image 1 is not charged with image 2's cat nor image 3.
    ge1 = golden_error(golden, LabelSet(labels, images=np.array([1])), num_classes=2)
    assert (ge1.tp, ge1.fp, ge1.fn) == (1, 1, 1)


def test_golden_error_of_classification_is_the_error_rate() -> None:
    rng = np.random.default_rng(0)
    n = 200
    truth = rng.integers(0, 3, n)
    said = np.where(rng.random(n) < 0.1, (truth + 1) % 3, truth)
    box = np.tile([0.0, 0.0, 10.0, 10.0], (n, 1))
    ge = golden_error(BoxSet(np.arange(n), truth, box), LabelSet(BoxSet(np.arange(n), said, box)), num_classes=3)
    assert ge.error == pytest.approx(np.mean(said != truth))


def test_golden_set_error_per_source_and_pooled() -> None:
    golden = BoxSet([1, 2], [0, 0], [[0, 0, 10, 10], [0, 0, 10, 10]])
    good = LabelSet(BoxSet([1, 2], [0, 0], [[0, 0, 10, 10], [0, 0, 10, 10]]))
    model = LabelSet(BoxSet([1, 2], [0, 0], [[0, 0, 10, 10], [0, 0, 10, 10]], score=[0.9, 0.2]))
    rep = golden_set_error(golden, {"ann": good, "model": model}, num_classes=1, thresholds={"model": 0.5})
    assert rep.per_source["ann"].error == 0.0
    assert (rep.per_source["model"].tp, rep.per_source["model"].fn) == (1, 1)
    assert (rep.overall.tp, rep.overall.fp, rep.overall.fn) == (3, 0, 1)
    assert rep.overall.error == pytest.approx(1 / 7)
    worst = rep.worst()
    assert worst is not None and worst.source == "model"


@pytest.mark.parametrize("level", sorted(K2011_ALPHA))
def test_krippendorff_2011_worked_example(level: str) -> None:
    ours = krippendorff_alpha(K2011, level=level)  # type: ignore[arg-type]
    ref = alpha_reference(K2011, level=level)  # type: ignore[arg-type]
    assert round(ref, 3) == K2011_ALPHA[level]
    assert ours == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_fast_alpha_equals_package_on_random_data_with_missing_values(seed: int, level: str) -> None:
    rng = np.random.default_rng(seed)
    coders, units, values = 5, 400, 6
    truth = rng.integers(1, values + 1, units)
    data = np.where(rng.random((coders, units)) < 0.7, truth, rng.integers(1, values + 1, (coders, units)))
    data = data.astype(float)
    data[rng.random((coders, units)) < 0.3] = np.nan
    assert krippendorff_alpha(data, level=level) == pytest.approx(  # type: ignore[arg-type]
        alpha_reference(data, level=level),  # type: ignore[arg-type]
        abs=1e-9,
    )


def test_alpha_undefined_cases_are_nan() -> None:
    assert math.isnan(krippendorff_alpha(np.array([[1.0, 1.0], [1.0, 1.0]])))  # no variation
    assert math.isnan(krippendorff_alpha(np.array([[1.0, np.nan], [np.nan, 2.0]])))  # nothing pairable
    assert math.isnan(krippendorff_alpha(np.zeros((2, 0))))
    assert krippendorff_alpha(np.array([[1.0, 2.0, 1.0], [1.0, 2.0, 1.0]])) == 1.0


def test_per_class_alpha_is_the_binary_reduction() -> None:
    per = alpha_per_class(K2011)
    for c, a in per.items():
        binary = np.where(np.isnan(K2011), np.nan, np.equal(K2011, c).astype(float))
        assert a == pytest.approx(alpha_reference(binary, level="nominal"), abs=1e-12)


def test_object_units_by_hand() -> None:
    box = [[0, 0, 10, 10], [50, 50, 10, 10]]
    a = LabelSet(BoxSet([1, 1], [0, 1], box), images=np.array([1, 2]))
    b = LabelSet(BoxSet([1], [1], [[1, 0, 10, 10]]), images=np.array([1]))  # says class 1 for a's class-0 box
    c = LabelSet(BoxSet([2], [0], [[0, 0, 4, 4]]), images=np.array([2]))
    units = object_units({"a": a, "b": b, "c": c}, num_classes=2)
    assert units.coders == ("a", "b", "c")
    nan = np.nan
    expected = np.array([[0, 1, 2], [1, 2, nan], [nan, nan, 0]])  # 2 = "no object", NaN = not labelled
    assert np.array_equal(units.data, expected, equal_nan=True)
    assert units.image.tolist() == [1, 1, 2]


def test_detection_agreement_perfect_and_noisy() -> None:
    box = np.array([[0, 0, 10, 10], [30, 30, 10, 10], [60, 0, 10, 10]], dtype=float)
    same = {n: LabelSet(BoxSet([1, 1, 2], [0, 1, 0], box)) for n in ("x", "y")}
    rep = detection_agreement(same, num_classes=2)
    assert rep.alpha == 1.0 and rep.n_units == 3 and rep.n_pairable == 3
    noisy = {"x": same["x"], "y": LabelSet(BoxSet([1, 2], [1, 0], box[[0, 2]]))}
    rep2 = detection_agreement(noisy, num_classes=2)
    assert rep2.alpha < 1.0
    assert rep2.alpha == pytest.approx(alpha_reference(object_units(noisy, num_classes=2).data, level="nominal"))


def test_intervals_are_the_doubles_scipy_stats_gives() -> None:
    """The intervals come from scipy.special (lighter to import); they must be exactly scipy.stats' norm.ppf and
    beta.ppf, so reports stored before the change re-evaluate to the same bytes."""
    import random

    from scipy import stats

    rng = random.Random(5)
    for _ in range(3000):
        n = rng.choice([1, 2, 7, 60, 999, 10**4, 10**6, 10**9])
        k = rng.randint(0, n)
        c = rng.choice([0.5, 0.8, 0.9, 0.95, 0.99, 0.999, rng.random() * 0.98 + 0.01])
        z = float(stats.norm.ppf(0.5 + c / 2))
        p = k / n
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
        assert wilson_interval(k, n, confidence=c) == (max(0.0, centre - half), min(1.0, centre + half))
        a = 1 - c
        low = 0.0 if k == 0 else float(stats.beta.ppf(a / 2, k, n - k + 1))
        high = 1.0 if k == n else float(stats.beta.ppf(1 - a / 2, k + 1, n - k))
        assert clopper_pearson_interval(k, n, confidence=c) == (low, high), (k, n, c)
