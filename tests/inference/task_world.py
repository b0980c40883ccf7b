"""A workspace for one auto-labelling task beyond boxes: a schema of the task's geometry, an unlabelled pool, a
golden set with the generated shapes' exact labels (synthetic provenance), and the tiny model registered."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import Session

from inference.registry import register_model
from inference.tiny import ShapeBox, ShapesSpec, TinyModel, generator_config_hash, write_shapes
from inference.tiny_tasks import TRIANGLE_POINTS, shape_mask, shape_outline, task_spec, triangle_keypoints
from lineage.context import Actor
from lineage.datasets import create_dataset, create_version, list_items, version_ref
from lineage.gates import register_golden_set
from lineage.labels import NewLabel, Provenance, add_annotations
from lineage.models import ProvenanceKind
from lineage.schemas import KeypointSpec, LabelClass, SchemaOptions, create_schema
from quality_gates.rle import Rle

GEOMETRY = {"segment": "polygon", "pose": "keypoints", "classify": "tag"}


@dataclass(frozen=True)
class TaskWorld:
    """What :func:`build_task_world` made (``truth``: the pool's true shapes per file name)."""

    task: str
    geometry: str
    schema_version_id: int
    pool: str
    golden_set: str
    truth: dict[str, tuple[ShapeBox, ...]]
    golden_truth: dict[str, tuple[ShapeBox, ...]]
    spec: ShapesSpec
    model_ref: str
    model_id: int


def label_class(name: str, geometry: str, *, points: dict[str, Any] | None = None) -> LabelClass:
    spec = KeypointSpec(**(points or TRIANGLE_POINTS)) if geometry == "keypoints" else None
    return LabelClass(name=name, description=f"a filled {name}", geometry=geometry, keypoints=spec)  # type: ignore[arg-type]


def true_label(item_id: int, box: ShapeBox, geometry: str, size: int) -> NewLabel:
    """The exact label of a drawn shape in the contract's storage."""
    if geometry == "tag":
        return NewLabel(item_id=item_id, category=box.category, geometry_type="tag")
    if geometry == "polygon":
        part = shape_outline(box)
        xs, ys = part[0::2], part[1::2]
        x0, y0 = min(xs), min(ys)
        return NewLabel(
            item_id=item_id,
            category=box.category,
            x=x0,
            y=y0,
            w=max(xs) - x0,
            h=max(ys) - y0,
            geometry_type="polygon",
            geometry={"polygons": [part]},
        )
    if geometry == "mask":
        rle = Rle.from_mask(shape_mask(box, size, size))
        x, y, w, h = (float(v) for v in rle.bbox)
        return NewLabel(
            item_id=item_id, category=box.category, x=x, y=y, w=w, h=h, geometry_type="mask",
            geometry={"rle": rle.to_coco()},
        )  # fmt: skip
    return NewLabel(
        item_id=item_id, category=box.category, x=box.x, y=box.y, w=box.w, h=box.h, geometry_type="keypoints",
        geometry={"keypoints": triangle_keypoints(box)},
    )  # fmt: skip


def build_task_world(
    session: Session,
    *,
    actor: Actor,
    project_id: int,
    repo_dir: Path,
    scratch: Path,
    task: str,
    model: TinyModel,
    geometry: str | None = None,
    multi_label: bool = False,
    pool_items: int = 16,
    golden_items: int = 30,
    register: bool = True,
) -> TaskWorld:
    geometry = geometry or GEOMETRY[task]
    spec = task_spec(task)  # type: ignore[arg-type]
    prefix = f"{task}-{geometry}" + ("-multi" if multi_label else "")
    sv = create_schema(
        session,
        actor=actor,
        project_id=project_id,
        name=prefix,
        classes=[label_class(c, geometry) for c in model.classes],
        repo_dir=repo_dir,
        options=SchemaOptions(multi_label=multi_label),
    )
    truth = write_shapes(scratch / f"{prefix}-pool", spec, count=pool_items, seed=1000)
    golden_truth = write_shapes(scratch / f"{prefix}-golden", spec, count=golden_items, seed=2000)
    made = {}
    for kind in ("pool", "golden"):
        ds = create_dataset(
            session, actor=actor, project_id=project_id, name=f"{prefix}-{kind}", is_golden=kind == "golden"
        )
        source = scratch / f"{prefix}-{kind}"
        dv = create_version(
            session, actor=actor, dataset=ds, version="v1", repo_dir=repo_dir, source_dir=source,
            schema_version_id=sv.id,
        )  # fmt: skip
        made[kind] = (ds, dv)
    golden_v = made["golden"][1]
    labels = [
        true_label(item.id or 0, b, geometry, spec.size)
        for item in list_items(session, version_id=golden_v.id or 0)
        for b in golden_truth[item.uri]
    ]
    provenance = Provenance(
        kind=ProvenanceKind.synthetic, generator_config_hash=generator_config_hash(spec, count=golden_items, seed=2000)
    )
    add_annotations(session, actor=actor, version=golden_v, labels=labels, provenance=provenance)
    register_golden_set(session, actor=actor, project_id=project_id, name=f"{prefix}-golden", version=golden_v)
    model_ref, model_id = "", 0
    if register:
        row = register_model(
            session, actor=actor, project_id=project_id, name=f"tiny-{prefix}", version=model.key[:12],
            weights=model.weights, schema_version_id=sv.id or 0, repo_dir=repo_dir,
        )  # fmt: skip
        model_ref, model_id = f"{row.name}@{row.version}", row.id or 0
    return TaskWorld(
        task=task,
        geometry=geometry,
        schema_version_id=sv.id or 0,
        pool=version_ref(*made["pool"]),
        golden_set=f"{prefix}-golden",
        truth=truth,
        golden_truth=golden_truth,
        spec=spec,
        model_ref=model_ref,
        model_id=model_id,
    )
