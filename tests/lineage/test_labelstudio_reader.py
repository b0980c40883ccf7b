"""The Label Studio export reader (``lineage.formats.labelstudio``): every result type, percent -> pixels,
authors and times, item matching, and every refusal. Pure: no database."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import orjson
import pytest

from lineage.formats._labelstudio_brush import BrushError, decode_brush
from lineage.formats.common import ImportInvalid, ItemIndex, ItemRef, SchemaInfo
from lineage.formats.labelstudio import parse_labelstudio
from lineage.labels.geometry import check_geometry
from quality_gates.rle import Rle

SCHEMA = SchemaInfo(
    geometry={
        "car": "box",
        "person": "box",
        "road": "polygon",
        "sky": "mask",
        "face": "keypoints",
        "day": "tag",
        "night": "tag",
    },
    keypoints={"face": ("left_eye", "right_eye", "nose")},
)


def index(*uris: str, size: tuple[int | None, int | None] = (1000, 500)) -> ItemIndex:
    return ItemIndex([ItemRef(i + 1, u, *size) for i, u in enumerate(uris)], version_ref="street@v1")


ITEMS = index("images/a.jpg", "images/b.jpg", "other/c.png")


def rect(rid: str, x: float, y: float, w: float, h: float, *labels: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": rid,
        "type": "rectanglelabels",
        "from_name": "label",
        "to_name": "image",
        "original_width": extra.pop("ow", 1000),
        "original_height": extra.pop("oh", 500),
        "value": {
            "x": x,
            "y": y,
            "width": w,
            "height": h,
            "rotation": extra.pop("rotation", 0),
            "rectanglelabels": list(labels) or ["car"],
        },
        **extra,
    }


def task(
    tid: int = 1,
    image: str = "images/a.jpg",
    *,
    annotations: Any = None,
    predictions: Any = None,
    project: int | None = 3,
    **data: Any,
) -> dict[str, Any]:
    t: dict[str, Any] = {
        "id": tid,
        "data": {"image": image, **data} if image else data,
        "annotations": annotations if annotations is not None else [],
        "predictions": predictions if predictions is not None else [],
    }
    if project is not None:
        t["project"] = project
    return t


def ann(aid: int, result: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": aid,
        "completed_by": {"id": 7, "email": "alice@example.com", "first_name": "Alice", "last_name": "Liddell"},
        "result": result,
        "was_cancelled": False,
        "ground_truth": False,
        "created_at": "2026-11-30T10:00:00.123456Z",
        "updated_at": "2026-11-30T10:05:00.654321Z",
        "lead_time": 42.5,
    }
    base.update(fields)
    return base


def parse(tasks: Any, items: ItemIndex = ITEMS, schema: SchemaInfo | None = SCHEMA, **kw: Any) -> Any:
    return parse_labelstudio(tasks, source="export.json", items=items, schema=schema, **kw)


def refused(tasks: Any, *needles: str, **kw: Any) -> ImportInvalid:
    with pytest.raises(ImportInvalid) as info:
        parse(tasks, **kw)
    text = " | ".join(f"{p.where}: {p.message}" for p in info.value.problems)
    for needle in needles:
        assert needle in text, text
    return info.value


# -- results -----------------------------------------------------------------------------------------------


def test_rectangle_percent_to_pixels_is_exact() -> None:
    # Label Studio stores px / size * 100; reading back must give the pixels, not float noise.
    x, y, w, h = 333, 17, 101, 250
    r = rect("r1", x / 1000 * 100, y / 500 * 100, w / 1000 * 100, h / 500 * 100)
    batch = parse([task(annotations=[ann(1, [r])])])
    (label,) = batch.units[0].labels
    assert (label.x, label.y, label.w, label.h) == (333.0, 17.0, 101.0, 250.0)
    assert label.category == "car" and label.geometry_type == "box" and label.result == "r1"
    assert check_geometry("box", label.x, label.y, label.w, label.h, None, image_size=(1000, 500)) is None


def test_rectangle_fractional_pixels_and_result_score() -> None:
    r = rect("r2", 12.5, 10, 25, 20, score=0.75)
    (label,) = parse([task(annotations=[ann(1, [r])])]).units[0].labels
    assert (label.x, label.y, label.w, label.h) == (125.0, 50.0, 250.0, 100.0)
    assert label.score == 0.75


def test_several_label_names_make_one_label_each() -> None:
    r = rect("r1", 10, 10, 10, 10, "car", "person")
    labels = parse([task(annotations=[ann(1, [r])])]).units[0].labels
    assert [(lbl.category, lbl.result) for lbl in labels] == [("car", "r1/car"), ("person", "r1/person")]
    assert labels[0].x == labels[1].x == 100.0


def test_polygon_points_to_pixels() -> None:
    r = {
        "id": "p1",
        "type": "polygonlabels",
        "original_width": 1000,
        "original_height": 500,
        "value": {"points": [[10, 10], [50, 10], [30, 60]], "closed": True, "polygonlabels": ["road"]},
    }
    (label,) = parse([task(annotations=[ann(1, [r])])]).units[0].labels
    assert label.geometry == {"polygons": [[100.0, 50.0, 500.0, 50.0, 300.0, 300.0]]}
    assert (label.x, label.y, label.w, label.h) == (100.0, 50.0, 400.0, 250.0)
    assert check_geometry("polygon", label.x, label.y, label.w, label.h, label.geometry, image_size=(1000, 500)) is None


def _pack(bits: list[tuple[int, int]]) -> list[int]:
    """Bit fields (value, width) -> bytes as a list, big-endian, zero-padded."""
    s = "".join(format(v, f"0{n}b") for v, n in bits)
    s += "0" * (-len(s) % 8)
    return [int(s[i : i + 8], 2) for i in range(0, len(s), 8)]


def encode_brush(
    values: np.ndarray, *, word: int = 8, sizes: tuple[int, int, int, int] = (3, 4, 8, 16), seed: int = 0
) -> list[int]:
    """Label Studio's brush RLE of ``values`` (its documented bit layout), mixing repeat and literal records
    so both are exercised."""
    rng = random.Random(seed)
    fields: list[tuple[int, int]] = [(len(values), 32), (word - 1, 5), *((s - 1, 4) for s in sizes)]
    i = 0
    vals = [int(v) for v in values]
    while i < len(vals):
        j = i + 1
        while j < len(vals) and vals[j] == vals[i]:
            j += 1
        idx = rng.randrange(4)
        cap = 1 << sizes[idx]
        if j - i > 1 and rng.random() < 0.8:
            n = min(j - i, cap)
            fields += [(1, 1), (idx, 2), (n - 1, sizes[idx]), (vals[i], word)]
        else:
            n = min(rng.randint(1, 6), cap, len(vals) - i)
            fields += [(0, 1), (idx, 2), (n - 1, sizes[idx])] + [(v, word) for v in vals[i : i + n]]
        i += n
    return _pack(fields)


def _rgba(mask: np.ndarray) -> np.ndarray:
    return np.repeat(mask.astype(np.uint8).ravel() * 255, 4)


@pytest.mark.parametrize("seed", range(8))
def test_brush_decoder_round_trips_the_documented_layout(seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, w = (int(v) for v in rng.integers(1, 40, 2))
    mask = rng.random((h, w)) < rng.random()
    word = int(rng.choice([8, 9, 16, 32]))
    sizes = tuple(int(v) for v in rng.integers(1, 17, 4))
    rle = encode_brush(_rgba(mask), word=word, sizes=sizes, seed=seed)  # type: ignore[arg-type]
    assert (decode_brush(rle, width=w, height=h) == mask).all()


@pytest.mark.parametrize("seed", range(6))
def test_brush_decoder_matches_label_studio_converter(seed: int) -> None:
    from label_studio_converter import brush  # the dev extra holds it: its absence fails, not skips

    rng = np.random.default_rng(100 + seed)
    h, w = (int(v) for v in rng.integers(1, 80, 2))
    mask = np.zeros((h, w), np.uint8)
    y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w))
    mask[y0 : y0 + int(rng.integers(1, h + 1)), x0 : x0 + int(rng.integers(1, w + 1))] = 255
    mask[rng.random((h, w)) < 0.05] = 255
    rle = brush.mask2rle(mask)
    theirs = np.reshape(brush.decode_rle(rle), [h, w, 4])[:, :, 3] != 0
    assert (decode_brush(rle, width=w, height=h) == theirs).all()
    # and our encoder's streams decode the same in theirs
    ours = encode_brush(_rgba(mask != 0), seed=seed)
    assert (np.reshape(brush.decode_rle(ours), [h, w, 4])[:, :, 3] != 0).tolist() == (mask != 0).tolist()


def test_brush_result_becomes_a_coco_rle_mask() -> None:
    mask = np.zeros((500, 1000), bool)
    mask[100:200, 300:450] = True
    r = {
        "id": "b1",
        "type": "brushlabels",
        "original_width": 1000,
        "original_height": 500,
        "value": {"format": "rle", "rle": encode_brush(_rgba(mask)), "brushlabels": ["sky"]},
    }
    (label,) = parse([task(annotations=[ann(1, [r])])]).units[0].labels
    assert label.geometry_type == "mask"
    rle = label.geometry["rle"]
    assert rle["size"] == [500, 1000]
    assert (Rle.from_string(rle["counts"], 500, 1000).to_mask() == mask).all()
    assert (label.x, label.y, label.w, label.h) == (300.0, 100.0, 150.0, 100.0)
    assert check_geometry("mask", label.x, label.y, label.w, label.h, label.geometry, image_size=(1000, 500)) is None


def _point(rid: str, x: float, y: float, name: str, parent: str | None = None) -> dict[str, Any]:
    r: dict[str, Any] = {
        "id": rid,
        "type": "keypointlabels",
        "original_width": 1000,
        "original_height": 500,
        "value": {"x": x, "y": y, "width": 0.5, "keypointlabels": [name]},
    }
    if parent is not None:
        r["parentID"] = parent
    return r


def test_keypoints_grouped_by_parent_with_missing_points_unlabelled() -> None:
    face = rect("f1", 10, 10, 30, 40, "person")
    result = [
        face,
        _point("k1", 15, 20, "left_eye", "f1"),
        _point("k2", 25, 20, "right_eye", "f1"),
        _point("k3", 60, 60, "nose"),
        _point("k4", 62, 64, "left_eye"),
    ]
    labels = parse([task(annotations=[ann(1, result)])]).units[0].labels
    kps = [lbl for lbl in labels if lbl.geometry_type == "keypoints"]
    assert len(kps) == 2
    by_parent = {lbl.result: lbl for lbl in kps}
    one = by_parent["f1"]
    assert one.category == "face"
    assert one.geometry == {"keypoints": [[150.0, 100.0, 2], [250.0, 100.0, 2], [0.0, 0.0, 0]]}
    assert (one.x, one.y, one.w, one.h) == (100.0, 50.0, 300.0, 200.0)  # the parent rectangle
    loose = by_parent["keypoints:face"]
    assert loose.geometry == {"keypoints": [[620.0, 320.0, 2], [0.0, 0.0, 0], [600.0, 300.0, 2]]}
    assert (loose.x, loose.y, loose.w, loose.h) == (600.0, 300.0, 20.0, 20.0)
    for lbl in kps:
        assert (
            check_geometry(
                "keypoints", lbl.x, lbl.y, lbl.w, lbl.h, lbl.geometry, image_size=(1000, 500), keypoint_count=3
            )
            is None
        )


def test_single_keypoint_gets_a_one_pixel_box() -> None:
    (label,) = parse([task(annotations=[ann(1, [_point("k1", 50, 50, "nose")])])]).units[0].labels
    assert (label.w, label.h) == (1.0, 1.0)
    assert (
        check_geometry(
            "keypoints", label.x, label.y, label.w, label.h, label.geometry, image_size=(1000, 500), keypoint_count=3
        )
        is None
    )


def test_choices_are_tags_and_unknown_types_are_counted() -> None:
    result = [
        {"id": "c1", "type": "choices", "value": {"choices": ["day"]}},
        {"id": "t1", "type": "textarea", "value": {"text": ["hello"]}},
        {"id": "t2", "type": "rating", "value": {"rating": 4}},
        {"id": "t3", "type": "textarea", "value": {"text": ["again"]}},
    ]
    batch = parse([task(annotations=[ann(1, result)])])
    (label,) = batch.units[0].labels
    assert (label.category, label.geometry_type, label.x, label.geometry) == ("day", "tag", None, None)
    assert batch.ignored == {"rating": 1, "textarea": 2}


# -- units, authors, times ---------------------------------------------------------------------------------


def test_annotation_and_prediction_units() -> None:
    pred = {
        "id": 9,
        "model_version": "yolo-v3",
        "score": 0.81,
        "created_at": "2026-11-29T08:00:00Z",
        "updated_at": "2026-11-29T08:00:00Z",
        "result": [rect("p", 1, 1, 2, 2, score=0.9)],
    }
    a1 = ann(1, [rect("r1", 1, 1, 2, 2)], ground_truth=True)
    a2 = ann(
        2,
        [],
        completed_by=8,
        created_username=" bob@example.com, 8",
        was_cancelled=True,
        created_at="2026-11-30T12:00:00+02:00",
        updated_at=None,
        lead_time=None,
    )
    batch = parse([task(tid=5, annotations=[a1, a2], predictions=[pred])])
    assert batch.tool == "labelstudio" and batch.origin == "project:3" and batch.source == "export.json"
    u1, u2, p = batch.units
    assert (u1.ref, u1.task, u1.uri, u1.kind, u1.author) == ("annotation:1", "5", "images/a.jpg", "human", "7")
    assert (u1.created_at, u1.updated_at) == ("2026-11-30T10:00:00.123456+00:00", "2026-11-30T10:05:00.654321+00:00")
    assert (u1.lead_time, u1.ground_truth, u1.cancelled) == (42.5, True, False)
    assert (u2.author, u2.cancelled, u2.lead_time) == ("8", True, None)
    assert u2.created_at == u2.updated_at == "2026-11-30T10:00:00.000000+00:00"
    assert (p.ref, p.kind, p.author, p.model_version, p.score) == ("prediction:9", "machine", None, "yolo-v3", 0.81)
    assert p.labels[0].score == 0.9
    assert batch.authors["7"].email == "alice@example.com" and batch.authors["7"].name == "Alice Liddell"
    assert batch.authors["8"].email == "bob@example.com"
    assert u1.where == "export.json: task 5, annotation 1"


def test_tasks_from_the_api_and_bytes_read_the_same() -> None:
    tasks = [task(annotations=[ann(1, [rect("r1", 10, 10, 5, 5)])])]
    a, b = parse(tasks), parse(orjson.dumps(tasks))
    assert a.units == b.units and a.authors == b.authors
    assert len(a.source_sha256) == 64 and a.source_sha256 != b.source_sha256  # b hashes the file's bytes


def test_origin_given_or_refused_for_several_projects() -> None:
    tasks = [task(1, project=3), task(2, "images/b.jpg", project=4)]
    refused(tasks, "2 projects (3, 4)", "give the origin")
    assert parse(tasks, origin="ls:main").origin == "ls:main"


# -- matching items ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("images/a.jpg", "images/a.jpg"),
        ("s3://bucket/images/b.jpg", "images/b.jpg"),
        ("http://localhost:8080/data/images/a.jpg", "images/a.jpg"),
        ("/data/local-files/?d=other/c.png", "other/c.png"),
        ("/data/upload/3/1a2b3c4d-c.png", "other/c.png"),
        ("c.png", "other/c.png"),
    ],
)
def test_images_match_items(image: str, expected: str) -> None:
    assert parse([task(image=image, annotations=[ann(1, [])])]).units[0].uri == expected


def test_image_not_in_version_and_ambiguous_tails_are_refused() -> None:
    items = index("x/a.jpg", "y/a.jpg", "z/b.jpg")
    err = refused([task(1, "/data/upload/1/deadbeef-a.jpg"), task(2, "s3://b/q/zzz.jpg")], items=items)
    text = [p.message for p in err.problems]
    assert "matches several items of street@v1 (x/a.jpg, y/a.jpg)" in text[0]
    assert err.problems[0].where == "export.json: task 1"
    assert "'s3://b/q/zzz.jpg' is not an item of street@v1" in text[1]


def test_data_key_ambiguity() -> None:
    t = task(image="", photo="images/a.jpg", caption="a red car")
    refused([t], "several values (caption, photo)", "data_key")
    assert parse([t], data_key="photo").units == []
    assert parse([task(image="", photo="images/a.jpg", annotations=[ann(1, [])])]).units[0].uri == "images/a.jpg"
    refused([t], "no image under 'picture'", data_key="picture")


# -- refusals ----------------------------------------------------------------------------------------------


def test_malformed_json_names_line_and_column() -> None:
    data = orjson.dumps([task()], option=orjson.OPT_INDENT_2)
    cut = data[: data.index(b'"annotations"') + 5]
    err = refused(cut, "malformed JSON at byte")
    assert err.problems[0].where.startswith("export.json:")
    line = int(err.problems[0].where.split(":")[1])
    assert line == cut.count(b"\n") + 1
    refused(b'{"tasks": []}', "a list of tasks")


@pytest.mark.parametrize(
    ("result", "needle"),
    [
        (rect("r1", 1, 1, 2, 2, "bus"), "class 'bus' is not in the schema (its box classes: car, person)"),
        (rect("r1", 1, 1, 2, 2, "road"), "class 'road' is a polygon class in the schema"),
        (rect("r1", 1, 1, 2, 2, rotation=15), "rotated rectangle (rotation 15°)"),
        (rect("r1", 90, 1, 20, 2), "box ends outside the image"),
        (rect("r1", 1, 1, 2, 2, ow=800), "on a 800x500 image, item 'images/a.jpg' is 1000x500"),
        (rect("r1", 1, 1, "2", 2), "expected value.x, y, width and height as numbers"),
        (
            {
                "id": "p",
                "type": "polygonlabels",
                "original_width": 1000,
                "original_height": 500,
                "value": {"points": [[1, 1], [2, 2]], "polygonlabels": ["road"]},
            },
            "at least 3",
        ),
        (
            {
                "id": "b",
                "type": "brushlabels",
                "original_width": 1000,
                "original_height": 500,
                "value": {"format": "rle", "rle": [1, 2, 3], "brushlabels": ["sky"]},
            },
            "shorter than its 53-bit header",
        ),
        (
            {
                "id": "b",
                "type": "brushlabels",
                "original_width": 1000,
                "original_height": 500,
                "value": {"format": "rle", "rle": encode_brush(np.zeros(40, np.uint8)), "brushlabels": ["sky"]},
            },
            "holds 40 values, a 1000x500 image needs 2000000",
        ),
        (
            {
                "id": "b",
                "type": "brushlabels",
                "original_width": 1000,
                "original_height": 500,
                "value": {"format": "rle", "rle": "abc", "brushlabels": ["sky"]},
            },
            "list of bytes",
        ),
        (_point("k", 1, 1, "tail"), "keypoint 'tail' is not a point of any keypoints class"),
        ({"id": "c", "type": "choices", "value": {"choices": ["car"]}}, "class 'car' is a box class"),
    ],
)
def test_bad_results_are_refused_naming_task_and_annotation(result: dict[str, Any], needle: str) -> None:
    err = refused([task(tid=12, annotations=[ann(34, [result])])], needle)
    assert err.problems[0].where == "export.json: task 12, annotation 34"


def test_truncated_and_overlong_brush_streams() -> None:
    values = _rgba(np.ones((4, 4), bool))
    good = encode_brush(values, seed=1)
    assert decode_brush(good, width=4, height=4).all()
    with pytest.raises(BrushError, match="ends after"):
        decode_brush(good[:8], width=4, height=4)
    # one repeat record of 200 values in a 64-value image
    bad = _pack([(64, 32), (7, 5), (2, 4), (3, 4), (7, 4), (15, 4), (1, 1), (2, 2), (199, 8), (255, 8)])
    with pytest.raises(BrushError, match="passes the end"):
        decode_brush(bad, width=4, height=4)


def test_problems_are_collected_and_nothing_is_returned() -> None:
    tasks = [
        task(1, annotations=[ann(1, [rect("r", 1, 1, 2, 2, "bus")])]),
        task(2, "nope.jpg"),
        task(3, annotations=[ann(3, [rect("r", 1, 1, 2, 2)], completed_by=None)]),
        task(4, annotations=[ann(4, [], created_at="yesterday")]),
    ]
    err = refused(tasks, "class 'bus'", "'nope.jpg' is not an item", "names no author", "ISO-8601")
    assert len(err.problems) == 4


def test_without_a_schema_only_boxes_are_read() -> None:
    batch = parse([task(annotations=[ann(1, [rect("r", 1, 1, 2, 2, "anything")])])], schema=None)
    assert batch.units[0].labels[0].category == "anything"
    poly = {
        "id": "p",
        "type": "polygonlabels",
        "original_width": 1000,
        "original_height": 500,
        "value": {"points": [[1, 1], [2, 9], [9, 2]], "polygonlabels": ["road"]},
    }
    refused([task(annotations=[ann(1, [poly])])], "needs a schema with polygon classes", schema=None)


def test_random_corruption_never_escapes_as_another_error() -> None:
    rng = random.Random(14)
    mask = np.zeros((500, 1000), bool)
    mask[10:20, 10:30] = True
    brush = {
        "id": "b",
        "type": "brushlabels",
        "original_width": 1000,
        "original_height": 500,
        "value": {"format": "rle", "rle": encode_brush(_rgba(mask)), "brushlabels": ["sky"]},
    }
    tasks = [
        task(
            1,
            annotations=[ann(1, [rect("r", 1, 1, 2, 2), brush, _point("k", 3, 3, "nose")])],
            predictions=[{"id": 2, "result": [{"id": "c", "type": "choices", "value": {"choices": ["day"]}}]}],
        )
    ]
    data = bytearray(orjson.dumps(tasks))
    outcomes = {"ok": 0, "refused": 0}
    for _ in range(300):
        corrupt = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            corrupt[rng.randrange(len(corrupt))] = rng.choice(b'0123456789{}[],:"-.e atrufnl')
        try:
            parse(bytes(corrupt))
            outcomes["ok"] += 1
        except ImportInvalid as exc:
            assert exc.problems and all(p.message for p in exc.problems)
            outcomes["refused"] += 1
    assert outcomes["refused"] > 0 and sum(outcomes.values()) == 300
