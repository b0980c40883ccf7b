"""Training a detector with Ultralytics on dataset versions of the record (``labelgate model train``).

Three steps, each usable alone: :func:`collect_training_data` checks the references and reads the labels from
the record, :func:`export_training_data` writes them in the YOLO layout with their images (both in
:mod:`inference.training_data`, re-exported here), and :func:`train_model` exports, trains from a base
(``tiny``: :data:`inference.tiny.TINY_YAML`; a model ``.yaml``; or a local ``.pt``; nothing is downloaded) on
the CPU or a GPU, validates the weights it keeps (best by Ultralytics' fitness, else last), and returns a
:class:`TrainedModel` with the weights, hyper-parameters, validation metrics, start and end times, and the
:class:`inference.registry.TrainingRecord` to register it with.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inference.registry import TrainingRecord
from inference.training_data import (
    DEFAULT_VAL_FRACTION,
    ExportedData,
    TrainingSet,
    VersionData,
    collect_training_data,
    export_training_data,
)
from lineage.errors import InvalidInput

__all__ = [
    "DEFAULT_VAL_FRACTION",
    "TRAINER",
    "EpochProgress",
    "ExportedData",
    "TrainedModel",
    "TrainingSet",
    "VersionData",
    "check_base",
    "check_options",
    "collect_training_data",
    "export_training_data",
    "train_model",
]

#: The ``trainer`` a model trained by labelgate records.
TRAINER = "labelgate model train"


@dataclass(frozen=True)
class EpochProgress:
    """One finished epoch (``epoch`` counts from 1 to ``epochs``): its mean training ``loss`` (box + class
    + DFL; None when Ultralytics reported none) and the validation ``metrics`` Ultralytics computed."""

    epoch: int
    epochs: int
    loss: float | None
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainedModel:
    """A finished training: ``weights`` (a ``.pt`` under the work folder: register it before that is
    removed), the ``hyperparameters`` and validation ``metrics`` (``map50``, ``map50_95``, ``precision``,
    ``recall``), the model's ``classes`` in index order, start and end (ISO 8601 UTC), and ``record``, the
    :class:`TrainingRecord` to pass to :func:`inference.registry.register_model`."""

    weights: Path
    hyperparameters: dict[str, Any]
    metrics: dict[str, float]
    classes: tuple[str, ...]
    started_at: str
    finished_at: str
    record: TrainingRecord
    exported: ExportedData


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def check_base(base: str) -> str:
    """``tiny``, or a local model ``.yaml``/``.yml`` or ``.pt`` (its absolute path); ``InvalidInput``
    otherwise: a name Ultralytics would download (``yolov8n.pt``) is refused, nothing is downloaded."""
    if base == "tiny":
        return base
    path = Path(base).expanduser()
    if "://" in base or path.suffix.lower() not in (".pt", ".yaml", ".yml") or not path.is_file():
        raise InvalidInput(
            f"base {base!r} is not 'tiny' nor a local .pt or model .yaml file (nothing is downloaded)", field="base"
        )
    return str(path.resolve())


def check_options(*, epochs: int, imgsz: int, batch: int, val_fraction: float = DEFAULT_VAL_FRACTION) -> None:
    """``InvalidInput`` naming the first option out of range: ``epochs`` 1-10000, ``imgsz`` 32-8192 px,
    ``batch`` 1-1024 images, ``val_fraction`` in (0, 1)."""
    for name, value, low, high in (
        ("epochs", epochs, 1, 10_000),
        ("imgsz", imgsz, 32, 8192),
        ("batch", batch, 1, 1024),
    ):
        if not low <= value <= high:
            raise InvalidInput(f"{name} must be {low}-{high}, got {value}", field=name)
    if not 0.0 < val_fraction < 1.0:
        raise InvalidInput(f"val_fraction must lie in (0, 1), got {val_fraction}", field="val_fraction")


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _base_model(base: str, work: Path, classes: Sequence[str]) -> tuple[Any, dict[str, Any]]:
    """The Ultralytics model to train from ``base`` (checked by :func:`check_base`) and how to record it."""
    from ultralytics import YOLO  # type: ignore[attr-defined]

    from inference.tiny import TINY_YAML

    if base == "tiny":
        yaml_path = work / "labelgate-tiny.yaml"
        yaml_path.write_text(TINY_YAML.replace("nc: 3", f"nc: {len(classes)}"), encoding="utf-8")
        return YOLO(str(yaml_path), task="detect"), {"base": "tiny"}
    path = Path(base)
    if path.suffix.lower() == ".pt":
        try:
            model = YOLO(str(path))
        except Exception as exc:  # torch and ultralytics raise many types; the person needs file + cause
            raise InvalidInput(f"cannot load base {path} as an Ultralytics model: {exc}", field="base") from None
        if str(model.task) != "detect":
            raise InvalidInput(f"base {path} is a {model.task} model; labelgate trains detectors", field="base")
        return model, {"base": path.name, "base_sha256": _sha256(path)}
    return YOLO(str(path), task="detect"), {"base": path.name, "base_sha256": _sha256(path)}


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _total_loss(loss: Any) -> float | None:
    """The sum of an epoch's mean losses: a dict of them (Ultralytics 8.4) or a tensor (earlier)."""
    if isinstance(loss, Mapping):
        parts = [_number(v) for v in loss.values()]
        return None if not parts or any(p is None for p in parts) else sum(p for p in parts if p is not None)
    return _number(loss.sum()) if loss is not None and hasattr(loss, "sum") else _number(loss)


def _epoch_callback(progress: Callable[[EpochProgress], None]) -> Callable[[Any], None]:
    reported: set[int] = set()

    def report(trainer: Any) -> None:
        epoch, epochs = int(trainer.epoch) + 1, int(trainer.epochs)
        if epoch > epochs or epoch in reported:  # Ultralytics calls it once more for its final validation
            return
        reported.add(epoch)
        total = _total_loss(getattr(trainer, "tloss", None))
        metrics = {str(k): v for k, v in dict(getattr(trainer, "metrics", None) or {}).items()}
        numbers = {k: f for k, v in metrics.items() if (f := _number(v)) is not None}
        progress(EpochProgress(epoch, epochs, total, numbers))

    return report


def train_model(
    data: TrainingSet,
    *,
    repo_dir: Path,
    work_dir: Path,
    base: str = "tiny",
    epochs: int = 50,
    imgsz: int = 640,
    batch: int = 16,
    seed: int = 0,
    device: str = "auto",
    val_fraction: float = DEFAULT_VAL_FRACTION,
    progress: Callable[[EpochProgress], None] | None = None,
) -> TrainedModel:
    """Export ``data`` under ``work_dir``, train a detector on it and validate the kept weights.

    Args:
        repo_dir: the workspace's repository (images are read from it).
        work_dir: an empty folder the caller removes later; the weights returned lie under it.
        base ("tiny"): ``tiny`` (:data:`inference.tiny.TINY_YAML`, about 0.3 M parameters), a model
            ``.yaml`` or a local ``.pt`` to fine-tune.
        epochs (50), imgsz (640 px), batch (16 images), seed (0: the training's and the held-out split's).
        device ("auto"): ``auto`` (a GPU when there is one), ``cpu``, ``cuda`` or ``cuda:N``.
        val_fraction (0.2): the share of training images held out when ``data`` has no validation version.
        progress (None): called after every epoch with an :class:`EpochProgress`.
    """
    from inference.ultra import prepare_offline, resolve_device

    check_options(epochs=epochs, imgsz=imgsz, batch=batch, val_fraction=val_fraction)
    base = check_base(base)
    prepare_offline()
    target = resolve_device(device)
    work_dir.mkdir(parents=True, exist_ok=True)
    exported = export_training_data(data, work_dir / "data", repo_dir=repo_dir, seed=seed, val_fraction=val_fraction)
    model, base_record = _base_model(base, work_dir, data.classes)
    if progress is not None:
        model.add_callback("on_fit_epoch_end", _epoch_callback(progress))
    arguments: dict[str, Any] = {
        "epochs": epochs,
        "imgsz": imgsz,
        "batch": batch,
        "seed": seed,
        "deterministic": True,
        "device": target,
        "workers": 0,
        "amp": False,  # Ultralytics' AMP check downloads a model
        "plots": False,  # plots want fonts and write images nobody reads here
        "val": True,
        "verbose": False,
    }
    started = _utc_now()
    model.train(data=str(exported.data_yaml), project=str(work_dir / "runs"), name="train", exist_ok=True, **arguments)
    weights_dir = work_dir / "runs" / "train" / "weights"
    best = weights_dir / "best.pt"
    weights = best if best.is_file() else weights_dir / "last.pt"
    from ultralytics import YOLO  # type: ignore[attr-defined]

    trained = YOLO(str(weights))
    val = trained.val(
        data=str(exported.data_yaml),
        imgsz=imgsz,
        batch=batch,
        device=target,
        plots=False,
        workers=0,
        project=str(work_dir / "runs"),  # else Ultralytics writes runs/detect/val* into the working directory
        name="val",
        exist_ok=True,
        verbose=False,
    )
    finished = _utc_now()
    metrics = {
        "map50": float(val.box.map50),
        "map50_95": float(val.box.map),
        "precision": float(val.box.mp),
        "recall": float(val.box.mr),
    }
    hyperparameters: dict[str, Any] = {
        **base_record,
        **{k: v for k, v in arguments.items() if k not in ("verbose", "workers")},
        "kept": weights.stem,  # best (by Ultralytics' fitness) or last
        "classes": list(data.classes),
        "train_images": exported.train_images,
        "val_images": exported.val_images,
        "boxes": exported.boxes,
    }
    if exported.val_fraction is not None:
        hyperparameters["val_fraction"] = exported.val_fraction
    names = {int(k): str(v) for k, v in dict(trained.names).items()}
    record = TrainingRecord(
        train=tuple(v.ref for v in data.train),
        val=tuple(v.ref for v in data.val),
        hyperparameters=hyperparameters,
        metrics=metrics,
        trainer=TRAINER,
        started_at=started,
        finished_at=finished,
    )
    return TrainedModel(
        weights=weights,
        hyperparameters=hyperparameters,
        metrics=metrics,
        classes=tuple(names[i] for i in sorted(names)),
        started_at=started,
        finished_at=finished,
        record=record,
        exported=exported,
    )
