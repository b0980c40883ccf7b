"""The shapes generator (seeded, in bounds, disjoint) and the cached tiny detector."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from inference.tiny import (
    ShapesSpec,
    TinyModel,
    TinyTrainConfig,
    ensure_tiny_model,
    generator_config_hash,
    render_shapes,
    tiny_model_key,
    write_shapes,
)
from inference.ultra import PredictOptions, Predictor, read_class_names, resolve_device
from lineage.errors import InvalidInput
from tests.inference.conftest import model_cache


def test_the_generator_is_seeded_in_bounds_and_non_overlapping() -> None:
    spec = ShapesSpec()
    a = list(render_shapes(spec, count=5, seed=3))
    b = list(render_shapes(spec, count=5, seed=3))
    c = list(render_shapes(spec, count=5, seed=4))
    assert [x.boxes for x in a] == [x.boxes for x in b] and all(
        np.array_equal(x.pixels, y.pixels) for x, y in zip(a, b, strict=True)
    )
    assert [x.boxes for x in a] != [x.boxes for x in c]
    for img in a:
        assert img.pixels.shape == (spec.size, spec.size, 3) and 1 <= len(img.boxes) <= spec.max_shapes
        for i, box in enumerate(img.boxes):
            assert box.category in spec.classes and box.x >= 0 and box.y >= 0
            assert box.x + box.w <= spec.size and box.y + box.h <= spec.size
            for other in img.boxes[i + 1 :]:
                apart = box.x + box.w <= other.x or other.x + other.w <= box.x
                assert apart or box.y + box.h <= other.y or other.y + other.h <= box.y


def test_written_images_and_hashes(tmp_path: Path) -> None:
    truth = write_shapes(tmp_path, ShapesSpec(), count=3, seed=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(truth)
    h = generator_config_hash(ShapesSpec(), count=3, seed=1)
    assert (
        h
        == generator_config_hash(ShapesSpec(), count=3, seed=1)
        != generator_config_hash(ShapesSpec(), count=3, seed=2)
    )
    assert tiny_model_key(ShapesSpec(), TinyTrainConfig()) != tiny_model_key(ShapesSpec(), TinyTrainConfig(epochs=21))
    assert tiny_model_key(ShapesSpec(), TinyTrainConfig()) != tiny_model_key(
        dataclasses.replace(ShapesSpec(), size=128), TinyTrainConfig()
    )


def test_the_cached_model_loads_and_detects_shapes(tiny: TinyModel, request: pytest.FixtureRequest) -> None:
    again = ensure_tiny_model(model_cache(request))
    assert again.cached and again.weights == tiny.weights and again.sha256 == tiny.sha256
    assert tiny.classes == ("square", "circle", "triangle") and tiny.metrics["map50"] >= 0.8
    assert read_class_names(tiny.weights) == {0: "square", 1: "circle", 2: "triangle"}
    predictor = Predictor(tiny.weights, device="cpu", options=PredictOptions(conf=0.05))
    shapes = list(render_shapes(ShapesSpec(), count=8, seed=77))
    found = predictor.predict([np.ascontiguousarray(s.pixels[:, :, ::-1]) for s in shapes])
    assert predictor.predict([]) == []
    hits = 0
    for shape, det in zip(shapes, found, strict=True):
        assert np.all(det.xywh[:, 2:] > 0) and np.all((det.score >= 0.05) & (det.score <= 1))
        for box in shape.boxes:
            k = ShapesSpec().classes.index(box.category)
            centre = np.array([box.x + box.w / 2, box.y + box.h / 2])
            pred_centres = det.xywh[:, :2] + det.xywh[:, 2:] / 2
            near = np.linalg.norm(pred_centres - centre, axis=1) < box.w / 3
            hits += bool(np.any(near & (det.cls == k)))
    assert hits >= 0.8 * sum(len(s.boxes) for s in shapes)


def test_devices_resolve_and_refuse_clearly() -> None:
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(InvalidInput, match="unknown device"):
        resolve_device("tpu")
    import torch

    if torch.cuda.is_available():
        assert resolve_device("auto") == "cuda:0"
    else:
        assert resolve_device("auto") == "cpu"
        with pytest.raises(InvalidInput, match="CUDA is not available"):
            resolve_device("cuda:0")
