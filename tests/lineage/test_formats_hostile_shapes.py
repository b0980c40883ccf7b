"""Hostile polygons and RLE masks through the database path (COCO and YOLO): infinities, odd-length polygons,
huge or wrong-sized RLE counts; each refused naming the file and the record, and nothing written afterwards
(no annotation, no import record, no audit event)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools import mask as mask_util
from sqlmodel import Session

from lineage.context import Actor
from lineage.formats import ImportInvalid, import_annotations
from lineage.labels.geometry import check_geometry
from tests.factories import World
from tests.lineage.conftest import quick_version
from tests.lineage.test_formats_keypoints import counts, make_schema

SIZES = {"a.jpg": (100, 80), "b.jpg": (64, 48)}
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def target(session: Session, world: World, ml: Actor) -> Any:
    sv = make_schema(session, world, ml, [{"name": "cat", "geometry": "polygon"}, {"name": "blob", "geometry": "mask"}])
    return quick_version(session, actor=ml, project_id=world.project.id or 0, items=SIZES, schema_version_id=sv.id)


def encoded(h: int, w: int) -> str:
    """pycocotools' compressed counts of a small square on an (h, w) mask."""
    m = np.zeros((h, w), dtype=np.uint8, order="F")
    m[10:20, 10:20] = 1
    return str(mask_util.encode(m)["counts"].decode("ascii"))


def doc(record: dict[str, Any]) -> dict[str, Any]:
    good = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "segmentation": [[1, 1, 9, 1, 5, 7]]}
    return {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 100, "height": 80},
            {"id": 2, "file_name": "b.jpg", "width": 64, "height": 48},
        ],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "blob"}],
        "annotations": [good, {"id": 57, "image_id": 1, "bbox": [0, 0, 1, 1], **record}],
    }


def mask(size: Any, counts: Any) -> dict[str, Any]:
    return {"category_id": 2, "segmentation": {"size": size, "counts": counts}}


HOSTILE = [
    ({"category_id": 1, "segmentation": [[1.0, 2.0, 3.0, 4.0, 5.0]]}, "odd number of coordinates (5)"),
    ({"category_id": 1, "segmentation": [[1, 1, 9, 1, 5, 7], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]]}, "part 1"),
    ({"category_id": 1, "segmentation": [[1.0, 2.0, 3.0, 4.0, 1e308, 6.0]]}, "outside the image"),
    ({"category_id": 1, "segmentation": [[]]}, "0 points"),
    ({"category_id": 1, "segmentation": [[[1, 2], [3, 4], [5, 6]]]}, "flat list of numbers"),
    (mask([80, 100], "1" * 100_000), "RLE counts longer than any mask of this size"),
    (mask([80, 100], encoded(80, 99)), "add up to 7920 pixels, the 80x100 size has 8000"),
    (mask([80, 100], encoded(81, 100)), "add up to 8100 pixels"),
    (mask([80, 100], [4000, 10, 3000]), "add up to 7010 pixels"),
    (mask([80, 100], [2**63 - 1, 2**63 - 1, 8002]), "longer than the 80x100 mask (8000)"),  # wraps to 8000 in int64
    (mask([80, 100], [2**70, 8000]), "list of integers"),
    (mask([80, 100], "é9"), "characters '0'..'o'"),
    (mask([80, 100], ""), "characters '0'..'o'"),
    (mask([80, 100], []), "non-empty list"),
    (mask([80, 100], [-5, 8005]), "non-negative"),
    (mask([100, 80], [8000]), "differs from image 1's size 100x80 (size is [height, width])"),  # transposed
    (mask([80, 101], [8080]), "differs from image 1's size"),
    (mask([100_000_000, 100_000_000], [10**16]), "differs from image 1's size"),
    (mask([80, 100, 1], [8000]), "RLE size must be [height, width]"),
    (mask([0, 100], []), "RLE size must be [height, width]"),
]


@sqlite_only
@pytest.mark.parametrize(("record", "message"), HOSTILE)
def test_hostile_coco_shape_is_refused_and_nothing_written(
    session: Session, ml: Actor, target: Any, tmp_path: Path, record: dict[str, Any], message: str
) -> None:
    _, v = target
    src = tmp_path / "bad.json"
    src.write_text(json.dumps(doc(record)))
    before = counts(session)
    with pytest.raises(ImportInvalid) as err:
        import_annotations(session, actor=ml, version=v, fmt="coco", path=src)
    assert err.value.field == f"{src}: annotations[1] (id 57).segmentation", err.value.field
    assert message in str(err.value), str(err.value)
    assert len(err.value.problems) == 1  # the good record beside it is no problem
    assert counts(session) == before


@sqlite_only
@pytest.mark.parametrize("token", ["Infinity", "-Infinity", "1e999", "NaN"])
def test_infinite_polygon_in_coco_names_its_place(
    session: Session, ml: Actor, target: Any, tmp_path: Path, token: str
) -> None:
    _, v = target
    text = json.dumps(doc({"category_id": 1, "segmentation": [[1.0, 2.0, 3.0, 4.0, 12345.5, 6.0]]}), indent=1)
    text = text.replace("12345.5", token)
    src = tmp_path / "inf.json"
    src.write_text(text)
    line = text[: text.index(token)].count("\n") + 1
    before = counts(session)
    with pytest.raises(ImportInvalid) as err:
        import_annotations(session, actor=ml, version=v, fmt="coco", path=src)
    assert str(err.value.field).startswith(f"{src}:{line}:"), err.value.field
    assert counts(session) == before


def yolo(root: Path, line: str) -> Path:
    (root / "labels").mkdir(parents=True)
    (root / "data.yaml").write_text("names: [cat, blob]\n")
    (root / "labels" / "a.txt").write_text("0 0.1 0.1 0.5 0.1 0.3 0.5\n" + line)
    return root


@sqlite_only
@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("0 0.1 0.2 inf 0.2 0.3 0.9\n", "finite"),
        ("0 0.1 0.2 -inf 0.2 0.3 0.9\n", "finite"),
        ("0 0.1 0.2 nan 0.2 0.3 0.9\n", "finite"),
        ("0 0.1 0.2 1e999 0.2 0.3 0.9\n", "finite"),
        ("0 0.1 0.2 0.5 0.2 0.3 0.9 0.4\n", "segmentation line"),  # 7 coordinates: odd
        ("0 0.1 0.2 0.5 0.2 0.3 1.9\n", "outside the image"),
        ("1 0.1 0.2 0.5 0.2 0.3 0.9\n", "class 'blob' is a mask class"),  # masks have no YOLO form
    ],
)
def test_hostile_yolo_segmentation_is_refused(
    session: Session, ml: Actor, target: Any, tmp_path: Path, line: str, message: str
) -> None:
    _, v = target
    root = yolo(tmp_path / "y", line)
    before = counts(session)
    with pytest.raises(ImportInvalid) as err:
        import_annotations(session, actor=ml, version=v, fmt="yolo", path=root)
    assert err.value.field == f"{root / 'labels' / 'a.txt'}:2", err.value.field
    assert message in str(err.value), str(err.value)
    assert counts(session) == before


@sqlite_only
def test_a_refusal_leaves_the_version_importable(session: Session, ml: Actor, target: Any, tmp_path: Path) -> None:
    """Nothing of a refused import lingers: the same version then takes a good file, and only its rows."""
    _, v = target
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc(mask([80, 100], [2**63 - 1, 2**63 - 1, 8002]))))
    with pytest.raises(ImportInvalid):
        import_annotations(session, actor=ml, version=v, fmt="coco", path=bad)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(doc(mask([80, 100], encoded(80, 100)))))
    before = counts(session)
    assert import_annotations(session, actor=ml, version=v, fmt="coco", path=good).annotations == 2
    after = counts(session)
    assert after[0] - before[0] == 2 and after[1] - before[1] == 1


@pytest.mark.parametrize(
    ("geometry_type", "geometry", "message"),
    [
        ("polygon", {"polygons": [[1.0, 2.0, float("inf"), 4.0, 5.0, 6.0]]}, "finite"),
        ("polygon", {"polygons": [[1.0, 2.0, 3.0, 4.0, 5.0]]}, "odd number"),
        ("mask", {"rle": {"size": [80, 100], "counts": "é"}}, "'0'..'o'"),
        ("mask", {"rle": {"size": [80, 100], "counts": "1" * 60_000}}, "longer than any mask"),
        ("mask", {"rle": {"size": [80, 100], "counts": [8000]}}, "compressed string"),
        ("mask", {"rle": {"size": [100, 80], "counts": encoded(100, 80)}}, "differs from the image's size"),
    ],
)
def test_the_stored_geometry_check_refuses_the_same(geometry_type: str, geometry: Any, message: str) -> None:
    problem = check_geometry(geometry_type, 1.0, 2.0, 4.0, 4.0, geometry, image_size=(100, 80))
    assert problem is not None and message in problem, problem
