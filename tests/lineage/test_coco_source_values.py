"""What a COCO source said about a box beyond its geometry (``area``, ``iscrowd``, kept under the
``coco`` attribute) reaches the gate on the record, and a correction that moves the box drops the stale
``area``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sqlmodel import Session, col, select

from lineage import labels as ann
from lineage.context import Actor
from lineage.formats import import_annotations
from lineage.gates.shapes import box_set
from lineage.models import Annotation, DatasetVersion
from tests.factories import World
from tests.lineage.conftest import quick_schema, quick_version

DOC = {
    "images": [{"id": 10, "file_name": "a.jpg", "width": 100, "height": 80}],
    "categories": [{"id": 4, "name": "cat"}],
    "annotations": [
        {"id": 0, "image_id": 10, "category_id": 4, "bbox": [0, 0, 10, 10], "area": 37.5, "iscrowd": 0},
        {"id": 1, "image_id": 10, "category_id": 4, "bbox": [20, 20, 30, 30], "area": 400.0, "iscrowd": 1},
        {"id": 2, "image_id": 10, "category_id": 4, "bbox": [50, 50, 4, 5]},
    ],
}


def _imported(session: Session, world: World, ml: Actor, tmp_path: Path) -> tuple[DatasetVersion, list[Annotation]]:
    sv = quick_schema(session, project_id=world.project.id or 0, name="s", classes=["cat"], user_id=ml.user_id)
    _, v = quick_version(
        session, actor=ml, project_id=world.project.id or 0, items={"a.jpg": (100, 80)}, schema_version_id=sv.id
    )
    src = tmp_path / "gt.json"
    src.write_text(json.dumps(DOC))
    import_annotations(session, actor=ml, version=v, fmt="coco", path=src)
    rows = list(
        session.exec(select(Annotation).where(Annotation.dataset_version_id == v.id).order_by(col(Annotation.id)))
    )
    return v, rows


def test_the_gate_reads_the_sources_area_and_crowd_flags(
    session: Session, world: World, ml: Actor, tmp_path: Path
) -> None:
    _, rows = _imported(session, world, ml, tmp_path)
    gt = box_set(rows, {rows[0].item_id: 0}, {"cat": 0}, scored=False)
    assert gt.area is not None and gt.iscrowd is not None
    np.testing.assert_array_equal(gt.area, [37.5, 400.0, 20.0])  # the source's, else w·h
    np.testing.assert_array_equal(gt.iscrowd, [False, True, False])
    scored = box_set(rows, {rows[0].item_id: 0}, {"cat": 0}, scored=True)
    assert scored.area is None and scored.iscrowd is None  # predictions carry neither


def test_a_correction_that_moves_the_box_drops_the_stale_area(
    session: Session, world: World, ml: Actor, tmp_path: Path
) -> None:
    _, rows = _imported(session, world, ml, tmp_path)
    moved = ann.correct_annotation(session, actor=ml, annotation_id=rows[1].id or 0, change=ann.BoxChange(w=31))
    assert moved.attributes == {"coco": {"id": 1, "iscrowd": 1}}
    kept = ann.correct_annotation(
        session,
        actor=ml,
        annotation_id=rows[0].id or 0,
        change=ann.BoxChange(attributes={"note": "x", **(rows[0].attributes or {})}),
    )
    assert kept.attributes is not None and kept.attributes["coco"]["area"] == 37.5
