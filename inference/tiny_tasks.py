"""Tiny Ultralytics segment, pose and classify models trained offline on generated shapes, like the tiny detector.

The images come from the shapes renderer (:func:`inference.tiny.render_shapes`); the labels are the drawn
shapes' own geometry, so every label is exact:

- ``segment``: the detector's images (square, circle, triangle, one to three per 160 px image); each shape's
  outline (:func:`shape_outline`: a square's 4 corners, a triangle's 3 vertices, a circle as a 32-gon) or its
  drawn pixels (:func:`shape_mask`).
- ``pose``: triangles only (one keypoint class ``triangle``) with K = 3 points, the drawn vertices
  ``apex``, ``left``, ``right`` (:func:`triangle_keypoints`, :data:`TRIANGLE_POINTS`).
- ``classify``: one shape per 64 px image, the class is the shape (Ultralytics' class-per-folder layout; the
  model's class order is alphabetical, as Ultralytics sorts the folders).

Each network is a YOLOv8-style yaml of our own (:data:`TASK_YAML`, no downloaded weights), trained on the CPU
in under a minute on two cores with :func:`inference.tiny.train_arguments`. The weights are cached under
``<cache_dir>/tiny/<key>/`` where ``key`` hashes the task, the generator's and the training's parameters, the
yaml and the Ultralytics version (:func:`tiny_task_key`); a file lock lets parallel test workers share one
training. Quality (validation, measured when trained, in ``TinyModel.metrics``): segment mask mAP50 about
0.9, pose OKS mAP50 about 0.99, classify top-1 about 0.9 (classify is kept short of perfect on purpose, so
calibration has wrong answers to separate from right ones).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

import numpy as np

from inference.tiny import (
    GENERATOR_VERSION,
    TINY_YAML,
    ShapeBox,
    ShapesSpec,
    TinyModel,
    TinyTrainConfig,
    _canonical,
    cached_training,
    render_shapes,
    store_trained,
    train_arguments,
)

__all__ = [
    "TASK_YAML",
    "TRIANGLE_POINTS",
    "TinyTask",
    "ensure_tiny_task_model",
    "shape_mask",
    "shape_outline",
    "task_config",
    "task_spec",
    "tiny_task_key",
    "triangle_keypoints",
]

TinyTask = Literal["segment", "pose", "classify"]

#: The pose class's points: names, skeleton (0-based) and OKS sigmas (lenient: a tiny model on 160 px images).
TRIANGLE_POINTS: dict[str, Any] = {
    "names": ("apex", "left", "right"),
    "skeleton": ((0, 1), (1, 2), (2, 0)),
    "sigmas": (0.1, 0.1, 0.1),
}

_CLASSIFY_YAML = """\
# labelgate tiny classifier: three YOLOv8 stages and a Classify head, about 0.05 M parameters.
nc: 3
backbone:
  - [-1, 1, Conv, [16, 3, 2]]
  - [-1, 1, Conv, [32, 3, 2]]
  - [-1, 1, C2f, [32, True]]
  - [-1, 1, Conv, [64, 3, 2]]
  - [-1, 1, C2f, [64, True]]
head:
  - [-1, 1, Classify, [nc]]
"""

#: The network of each task: the detector's two-scale yaml with a Segment (16 masks, 32 prototypes) or a
#: Pose head (K = 3 points with visibility), and a small classifier.
TASK_YAML: dict[str, str] = {
    "segment": TINY_YAML.replace("Detect, [nc]", "Segment, [nc, 16, 32]"),
    "pose": TINY_YAML.replace("nc: 3\n", "nc: 1\nkpt_shape: [3, 3]\n").replace("Detect, [nc]", "Pose, [nc, kpt_shape]"),
    "classify": _CLASSIFY_YAML,
}


def task_spec(task: TinyTask) -> ShapesSpec:
    """The default generator of a task (see the module docstring)."""
    if task == "segment":
        return ShapesSpec()
    if task == "pose":
        return ShapesSpec(classes=("triangle",))
    if task == "classify":
        return ShapesSpec(size=64, max_shapes=1, min_frac=0.25, max_frac=0.6, noise=30.0)
    raise ValueError(f"unknown tiny task {task!r} (segment, pose or classify)")


def task_config(task: TinyTask) -> TinyTrainConfig:
    """The default training of a task: each about a minute or less on two CPU cores."""
    if task == "segment":
        return TinyTrainConfig(epochs=18)
    if task == "pose":
        return TinyTrainConfig(epochs=20)
    if task == "classify":
        return TinyTrainConfig(train_images=160, val_images=60, epochs=15, imgsz=64)
    raise ValueError(f"unknown tiny task {task!r} (segment, pose or classify)")


def shape_outline(box: ShapeBox, *, circle_points: int = 32) -> list[float]:
    """The drawn shape's outline as a flat polygon ``[x1, y1, x2, y2, ...]`` in px (pixel ``i`` spans
    ``[i, i + 1]``, so a shape drawn on pixels ``x .. x + s - 1`` spans ``[x, x + s]``, its box)."""
    x, y, s = box.x, box.y, box.w
    if box.category == "triangle":
        points = [(x + s / 2, y), (x, y + s), (x + s, y + s)]
    elif box.category == "circle":
        t = np.linspace(0.0, 2.0 * np.pi, circle_points, endpoint=False)
        r = s / 2
        points = list(zip((x + r + r * np.cos(t)).tolist(), (y + r + r * np.sin(t)).tolist(), strict=True))
    else:
        points = [(x, y), (x + s, y), (x + s, y + s), (x, y + s)]
    return [round(float(v), 4) for p in points for v in p]


def shape_mask(box: ShapeBox, height: int, width: int) -> np.ndarray:
    """The (height, width) bool mask of exactly the pixels the renderer painted for ``box``."""
    from PIL import Image, ImageDraw

    img = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(img)
    x, y, s = int(box.x), int(box.y), int(box.w)
    if box.category == "circle":
        draw.ellipse([x, y, x + s - 1, y + s - 1], fill=1)
    elif box.category == "triangle":
        draw.polygon([(x + s / 2, y), (x, y + s - 1), (x + s - 1, y + s - 1)], fill=1)
    else:
        draw.rectangle([x, y, x + s - 1, y + s - 1], fill=1)
    return np.asarray(img, dtype=bool)


def triangle_keypoints(box: ShapeBox) -> list[list[float]]:
    """A triangle's K = 3 points ``[[x, y, 2], ...]`` (apex, left, right), all visible, in px."""
    flat = shape_outline(dataclasses.replace(box, category="triangle"))
    return [[flat[i], flat[i + 1], 2.0] for i in range(0, 6, 2)]


def tiny_task_key(task: TinyTask, spec: ShapesSpec, config: TinyTrainConfig) -> str:
    """The cache key: a hash of everything that shapes the weights."""
    body = {
        "task": task,
        "generator_version": GENERATOR_VERSION,
        "spec": asdict(spec),
        "train": asdict(config),
        "yaml": TASK_YAML[task],
        "ultralytics": importlib.metadata.version("ultralytics"),
    }
    return hashlib.sha256(_canonical(body).encode()).hexdigest()[:20]


def ensure_tiny_task_model(
    task: TinyTask,
    cache_dir: Path | None = None,
    *,
    spec: ShapesSpec | None = None,
    config: TinyTrainConfig | None = None,
) -> TinyModel:
    """The cached tiny ``task`` model, training it first when the cache has none for these parameters.

    Args:
        task: ``segment``, ``pose`` or ``classify``.
        cache_dir (``~/.cache/labelgate``): folder holding ``tiny/<key>/weights.pt`` and ``meta.json``.
        spec (:func:`task_spec`): the image generator. config (:func:`task_config`): training parameters.
    """
    spec = spec or task_spec(task)
    config = config or task_config(task)
    key = tiny_task_key(task, spec, config)
    return cached_training(cache_dir, key, lambda target: _train(target, task, spec, config, key))


def _yolo_line(task: TinyTask, spec: ShapesSpec, box: ShapeBox) -> str:
    n = spec.size
    k = spec.classes.index(box.category)
    if task == "segment":
        return f"{k} " + " ".join(f"{v / n:.6f}" for v in shape_outline(box))
    points = " ".join(f"{px / n:.6f} {py / n:.6f} 2" for px, py, _ in triangle_keypoints(box))
    centre = f"{(box.x + box.w / 2) / n:.6f} {(box.y + box.h / 2) / n:.6f} {box.w / n:.6f} {box.h / n:.6f}"
    return f"{k} {centre} {points}"


def _write_split(root: Path, split: str, task: TinyTask, spec: ShapesSpec, *, count: int, seed: int) -> None:
    from PIL import Image

    for shape in render_shapes(spec, count=count, seed=seed):
        if task == "classify":
            folder = root / split / shape.boxes[0].category
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(shape.pixels).save(folder / shape.name)
            continue
        images, labels = root / split / "images", root / split / "labels"
        images.mkdir(parents=True, exist_ok=True)
        labels.mkdir(parents=True, exist_ok=True)
        Image.fromarray(shape.pixels).save(images / shape.name)
        lines = [_yolo_line(task, spec, b) for b in shape.boxes]
        (labels / shape.name).with_suffix(".txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _dataset(work: Path, task: TinyTask, spec: ShapesSpec, config: TinyTrainConfig) -> str:
    data = work / "data"
    _write_split(data, "train", task, spec, count=config.train_images, seed=config.seed)
    _write_split(data, "val", task, spec, count=config.val_images, seed=config.seed + 1)
    if task == "classify":
        return str(data)
    names = "\n".join(f"  {i}: {name}" for i, name in enumerate(spec.classes))
    # A horizontal flip swaps the triangle's left and right points.
    points = "kpt_shape: [3, 3]\nflip_idx: [0, 2, 1]\n" if task == "pose" else ""
    (data / "data.yaml").write_text(
        f"path: {data}\ntrain: train/images\nval: val/images\n{points}names:\n{names}\n", encoding="utf-8"
    )
    return str(data / "data.yaml")


def _metrics(task: TinyTask, val: Any) -> dict[str, float]:
    if task == "classify":
        return {"top1": float(val.top1)}
    part = val.seg if task == "segment" else val.pose
    return {
        "map50": float(part.map50),
        "map50_95": float(part.map),
        "box_map50": float(val.box.map50),
        "precision": float(part.mp),
        "recall": float(part.mr),
    }


def _train(target: Path, task: TinyTask, spec: ShapesSpec, config: TinyTrainConfig, key: str) -> None:
    from ultralytics import YOLO  # type: ignore[attr-defined]

    with tempfile.TemporaryDirectory(prefix=f"labelgate-tiny-{task}-", dir=target.parent) as tmp:
        work = Path(tmp)
        data = _dataset(work, task, spec, config)
        yaml_path = work / f"labelgate-tiny-{task}.yaml"
        nc = f"nc: {len(spec.classes)}\n"
        yaml_path.write_text(TASK_YAML[task].replace("nc: 3\n", nc).replace("nc: 1\n", nc), encoding="utf-8")
        started = time.perf_counter()
        model = YOLO(str(yaml_path), task=task)
        model.train(data=data, **train_arguments(config, work))
        seconds = time.perf_counter() - started
        weights_dir = work / "runs" / "train" / "weights"
        best = weights_dir / "best.pt"
        source = best if best.is_file() else weights_dir / "last.pt"
        val = YOLO(str(source), task=task).val(
            data=data,
            imgsz=config.imgsz,
            batch=config.batch,
            device="cpu",
            plots=False,
            workers=0,
            project=str(work / "runs"),
            name="val",
        )
        names = {int(k): str(v) for k, v in dict(YOLO(str(source)).names).items()}
        meta = {
            "key": key,
            "task": task,
            "classes": [names[i] for i in sorted(names)],
            "metrics": _metrics(task, val),
            "train_seconds": round(seconds, 2),
            "spec": asdict(spec),
            "train": asdict(config),
        }
        store_trained(work, target, source, meta)
