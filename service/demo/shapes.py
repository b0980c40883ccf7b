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
from inference.tiny import ShapeBox, ShapesSpec, TinyModel, generator_config_hash, write_shapes
from lineage.context import Actor
from lineage.datasets import create_dataset, create_version, list_items, version_ref
from lineage.gates import register_golden_set
from lineage.labels.annotations import NewLabel, Provenance, add_annotations
from lineage.models import ModelVersion, ProvenanceKind
from lineage.schemas import LabelClass, create_schema

__all__ = ["ShapesWorld", "build_shapes_world", "register_tiny"]


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
    )
