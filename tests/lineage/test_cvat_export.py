"""CVAT for images 1.1 export: what it writes, and that the reader reads it back to the same labels for every
geometry (parse(export(x)) == x)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from sqlmodel import Session, select

from lineage.context import Actor
from lineage.formats.common import ExportData, ExportLabel, ItemIndex, ItemRef
from lineage.formats.cvat import export_cvat, parse_cvat
from lineage.formats.exportdata import export_data as read_export
from lineage.formats.exportdata import schema_info
from lineage.formats.work import ToolLabel, WorkBatch
from lineage.labels.work import record_work
from lineage.models import Item
from tests.factories import World
from tests.lineage.conftest import quick_schema, quick_version
from tests.lineage.test_cvat_reader import ITEMS, SCHEMA, parse


def export_data(*batches: WorkBatch) -> ExportData:
    """What ``exportdata.export_data`` would read after recording ``batches``: live labels per item."""
    by_uri = {i.uri: i for i in ITEMS}
    data = ExportData(
        version_ref="street@v1",
        classes=[n for n, g in SCHEMA.geometry.items() if g != "tag"],
        items=list(ITEMS),
        schema=SCHEMA,
    )
    for batch in batches:
        for unit in batch.units:
            item = by_uri[unit.uri]
            for lbl in unit.labels:
                if lbl.geometry_type == "tag":
                    data.tags.setdefault(item.id, []).append(lbl.category)
                    continue
                attrs = dict(lbl.attributes or {})
                attrs["made"] = {"tool": "cvat", "source": unit.source}
                data.labels.setdefault(item.id, []).append(
                    ExportLabel(
                        lbl.category,
                        lbl.x or 0,
                        lbl.y or 0,
                        lbl.w or 0,
                        lbl.h or 0,
                        attrs,
                        lbl.geometry_type,
                        lbl.geometry,
                    )
                )
    return data


def labels_of(batch: WorkBatch) -> dict[tuple[str, str], list[ToolLabel]]:
    """Labels per (item, kind), without the per-unit result ids."""
    out: dict[tuple[str, str], list[ToolLabel]] = {}
    for unit in batch.units:
        out.setdefault((unit.uri, unit.kind), []).extend(unit.labels)
    return {k: sorted(v, key=_key) for k, v in out.items() if v}


def _key(lbl: ToolLabel) -> Any:
    return (lbl.geometry_type, lbl.category, lbl.x or 0, lbl.y or 0)


def same(a: ToolLabel, b: ToolLabel) -> bool:
    box = (a.x, a.y, a.w, a.h) == pytest.approx((b.x, b.y, b.w, b.h), abs=1e-9) if a.x is not None else b.x is None
    return box and (a.category, a.geometry_type, a.geometry, a.attributes) == (
        b.category,
        b.geometry_type,
        b.geometry,
        b.attributes,
    )


@pytest.mark.parametrize(("fixture", "annotator"), [("job_42.xml", None), ("task_12.xml", "carol")])
def test_round_trip_every_geometry(fixture: str, annotator: str | None) -> None:
    first = parse(fixture, annotator=annotator)
    xml = export_cvat(export_data(first), task_id=77)
    again = parse(xml, annotator="carol")
    want, got = labels_of(first), labels_of(again)
    assert set(want) == set(got)
    for key, labels in want.items():
        assert len(got[key]) == len(labels)
        assert all(same(a, b) for a, b in zip(labels, got[key], strict=True)), key
    assert {u.ref.split("/")[0] for u in again.units} == {"task:77"}


def test_written_like_cvat() -> None:
    xml = export_cvat(export_data(parse("task_12.xml", annotator="carol")), dumped="2026-12-01T00:00:00+00:00")
    root = ET.fromstring(xml)
    assert root.findtext("version") == "1.1"
    task = root.find("meta/task")
    assert task is not None and task.findtext("updated") == "2026-12-01T00:00:00+00:00"
    types = {lbl.findtext("name"): (lbl.findtext("type"), lbl.findtext("parent")) for lbl in task.iter("label")}
    assert types["person"] == ("skeleton", None) and types["nose"] == ("points", "person")
    assert types["hand"] == ("points", None) and types["puddle"] == ("mask", None) and types["day"] == ("tag", None)
    image = root.find("image[@name='d.jpg']")
    assert image is not None and (image.get("width"), image.get("height")) == ("10", "8")
    mask = image.find("mask")
    assert mask is not None
    assert {k: mask.get(k) for k in ("rle", "left", "top", "width", "height")} == {
        "rle": "0, 4",
        "left": "3",
        "top": "1",
        "width": "2",
        "height": "2",
    }
    right_eye = image.find("skeleton/points[@label='right_eye']")
    assert right_eye is not None and right_eye.get("outside") == "1"
    assert root.find("meta/dumped") is not None
    assert [i.get("id") for i in root.iter("image")] == ["0", "1", "2", "3"]


def test_box_fields_and_attributes_restored() -> None:
    xml = export_cvat(export_data(parse("job_42.xml")))
    boxes = ET.fromstring(xml).findall("image[@name='street/a.jpg']/box")
    first = boxes[0]
    assert {k: first.get(k) for k in ("occluded", "z_order", "group_id", "source", "xtl", "xbr")} == {
        "occluded": "1",
        "z_order": "2",
        "group_id": "3",
        "source": "manual",
        "xtl": "10.5",
        "xbr": "110.75",
    }
    assert {a.get("name"): a.text for a in first.findall("attribute")} == {"parked": "true", "count": "3", "note": None}
    assert [b.get("source") for b in boxes] == ["manual", "manual", "auto"]
    polygon = ET.fromstring(xml).find("image/polygon")
    assert polygon is not None and polygon.get("source") == "semi-auto"
    spec = {
        a.findtext("name"): a.findtext("input_type")
        for a in ET.fromstring(xml).iter("attribute")
        if a.find("name") is not None
    }
    assert spec == {"parked": "checkbox", "count": "number", "note": "text"}


def test_same_version_same_bytes_and_no_labels() -> None:
    data = export_data(parse("job_42.xml"))
    assert export_cvat(data) == export_cvat(data)
    empty = ExportData(version_ref="x@v1", classes=["car"], items=[ItemRef(9, "z.jpg", None, None)])
    root = ET.fromstring(export_cvat(empty))
    image = root.find("image")
    assert image is not None and image.get("width") is None and list(image) == []


def test_multi_part_polygon_and_foreign_attributes() -> None:
    lbl = ExportLabel(
        "road",
        0,
        0,
        20,
        20,
        {"coco": {"id": 4}, "iscrowd": 0},
        "polygon",
        {"polygons": [[0, 0, 10, 0, 10, 10], [15, 15, 20, 15, 20, 20]]},
    )
    data = ExportData(version_ref="x@v1", classes=["road"], items=[ITEMS[0]], labels={1: [lbl]}, schema=SCHEMA)
    polygons = ET.fromstring(export_cvat(data)).findall("image/polygon")
    assert [p.get("points") for p in polygons] == ["0,0;10,0;10,10", "15,15;20,15;20,20"]
    assert [[a.get("name") for a in p.findall("attribute")] for p in polygons] == [["iscrowd"], ["iscrowd"]]


E2E = b"""<?xml version="1.0" encoding="utf-8"?>
<annotations><version>1.1</version>
<meta><job><id>8</id><task_id>3</task_id>
<created>2026-11-01 10:00:00+00:00</created><updated>2026-11-02 10:00:00.250000+00:00</updated>
<assignee><username>ann</username><email>ann@example.com</email></assignee></job></meta>
<image id="0" name="img/a.png" width="100" height="80">
<box label="car" source="manual" occluded="1" xtl="10.25" ytl="5" xbr="30.5" ybr="25" z_order="1"/>
<box label="dog" source="auto" occluded="0" xtl="50" ytl="40" xbr="60" ybr="50"/>
</image>
<image id="1" name="img/b.png" width="100" height="80">
<box label="dog" xtl="0" ytl="0" xbr="100.0000001" ybr="80"><attribute name="breed">collie</attribute></box>
</image>
</annotations>
"""


def test_record_then_export_then_parse(session: Session, world: World, ml: Actor) -> None:
    """parse -> record_work -> export -> parse gives the same labels; the same file twice writes nothing."""
    world.users["annotator"].email = "ann@example.com"
    session.add(world.users["annotator"])
    pid = world.project.id or 0
    sv = quick_schema(session, project_id=pid, name="s", classes=["car", "dog"], user_id=ml.user_id)
    sizes = {"img/a.png": (100, 80), "img/b.png": (100, 80)}
    ds, v = quick_version(session, actor=ml, project_id=pid, items=sizes, schema_version_id=sv.id)
    session.commit()
    rows = session.exec(select(Item).where(Item.dataset_version_id == v.id)).all()
    items = ItemIndex([ItemRef(i.id or 0, i.uri, i.width, i.height) for i in rows], version_ref="pets@v1")
    schema = schema_info(session, v)
    first = parse_cvat_bytes(E2E, items=items, schema=schema)
    result = record_work(session, actor=ml, version=v, batch=first)
    session.commit()
    assert (result.units_added, result.labels_written, result.authors) == (3, 3, {"ann": "annotator_user"})
    again = record_work(session, actor=ml, version=v, batch=parse_cvat_bytes(E2E, items=items, schema=schema))
    session.commit()
    assert (again.units_added, again.units_skipped, again.labels_written) == (0, 3, 0)
    xml = export_cvat(read_export(session, dataset=ds, version=v), task_id=3)
    back = parse_cvat_bytes(xml, items=items, schema=schema, annotator="ann")
    want, got = labels_of(first), labels_of(back)
    assert set(want) == set(got)
    for key, labels in want.items():
        assert all(same(a, b) for a, b in zip(labels, got[key], strict=True)), key


def parse_cvat_bytes(data: bytes, **kw: Any) -> WorkBatch:
    return parse_cvat(data, source="e2e.xml", **kw)
