"""The one door to Ultralytics and torch: offline set-up, device choice, model loading and batch prediction.

Nothing here imports torch or ultralytics at module import; :func:`prepare_offline` runs before the first
import and makes Ultralytics safe on a machine without internet: ``YOLO_OFFLINE``, no auto-install, a config
folder of ours (not ``~/.config``), a local font instead of the one ``train()`` would download, and every
third-party callback (DVC, MLflow, Ray Tune, ...) switched off.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from inference.types import Detections, FloatArray
from lineage.errors import InvalidInput

__all__ = [
    "DEFAULT_CONFIG_DIR",
    "TASKS",
    "ModelInfo",
    "PredictOptions",
    "Predictor",
    "default_cache_root",
    "inference_available",
    "prepare_offline",
    "read_class_names",
    "read_model_info",
    "resolve_device",
]

_LOCK = threading.Lock()
_PREPARED: list[Path] = []
#: The Ultralytics tasks labelgate runs (``model.task``); each fits one schema task (:mod:`inference.tasks`).
TASKS = ("detect", "segment", "pose", "classify")
_CALLBACKS = ("sync", "clearml", "comet", "dvc", "hub", "mlflow", "neptune", "raytune", "tensorboard", "wandb")


def default_cache_root() -> Path:
    """``~/.cache/labelgate``: tiny-model cache and Ultralytics config when no other folder is given."""
    return Path.home() / ".cache" / "labelgate"


DEFAULT_CONFIG_DIR = default_cache_root() / "ultralytics"


def prepare_offline(config_dir: Path | None = None) -> Path:
    """Make Ultralytics importable offline; idempotent, thread-safe. Returns the config folder used.

    Only the first call in a process chooses the folder (``config_dir``, default ``~/.cache/labelgate/
    ultralytics``): Ultralytics reads it once, at import.
    """
    with _LOCK:
        if _PREPARED:
            return _PREPARED[0]
        folder = (config_dir or DEFAULT_CONFIG_DIR).expanduser().resolve()
        (folder / "Ultralytics").mkdir(parents=True, exist_ok=True)
        # Ultralytics is configured through its environment only; these must be set before its import.
        os.environ["YOLO_CONFIG_DIR"] = str(folder)
        os.environ["YOLO_OFFLINE"] = "1"
        os.environ["YOLO_AUTOINSTALL"] = "false"
        os.environ.setdefault("YOLO_VERBOSE", "false")
        from ultralytics.utils import SETTINGS, USER_CONFIG_DIR

        _restore_pil_open()
        # USER_CONFIG_DIR is ours unless something imported Ultralytics before this call; fonts go where it reads.
        _install_fonts(Path(USER_CONFIG_DIR))
        off = {k: False for k in _CALLBACKS if k in SETTINGS and SETTINGS[k] is not False}
        if off:
            SETTINGS.update(off)  # type: ignore[no-untyped-call]
        _PREPARED.append(Path(USER_CONFIG_DIR).parent)
        return _PREPARED[0]


def _restore_pil_open() -> None:
    """Ultralytics replaces ``PIL.Image.open`` process-wide with a wrapper that, on an unreadable file, tries
    to install a HEIF plugin (and raises ``ModuleNotFoundError`` offline). Put PIL's own back, so the rest of
    labelgate (image scans, imports) keeps PIL's errors in a process that also auto-labels."""
    from PIL import Image
    from ultralytics.utils import patches

    original = getattr(patches, "_image_open", None)
    if original is not None:
        Image.open = original


def _install_fonts(target: Path) -> None:
    # train() wants Arial.ttf and fetches it from the internet when missing; matplotlib ships DejaVuSans.
    import matplotlib

    source = Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        dest = target / name
        if not dest.exists() and source.exists():
            shutil.copyfile(source, dest)


def inference_available() -> bool:
    """Whether torch and Ultralytics are installed (the ``inference`` extra), without importing either."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("torch", "ultralytics"))


def resolve_device(spec: str = "auto") -> str:
    """``auto`` → ``cuda:0`` when CUDA is usable, else ``cpu``; ``cpu`` and ``cuda[:N]`` are checked."""
    spec = spec.strip().lower()
    if spec not in ("auto", "cpu") and not (spec == "cuda" or spec.startswith("cuda:")):
        raise InvalidInput(f"unknown device {spec!r} (expected auto, cpu, cuda or cuda:N)", field="device")
    if spec == "cpu":
        return "cpu"
    import torch

    if not torch.cuda.is_available():
        if spec == "auto":
            return "cpu"
        raise InvalidInput(f"device {spec} requested but CUDA is not available on this machine", field="device")
    if spec == "auto":
        return "cuda:0"
    index = int(spec.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise InvalidInput(f"no CUDA device {index} ({torch.cuda.device_count()} present)", field="device")
    return f"cuda:{index}"


def read_class_names(weights: Path) -> dict[int, str]:
    """The class names a ``.pt`` predicts, ``{index: name}`` (loads the checkpoint on the CPU)."""
    return read_model_info(weights).names


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What a checkpoint predicts: ``names`` ``{index: name}``, its Ultralytics ``task`` (one of
    :data:`TASKS`) and, for pose models, ``keypoints`` = K points per object (None otherwise); the input size
    it was trained at and the Ultralytics version that wrote it, where the checkpoint says (None otherwise)."""

    names: dict[int, str]
    task: str
    keypoints: int | None = None
    imgsz: int | None = None
    ultralytics_version: str | None = None


def read_model_info(weights: Path, *, shown_as: Path | None = None) -> ModelInfo:
    """The :class:`ModelInfo` of a ``.pt`` (loads the checkpoint on the CPU); ``InvalidInput`` for a file
    that is not an Ultralytics model or of a task labelgate does not run (obb, ...). Errors name ``shown_as``
    (the file a person gave) when ``weights`` is a copy of it."""
    model = _load_yolo(weights, shown_as=shown_as)
    shown = shown_as or weights
    names = {int(k): str(v) for k, v in dict(model.names).items()}
    task = str(model.task)
    if task not in TASKS:
        raise InvalidInput(
            f"{shown} is an Ultralytics {task!r} model; labelgate runs {', '.join(TASKS)} models", field="weights"
        )
    shape = getattr(model.model, "kpt_shape", None) if task == "pose" else None
    ckpt = getattr(model, "ckpt", None)
    ckpt = ckpt if isinstance(ckpt, dict) else {}
    args = ckpt.get("train_args")
    imgsz = args.get("imgsz") if isinstance(args, dict) else None
    written_by = ckpt.get("version")
    return ModelInfo(
        names=names,
        task=task,
        keypoints=int(shape[0]) if shape else None,
        imgsz=int(imgsz) if isinstance(imgsz, int) and not isinstance(imgsz, bool) else None,
        ultralytics_version=str(written_by)[:32] if written_by else None,
    )


def _load_yolo(weights: Path, *, shown_as: Path | None = None) -> Any:
    shown = shown_as or weights
    if not weights.is_file():
        raise InvalidInput(f"no weights file at {shown}", field="weights")
    prepare_offline()
    from ultralytics import YOLO  # type: ignore[attr-defined]

    try:
        # No ``task=``: a ``.pt`` carries its own (detect, segment, pose, classify).
        return YOLO(str(weights.resolve()))
    except Exception as exc:  # torch and ultralytics raise many types; the person needs file + cause
        message = str(exc).replace(str(weights.resolve()), str(shown)).replace(str(weights), str(shown))
        raise InvalidInput(f"cannot load {shown} as an Ultralytics model: {message}", field="weights") from None


@dataclass(frozen=True, slots=True)
class PredictOptions:
    """``conf``: lowest confidence returned; ``iou``: NMS IoU; ``max_det``: boxes per image; ``imgsz``:
    inference size in pixels (None: the size the model was trained at); ``masks``: segment models also return
    each box's mask as an RLE at the image's size (for ``mask`` schemas; polygons come always)."""

    conf: float = 0.05
    iou: float = 0.7
    max_det: int = 100
    imgsz: int | None = None
    half: bool = False
    masks: bool = False


class Predictor:
    """A loaded model on one device; :meth:`predict` turns a batch of BGR images into :class:`Detections`."""

    def __init__(self, weights: Path, *, device: str = "auto", options: PredictOptions | None = None) -> None:
        self.device = resolve_device(device)
        self.options = options or PredictOptions()
        self._model = _load_yolo(weights)
        self.names: dict[int, str] = {int(k): str(v) for k, v in dict(self._model.names).items()}
        self.task = str(self._model.task)

    def warmup(self) -> None:
        """One pass over a blank image, so set-up costs (and CUDA kernels) are not charged to the first batch."""
        size = self.options.imgsz or self._model.overrides.get("imgsz") or 640
        side = int(max(size) if isinstance(size, list | tuple) else size)
        self.predict([np.zeros((side, side, 3), dtype=np.uint8)])

    def predict(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """One forward pass over ``images`` (HxWx3 uint8 BGR, any sizes); one :class:`Detections` each."""
        if not images:
            return []
        o = self.options
        kwargs: dict[str, Any] = {
            "conf": o.conf,
            "iou": o.iou,
            "max_det": o.max_det,
            "device": self.device,
            "verbose": False,
        }
        if o.half and self.device != "cpu":
            kwargs["quantize"] = 16  # Ultralytics 8.4 replaced ``half=True`` with ``quantize=16``
        if o.imgsz is not None:
            kwargs["imgsz"] = o.imgsz
        results = self._model.predict(list(images), **kwargs)
        return [_detections(r, masks=o.masks) for r in results]


def _detections(result: Any, *, masks: bool = False) -> Detections:
    probs = getattr(result, "probs", None)
    if probs is not None:  # classify: class probabilities, no boxes
        p = probs.data.detach().cpu().numpy().astype(np.float64).reshape(-1).clip(0.0, 1.0)
        return replace(Detections.empty(), probs=p)
    boxes = result.boxes
    if boxes is None or len(boxes) == 0:
        return Detections.empty()
    xyxy: FloatArray = boxes.xyxy.detach().cpu().numpy().astype(np.float64)
    score: FloatArray = boxes.conf.detach().cpu().numpy().astype(np.float64)
    cls = boxes.cls.detach().cpu().numpy().astype(np.int64)
    h, w = result.orig_shape
    xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, w)
    xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, h)
    xywh = np.column_stack([xyxy[:, 0], xyxy[:, 1], xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]])
    keep = (xywh[:, 2] > 0) & (xywh[:, 3] > 0)
    found = Detections(xywh=xywh[keep], score=score[keep].clip(0.0, 1.0), cls=cls[keep])
    rows = np.flatnonzero(keep)
    if result.masks is not None:
        outlines = result.masks.xy
        polygons = tuple(np.asarray(outlines[i], dtype=np.float64).reshape(-1, 2) for i in rows)
        found = replace(
            found, polygons=polygons, rles=_full_size_rles(result.masks.data, rows, (h, w)) if masks else None
        )
    if result.keypoints is not None:
        kp = result.keypoints.data.detach().cpu().numpy().astype(np.float64)
        if kp.shape[-1] == 2:  # a model without visibility: every point is as sure as its box
            kp = np.concatenate([kp, np.ones((*kp.shape[:2], 1))], axis=2)
        found = replace(found, keypoints=kp[rows].reshape(len(rows), -1, 3))
    return found


def _full_size_rles(data: Any, rows: Any, shape: tuple[int, int], *, chunk: int = 16) -> tuple[Any, ...]:
    """The masks of ``rows`` scaled from the model's letterboxed grid to the image (``shape`` = h, w), as RLEs;
    a few at a time, so a large image with many objects never holds every full-size mask at once."""
    from ultralytics.utils import ops

    from quality_gates.rle import Rle

    out: list[Rle] = []
    for start in range(0, len(rows), chunk):
        part = data[rows[start : start + chunk]]
        full = ops.scale_masks(part[None].float(), shape)[0] > 0.5
        out.extend(Rle.from_mask(m) for m in full.detach().cpu().numpy())
    return tuple(out)
