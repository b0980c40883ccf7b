"""COCO polygons and RLE masks, YOLO segmentation: areas and RLEs equal pycocotools', exact round trips, and
bad records refused naming the record with nothing written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools import mask as mask_util
from sqlmodel import Session, func, select

from lineage.context import Actor
from lineage.formats import ImportInvalid, export_version, import_annotations
from lineage.models import Annotation, LabelSchema, LabelSchemaVersion
from lineage.schema_classes import LabelClass, classes_hash
from tests.factories import World
from tests.lineage.conftest import quick_version

SIZES = {"a.jpg": (100, 80), "b.jpg": (64, 48)}
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def shape_schema(session: Session, world: World, ml: Actor, classes: list[dict[str, Any]]) -> LabelSchemaVersion:
    schema = LabelSchema(project_id=world.project.id or 0, name="shapes")
    session.add(schema)
    session.flush()
    parsed = [LabelClass.model_validate(c) for c in classes]
    sv = LabelSchemaVersion(
        schema_id=schema.id or 0,
        version=1,
        classes=[c.stored() for c in parsed],
        content_hash=classes_hash(parsed),
        created_by=ml.user_id,
    )
    session.add(sv)
    session.flush()
    return sv


@pytest.fixture
def target(session: Session, world: World, ml: Actor) -> Any:
    sv = shape_schema(
        session, world, ml, [{"name": "cat", "geometry": "polygon"}, {"name": "blob", "geometry": "mask"}]
    )
    return quick_version(session, actor=ml, project_id=world.project.id or 0, items=SIZES, schema_version_id=sv.id)


def mask_rle(h: int, w: int) -> dict[str, Any]:
    m = np.zeros((h, w), dtype=np.uint8, order="F")
    m[10:30, 5:25] = 1
    m[40:42, 60:90] = 1
    rle = mask_util.encode(m)
    return {"size": [h, w], "counts": rle["counts"].decode("ascii")}


def doc() -> dict[str, Any]:
    return {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 100, "height": 80},
            {"id": 2, "file_name": "b.jpg", "width": 64, "height": 48},
        ],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "blob"}],
        "annotations": [
            {
                "id": 7,
                "image_id": 1,
                "category_id": 1,
                "bbox": [0, 0, 1, 1],
                "segmentation": [[10.5, 10.25, 50.125, 12.0, 30.0, 60.75], [70.0, 5.0, 90.0, 5.0, 80.0, 20.0]],
            },
            {"id": 8, "image_id": 1, "category_id": 2, "bbox": [0, 0, 1, 1], "segmentation": mask_rle(80, 100)},
            {
                "id": 9,
                "image_id": 2,
                "category_id": 2,
                "iscrowd": 1,
                "bbox": [0, 0, 1, 1],
                "segmentation": {"size": [48, 64], "counts": [100, 20, 2952]},
            },
        ],
    }


def stored(session: Session) -> list[tuple[Any, ...]]:
    rows = session.exec(select(Annotation).order_by(Annotation.item_id, Annotation.category, Annotation.x)).all()
    return [(r.item_id, r.category, r.geometry_type, r.x, r.y, r.w, r.h, r.geometry) for r in rows]


def count(session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(Annotation)).one())


@sqlite_only
def test_coco_shapes_match_pycocotools_and_round_trip(session: Session, ml: Actor, target: Any, tmp_path: Path) -> None:
    ds, v = target
    src = tmp_path / "in.json"
    src.write_text(json.dumps(doc()))
    result = import_annotations(session, actor=ml, version=v, fmt="coco", path=src)
    assert result.annotations == 3
    rows = {r.attributes["coco"]["id"]: r for r in session.exec(select(Annotation)).all()}
    poly = rows[7]
    assert poly.geometry_type == "polygon" and poly.geometry == {"polygons": doc()["annotations"][0]["segmentation"]}
    assert (poly.x, poly.y, poly.w, poly.h) == (10.5, 5.0, 90.0 - 10.5, 60.75 - 5.0)
    mask = rows[8]
    seg8 = doc()["annotations"][1]["segmentation"]
    ref = {"size": seg8["size"], "counts": seg8["counts"].encode()}  # pycocotools' compressed RLE object
    assert mask.geometry == {"rle": {"size": [80, 100], "counts": ref["counts"].decode()}}
    assert [mask.x, mask.y, mask.w, mask.h] == mask_util.toBbox(ref).tolist()
    crowd = rows[9]
    ref9 = mask_util.frPyObjects({"size": [48, 64], "counts": [100, 20, 2952]}, 48, 64)
    assert crowd.geometry["rle"]["counts"] == ref9["counts"].decode() and crowd.attributes["coco"]["iscrowd"] == 1
    before = stored(session)
    out = tmp_path / "out.json"
    export_version(session, dataset=ds, version=v, fmt="coco", out=out)
    exported = {a["id"]: a for a in json.loads(out.read_text())["annotations"]}
    polys = mask_util.frPyObjects(doc()["annotations"][0]["segmentation"], 80, 100)
    assert exported[7]["area"] == float(mask_util.area(mask_util.merge(polys)))
    assert exported[8]["area"] == float(mask_util.area(ref)) and exported[9]["iscrowd"] == 1
    assert exported[7]["segmentation"] == doc()["annotations"][0]["segmentation"]
    # re-import the export into a fresh version: identical rows
    _, v2 = quick_version(
        session, actor=ml, project_id=ds.project_id, items=SIZES, version="v2", schema_version_id=v.schema_version_id
    )
    import_annotations(session, actor=ml, version=v2, fmt="coco", path=out)
    again = [r for r in stored(session) if r not in before]
    strip = [r[1:] for r in before]
    assert sorted(r[1:] for r in again) == sorted(strip)


BAD = [
    ({"segmentation": [[1.0, 2.0, 3.0, 4.0]]}, "polygon part 0 has 2 points, needs at least 3"),
    ({"segmentation": [[1.0, 2.0, 3.0, 4.0, 5.0]]}, "odd number of coordinates"),
    ({"segmentation": [[1.0, "x", 3.0, 4.0, 5.0, 6.0]]}, "flat list of numbers"),
    ({"segmentation": [[1.0, 2.0, 300.0, 4.0, 5.0, 6.0]]}, "outside the image"),
    ({"category_id": 2, "segmentation": {"size": [100, 80], "counts": [8000]}}, "differs from image 1's size 100x80"),
    ({"category_id": 2, "segmentation": {"size": [80, 100], "counts": [10, 20]}}, "add up to 30 pixels"),
    ({"category_id": 2, "segmentation": {"size": [80, 100], "counts": [-5, 8005]}}, "non-negative"),
    ({"category_id": 2, "segmentation": {"size": [80, 100], "counts": "\x7f\x7f"}}, "compressed RLE"),
    ({"category_id": 2, "segmentation": {"size": [80, 100], "counts": [8000]}}, "mask is empty"),
]


@sqlite_only
@pytest.mark.parametrize(("patch", "message"), BAD)
def test_bad_segmentation_is_named_and_nothing_written(
    session: Session, ml: Actor, target: Any, tmp_path: Path, patch: dict[str, Any], message: str
) -> None:
    _, v = target
    d = doc()
    d["annotations"][1] = {"id": 57, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], **patch}
    src = tmp_path / "bad.json"
    src.write_text(json.dumps(d).replace("NaN", "NaN"))
    with pytest.raises(ImportInvalid) as err:
        import_annotations(session, actor=ml, version=v, fmt="coco", path=src)
    assert f"{src}: annotations[1] (id 57).segmentation" in err.value.field and message in str(err.value)
    assert count(session) == 0


@sqlite_only
def test_nan_polygon_refused(session: Session, ml: Actor, target: Any, tmp_path: Path) -> None:
    _, v = target
    text = json.dumps(doc()).replace("10.5, 10.25", "NaN, 10.25")
    src = tmp_path / "nan.json"
    src.write_text(text)
    with pytest.raises(ImportInvalid, match=r"malformed JSON|NaN"):  # orjson refuses NaN as JSON
        import_annotations(session, actor=ml, version=v, fmt="coco", path=src)
    assert count(session) == 0


@sqlite_only
def test_yolo_segmentation_round_trip(session: Session, ml: Actor, target: Any, tmp_path: Path) -> None:
    ds, v = target
    root = tmp_path / "y"
    (root / "labels").mkdir(parents=True)
    (root / "data.yaml").write_text("names: [cat, blob]\n")
    (root / "labels" / "a.txt").write_text("0 0.1 0.2 0.5 0.2 0.3 0.9\n")
    (root / "labels" / "b.txt").write_text("")
    import_annotations(session, actor=ml, version=v, fmt="yolo", path=root)
    (row,) = session.exec(select(Annotation)).all()
    assert row.geometry_type == "polygon"
    assert row.geometry == {"polygons": [[0.1 * 100, 0.2 * 80, 0.5 * 100, 0.2 * 80, 0.3 * 100, 0.9 * 80]]}
    out = tmp_path / "yo"
    export_version(session, dataset=ds, version=v, fmt="yolo", out=out)
    _, v2 = quick_version(
        session, actor=ml, project_id=ds.project_id, items=SIZES, version="v2", schema_version_id=v.schema_version_id
    )
    import_annotations(session, actor=ml, version=v2, fmt="yolo", path=out)
    back = [r for r in session.exec(select(Annotation)).all() if r.dataset_version_id == v2.id]
    assert len(back) == 1
    np.testing.assert_allclose(back[0].geometry["polygons"][0], row.geometry["polygons"][0], rtol=0, atol=1e-9)


@sqlite_only
def test_yolo_short_polygon_names_the_line(session: Session, ml: Actor, target: Any, tmp_path: Path) -> None:
    _, v = target
    root = tmp_path / "y"
    (root / "labels").mkdir(parents=True)
    (root / "data.yaml").write_text("names: [cat, blob]\n")
    (root / "labels" / "a.txt").write_text("0 0.1 0.2 0.5 0.2 0.3 0.9\n0 0.1 0.2 0.5 0.2\n")
    with pytest.raises(ImportInvalid) as err:
        import_annotations(session, actor=ml, version=v, fmt="yolo", path=root)
    assert err.value.field.endswith("a.txt:2") and "segmentation line" in str(err.value)
    assert count(session) == 0
