"""COCO keypoints and YOLO pose: rows as the Issue 13 contract stores them, exact round trips (COCO) and
round trips within 1e-9 px (YOLO), categories carrying point names and the 1-based skeleton, and bad records
refused naming the record with nothing written (no annotation, no import record, no audit event)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlmodel import Session, func, select

from lineage.context import Actor
from lineage.formats import ImportInvalid, export_version, import_annotations
from lineage.models import Annotation, AuditEvent, DatasetVersion, LabelImport, LabelSchema, LabelSchemaVersion
from lineage.schema_classes import LabelClass, SchemaOptions, schema_hash
from tests.factories import World
from tests.lineage.conftest import quick_version

SIZES = {"a.jpg": (100, 80), "b.jpg": (64, 48)}
NAMES = ["nose", "left_eye", "right_eye", "tail"]
SKELETON = [[0, 1], [0, 2], [1, 2], [0, 3]]
SIGMAS = [0.026, 0.025, 0.025, 0.089]
PERSON = {
    "name": "person",
    "geometry": "keypoints",
    "keypoints": {"names": NAMES, "skeleton": SKELETON, "sigmas": SIGMAS},
}
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def make_schema(
    session: Session, world: World, ml: Actor, classes: list[dict[str, Any]], *, multi_label: bool = False
) -> LabelSchemaVersion:
    """A schema version's rows (no git commit), with its options stored and hashed as ``lineage.schemas`` does."""
    schema = LabelSchema(project_id=world.project.id or 0, name=f"s{len(classes)}{int(multi_label)}")
    session.add(schema)
    session.flush()
    parsed = [LabelClass.model_validate(c) for c in classes]
    options = SchemaOptions(multi_label=multi_label)
    sv = LabelSchemaVersion(
        schema_id=schema.id or 0,
        version=1,
        classes=[c.stored() for c in parsed],
        options=options.stored(),
        content_hash=schema_hash(parsed, options),
        created_by=ml.user_id,
    )
    session.add(sv)
    session.flush()
    return sv


def counts(session: Session) -> tuple[int, int, int]:
    """(annotations, label imports, audit events): what a refused import must leave unchanged."""
    return tuple(  # type: ignore[return-value]
        int(session.exec(select(func.count()).select_from(model)).one())
        for model in (Annotation, LabelImport, AuditEvent)
    )


def rows_of(session: Session, version: DatasetVersion) -> list[tuple[Any, ...]]:
    """Every column that matters of a version's rows, items by path (comparable across versions)."""
    from lineage.models import Item

    uris = {i.id: i.uri for i in session.exec(select(Item).where(Item.dataset_version_id == version.id))}
    found = session.exec(select(Annotation).where(Annotation.dataset_version_id == version.id)).all()
    out = [(uris[r.item_id], r.category, r.geometry_type, r.x, r.y, r.w, r.h, r.geometry, r.attributes) for r in found]
    return sorted(out, key=lambda r: json.dumps(r, sort_keys=True))


@pytest.fixture
def target(session: Session, world: World, ml: Actor) -> Any:
    sv = make_schema(session, world, ml, [PERSON])
    return quick_version(session, actor=ml, project_id=world.project.id or 0, items=SIZES, schema_version_id=sv.id)


def second_version(session: Session, ml: Actor, ds: Any, v: DatasetVersion, name: str = "v2") -> DatasetVersion:
    _, v2 = quick_version(
        session, actor=ml, project_id=ds.project_id, items=SIZES, version=name, schema_version_id=v.schema_version_id
    )
    return v2


def coco_doc() -> dict[str, Any]:
    return {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 100, "height": 80},
            {"id": 2, "file_name": "b.jpg", "width": 64, "height": 48},
        ],
        "categories": [
            {"id": 3, "name": "person", "keypoints": NAMES, "skeleton": [[1, 2], [1, 3], [2, 3], [1, 4]]},
        ],
        "annotations": [
            {  # bbox given, area that is not w*h (COCO's is the segment's): kept
                "id": 11,
                "image_id": 1,
                "category_id": 3,
                "bbox": [10, 12, 50, 40],
                "keypoints": [20, 20, 2, 30.5, 22.25, 1, 0, 0, 0, 40, 30, 2],
                "num_keypoints": 3,
                "area": 1234.5,
                "iscrowd": 0,
            },
            {  # no bbox: the labelled points' extent
                "id": 12,
                "image_id": 2,
                "category_id": 3,
                "keypoints": [5, 6, 2, 10, 20, 2, 0, 0, 0, 30, 7, 1],
                "num_keypoints": 3,
            },
            {  # a crowd with no labelled point; area w*h is the natural one (not stored)
                "id": 13,
                "image_id": 2,
                "category_id": 3,
                "bbox": [1.5, 1, 10, 10.25],
                "keypoints": [0] * 12,
                "num_keypoints": 0,
                "area": 102.5,
                "iscrowd": 1,
            },
        ],
    }


def write(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc))
    return path


@sqlite_only
def test_coco_keypoints_rows_follow_the_contract(session: Session, ml: Actor, target: Any, tmp_path: Path) -> None:
    _, v = target
    result = import_annotations(session, actor=ml, version=v, fmt="coco", path=write(tmp_path / "kp.json", coco_doc()))
    assert result.annotations == 3
    got = {(r.attributes or {})["coco"]["id"]: r for r in session.exec(select(Annotation)).all()}
    a = got[11]
    assert (a.category, a.geometry_type, a.x, a.y, a.w, a.h) == ("person", "keypoints", 10.0, 12.0, 50.0, 40.0)
    assert a.geometry == {"keypoints": [[20.0, 20.0, 2], [30.5, 22.25, 1], [0.0, 0.0, 0], [40.0, 30.0, 2]]}
    assert a.attributes == {"coco": {"id": 11, "area": 1234.5}}
    b = got[12]
    assert (b.x, b.y, b.w, b.h) == (5.0, 6.0, 30.0 - 5.0, 20.0 - 6.0)  # the labelled points' extent
    assert b.geometry == {"keypoints": [[5.0, 6.0, 2], [10.0, 20.0, 2], [0.0, 0.0, 0], [30.0, 7.0, 1]]}
    assert b.attributes == {"coco": {"id": 12}}
    c = got[13]
    assert (c.x, c.y, c.w, c.h) == (1.5, 1.0, 10.0, 10.25)
    assert c.geometry == {"keypoints": [[0.0, 0.0, 0]] * 4}
    assert c.attributes == {"coco": {"id": 13, "iscrowd": 1}}
    for r in got.values():  # visibility stored as an integer, coordinates as floats
        assert all(type(p[2]) is int and type(p[0]) is float for p in (r.geometry or {})["keypoints"])


@sqlite_only
def test_coco_keypoints_export_and_reimport_identically(
    session: Session, ml: Actor, target: Any, tmp_path: Path
) -> None:
    ds, v = target
    source = coco_doc()
    import_annotations(session, actor=ml, version=v, fmt="coco", path=write(tmp_path / "kp.json", source))
    out = tmp_path / "out.json"
    export_version(session, dataset=ds, version=v, fmt="coco", out=out)
    exported = json.loads(out.read_text())
    (cat,) = exported["categories"]
    assert cat["name"] == "person" and cat["keypoints"] == NAMES
    assert cat["skeleton"] == [[a + 1, b + 1] for a, b in SKELETON]  # COCO's skeleton is 1-based
    by_id = {a["id"]: a for a in exported["annotations"]}
    for ann in source["annotations"]:
        back = by_id[ann["id"]]
        assert back["keypoints"] == ann["keypoints"] and back["num_keypoints"] == ann["num_keypoints"]
        assert back["iscrowd"] == ann.get("iscrowd", 0) and back["category_id"] == 3
    assert by_id[11]["area"] == 1234.5 and by_id[11]["bbox"] == [10, 12, 50, 40]
    assert by_id[12]["bbox"] == [5, 6, 25, 14] and by_id[12]["area"] == 25 * 14
    assert by_id[13]["area"] == 102.5
    v2 = second_version(session, ml, ds, v)
    import_annotations(session, actor=ml, version=v2, fmt="coco", path=out)
    assert rows_of(session, v2) == rows_of(session, v)
    # and once more: the second export is the first, byte for byte
    out2 = tmp_path / "out2.json"
    export_version(session, dataset=ds, version=v2, fmt="coco", out=out2)
    again = json.loads(out2.read_text())
    assert again["annotations"] == exported["annotations"] and again["categories"] == exported["categories"]


@sqlite_only
def test_coco_keypoints_export_is_read_by_pycocotools(session: Session, ml: Actor, target: Any, tmp_path: Path) -> None:
    """The export loads in pycocotools and scores itself OKS AP 1.0 with the schema's sigmas."""
    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    ds, v = target
    import_annotations(session, actor=ml, version=v, fmt="coco", path=write(tmp_path / "kp.json", coco_doc()))
    out = tmp_path / "out.json"
    export_version(session, dataset=ds, version=v, fmt="coco", out=out)
    gt = COCO(str(out))
    assert gt.loadCats(gt.getCatIds())[0]["keypoints"] == NAMES
    dets = [{**a, "score": 1.0} for a in gt.dataset["annotations"] if not a["iscrowd"]]
    ev = COCOeval(gt, gt.loadRes(dets), iouType="keypoints")
    ev.params.kpt_oks_sigmas = np.array(SIGMAS)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)


def kp_record(**patch: Any) -> dict[str, Any]:
    return {"id": 57, "image_id": 1, "category_id": 3, "bbox": [10, 12, 50, 40], **patch}


BAD_COCO = [
    (
        kp_record(keypoints=[20, 20, 2, 30, 22, 1, 0, 0, 0]),
        "keypoints",
        "9 values, 3 keypoints; the schema's class has K=4",
    ),
    (kp_record(keypoints=[20, 20, 2] * 5), "keypoints", "K=4"),
    (kp_record(keypoints=[20, 20, 3, 30, 22, 1, 0, 0, 0, 40, 30, 2]), "keypoints", "keypoint 0: visibility 3"),
    (kp_record(keypoints=[20, 20, -1, 30, 22, 1, 0, 0, 0, 40, 30, 2]), "keypoints", "visibility -1"),
    (kp_record(keypoints=[20, 20, 1.5, 30, 22, 1, 0, 0, 0, 40, 30, 2]), "keypoints", "visibility 1.5"),
    (kp_record(keypoints=[20, 20, 2, 30, 22, 1, 0, 0, 0, 40, 30, 2], num_keypoints=4), "keypoints", "num_keypoints 4"),
    (kp_record(keypoints=[20, 20, 2, 30, 22, 1, 0, 0, 0, 40, 30, 2], num_keypoints="3"), "keypoints", "num_keypoints"),
    (kp_record(keypoints=[20, 20, 2, 30, 22, 1, 5, 5, 0, 40, 30, 2]), "keypoints", "unlabelled (v=0) but has x=5"),
    (kp_record(keypoints=[20, 20, 2, 130, 22, 1, 0, 0, 0, 40, 30, 2]), "keypoints", "outside the image"),
    (kp_record(keypoints=[20, "x", 2, 30, 22, 1, 0, 0, 0, 40, 30, 2]), "keypoints", "flat list of numbers"),
    (kp_record(keypoints=[20, True, 2, 30, 22, 1, 0, 0, 0, 40, 30, 2]), "keypoints", "flat list of numbers"),
    (kp_record(keypoints=None), "keypoints", "flat list of numbers"),
    (kp_record(keypoints=[0] * 12, bbox=None), "keypoints", "no bbox and no labelled keypoint"),
    (kp_record(keypoints=[20, 20, 2, 30, 22, 1, 0, 0, 0, 40, 30, 2], bbox=[10, 12, 95, 40]), "keypoints", "outside"),
    (kp_record(keypoints=[20, 20, 2, 30, 22, 1, 0, 0, 0, 40, 30, 2], bbox=[10, 12]), "keypoints", "bbox"),
    (kp_record(keypoints=[20, 20, 2, 30, 22, 1, 0, 0, 0, 40, 30, 2], area=-1), "", "area"),
]


@sqlite_only
@pytest.mark.parametrize(("record", "field", "message"), BAD_COCO)
def test_bad_coco_keypoints_are_named_and_nothing_written(
    session: Session, ml: Actor, target: Any, tmp_path: Path, record: dict[str, Any], field: str, message: str
) -> None:
    _, v = target
    doc = coco_doc()
    doc["annotations"].insert(1, record)
    src = write(tmp_path / "bad.json", doc)
    before = counts(session)
    with pytest.raises(ImportInvalid) as err:
        import_annotations(session, actor=ml, version=v, fmt="coco", path=src)
    where = f"{src}: annotations[1] (id 57)" + (f".{field}" if field else "")
    assert err.value.field == where, err.value.field
    assert message in str(err.value), str(err.value)
    assert counts(session) == before


@sqlite_only
@pytest.mark.parametrize("token", ["NaN", "Infinity", "-1e999", "1e400"])
def test_non_finite_coco_keypoints_are_refused_naming_their_place(
    session: Session, ml: Actor, target: Any, tmp_path: Path, token: str
) -> None:
    _, v = target
    text = json.dumps(coco_doc(), indent=1).replace("30.5", token, 1)
    src = tmp_path / "nonfinite.json"
    src.write_text(text)
    line = text[: text.index(token)].count("\n") + 1
    before = counts(session)
    with pytest.raises(ImportInvalid) as err:
        import_annotations(session, actor=ml, version=v, fmt="coco", path=src)
    # A strict JSON reader refuses these tokens; the problem names the file, line and column of the value.
    assert str(err.value.field).startswith(f"{src}:{line}:"), err.value.field
    assert counts(session) == before


@sqlite_only
def test_coco_category_with_other_point_names_is_refused(
    session: Session, ml: Actor, target: Any, tmp_path: Path
) -> None:
    """A category listing the schema's points in another order would store every point under the wrong name."""
    _, v = target
    doc = coco_doc()
    doc["categories"][0]["keypoints"] = ["nose", "right_eye", "left_eye", "tail"]
    src = write(tmp_path / "swapped.json", doc)
    before = counts(session)
    with pytest.raises(ImportInvalid) as err:
        import_annotations(session, actor=ml, version=v, fmt="coco", path=src)
    assert err.value.field == f"{src}: categories[0]" and "right_eye" in str(err.value)
    assert counts(session) == before
    doc["categories"][0]["keypoints"] = NAMES[:3]
    with pytest.raises(ImportInvalid, match="K=4"):
        import_annotations(session, actor=ml, version=v, fmt="coco", path=write(src, doc))
    assert counts(session) == before


@sqlite_only
def test_every_bad_record_is_listed(session: Session, ml: Actor, target: Any, tmp_path: Path) -> None:
    _, v = target
    doc = coco_doc()
    doc["annotations"][0]["num_keypoints"] = 2
    doc["annotations"][1]["keypoints"][2] = 7
    src = write(tmp_path / "two.json", doc)
    before = counts(session)
    with pytest.raises(ImportInvalid) as err:
        import_annotations(session, actor=ml, version=v, fmt="coco", path=src)
    wheres = [p.where for p in err.value.problems]
    assert wheres == [f"{src}: annotations[0] (id 11).keypoints", f"{src}: annotations[1] (id 12).keypoints"]
    assert counts(session) == before


# ---- YOLO pose ---------------------------------------------------------------------------------------------


def pose_folder(root: Path, lines: dict[str, str], *, yaml: str = "names: [person]\nkpt_shape: [4, 3]\n") -> Path:
    (root / "labels").mkdir(parents=True, exist_ok=True)
    (root / "data.yaml").write_text(yaml)
    for name, text in lines.items():
        (root / "labels" / name).write_text(text)
    return root


# a.jpg is 100 x 80: cx 0.35 cy 0.4 w 0.5 h 0.5 -> box (10, 12, 50, 40)
WITH_V = "0 0.35 0.4 0.5 0.5 0.2 0.25 2 0.305 0.278125 1 0 0 0 0.4 0.375 2\n"
WITHOUT_V = "0 0.35 0.4 0.5 0.5 0.2 0.25 0.305 0.278125 0 0 0.4 0.375\n"


@sqlite_only
@pytest.mark.parametrize(
    ("yaml", "line", "visible"),
    [
        ("names: [person]\nkpt_shape: [4, 3]\n", WITH_V, [2, 1, 0, 2]),
        ("names: [person]\n", WITH_V, [2, 1, 0, 2]),
        ("names: [person]\nkpt_shape: [4, 2]\n", WITHOUT_V, [2, 2, 0, 2]),
        ("names: [person]\n", WITHOUT_V, [2, 2, 0, 2]),
    ],
)
def test_yolo_pose_import(
    session: Session, ml: Actor, target: Any, tmp_path: Path, yaml: str, line: str, visible: list[int]
) -> None:
    _, v = target
    root = pose_folder(tmp_path / "y", {"a.txt": line, "b.txt": ""}, yaml=yaml)
    assert import_annotations(session, actor=ml, version=v, fmt="yolo", path=root).annotations == 1
    (row,) = session.exec(select(Annotation)).all()
    assert (row.category, row.geometry_type) == ("person", "keypoints")
    assert row.x == pytest.approx(10.0) and row.y == pytest.approx(12.0)
    assert row.w == pytest.approx(50.0) and row.h == pytest.approx(40.0)
    want = [[0.2 * 100, 0.25 * 80], [0.305 * 100, 0.278125 * 80], [0.0, 0.0], [0.4 * 100, 0.375 * 80]]
    points = (row.geometry or {})["keypoints"]
    assert [p[2] for p in points] == visible
    assert [p[:2] for p in points] == want
    assert all(type(p[2]) is int for p in points)


@sqlite_only
def test_yolo_pose_export_and_reimport(session: Session, ml: Actor, target: Any, tmp_path: Path) -> None:
    """COCO keypoints -> YOLO pose -> a fresh version: the same rows within 1e-9 px; data.yaml has kpt_shape."""
    import yaml

    ds, v = target
    import_annotations(session, actor=ml, version=v, fmt="coco", path=write(tmp_path / "kp.json", coco_doc()))
    out = tmp_path / "yo"
    export_version(session, dataset=ds, version=v, fmt="yolo", out=out)
    spec = yaml.safe_load((out / "data.yaml").read_text())
    assert spec["kpt_shape"] == [4, 3] and spec["names"] == {0: "person"}
    lines = (out / "labels" / "b.txt").read_text().splitlines()
    assert len(lines) == 2 and all(len(line.split()) == 5 + 3 * 4 for line in lines)
    v2 = second_version(session, ml, ds, v)
    import_annotations(session, actor=ml, version=v2, fmt="yolo", path=out)
    before, after = rows_of(session, v), rows_of(session, v2)
    assert len(before) == len(after) == 3
    key = lambda r: (r[0], round(r[3], 6), round(r[4], 6))  # noqa: E731
    for a, b in zip(sorted(before, key=key), sorted(after, key=key), strict=True):
        assert a[:3] == b[:3]
        np.testing.assert_allclose(b[3:7], a[3:7], rtol=0, atol=1e-9)
        pa, pb = a[7]["keypoints"], b[7]["keypoints"]
        assert [p[2] for p in pa] == [p[2] for p in pb]
        np.testing.assert_allclose([p[:2] for p in pb], [p[:2] for p in pa], rtol=0, atol=1e-9)
        assert b[8] is None  # YOLO carries no COCO extras
    # YOLO -> YOLO: a second export reads back to the same rows again
    out2 = tmp_path / "yo2"
    export_version(session, dataset=ds, version=v2, fmt="yolo", out=out2)
    v3 = second_version(session, ml, ds, v, "v3")
    import_annotations(session, actor=ml, version=v3, fmt="yolo", path=out2)
    third = rows_of(session, v3)
    for a, b in zip(sorted(after, key=key), sorted(third, key=key), strict=True):
        np.testing.assert_allclose(b[3:7], a[3:7], rtol=0, atol=1e-9)
        np.testing.assert_allclose(
            [p for q in b[7]["keypoints"] for p in q], [p for q in a[7]["keypoints"] for p in q], rtol=0, atol=1e-9
        )


BAD_YOLO = [
    ("names: [person]\nkpt_shape: [4, 3]\n", WITH_V.replace(" 2\n", " 3\n"), "a.txt:1", "visibility"),
    ("names: [person]\nkpt_shape: [4, 3]\n", WITHOUT_V, "a.txt:1", "13 values for pose with K=4: expected 17"),
    ("names: [person]\nkpt_shape: [4, 2]\n", WITH_V, "a.txt:1", "17 values for pose with K=4: expected 13"),
    ("names: [person]\n", "0 0.35 0.4 0.5 0.5 0.2 0.25 2 0.3 0.3\n", "a.txt:1", "expected 17 (with visibility) or 13"),
    ("names: [person]\n", WITH_V.replace("0.2 0.25", "nan 0.25"), "a.txt:1", "finite"),
    ("names: [person]\n", WITH_V.replace("0.2 0.25", "inf 0.25"), "a.txt:1", "finite"),
    ("names: [person]\n", WITH_V.replace("0.2 0.25", "1.2 0.25"), "a.txt:1", "outside the image"),
    (
        "names: [person]\nkpt_shape: [17, 3]\n",
        WITH_V,
        "data.yaml: kpt_shape",
        "kpt_shape [17, 3]: class 'person' has K=4",
    ),
    ("names: [person]\nkpt_shape: [4, 4]\n", WITH_V, "data.yaml: kpt_shape", "kpt_shape"),
    ("names: [person]\nkpt_shape: [4]\n", WITH_V, "data.yaml: kpt_shape", "kpt_shape"),
    ("names: [person]\nkpt_shape: four\n", WITH_V, "data.yaml: kpt_shape", "kpt_shape"),
]


@sqlite_only
@pytest.mark.parametrize(("yaml", "line", "where", "message"), BAD_YOLO)
def test_bad_yolo_pose_is_named_and_nothing_written(
    session: Session, ml: Actor, target: Any, tmp_path: Path, yaml: str, line: str, where: str, message: str
) -> None:
    _, v = target
    root = pose_folder(tmp_path / "y", {"a.txt": WITH_V + line if where != "a.txt:1" else line}, yaml=yaml)
    before = counts(session)
    with pytest.raises(ImportInvalid) as err:
        import_annotations(session, actor=ml, version=v, fmt="yolo", path=root)
    field = str(err.value.field)
    assert field.endswith(where) and field.startswith(str(root)), field
    assert message in str(err.value), str(err.value)
    assert counts(session) == before


@sqlite_only
def test_yolo_pose_line_names_its_line_number(session: Session, ml: Actor, target: Any, tmp_path: Path) -> None:
    _, v = target
    bad = WITH_V.replace(" 2 ", " 3 ", 1)
    root = pose_folder(tmp_path / "y", {"a.txt": WITH_V + "\n" + bad, "b.txt": WITH_V.replace("0.35 0.4", "0.5 0.5")})
    with pytest.raises(ImportInvalid) as err:
        import_annotations(session, actor=ml, version=v, fmt="yolo", path=root)
    assert err.value.field == f"{root / 'labels' / 'a.txt'}:3" and "keypoint 0: visibility '3'" in str(err.value)
    assert counts(session)[0] == 0


@sqlite_only
def test_yolo_unlabelled_point_is_stored_at_the_origin(
    session: Session, ml: Actor, target: Any, tmp_path: Path
) -> None:
    """YOLO writers put anything at a v=0 point; the row keeps the contract's ``[0, 0, 0]``."""
    _, v = target
    root = pose_folder(tmp_path / "y", {"a.txt": WITH_V.replace("0 0 0 0.4", "0.1 0.1 0 0.4")})
    import_annotations(session, actor=ml, version=v, fmt="yolo", path=root)
    (row,) = session.exec(select(Annotation)).all()
    assert (row.geometry or {})["keypoints"][2] == [0.0, 0.0, 0]
