"""Routing of predictions to labels and of items to the review queue (pure)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inference.routing import REASON_NO_LABEL, REASON_UNCERTAIN, Thresholds, route_item

T = Thresholds(default=0.5, band=0.1)


def test_an_item_without_predictions_goes_to_people_first() -> None:
    r = route_item([], [], T)
    assert r.review and r.reason == REASON_NO_LABEL and r.priority == 0.0 and len(r.accepted) == 0


def test_confident_predictions_become_labels_and_the_item_stays_out_of_the_queue() -> None:
    r = route_item([0.9, 0.5], ["square", "circle"], T)
    assert r.accepted.tolist() == [True, True]  # the threshold itself is accepted
    assert not r.review and r.reason is None


def test_best_prediction_in_the_band_is_uncertain_with_its_confidence_as_priority() -> None:
    r = route_item([0.45, 0.41, 0.1], ["square", "circle", "square"], T)
    assert r.accepted.tolist() == [False, False, False]
    assert r.review and r.reason == REASON_UNCERTAIN and r.priority == pytest.approx(0.45)


def test_nothing_above_and_nothing_in_the_band_is_no_label() -> None:
    r = route_item([0.39, 0.2], ["square", "circle"], T)
    assert r.review and r.reason == REASON_NO_LABEL and r.priority == pytest.approx(0.39)


def test_an_uncertain_box_beside_a_confident_one_still_routes_the_item() -> None:
    r = route_item([0.95, 0.42], ["square", "circle"], T)
    assert r.accepted.tolist() == [True, False]
    assert r.review and r.reason == REASON_UNCERTAIN and r.priority == pytest.approx(0.42)


def test_per_class_thresholds_and_never_auto_labelled_classes() -> None:
    t = Thresholds(default=0.5, band=0.1, per_class={"circle": 0.2, "triangle": None})
    r = route_item([0.25, 0.45, 0.99, 0.3], ["circle", "square", "triangle", "triangle"], t)
    assert r.accepted.tolist() == [True, False, False, False]
    assert r.thresholds[0] == 0.2 and r.thresholds[1] == 0.5 and math.isinf(r.thresholds[2])
    # square 0.45 lies in [0.4, 0.5); the confident triangle cannot be auto-labelled and counts as uncertain
    assert r.review and r.reason == REASON_UNCERTAIN and r.priority == pytest.approx(0.99)


def test_band_zero_routes_only_items_without_labels() -> None:
    t = Thresholds(default=0.5)
    assert route_item([0.49], ["a"], t).reason == REASON_NO_LABEL
    assert not route_item([0.5, 0.49], ["a", "a"], t).review


def test_thresholds_validate_and_know_the_lowest_useful_confidence() -> None:
    assert Thresholds(default=0.5, band=0.1, per_class={"a": 0.3, "b": None}).lowest() == pytest.approx(0.2)
    assert Thresholds(default=0.05, band=0.1).lowest() == 0.0
    for bad in ({"default": 1.5}, {"default": 0.5, "band": -0.1}, {"default": 0.5, "per_class": {"a": 2.0}}):
        with pytest.raises(ValueError):
            Thresholds(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="2 scores but 1 classes"):
        route_item(np.array([0.1, 0.2]), ["a"], T)
