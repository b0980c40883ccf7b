"""Threshold calibration (pure): Clopper–Pearson bounds, TBAL thresholds, F1-optimal thresholds, coverage."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from inference.calibration import (
    CalibrationReport,
    calibrate_classes,
    coverage,
    one_sided_upper,
    tbal_threshold,
    thresholds_for,
)
from quality_gates import BoxSet, match_detections


def test_one_sided_upper_bound_known_answers() -> None:
    # with no error in n trials the exact bound solves (1 - p)^n = 1 - level
    for n in (10, 59, 300):
        assert one_sided_upper(0, n, level=0.95) == pytest.approx(1 - 0.05 ** (1 / n), rel=1e-9)
    assert one_sided_upper(3, 50, level=0.9) == pytest.approx(float(stats.beta.ppf(0.9, 4, 47)), rel=1e-9)
    assert one_sided_upper(0, 0) == 1.0
    with pytest.raises(ValueError):
        one_sided_upper(1, 10, level=0.4)


def test_tbal_needs_59_clean_predictions_for_five_percent_at_95() -> None:
    # (1 - 0.05)^58 = 0.051 > 0.05 but 0.95^59 = 0.0485: the textbook "rule of 59"
    assert tbal_threshold(np.linspace(0.99, 0.4, 58), np.ones(58, dtype=bool)) is None
    point = tbal_threshold(np.linspace(0.99, 0.4, 59), np.ones(59, dtype=bool))
    assert point is not None and point.threshold == pytest.approx(0.4) and point.n == 59 and point.fp == 0
    assert point.upper < 0.05


def test_tbal_takes_the_lowest_qualifying_threshold_brute_force() -> None:
    rng = np.random.default_rng(7)
    score = rng.uniform(0, 1, 400)
    correct = rng.uniform(0, 1, 400) < score  # higher confidence, more often right
    point = tbal_threshold(score, correct, target_error=0.2, level=0.9)
    qualifying = []
    for t in np.unique(score):
        sel = score >= t
        n, k = int(sel.sum()), int((~correct[sel]).sum())
        upper = 1.0 if k == n else float(stats.beta.ppf(0.9, k + 1, n - k))
        if upper < 0.2:
            qualifying.append((t, n, k))
    assert len(qualifying) > 1 and point is not None
    t, n, k = min(qualifying)
    assert k > 0  # the answer admits some errors: the bound, not a clean prefix, decides
    assert point.threshold == t and point.n == n and point.fp == k


def test_tbal_edge_cases_and_ties() -> None:
    assert tbal_threshold([], []) is None
    assert tbal_threshold([0.9, 0.8], [False, False], target_error=0.5) is None
    # a tie admits both predictions at once: 60 right at 0.9 plus one wrong at 0.9 → never below 1/61 errors
    score = np.r_[np.full(61, 0.9)]
    correct = np.r_[np.ones(60, dtype=bool), [False]]
    point = tbal_threshold(score, correct, target_error=0.1)
    assert point is not None and point.n == 61 and point.fp == 1
    with pytest.raises(ValueError):
        tbal_threshold([0.5], [True, False])
    with pytest.raises(ValueError):
        tbal_threshold([0.5], [True], target_error=0.0)


def _toy() -> tuple[BoxSet, BoxSet]:
    # class 0 in images 0..3, class 1 in image 0; predictions: 3 right (0.9, 0.8, 0.6), one wrong (0.7), one miss
    box = [10.0, 10.0, 20.0, 20.0]
    far = [100.0, 100.0, 20.0, 20.0]
    gt = BoxSet(np.array([0, 1, 2, 3, 0]), np.array([0, 0, 0, 0, 1]), np.array([box] * 4 + [far]))
    dt = BoxSet(
        np.array([0, 1, 2, 3, 0]),
        np.array([0, 0, 0, 0, 1]),
        np.array([box, box, far, box, far]),
        score=np.array([0.9, 0.8, 0.7, 0.6, 0.3]),
    )
    return gt, dt


def test_calibrate_classes_hand_computed() -> None:
    gt, dt = _toy()
    match = match_detections(gt, dt, num_classes=3, iou=0.5)
    square, circle, empty = calibrate_classes(match, ["square", "circle", "triangle"], target_error=0.4, level=0.6)
    # square at 0.6: TP 3, FP 1, FN 1 → F1 6/8 = 0.75 beats 0.8 (2 TP → 4/6) and 0.9 (2/5)
    assert square.f1_threshold == pytest.approx(0.6) and square.f1 == pytest.approx(0.75)
    assert square.precision == pytest.approx(0.75) and square.recall == pytest.approx(0.75)
    assert square.n_gt == 4 and square.n_pred == 4
    assert circle.f1 == pytest.approx(1.0) and circle.f1_threshold == pytest.approx(0.3)
    assert empty.f1_threshold is None and empty.tbal is None and empty.n_pred == 0
    assert square.tbal is not None and square.tbal.threshold == pytest.approx(0.8)  # 2/2 right; 0.6 adds an error
    with pytest.raises(ValueError):
        calibrate_classes(match, ["square"])


def test_coverage_uses_the_runners_routing() -> None:
    items = [
        (np.array([0.9]), ["square"], np.array([True])),  # auto-labelled, right
        (np.array([0.95, 0.45]), ["square", "circle"], np.array([True, False])),  # uncertain circle → people
        (np.array([0.8]), ["circle"], np.array([False])),  # auto-labelled, wrong
        (np.zeros(0), [], np.zeros(0, dtype=bool)),  # nothing found → people
    ]
    cov = coverage(items, thresholds_for({"square": 0.5, "circle": 0.5}, band=0.1))
    assert (cov.items, cov.auto_labelled, cov.to_humans, cov.labels, cov.wrong_labels) == (4, 2, 2, 3, 1)


def test_report_serialises_with_both_strategies() -> None:
    gt, dt = _toy()
    classes = tuple(
        calibrate_classes(match_detections(gt, dt, num_classes=2), ["square", "circle"], target_error=0.4, level=0.6)
    )
    cov = coverage([], thresholds_for({}, band=0.1))
    report = CalibrationReport(0.5, 0.5, 0.6, 0.1, classes, cov, cov)
    body = json.loads(json.dumps(report.to_dict()))
    assert body["thresholds"]["f1"] == {"square": pytest.approx(0.6), "circle": pytest.approx(0.3)}
    assert body["thresholds"]["tbal"]["square"] == pytest.approx(0.8)
    with pytest.raises(ValueError):
        report.thresholds("max")
