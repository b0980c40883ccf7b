"""A tiny YOLO trained offline on generated shapes, so tests and the demo have a real detector.

Images are drawn with numpy and Pillow from a seed: a noisy dark background and one to three filled shapes
(``square``, ``circle``, ``triangle``) of random colour, 15-40 % of the side, not overlapping. The detector is
a two-scale YOLOv8-style network (about 0.3 M parameters, :data:`TINY_YAML`) built from its yaml, trained on
the CPU in about a minute (96 images of 160 px, 20 epochs, AdamW, one optimiser step per batch); on 200
fresh images it reaches a per-class F1 of about 0.95.

The trained weights are cached under ``<cache_dir>/tiny/<key>/`` where ``key`` hashes the generator's and the
training's parameters, the network yaml and the Ultralytics version; a file lock lets parallel test workers
share one training.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inference.ultra import default_cache_root, prepare_offline

__all__ = [
    "TINY_YAML",
    "ShapeBox",
    "ShapeImage",
    "ShapesSpec",
    "TinyModel",
    "TinyTrainConfig",
    "cached_training",
    "ensure_tiny_model",
    "generator_config_hash",
    "render_shapes",
    "tiny_model_key",
    "write_shapes",
]

GENERATOR_VERSION = 1

TINY_YAML = """\
# labelgate tiny detector: YOLOv8 blocks, strides 8 and 16 only, about 0.3 M parameters.
nc: 3
depth_multiple: 1.0
width_multiple: 1.0
backbone:
  - [-1, 1, Conv, [16, 3, 2]]
  - [-1, 1, Conv, [32, 3, 2]]
  - [-1, 1, C2f, [32, True]]
  - [-1, 1, Conv, [64, 3, 2]]
  - [-1, 1, C2f, [64, True]]
  - [-1, 1, Conv, [128, 3, 2]]
  - [-1, 1, C2f, [128, True]]
  - [-1, 1, SPPF, [128, 5]]
head:
  - [-1, 1, nn.Upsample, [None, 2, "nearest"]]
  - [[-1, 4], 1, Concat, [1]]
  - [-1, 1, C2f, [64]]
  - [-1, 1, Conv, [64, 3, 2]]
  - [[-1, 7], 1, Concat, [1]]
  - [-1, 1, C2f, [128]]
  - [[10, 13], 1, Detect, [nc]]
"""


@dataclass(frozen=True, slots=True)
class ShapesSpec:
    """How shape images look. ``size`` in pixels; shape sides are ``min_frac..max_frac`` of it."""

    classes: tuple[str, ...] = ("square", "circle", "triangle")
    size: int = 160
    max_shapes: int = 3
    min_frac: float = 0.15
    max_frac: float = 0.40
    noise: float = 12.0


@dataclass(frozen=True, slots=True)
class ShapeBox:
    """A drawn shape's class and box (``x, y, w, h`` pixels, top-left corner)."""

    category: str
    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True, eq=False)
class ShapeImage:
    """One generated image: file ``name``, RGB ``pixels`` (HxWx3 uint8) and its true boxes."""

    name: str
    pixels: np.ndarray
    boxes: tuple[ShapeBox, ...]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def generator_config_hash(spec: ShapesSpec, *, count: int, seed: int) -> str:
    """SHA-256 of the generator's parameters: the ``synthetic`` provenance of labels drawn by it."""
    body = {"generator": "labelgate.shapes", "version": GENERATOR_VERSION, "spec": asdict(spec)}
    return hashlib.sha256(_canonical({**body, "count": count, "seed": seed}).encode()).hexdigest()


def _disjoint(box: tuple[int, int, int], placed: list[tuple[int, int, int]]) -> bool:
    x, y, s = box
    return all(x + s < px or px + ps < x or y + s < py or py + ps < y for px, py, ps in placed)


def render_shapes(spec: ShapesSpec, *, count: int, seed: int) -> Iterator[ShapeImage]:
    """``count`` images drawn from ``seed`` (the same seed always gives the same pixels and boxes)."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    n = spec.size
    for i in range(count):
        bg = rng.integers(0, 90, 3)
        noise = rng.normal(0.0, spec.noise, (n, n, 3))
        img = Image.fromarray((np.ones((n, n, 3)) * bg + noise).clip(0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(img)
        placed: list[tuple[int, int, int]] = []
        boxes: list[ShapeBox] = []
        for _ in range(int(rng.integers(1, spec.max_shapes + 1))):
            for _attempt in range(20):
                s = int(rng.integers(int(n * spec.min_frac), int(n * spec.max_frac)))
                cand = (int(rng.integers(0, n - s)), int(rng.integers(0, n - s)), s)
                if _disjoint(cand, placed):
                    break
            else:
                continue
            x, y, s = cand
            placed.append(cand)
            k = int(rng.integers(0, len(spec.classes)))
            colour = tuple(int(v) for v in rng.integers(120, 256, 3))
            kind = spec.classes[k]
            if kind == "circle":
                draw.ellipse([x, y, x + s - 1, y + s - 1], fill=colour)
            elif kind == "triangle":
                draw.polygon([(x + s / 2, y), (x, y + s - 1), (x + s - 1, y + s - 1)], fill=colour)
            else:
                draw.rectangle([x, y, x + s - 1, y + s - 1], fill=colour)
            boxes.append(ShapeBox(kind, float(x), float(y), float(s), float(s)))
        yield ShapeImage(f"shape_{seed}_{i:05d}.png", np.asarray(img), tuple(boxes))


def write_shapes(folder: Path, spec: ShapesSpec, *, count: int, seed: int) -> dict[str, tuple[ShapeBox, ...]]:
    """Write ``count`` PNGs into ``folder``; returns ``{file name: true boxes}``."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    truth: dict[str, tuple[ShapeBox, ...]] = {}
    for shape in render_shapes(spec, count=count, seed=seed):
        Image.fromarray(shape.pixels).save(folder / shape.name)
        truth[shape.name] = shape.boxes
    return truth


def _write_yolo_split(root: Path, split: str, spec: ShapesSpec, *, count: int, seed: int) -> None:
    images, labels = root / split / "images", root / split / "labels"
    truth = write_shapes(images, spec, count=count, seed=seed)
    labels.mkdir(parents=True, exist_ok=True)
    n = spec.size
    for name, boxes in truth.items():
        lines = [
            f"{spec.classes.index(b.category)} {(b.x + b.w / 2) / n:.6f} {(b.y + b.h / 2) / n:.6f} "
            f"{b.w / n:.6f} {b.h / n:.6f}"
            for b in boxes
        ]
        (labels / name).with_suffix(".txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


@dataclass(frozen=True, slots=True)
class TinyTrainConfig:
    """Training parameters. ``seed`` draws the training images (validation uses ``seed + 1``)."""

    train_images: int = 96
    val_images: int = 16
    epochs: int = 20
    imgsz: int = 160
    batch: int = 16
    lr0: float = 0.005
    seed: int = 0


@dataclass(frozen=True)
class TinyModel:
    """A trained tiny model: its weights, their SHA-256, class names (in the model's index order), cache key,
    validation metrics and Ultralytics task (``detect`` here; :mod:`inference.tiny_tasks` trains the others)."""

    weights: Path
    sha256: str
    classes: tuple[str, ...]
    key: str
    metrics: dict[str, float] = field(default_factory=dict)
    train_seconds: float = 0.0
    cached: bool = False
    task: str = "detect"


def tiny_model_key(spec: ShapesSpec, config: TinyTrainConfig) -> str:
    """The cache key: a hash of everything that shapes the weights."""
    import importlib.metadata

    body = {
        "generator_version": GENERATOR_VERSION,
        "spec": asdict(spec),
        "train": asdict(config),
        "yaml": TINY_YAML,
        "ultralytics": importlib.metadata.version("ultralytics"),
    }
    return hashlib.sha256(_canonical(body).encode()).hexdigest()[:20]


def _sha256_file(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def ensure_tiny_model(
    cache_dir: Path | None = None,
    *,
    spec: ShapesSpec | None = None,
    config: TinyTrainConfig | None = None,
) -> TinyModel:
    """The cached tiny model, training it first when the cache has none for these parameters.

    Args:
        cache_dir (``~/.cache/labelgate``): folder holding ``tiny/<key>/weights.pt`` and ``meta.json``.
        spec (``ShapesSpec()``): the image generator.
        config (``TinyTrainConfig()``): training parameters.
    """
    spec = spec or ShapesSpec()
    config = config or TinyTrainConfig()
    key = tiny_model_key(spec, config)
    return cached_training(cache_dir, key, lambda target: _train(target, spec, config, key))


def cached_training(cache_dir: Path | None, key: str, train: Callable[[Path], None]) -> TinyModel:
    """The model cached under ``<cache_dir>/tiny/<key>/``, after ``train(target)`` wrote it there when missing.

    ``train`` must leave ``weights.pt`` and ``meta.json`` in ``target`` (see :func:`store_trained`). A file
    lock per key makes parallel processes share one training; Ultralytics is made offline first.
    """
    root = (cache_dir or default_cache_root()).expanduser().resolve() / "tiny"
    root.mkdir(parents=True, exist_ok=True)
    prepare_offline(root.parent / "ultralytics")
    target = root / key
    with (root / f"{key}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if (target / "meta.json").is_file() and (target / "weights.pt").is_file():
                return _load_meta(target, cached=True)
            train(target)
            return _load_meta(target, cached=False)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _load_meta(target: Path, *, cached: bool) -> TinyModel:
    meta = json.loads((target / "meta.json").read_text(encoding="utf-8"))
    weights = target / "weights.pt"
    return TinyModel(
        weights=weights,
        sha256=_sha256_file(weights),
        classes=tuple(meta["classes"]),
        key=str(meta["key"]),
        metrics={k: float(v) for k, v in meta["metrics"].items()},
        train_seconds=float(meta["train_seconds"]),
        cached=cached,
        task=str(meta.get("task", "detect")),
    )


def train_arguments(config: TinyTrainConfig, work: Path) -> dict[str, Any]:
    """The ``model.train`` arguments every tiny model shares: CPU, offline, no plots, one step per batch."""
    return {
        "epochs": config.epochs,
        "imgsz": config.imgsz,
        "batch": config.batch,
        "nbs": config.batch,  # one optimiser step per batch: a few dozen images need every step
        "optimizer": "AdamW",
        "lr0": config.lr0,
        "warmup_epochs": 1,
        "device": "cpu",
        "workers": 0,
        "project": str(work / "runs"),
        "name": "train",
        "exist_ok": True,
        "plots": False,
        "amp": False,
        "seed": config.seed,
        "deterministic": True,
        "val": False,
        "cache": True,
        "verbose": False,
    }


def store_trained(work: Path, target: Path, source: Path, meta: dict[str, Any]) -> None:
    """Move trained weights ``source`` and their ``meta`` (key, classes, metrics, train_seconds, ...) into
    ``target`` in one rename, so a crash never leaves a half-written cache entry."""
    staging = work / "out"
    staging.mkdir()
    shutil.copyfile(source, staging / "weights.pt")
    (staging / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)


def _train(target: Path, spec: ShapesSpec, config: TinyTrainConfig, key: str) -> None:
    from ultralytics import YOLO  # type: ignore[attr-defined]

    with tempfile.TemporaryDirectory(prefix="labelgate-tiny-", dir=target.parent) as tmp:
        work = Path(tmp)
        data = work / "data"
        _write_yolo_split(data, "train", spec, count=config.train_images, seed=config.seed)
        _write_yolo_split(data, "val", spec, count=config.val_images, seed=config.seed + 1)
        names = "\n".join(f"  {i}: {name}" for i, name in enumerate(spec.classes))
        (data / "data.yaml").write_text(
            f"path: {data}\ntrain: train/images\nval: val/images\nnames:\n{names}\n", encoding="utf-8"
        )
        yaml_path = work / "labelgate-tiny.yaml"
        yaml_path.write_text(TINY_YAML.replace("nc: 3", f"nc: {len(spec.classes)}"), encoding="utf-8")
        started = time.perf_counter()
        model = YOLO(str(yaml_path), task="detect")
        model.train(data=str(data / "data.yaml"), **train_arguments(config, work))
        seconds = time.perf_counter() - started
        weights_dir = work / "runs" / "train" / "weights"
        best = weights_dir / "best.pt"
        source = best if best.is_file() else weights_dir / "last.pt"
        trained = YOLO(str(source), task="detect")
        val = trained.val(
            data=str(data / "data.yaml"),
            imgsz=config.imgsz,
            batch=config.batch,
            device="cpu",
            plots=False,
            workers=0,
            project=str(work / "runs"),  # else Ultralytics writes runs/detect/val* into the working directory
            name="val",
        )
        metrics = {
            "map50": float(val.box.map50),
            "map50_95": float(val.box.map),
            "precision": float(val.box.mp),
            "recall": float(val.box.mr),
        }
        meta = {
            "key": key,
            "task": "detect",
            "classes": list(spec.classes),
            "metrics": metrics,
            "train_seconds": round(seconds, 2),
            "spec": asdict(spec),
            "train": asdict(config),
        }
        store_trained(work, target, source, meta)
