"""The shapes world the auto-labelling chapter starts from (a builder, like ``service.demo.scenario``; the
tests and the benchmark use it too): a shapes schema, an unlabelled pool and a golden set with generated
labels, written directly to the record, and the tiny detector registered on it. The chapter itself is
``service.demo.autolabel`` (verbs only)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session

from inference.registry import register_model
from inference.tiny import (
    ShapeBox,
    ShapesSpec,
    TinyModel,
    TinyTrainConfig,
    generator_config_hash,
    tiny_model_key,
    write_shapes,
)
from lineage.context import Actor
from lineage.datasets import create_dataset, create_version, get_dataset, list_items, version_ref
from lineage.errors import NotFound
from lineage.gates import register_golden_set
from lineage.labels.annotations import NewLabel, Provenance, add_annotations
from lineage.models import DatasetVersion, ModelVersion, ProvenanceKind
from lineage.schemas import LabelClass, create_schema

__all__ = [
    "ShapesWorld",
    "TinyTrainingData",
    "add_labelled_version",
    "add_tiny_training_data",
    "build_shapes_world",
    "register_tiny",
]


@dataclass(frozen=True)
class ShapesWorld:
    """A shapes schema, an unlabelled pool version and a golden version with its golden set."""

    schema_version_id: int
    pool: str
    golden_ref: str
    golden_set: str
    pool_truth: dict[str, tuple[ShapeBox, ...]]


def build_shapes_world(
    session: Session,
    *,
    actor: Actor,
    project_id: int,
    repo_dir: Path,
    scratch: Path,
    pool_items: int = 60,
    golden_items: int = 60,
    pool_seed: int = 1000,
    golden_seed: int = 2000,
    prefix: str = "shapes",
    spec: ShapesSpec | None = None,
) -> ShapesWorld:
    """Create ``<prefix>`` schema, ``<prefix>-pool@v1`` and ``<prefix>-golden@v1`` (synthetic labels, golden set
    ``<prefix>-golden``) from generated images written under ``scratch``."""
    spec = spec or ShapesSpec()
    sv = create_schema(
        session,
        actor=actor,
        project_id=project_id,
        name=prefix,
        classes=[LabelClass(name=c, description=f"a filled {c}") for c in spec.classes],
        repo_dir=repo_dir,
    )
    pool_dir, golden_dir = scratch / f"{prefix}-pool", scratch / f"{prefix}-golden"
    for folder in (pool_dir, golden_dir):
        if folder.exists():
            shutil.rmtree(folder)
    pool_truth = write_shapes(pool_dir, spec, count=pool_items, seed=pool_seed)
    golden_truth = write_shapes(golden_dir, spec, count=golden_items, seed=golden_seed)
    pool_ds = create_dataset(session, actor=actor, project_id=project_id, name=f"{prefix}-pool")
    pool_v = create_version(
        session,
        actor=actor,
        dataset=pool_ds,
        version="v1",
        repo_dir=repo_dir,
        source_dir=pool_dir,
        schema_version_id=sv.id,
    )
    golden_ds = create_dataset(session, actor=actor, project_id=project_id, name=f"{prefix}-golden", is_golden=True)
    golden_v = create_version(
        session,
        actor=actor,
        dataset=golden_ds,
        version="v1",
        repo_dir=repo_dir,
        source_dir=golden_dir,
        schema_version_id=sv.id,
    )
    labels = [
        NewLabel(item_id=item.id or 0, category=b.category, x=b.x, y=b.y, w=b.w, h=b.h)
        for item in list_items(session, version_id=golden_v.id or 0)
        for b in golden_truth[item.uri]
    ]
    provenance = Provenance(
        kind=ProvenanceKind.synthetic,
        generator_config_hash=generator_config_hash(spec, count=golden_items, seed=golden_seed),
    )
    add_annotations(session, actor=actor, version=golden_v, labels=labels, provenance=provenance)
    register_golden_set(session, actor=actor, project_id=project_id, name=f"{prefix}-golden", version=golden_v)
    return ShapesWorld(
        schema_version_id=sv.id or 0,
        pool=version_ref(pool_ds, pool_v),
        golden_ref=version_ref(golden_ds, golden_v),
        golden_set=f"{prefix}-golden",
        pool_truth=pool_truth,
    )


def register_tiny(
    session: Session,
    *,
    actor: Actor,
    project_id: int,
    schema_version_id: int,
    tiny: TinyModel,
    repo_dir: Path,
    name: str = "tiny-shapes",
    version: str | None = None,
) -> ModelVersion:
    """Register the tiny detector (its version defaults to the first 12 characters of its cache key)."""
    return register_model(
        session,
        actor=actor,
        project_id=project_id,
        name=name,
        version=version or tiny.key[:12],
        weights=tiny.weights,
        schema_version_id=schema_version_id,
        repo_dir=repo_dir,
    )


def add_labelled_version(
    session: Session,
    *,
    actor: Actor,
    project_id: int,
    repo_dir: Path,
    dataset: str,
    version: str,
    source_dir: Path,
    truth: dict[str, tuple[ShapeBox, ...]],
    schema_version_id: int,
    generator_hash: str,
    golden: bool = False,
) -> DatasetVersion:
    """``dataset@version`` (created if new) from the images in ``source_dir`` with their generated boxes as
    ``synthetic`` labels (``generator_hash`` names the generator's configuration)."""
    try:
        ds = get_dataset(session, project_id=project_id, name=dataset)
    except NotFound:
        ds = create_dataset(session, actor=actor, project_id=project_id, name=dataset, is_golden=golden)
    dv = create_version(
        session,
        actor=actor,
        dataset=ds,
        version=version,
        repo_dir=repo_dir,
        source_dir=source_dir,
        schema_version_id=schema_version_id,
    )
    labels = [
        NewLabel(item_id=item.id or 0, category=b.category, x=b.x, y=b.y, w=b.w, h=b.h)
        for item in list_items(session, version_id=dv.id or 0)
        for b in truth[item.uri]
    ]
    provenance = Provenance(kind=ProvenanceKind.synthetic, generator_config_hash=generator_hash)
    add_annotations(session, actor=actor, version=dv, labels=labels, provenance=provenance)
    return dv


@dataclass(frozen=True)
class TinyTrainingData:
    """The tiny detector's training and validation data on the record, and what its training used."""

    train: str
    val: str
    train_truth: dict[str, tuple[ShapeBox, ...]]
    train_dir: Path
    hyperparameters: dict[str, object]


def add_tiny_training_data(
    session: Session,
    *,
    actor: Actor,
    project_id: int,
    repo_dir: Path,
    scratch: Path,
    schema_version_id: int,
    tiny: TinyModel,
    prefix: str = "shapes",
) -> TinyTrainingData:
    """Put the images the tiny detector was trained and validated on on the record, as ``<prefix>-train@v1``
    and ``<prefix>-val@v1`` with their generated boxes: the same generator, spec and seeds as
    ``inference.tiny``'s training (checked through the model's cache key, which hashes them), so the bytes are
    the bytes it saw."""
    spec, config = ShapesSpec(), TinyTrainConfig()
    if tiny_model_key(spec, config) != tiny.key:
        raise ValueError(f"tiny model {tiny.key} was not trained with the default spec and config")
    made: dict[str, str] = {}
    train_truth: dict[str, tuple[ShapeBox, ...]] = {}
    train_dir = scratch / f"{prefix}-train"
    for split, count, seed in (
        ("train", config.train_images, config.seed),
        ("val", config.val_images, config.seed + 1),
    ):
        folder = scratch / f"{prefix}-{split}"
        if folder.exists():
            shutil.rmtree(folder)
        truth = write_shapes(folder, spec, count=count, seed=seed)
        dv = add_labelled_version(
            session,
            actor=actor,
            project_id=project_id,
            repo_dir=repo_dir,
            dataset=f"{prefix}-{split}",
            version="v1",
            source_dir=folder,
            truth=truth,
            schema_version_id=schema_version_id,
            generator_hash=generator_config_hash(spec, count=count, seed=seed),
        )
        made[split] = f"{prefix}-{split}@{dv.version}"
        if split == "train":
            train_truth = truth
    hyper: dict[str, object] = {
        "base": "labelgate tiny YOLOv8 yaml (inference.tiny.TINY_YAML)",
        "epochs": config.epochs,
        "imgsz": config.imgsz,
        "batch": config.batch,
        "optimizer": "AdamW",
        "lr0": config.lr0,
        "seed": config.seed,
        "device": "cpu",
    }
    return TinyTrainingData(made["train"], made["val"], train_truth, train_dir, hyper)
