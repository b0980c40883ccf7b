"""COCO / YOLO / VOC: exact round trips (boxes and classes, images without objects included), human
attribution, and bad input refused with the file and line or record named and nothing written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, func, select

from lineage.context import Actor
from lineage.formats import ImportInvalid, export_version, import_annotations
from lineage.models import Annotation, AuditEvent
from tests.factories import World
from tests.lineage.conftest import quick_schema, quick_version

SIZES = {"a.jpg": (100, 80), "b.jpg": (64, 48), "empty.jpg": (30, 20)}
CLASSES = ["cat", "dog", "bird"]
# Bad sources are refused before anything touches the database, so those cases run on SQLite only.
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def target(session: Session, world: World, ml: Actor) -> Any:
    sv = quick_schema(session, project_id=world.project.id or 0, name="s", classes=CLASSES, user_id=ml.user_id)
    return quick_version(session, actor=ml, project_id=world.project.id or 0, items=SIZES, schema_version_id=sv.id)


def coco_doc() -> dict[str, Any]:
    return {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 100, "height": 80},
            {"id": 2, "file_name": "b.jpg", "width": 64, "height": 48},
            {"id": 3, "file_name": "empty.jpg", "width": 30, "height": 20},
        ],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}, {"id": 3, "name": "bird"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0.0, 0.0, 100.0, 80.0]},
            {"id": 2, "image_id": 1, "category_id": 2, "bbox": [10.25, 20.5, 30.125, 40.0]},
            {"id": 3, "image_id": 2, "category_id": 3, "bbox": [1.0, 2.0, 3.0, 4.0]},
        ],
    }


def boxes_of_coco(doc: dict[str, Any]) -> set[tuple[Any, ...]]:
    names = {c["id"]: c["name"] for c in doc["categories"]}
    files = {i["id"]: i["file_name"] for i in doc["images"]}
    return {(files[a["image_id"]], names[a["category_id"]], *a["bbox"]) for a in doc["annotations"]}


def _count(session: Session, model: Any) -> int:
    return int(session.exec(select(func.count()).select_from(model)).one())


def test_coco_round_trip_is_exact(session: Session, ml: Actor, target: Any, tmp_path: Path) -> None:
    ds, v = target
    src = tmp_path / "in.json"
    src.write_text(json.dumps(coco_doc()))
    result = import_annotations(session, actor=ml, version=v, fmt="coco", path=src)
    session.commit()
    assert (result.annotations, result.images, result.kind, result.batches) == (3, 3, "import", 1)
    rows = session.exec(select(Annotation)).all()
    import hashlib

    assert {(r.kind, r.source_format, r.source_sha256) for r in rows} == {
        ("import", "coco", hashlib.sha256(src.read_bytes()).hexdigest())
    }
    export_version(session, dataset=ds, version=v, fmt="coco", out=tmp_path / "out.json")
    out = json.loads((tmp_path / "out.json").read_text())
    assert boxes_of_coco(out) == boxes_of_coco(coco_doc())
    assert [(c["id"], c["name"]) for c in out["categories"]] == [(1, "cat"), (2, "dog"), (3, "bird")]
    assert sorted(i["file_name"] for i in out["images"]) == ["a.jpg", "b.jpg", "empty.jpg"]  # the empty image stays
    assert {(i["file_name"], i["width"], i["height"]) for i in out["images"]} == {(k, *s) for k, s in SIZES.items()}


def write_yolo(root: Path) -> dict[str, str]:
    labels = {
        "a.txt": "0 0.500000 0.500000 1.000000 1.000000\n1 0.123456 0.654321 0.100000 0.200000\n",
        "b.txt": "2 0.250000 0.250000 0.125000 0.062500\n",
        "empty.txt": "",
    }
    (root / "labels").mkdir(parents=True)
    (root / "images").mkdir()
    (root / "data.yaml").write_text("names:\n  0: cat\n  1: dog\n  2: bird\n")
    for name, body in labels.items():
        (root / "labels" / name).write_text(body)
    return labels


def test_yolo_round_trip_is_exact(session: Session, ml: Actor, target: Any, tmp_path: Path) -> None:
    ds, v = target
    labels = write_yolo(tmp_path / "yolo")
    result = import_annotations(session, actor=ml, version=v, fmt="yolo", path=tmp_path / "yolo")
    assert (result.annotations, result.images, result.files) == (3, 3, 4)
    row = session.exec(select(Annotation).where(Annotation.category == "bird")).one()
    assert (row.x, row.y, row.w, row.h) == pytest.approx(
        (12.0, 10.5, 8.0, 3.0)
    )  # b.jpg is 64 x 48: (0.25 - 0.03125) * 48
    export_version(session, dataset=ds, version=v, fmt="yolo", out=tmp_path / "out")
    for name, body in labels.items():
        assert (tmp_path / "out" / "labels" / name).read_text() == body
    import yaml

    assert yaml.safe_load((tmp_path / "out" / "data.yaml").read_text())["names"] == {0: "cat", 1: "dog", 2: "bird"}


def write_voc(root: Path) -> None:
    (root / "Annotations").mkdir(parents=True)
    objects = {
        "a": [("cat", 0, 0, 100, 80, True), ("dog", 10, 20.5, 40, 60, False)],
        "b": [("bird", 1, 2, 4, 6, False)],
        "empty": [],
    }
    for stem, objs in objects.items():
        w, h = SIZES[f"{stem}.jpg"]
        body = "".join(
            f"<object><name>{n}</name>{'<difficult>1</difficult>' if d else ''}"
            f"<bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"
            for n, x0, y0, x1, y1, d in objs
        )
        (root / "Annotations" / f"{stem}.xml").write_text(
            f"<annotation><filename>{stem}.jpg</filename><size><width>{w}</width><height>{h}</height>"
            f"<depth>3</depth></size>{body}</annotation>"
        )


def voc_boxes(root: Path) -> set[tuple[Any, ...]]:
    import xml.etree.ElementTree as ET

    found = set()
    for path in sorted((root / "Annotations").glob("*.xml")):
        doc = ET.parse(path).getroot()
        found.add((doc.findtext("filename"), None))
        for obj in doc.findall("object"):
            bb = obj.find("bndbox")
            assert bb is not None
            coords = tuple(float(bb.findtext(t) or "nan") for t in ("xmin", "ymin", "xmax", "ymax"))
            found.add((doc.findtext("filename"), obj.findtext("name"), *coords, obj.findtext("difficult")))
    return found


def test_voc_round_trip_is_exact(session: Session, ml: Actor, target: Any, tmp_path: Path) -> None:
    ds, v = target
    write_voc(tmp_path / "voc")
    result = import_annotations(session, actor=ml, version=v, fmt="voc", path=tmp_path / "voc")
    assert (result.annotations, result.images) == (3, 3)
    export_version(session, dataset=ds, version=v, fmt="voc", out=tmp_path / "out")
    assert voc_boxes(tmp_path / "out") == voc_boxes(tmp_path / "voc")


def test_human_import_attributes_the_annotator(
    session: Session, world: World, ml: Actor, target: Any, tmp_path: Path
) -> None:
    _, v = target
    src = tmp_path / "in.json"
    src.write_text(json.dumps(coco_doc()))
    annotator = world.users["annotator"]
    result = import_annotations(session, actor=ml, version=v, fmt="coco", path=src, annotator_id=annotator.id)
    assert result.kind == "human"
    kinds = session.exec(select(Annotation.kind, Annotation.annotator_id, Annotation.source_format)).all()
    assert set(kinds) == {("human", annotator.id, "coco")}


def test_batches_are_audited_one_event_each(session: Session, ml: Actor, target: Any, tmp_path: Path) -> None:
    _, v = target
    src = tmp_path / "in.json"
    src.write_text(json.dumps(coco_doc()))
    result = import_annotations(session, actor=ml, version=v, fmt="coco", path=src, batch_size=2)
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "annotation.import.batch")).all()
    assert result.batches == 2 and [e.payload["rows"] for e in events] == [2, 1]
    assert [e.payload["source_records"] for e in events] == [[0, 1], [2, 2]]


def _bad_coco(change: Any) -> bytes:
    doc = coco_doc()
    change(doc)
    return json.dumps(doc, indent=1).encode()


BAD_COCO = {
    "malformed": (b'{"images": [\n  {"id": 1,, }\n]}', "in.json:2:", "malformed JSON"),
    "outside": (
        _bad_coco(lambda d: d["annotations"][0].update(bbox=[90, 0, 20, 10])),
        "annotations[0] (id 1)",
        "outside the image",
    ),
    "unknown_category": (
        _bad_coco(lambda d: d["annotations"][1].update(category_id=9)),
        "annotations[1] (id 2)",
        "unknown category_id 9",
    ),
    "missing_image": (
        _bad_coco(lambda d: d["images"][2].update(file_name="nope.jpg")),
        "images[2]",
        "not in dataset version pets@v1",
    ),
    "negative": (
        _bad_coco(lambda d: d["annotations"][2].update(bbox=[1, 2, -3, 4])),
        "annotations[2] (id 3)",
        "positive width",
    ),
    "duplicate_id": (
        _bad_coco(lambda d: d["annotations"][2].update(id=1)),
        "annotations[2] (id 1)",
        "duplicate annotation id",
    ),
    "duplicate_image": (_bad_coco(lambda d: d["images"][1].update(id=1)), "images[1]", "duplicate image id"),
    "unknown_class": (
        _bad_coco(lambda d: d["categories"][2].update(name="horse")),
        "categories[2]",
        "not in the schema",
    ),
    "size_mismatch": (_bad_coco(lambda d: d["images"][0].update(width=99)), "images[0]", "differs from the image"),
    "not_coco": (b"[1, 2]", "in.json", "expected a COCO object"),
}


@sqlite_only
@pytest.mark.parametrize("case", sorted(BAD_COCO))
def test_bad_coco_is_refused_naming_the_place_and_nothing_is_written(
    session: Session, ml: Actor, target: Any, tmp_path: Path, case: str
) -> None:
    _, v = target
    data, where, what = BAD_COCO[case]
    src = tmp_path / "in.json"
    src.write_bytes(data)
    events = _count(session, AuditEvent)
    with pytest.raises(ImportInvalid) as exc:
        import_annotations(session, actor=ml, version=v, fmt="coco", path=src)
    assert str(src) in (exc.value.field or "") and where in (exc.value.field or ""), exc.value.field
    assert what in exc.value.message
    assert _count(session, Annotation) == 0 and _count(session, AuditEvent) == events


@sqlite_only
def test_all_problems_are_listed(session: Session, ml: Actor, target: Any, tmp_path: Path) -> None:
    _, v = target
    doc = coco_doc()
    doc["annotations"][0]["category_id"] = 9
    doc["annotations"][2]["bbox"] = [0, 0, 0, 1]
    src = tmp_path / "in.json"
    src.write_text(json.dumps(doc))
    with pytest.raises(ImportInvalid) as exc:
        import_annotations(session, actor=ml, version=v, fmt="coco", path=src)
    assert len(exc.value.problems) == 2 and "and 1 more problem" in exc.value.message


BAD_YOLO = {
    "unknown_class": ("b.txt", "7 0.5 0.5 0.1 0.1\n", "b.txt:1", "unknown class id 7"),
    "outside": ("b.txt", "0 0.5 0.5 0.1 0.1\n0 0.95 0.5 0.2 0.1\n", "b.txt:2", "outside the image"),
    "negative": ("a.txt", "0 0.5 0.5 -0.1 0.1\n", "a.txt:1", "positive width"),
    "fields": ("a.txt", "0 0.5 0.5 0.1\n", "a.txt:1", "expected 5 values"),
    "missing_image": ("zzz.txt", "0 0.5 0.5 0.1 0.1\n", "zzz.txt", "no image for this label file"),
}


@sqlite_only
@pytest.mark.parametrize("case", sorted(BAD_YOLO))
def test_bad_yolo_is_refused_naming_file_and_line(
    session: Session, ml: Actor, target: Any, tmp_path: Path, case: str
) -> None:
    _, v = target
    write_yolo(tmp_path / "y")
    name, body, where, what = BAD_YOLO[case]
    (tmp_path / "y" / "labels" / name).write_text(body)
    with pytest.raises(ImportInvalid) as exc:
        import_annotations(session, actor=ml, version=v, fmt="yolo", path=tmp_path / "y")
    assert (exc.value.field or "").endswith(where) and what in exc.value.message, (exc.value.field, exc.value.message)
    assert _count(session, Annotation) == 0


@sqlite_only
def test_bad_yolo_data_yaml_and_stray_image(session: Session, ml: Actor, target: Any, tmp_path: Path) -> None:
    _, v = target
    write_yolo(tmp_path / "y")
    (tmp_path / "y" / "data.yaml").write_text("names:\n  - cat\n  - [dog\n")
    with pytest.raises(ImportInvalid, match="malformed YAML") as exc:
        import_annotations(session, actor=ml, version=v, fmt="yolo", path=tmp_path / "y")
    assert "data.yaml:" in (exc.value.field or "")
    (tmp_path / "y" / "data.yaml").write_text("names: [cat, dog, bird]\n")
    (tmp_path / "y" / "images" / "ghost.jpg").write_bytes(b"x")
    with pytest.raises(ImportInvalid, match=r"'ghost\.jpg' is not in dataset version"):
        import_annotations(session, actor=ml, version=v, fmt="yolo", path=tmp_path / "y")


BAD_VOC = {
    "malformed": (
        "<annotation><filename>a.jpg</filename>\n<object><name>cat</name>\n</annotation>",
        "a.xml:3:",
        "malformed XML",
    ),
    "negative": (
        "<annotation><filename>a.jpg</filename><object><name>cat</name><bndbox><xmin>50</xmin><ymin>1</ymin><xmax>40</xmax><ymax>9</ymax></bndbox></object></annotation>",
        "a.xml: object[0] ('cat')",
        "positive width",
    ),
    "outside": (
        "<annotation><filename>a.jpg</filename><object><name>cat</name><bndbox><xmin>50</xmin><ymin>1</ymin><xmax>140</xmax><ymax>9</ymax></bndbox></object></annotation>",
        "a.xml: object[0] ('cat')",
        "outside the image",
    ),
    "unknown_class": (
        "<annotation><filename>a.jpg</filename><object><name>horse</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>4</xmax><ymax>9</ymax></bndbox></object></annotation>",
        "a.xml: object[0] ('horse')",
        "not in the schema",
    ),
    "missing_image": (
        "<annotation><filename>nope.jpg</filename></annotation>",
        "a.xml: filename",
        "not in dataset version",
    ),
    "size": (
        "<annotation><filename>a.jpg</filename><size><width>-5</width><height>80</height></size></annotation>",
        "a.xml: size",
        "positive width",
    ),
    "duplicate": (
        "<annotation><filename>b.jpg</filename></annotation>",
        "b.xml",
        "a second annotation file for image 'b.jpg' (also ",
    ),
}


@sqlite_only
@pytest.mark.parametrize("case", sorted(BAD_VOC))
def test_bad_voc_is_refused_naming_file_and_place(
    session: Session, ml: Actor, target: Any, tmp_path: Path, case: str
) -> None:
    _, v = target
    write_voc(tmp_path / "voc")
    body, where, what = BAD_VOC[case]
    (tmp_path / "voc" / "Annotations" / "a.xml").write_text(body)
    with pytest.raises(ImportInvalid) as exc:
        import_annotations(session, actor=ml, version=v, fmt="voc", path=tmp_path / "voc")
    assert any(where in p.where and what in p.message for p in exc.value.problems), exc.value.problems
    assert _count(session, Annotation) == 0


@sqlite_only
def test_unknown_format_and_missing_source(session: Session, ml: Actor, target: Any, tmp_path: Path) -> None:
    from lineage.errors import InvalidInput

    _, v = target
    with pytest.raises(InvalidInput, match="unknown format"):
        import_annotations(session, actor=ml, version=v, fmt="csv", path=tmp_path)
    with pytest.raises(InvalidInput, match="no such file"):
        import_annotations(session, actor=ml, version=v, fmt="coco", path=tmp_path / "missing.json")


def test_fast_and_slow_coco_readers_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """msgspec's typed fast path and the plain-JSON path that explains problems accept the same labels."""
    from lineage.formats import coco
    from lineage.formats.common import ItemIndex, ItemRef

    doc = coco_doc()
    doc["annotations"].append(
        {
            "id": 4,
            "image_id": 2,
            "category_id": 1,
            "bbox": [0, 0, 64, 48],
            "iscrowd": 1,
            "attributes": {"occluded": True},
            "segmentation": [[1, 2, 3, 4]],
        }
    )
    data = json.dumps(doc).encode()
    items = ItemIndex(
        [ItemRef(i + 1, uri, w, h) for i, (uri, (w, h)) in enumerate(SIZES.items())], version_ref="pets@v1"
    )
    fast = coco._parse_fast(data, sha="s", source="f.json", items=items, classes=set(CLASSES))
    slow = coco._parse_slow(data, sha="s", source="f.json", items=items, classes=set(CLASSES))
    assert fast is not None and fast.labels == slow.labels and fast.images == slow.images == 3
    assert fast.labels[-1][6] == '{"coco": {"id": 4, "iscrowd": 1}, "occluded": true}'
    doc["annotations"][0]["bbox"] = [0, 0, 0, 1]  # any problem: the fast path steps aside
    assert coco._parse_fast(json.dumps(doc).encode(), sha="s", source="f.json", items=items, classes=None) is None
