"""CVAT for images 1.1 reader: files written by hand to CVAT's documented format (task, job and project
exports), each geometry, attributes, authors, times and the format's quirks."""

from __future__ import annotations

from pathlib import Path

import pytest

from lineage.formats.common import ImportInvalid, ItemIndex, ItemRef, SchemaInfo
from lineage.formats.cvat import parse_cvat
from lineage.formats.work import WorkBatch, WorkUnit
from quality_gates.rle import Rle

FIXTURES = Path(__file__).parent / "fixtures" / "cvat"
ITEMS = [
    ItemRef(1, "street/a.jpg", 640, 480),
    ItemRef(2, "street/b.jpg", 640, 480),
    ItemRef(3, "street/sub/c.png", 320, 240),
    ItemRef(4, "d.jpg", 10, 8),
]
SCHEMA = SchemaInfo(
    geometry={
        "car": "box",
        "road": "polygon",
        "person": "keypoints",
        "hand": "keypoints",
        "puddle": "mask",
        "day": "tag",
        "night": "tag",
    },
    keypoints={"person": ("nose", "left_eye", "right_eye"), "hand": ("a", "b")},
    skeleton={"person": ((0, 1), (0, 2))},
)


def index() -> ItemIndex:
    return ItemIndex(ITEMS, version_ref="street@v1")


def parse(name_or_bytes: str | bytes, **kw: object) -> WorkBatch:
    data = name_or_bytes if isinstance(name_or_bytes, bytes) else (FIXTURES / name_or_bytes).read_bytes()
    kw.setdefault("schema", SCHEMA)
    return parse_cvat(data, source="f.xml", items=index(), **kw)  # type: ignore[arg-type]


def unit(batch: WorkBatch, ref: str) -> WorkUnit:
    return next(u for u in batch.units if u.ref == ref)


def test_job_export_units_authors_and_times() -> None:
    batch = parse("job_42.xml")
    assert batch.tool == "cvat" and batch.origin == "cvat"
    assert [u.ref for u in batch.units] == [
        "job:42/frame:0",
        "job:42/frame:0/auto",
        "job:42/frame:1",
        "job:42/frame:2",
    ]
    human = unit(batch, "job:42/frame:0")
    assert (human.kind, human.author, human.task, human.uri) == ("human", "alice", "job:42", "street/a.jpg")
    # CVAT writes local time with its offset; the record keeps UTC
    assert human.created_at == "2026-11-01T08:00:00.000000+00:00"
    assert human.updated_at == "2026-11-30T10:00:00.123456+00:00"
    assert batch.authors["alice"].email == "alice@example.com"
    assert "admin" not in batch.authors  # the owner manages, he did not draw
    machine = unit(batch, "job:42/frame:0/auto")
    assert (machine.kind, machine.author, machine.source) == ("machine", None, "auto")
    assert [(lbl.category, lbl.x, lbl.w) for lbl in machine.labels] == [("car", 200.0, 60.0)]


def test_box_attributes_typed_and_cvat_fields_kept() -> None:
    first = unit(parse("job_42.xml"), "job:42/frame:0").labels[0]
    assert (first.category, first.geometry_type, first.result) == ("car", "box", "0")
    assert (first.x, first.y, first.w, first.h) == (10.5, 20.25, 110.75 - 10.5, 80.0 - 20.25)
    # checkbox -> bool, number -> int, empty text kept empty
    assert first.attributes == {
        "parked": True,
        "count": 3,
        "note": "",
        "cvat": {"occluded": True, "z_order": 2, "group_id": 3},
    }


def test_many_decimals_and_a_hair_past_the_edge() -> None:
    second = unit(parse("job_42.xml"), "job:42/frame:0").labels[1]
    assert second.x == 600.123456789012 and second.y == 400.333333333333
    assert second.x + second.w == 640.0  # 640.0000004 moved onto the edge
    assert second.attributes is not None and second.attributes["note"] == "by the kerb"


def test_semi_auto_is_human_work_and_missing_source_is_manual() -> None:
    human = unit(parse("job_42.xml"), "job:42/frame:0")
    road = human.labels[2]
    assert road.geometry == {"polygons": [[0.0, 300.0, 640.0, 300.0, 640.0, 480.0, 0.0, 480.0]]}
    assert road.attributes is not None and road.attributes["cvat"]["source"] == "semi-auto"
    assert "source" not in (human.labels[1].attributes or {})["cvat"]  # no source= : manual
    assert human.source == "manual"  # a unit mixing manual and semi-auto shapes
    assert human.labels[3].geometry_type == "tag" and human.labels[3].category == "day"


def test_empty_images_and_folders_in_names() -> None:
    batch = parse("job_42.xml")
    assert unit(batch, "job:42/frame:1").labels == []
    empty = unit(batch, "job:42/frame:2")
    assert (empty.uri, empty.labels, empty.author) == ("street/sub/c.png", [], "alice")


def test_task_export_needs_annotator_when_no_assignee() -> None:
    with pytest.raises(ImportInvalid) as err:
        parse("task_12.xml")
    assert "no assignee for task:12" in str(err.value) and "--annotator" in str(err.value)
    batch = parse("task_12.xml", annotator="carol@example.com")
    assert {u.author for u in batch.units} == {"carol@example.com"}
    assert batch.authors["carol@example.com"].email == "carol@example.com"
    assert unit(batch, "task:12/frame:0").task == "12"


def test_skeleton_points_and_mask() -> None:
    labels = unit(parse("task_12.xml", annotator="carol"), "task:12/frame:0").labels
    person, hand, puddle = labels
    # nose visible, left eye occluded, right eye outside (v=0 at 0, 0); box = labelled points' extent
    assert person.geometry == {"keypoints": [[5.0, 2.0, 2], [4.0, 1.0, 1], [0.0, 0.0, 0]]}
    assert (person.x, person.y, person.w, person.h) == (4.0, 1.0, 1.0, 1.0)
    assert hand.geometry == {"keypoints": [[1.0, 7.0, 2], [3.5, 6.25, 2]]}
    # rle "1, 2, 1, 2" over the 3x2 box at (2, 1), row-major from a run of 0: pixels x 3..4, y 1..2
    assert puddle.geometry is not None
    rle = puddle.geometry["rle"]
    assert rle["size"] == [8, 10]
    mask = Rle.from_string(rle["counts"], 8, 10).to_mask()
    assert sorted(zip(*mask.nonzero(), strict=True)) == [(1, 3), (1, 4), (2, 3), (2, 4)]
    assert (puddle.x, puddle.y, puddle.w, puddle.h) == (3.0, 1.0, 2.0, 2.0)
    assert puddle.attributes == {"cvat": {"occluded": False, "z_order": 1}}


def test_project_export_assignee_per_task_else_annotator() -> None:
    with pytest.raises(ImportInvalid, match="no assignee for task:6"):
        parse("project_3.xml")
    batch = parse("project_3.xml", annotator="dave")
    a, b = unit(batch, "task:5/frame:0"), unit(batch, "task:6/frame:1")
    assert (a.author, a.task, a.updated_at) == ("bob", "5", "2026-09-03T10:00:00.000000+00:00")
    assert (b.author, b.task, b.updated_at) == ("dave", "6", "2026-09-05T10:00:00.000000+00:00")
    assert set(batch.authors) == {"bob", "dave"} and batch.authors["bob"].email == "bob@example.com"


def test_origin_and_source_hash() -> None:
    data = (FIXTURES / "job_42.xml").read_bytes()
    batch = parse(data, origin="https://cvat.example.com")
    import hashlib

    assert batch.origin == "https://cvat.example.com"
    assert batch.source_sha256 == hashlib.sha256(data).hexdigest()


def _doc(image_body: str, *, meta: str = "<job><id>1</id><assignee><username>u</username></assignee></job>") -> bytes:
    return (
        f'<?xml version="1.0"?><annotations><version>1.1</version><meta>{meta}</meta>'
        f'<image id="0" name="street/a.jpg" width="640" height="480">{image_body}</image></annotations>'
    ).encode()


def test_rotation_is_refused_zero_is_fine() -> None:
    box = '<box label="car" xtl="1" ytl="1" xbr="5" ybr="5" rotation="{}"/>'
    assert unit(parse(_doc(box.format("0.0"))), "job:1/frame:0").labels[0].w == 4.0
    with pytest.raises(ImportInvalid, match=r"rotation '30\.5'.*no rotated box"):
        parse(_doc(box.format("30.5")))


def test_polyline_refused_clearly() -> None:
    with pytest.raises(ImportInvalid, match=r"polyline.*no geometry in the record") as err:
        parse(_doc('<polyline label="road" points="1,1;5,5"/>'))
    assert err.value.problems[0].where.startswith("f.xml:1: <polyline")


def test_attributes_without_a_spec_stay_text_and_empty_source_is_manual() -> None:
    body = '<box label="car" source="" xtl="1" ytl="1" xbr="5" ybr="5"><attribute name="x">07</attribute></box>'
    u = unit(parse(_doc(body)), "job:1/frame:0")
    assert u.labels[0].attributes == {"x": "07", "cvat": {"occluded": False, "z_order": 0}}
    assert u.source == "manual"


def test_plain_points_occluded_and_wrong_count() -> None:
    ok = unit(parse(_doc('<points label="hand" occluded="1" points="1,2;3,4"/>')), "job:1/frame:0")
    assert ok.labels[0].geometry == {"keypoints": [[1.0, 2.0, 1], [3.0, 4.0, 1]]}
    with pytest.raises(ImportInvalid, match="3 points, class 'hand' has K=2"):
        parse(_doc('<points label="hand" points="1,2;3,4;5,6"/>'))


def test_class_geometry_must_match_the_schema() -> None:
    with pytest.raises(ImportInvalid, match="'road' is a polygon class in the schema, got a <box>"):
        parse(_doc('<box label="road" xtl="1" ytl="1" xbr="5" ybr="5"/>'))
    with pytest.raises(ImportInvalid, match="needs a schema with a polygon class"):
        parse(_doc('<polygon label="road" points="1,1;5,1;5,5"/>'), schema=None)
