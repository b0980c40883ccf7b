"""Formats that agree with the tools people use (issue 11, item 1).

YOLO: rounding past an edge is clipped and counted, anything further refused; labelgate's own export
re-imports exactly; the layouts of Ultralytics, Roboflow, CVAT, Label Studio and labelImg import the same
boxes, with every referenced path confined to the import folder; segmentation, pose and oriented-box lines
are named. COCO: source ids, ``area``, ``iscrowd`` and every category survive an export; strict types and
bounded attributes, the same on the fast and the slow path. VOC: image sets written (torchvision reads the
export) and read; flags must be 0 or 1. Round trips in both directions for every format.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col

from lineage.context import Actor
from lineage.formats import ImportInvalid, export_version, import_annotations
from lineage.formats.coco import _parse_fast, _parse_slow, export_coco, parse_coco
from lineage.formats.common import (
    MAX_ATTRIBUTE_DEPTH,
    MAX_ATTRIBUTE_STRING,
    MAX_ATTRIBUTES_BYTES,
    AttributesRefused,
    ExportData,
    ExportLabel,
    ItemIndex,
    ItemRef,
    ParsedLabels,
    attributes_json,
)
from lineage.formats.voc import parse_voc
from lineage.formats.yolo import export_yolo, parse_yolo
from lineage.labels import live_labels
from lineage.models import Annotation, DatasetVersion
from quality_gates.coco import parse_coco_instances
from tests.factories import World
from tests.lineage.conftest import items_of, make_images, quick_schema, quick_version

FIXTURES = Path(__file__).parent / "fixtures" / "formats"
CLASSES = ["cat", "dog", "bird"]
PETS = {"a.jpg": (100, 80), "b.jpg": (64, 48), "c.jpg": (30, 20), "empty.jpg": (30, 20)}
# The boxes every pets fixture holds, in pixels (a.jpg is 100 x 80, b.jpg 64 x 48).
PET_BOXES = {("a.jpg", "cat", 0, 0, 100, 80), ("a.jpg", "dog", 20, 32, 10, 16), ("b.jpg", "bird", 12, 10.5, 8, 3)}
ODD = {"odd/p1.png": (333, 17), "p2.jpg": (4097, 3001), "p3.jpg": (1, 1), "p4.jpg": (641, 479), "none.jpg": (7, 5)}
PX = 1e-6
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def index(sizes: dict[str, tuple[int, int]]) -> ItemIndex:
    return ItemIndex([ItemRef(i + 1, uri, w, h) for i, (uri, (w, h)) in enumerate(sizes.items())], version_ref="p@v1")


def boxes_of(parsed: ParsedLabels, sizes: dict[str, tuple[int, int]]) -> set[tuple[Any, ...]]:
    uris = {i + 1: uri for i, uri in enumerate(sizes)}
    return {(uris[r[0]], r[1], *(round(v, 6) for v in r[2:6])) for r in parsed.labels}


def refused(call: Any) -> ImportInvalid:
    with pytest.raises(ImportInvalid) as exc:
        call()
    return exc.value


@pytest.fixture
def versions(session: Session, world: World, ml: Actor) -> Any:
    """Two versions with the same items (pets and odd sizes), under a cat/dog/bird schema."""
    sv = quick_schema(session, project_id=world.project.id or 0, name="s", classes=CLASSES, user_id=ml.user_id)
    made = [
        quick_version(
            session,
            actor=ml,
            project_id=world.project.id or 0,
            items={**PETS, **ODD},
            version=f"v{n}",
            schema_version_id=sv.id,
        )
        for n in (1, 2)
    ]
    return made[0][0], [v for _, v in made]


def live(session: Session, version: DatasetVersion) -> list[tuple[Any, ...]]:
    """The version's live boxes as ``(uri, class, x, y, w, h, attributes)``, in a stable order."""
    uris = {i: u for u, i in items_of(session, version).items()}
    rows = session.exec(live_labels(version.id or 0).order_by(col(Annotation.id))).all()
    found = [(uris[a.item_id], a.category, a.x, a.y, a.w, a.h, a.attributes) for a in rows]
    return sorted(found, key=lambda r: (r[0], r[1], round(r[2], 3), round(r[3], 3), round(r[4], 3)))


def assert_same_boxes(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]], *, attributes: bool = True) -> None:
    assert len(a) == len(b) and a, (len(a), len(b))
    for left, right in zip(a, b, strict=True):
        assert left[:2] == right[:2]
        assert max(abs(p - q) for p, q in zip(left[2:6], right[2:6], strict=True)) <= PX, (left, right)
        if attributes:
            assert left[6] == right[6], (left, right)


# --- YOLO: rounding at the edges -------------------------------------------------------------------


def yolo_folder(root: Path, body: str, *, yaml: str = "names: [cat, dog, bird]\n", name: str = "a.txt") -> Path:
    (root / "labels").mkdir(parents=True)
    (root / "data.yaml").write_text(yaml)
    (root / "labels" / name).write_text(body)
    return root


@pytest.mark.parametrize(
    ("line", "size", "box"),
    [
        # %.6f (CVAT, labelImg): the right edge at 15.0000075 px of a 15 px image
        ("0 0.750000 0.5 0.500001 0.4", (15, 10), (7.4999925, 3.0, 7.5000075, 4.0)),
        # the left edge at -7.5e-6 px
        ("0 0.250000 0.5 0.500001 0.4", (15, 10), (0.0, 3.0, 7.5000075, 4.0)),
        # %g (Ultralytics' converters): a 1 px box at the right edge, 5.25e-6 px past it
        ("0 0.966667 0.5 0.0666667 0.4", (15, 10), (14.00000475, 3.0, 0.99999525, 4.0)),
        # bottom edge, %.6f, 641 x 479
        ("0 0.5 0.750000 0.2 0.500001", (641, 479), (256.4, 239.4997605, 128.2, 239.5002395)),
    ],
)
def test_yolo_rounding_past_an_edge_is_clipped_onto_it_and_counted(
    tmp_path: Path, line: str, size: tuple[int, int], box: tuple[float, ...]
) -> None:
    root = yolo_folder(tmp_path / "y", line + "\n0 0.5 0.5 0.5 0.5\n")
    parsed = parse_yolo(root, items=index({"a.jpg": size}), classes=None)
    assert parsed.clipped == 1
    x, y, w, h = parsed.labels[0][2:6]
    assert (x, y, w, h) == pytest.approx(box, abs=1e-6)
    assert x >= 0 and y >= 0 and x + w <= size[0] and y + h <= size[1]  # exactly inside, not approximately
    assert parsed.labels[1][2:6] == pytest.approx((size[0] / 4, size[1] / 4, size[0] / 2, size[1] / 2))


@pytest.mark.parametrize(
    "line",
    [
        "0 0.750000 0.5 0.500004 0.4",  # 3e-5 px past the right edge of 15 px: four units, not rounding
        "0 0.249999 0.5 0.500000 0.4",  # 1.5e-5 px before the left edge
        "0 0.9 0.5 0.3 0.2",  # 5% past, in a file of short numbers
    ],
)
def test_yolo_overshoot_beyond_rounding_is_refused_naming_the_line(tmp_path: Path, line: str) -> None:
    root = yolo_folder(tmp_path / "y", "0 0.5 0.5 0.5 0.5\n" + line + "\n")
    problem = refused(lambda: parse_yolo(root, items=index({"a.jpg": (15, 10)}), classes=None))
    assert problem.field == f"{root / 'labels' / 'a.txt'}:2"
    assert "outside the image" in problem.message and "more than rounding explains" in problem.message


def test_yolo_clipped_boxes_are_reported_by_the_import(
    session: Session, ml: Actor, versions: Any, tmp_path: Path
) -> None:
    _, (v1, _) = versions
    # p2.jpg is 4097 px wide: %g puts this 1 px box's right edge 1.7e-4 px past the image
    root = yolo_folder(tmp_path / "y", "1 0.999878 0.5 0.000244081 0.4\n1 0.5 0.5 0.5 0.5\n", name="p2.txt")
    result = import_annotations(session, actor=ml, version=v1, fmt="yolo", path=root)
    assert (result.annotations, result.clipped) == (2, 1)
    edge = [r for r in live(session, v1) if r[2] > 4000]
    assert len(edge) == 1 and edge[0][2] + edge[0][4] <= 4097


# --- YOLO: labelgate's export re-imports exactly -------------------------------------------------------


def random_boxes(rng: random.Random, width: int, height: int, n: int) -> list[tuple[float, float, float, float]]:
    """Boxes inside a ``width`` x ``height`` image; about a third touch each edge, some are tiny."""
    out = []
    for _ in range(n):
        spans = []
        for side in (width, height):
            a, b = sorted((rng.uniform(0, side), rng.uniform(0, side)))
            a = 0.0 if rng.random() < 0.3 else a
            b = float(side) if rng.random() < 0.3 else b
            if rng.random() < 0.1:
                b = min(float(side), a + side * 1e-4)
            if b - a <= 0:
                a, b = 0.0, float(side)
            spans.append((a, b - a))
        (x, w), (y, h) = spans
        out.append((x, y, w, h))
    return out


def test_yolo_export_reimports_within_a_micropixel(tmp_path: Path) -> None:
    rng = random.Random(11)
    items = [ItemRef(i + 1, uri, w, h) for i, (uri, (w, h)) in enumerate(ODD.items())]
    labels = {
        item.id: [
            ExportLabel(rng.choice(CLASSES), *box)
            for box in random_boxes(rng, item.width or 0, item.height or 0, 0 if item.uri == "none.jpg" else 400)
        ]
        for item in items
    }
    data = ExportData(version_ref="p@v1", classes=CLASSES, items=items, labels=labels)
    assert export_yolo(data, tmp_path / "out") == 1600
    parsed = parse_yolo(tmp_path / "out", items=ItemIndex(items, version_ref="p@v1"), classes=set(CLASSES))
    assert parsed.clipped == 0 and parsed.images == len(ODD)
    back: dict[int, list[tuple[Any, ...]]] = {}
    for item_id, category, x, y, w, h, _, _ in parsed.labels:
        back.setdefault(item_id, []).append((category, x, y, w, h))
    for item in items:
        sent = [(lbl.category, lbl.x, lbl.y, lbl.w, lbl.h) for lbl in labels[item.id]]
        assert len(back.get(item.id, [])) == len(sent)
        for a, b in zip(sent, back.get(item.id, []), strict=True):
            assert a[0] == b[0] and max(abs(p - q) for p, q in zip(a[1:], b[1:], strict=True)) <= PX, (item, a, b)
            assert b[1] >= 0 and b[2] >= 0 and b[1] + b[3] <= (item.width or 0) + PX


def test_yolo_export_keeps_six_decimals_only_when_they_are_exact(tmp_path: Path) -> None:
    items = [ItemRef(1, "a.jpg", 100, 80)]
    labels = [ExportLabel("dog", 20, 32, 10, 16), ExportLabel("cat", 0.1234567, 0, 3, 7)]
    export_yolo(ExportData("p@v1", CLASSES, items, {1: labels}), tmp_path / "out")
    six, exact = (tmp_path / "out" / "labels" / "a.txt").read_text().splitlines()
    assert six == "1 0.250000 0.500000 0.100000 0.200000"
    cid, cx, cy, w, h = exact.split()
    assert cid == "0" and len(cx) > len("0.016235") and "e" not in exact  # 6 decimals would move it 4e-5 px
    assert (float(cx) - float(w) / 2) * 100 == pytest.approx(0.1234567, abs=1e-12)
    assert (float(w) * 100, float(cy) * 80, float(h) * 80) == pytest.approx((3, 3.5, 7), abs=1e-12)


# --- YOLO: layouts of common tools ---------------------------------------------------------------------

LAYOUTS = {
    # layout: (images the tool writes beside the labels, configuration files that must be in the source hash)
    "ultralytics": (["images/train/a.jpg", "images/train/b.jpg", "images/val/c.jpg"], {"data.yaml"}),
    "roboflow": (["train/images/a.jpg", "train/images/b.jpg", "valid/images/c.jpg"], {"data.yaml"}),
    "cvat_yolo_1_1": ([], {"obj.data", "obj.names", "train.txt"}),
    "cvat_ultralytics": (
        ["images/train/a.jpg", "images/train/b.jpg", "images/train/c.jpg"],
        {"data.yaml", "train.txt"},
    ),
    "label_studio": (["images/a.jpg", "images/b.jpg"], {"classes.txt"}),
    "labelimg": (["a.jpg", "b.jpg", "c.jpg"], {"classes.txt"}),
}


def layout_copy(tmp_path: Path, layout: str) -> Path:
    root = tmp_path / layout
    shutil.copytree(FIXTURES / "yolo" / layout, root)
    make_images(root, {path: PETS[path.rsplit("/", 1)[-1]] for path in LAYOUTS[layout][0]})
    return root


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_yolo_layouts_of_common_tools_import_the_same_boxes(tmp_path: Path, layout: str) -> None:
    root = layout_copy(tmp_path, layout)
    parsed = parse_yolo(root, items=index(PETS), classes=set(CLASSES))
    assert boxes_of(parsed, PETS) == PET_BOXES
    assert LAYOUTS[layout][1] <= set(parsed.files), parsed.files
    assert not any("README" in name for name in parsed.files)  # Roboflow's READMEs are not label files


@pytest.mark.parametrize(
    ("layout", "change", "where", "what"),
    [
        ("cvat_yolo_1_1", ("train.txt", "data/obj_train_data/ghost.jpg\n"), "train.txt:4", "'data/obj_train_data/"),
        ("cvat_yolo_1_1", ("obj.data", "classes = 4\n"), "obj.data:5", "classes = 4 but obj.names names 3"),
        ("roboflow", ("data.yaml", "nc: 4\n"), "data.yaml: nc", "nc is 4 but names lists 3"),
        ("ultralytics", ("images/val/ghost.jpg", ""), "images/val/ghost.jpg", "'val/ghost.jpg' is not in"),
        ("label_studio", ("labels/zzz.txt", "0 0.5 0.5 0.1 0.1\n"), "labels/zzz.txt", "no image for this label"),
    ],
)
def test_yolo_layout_problems_name_the_file_and_line(
    tmp_path: Path, layout: str, change: tuple[str, str], where: str, what: str
) -> None:
    root = layout_copy(tmp_path, layout)
    target = root / change[0]
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("a") as f:
        f.write(change[1])
    problem = refused(lambda: parse_yolo(root, items=index(PETS), classes=set(CLASSES)))
    assert any(p.where.endswith(where) and what in p.message for p in problem.problems), problem.problems


@sqlite_only
@pytest.mark.parametrize("case", ["names_link", "list_link", "names_path", "list_path", "absolute_list"])
def test_yolo_layout_paths_stay_inside_the_import_folder(
    session: Session, ml: Actor, versions: Any, tmp_path: Path, case: str
) -> None:
    """Links leading out are refused naming the link; paths in obj.data / data.yaml that lead out are
    never read (the evil files below would add 'horse', or list an image not in the version)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil.names").write_text("cat\ndog\nbird\nhorse\n")
    (outside / "list.txt").write_text("ghost.jpg\n")
    root = layout_copy(tmp_path, "roboflow" if case in ("list_path", "absolute_list") else "cvat_yolo_1_1")
    link: Path | None = None
    if case == "names_link":
        link = root / "obj.names"
        link.unlink()
        link.symlink_to(outside / "evil.names")
    elif case == "list_link":
        link = root / "train.txt"
        link.unlink()
        link.symlink_to(outside / "list.txt")
    elif case == "names_path":
        (root / "obj.names").unlink()
        (root / "obj.data").write_text("classes = 3\ntrain = data/train.txt\nnames = ../outside/evil.names\n")
    else:
        entry = "../outside/list.txt" if case == "list_path" else str(outside / "list.txt")
        (root / "data.yaml").write_text(f"train: {entry}\nval: ../valid/images\nnames: [cat, dog, bird]\n")
    _, (v1, _) = versions
    if case in ("list_path", "absolute_list"):
        assert import_annotations(session, actor=ml, version=v1, fmt="yolo", path=root).annotations == 3
        return
    problem = refused(lambda: import_annotations(session, actor=ml, version=v1, fmt="yolo", path=root))
    if link is not None:
        assert problem.field == str(link) and "outside the import folder" in problem.message
    else:
        assert problem.field == f"{root / 'obj.data'}:3" and "'../outside/evil.names' is not in the import" in (
            problem.message
        )
    assert "horse" not in str(problem.problems) and "ghost" not in str(problem.problems)


@pytest.mark.parametrize(
    ("line", "yaml_extra", "looks"),
    [
        ("0 0.1 0.1 0.5 0.1 0.5 0.5 0.1 0.5 0.2 0.3", "", "segmentation line (polygon of 5 points)"),
        ("0 0.1 0.1 0.5 0.1 0.5 0.5 0.1 0.5", "", "oriented-box line (class x1 y1 x2 y2 x3 y3 x4 y4)"),
        ("0 0.5 0.5 0.2 0.2 " + " ".join(["0.5 0.5 2"] * 17), "", "pose line (box and 17 keypoints x y visibility)"),
        ("0 0.5 0.5 0.2 0.2 0.4 0.4 0.6 0.6 0.4 0.6 0.6 0.4", "kpt_shape: [4, 2]\n", "pose line (box and 4 keypoints"),
        ("0 0.5 0.5 0.2 0.2 0.87", "", "prediction line with a confidence"),
    ],
)
def test_yolo_lines_of_other_tasks_say_what_they_look_like(
    tmp_path: Path, line: str, yaml_extra: str, looks: str
) -> None:
    root = yolo_folder(tmp_path / "y", line + "\n", yaml="names: [cat, dog, bird]\n" + yaml_extra)
    problem = refused(lambda: parse_yolo(root, items=index(PETS), classes=None))
    assert problem.field == f"{root / 'labels' / 'a.txt'}:1"
    assert looks in problem.message and "only detection boxes (class cx cy w h) can be imported" in problem.message
    assert problem.message.startswith(f"expected 5 values `class cx cy w h`, got {len(line.split())}")


# --- COCO: ids, area, iscrowd and every category ---------------------------------------------------------


def test_coco_export_keeps_source_ids_area_iscrowd_and_every_category(
    session: Session, ml: Actor, versions: Any, tmp_path: Path
) -> None:
    from pycocotools.coco import COCO

    ds, (v1, v2) = versions
    src = FIXTURES / "coco" / "cvat_coco_1_0.json"
    result = import_annotations(session, actor=ml, version=v1, fmt="coco", path=src)
    assert result.annotations == 3
    export_version(session, dataset=ds, version=v1, fmt="coco", out=tmp_path / "one.json")
    out = json.loads((tmp_path / "one.json").read_text())
    images = {i["file_name"]: i["id"] for i in out["images"]}
    assert {k: images[k] for k in ("a.jpg", "b.jpg", "empty.jpg")} == {"a.jpg": 42, "b.jpg": 5, "empty.jpg": 900}
    assert sorted(v for k, v in images.items() if k not in ("a.jpg", "b.jpg", "empty.jpg")) == list(range(901, 907))
    assert {(c["id"], c["name"]) for c in out["categories"]} == {(7, "cat"), (3, "dog"), (12, "bird")}
    anns = {a["id"]: a for a in out["annotations"]}
    assert {k: (a["image_id"], a["category_id"], a["area"], a["iscrowd"]) for k, a in anns.items()} == {
        1001: (42, 7, 7600.0, 0),
        17: (42, 3, 120.0, 1),
        2000: (5, 3, 12.0, 0),  # no area in the source: w * h
    }
    assert anns[1001]["attributes"] == {"occluded": False, "rotation": 0.0}
    assert anns[2000]["attributes"] == {
        "occluded": True,
        "track_id": 3,
        "notes": {"by": "ann-1", "tags": ["blurry", "small"]},
    }
    assert "attributes" not in anns[17]  # the reserved key leaves; nothing else was there
    coco = COCO()
    coco.dataset = out
    coco.createIndex()
    assert sorted(coco.getCatIds()) == [3, 7, 12] and coco.getAnnIds(catIds=[12]) == []  # bird: no boxes
    assert coco.loadAnns([17])[0]["area"] == 120.0 and coco.getImgIds(catIds=[7]) == [42]
    # ... and the export imports back to the same document.
    import_annotations(session, actor=ml, version=v2, fmt="coco", path=tmp_path / "one.json")
    export_version(session, dataset=ds, version=v2, fmt="coco", out=tmp_path / "two.json")
    again = json.loads((tmp_path / "two.json").read_text())
    assert [again[k] for k in ("images", "categories", "annotations")] == [
        out[k] for k in ("images", "categories", "annotations")
    ]


def test_coco_export_numbers_what_the_map_lacks_above_it_without_collisions() -> None:
    items = [ItemRef(1, "a.jpg", 100, 80), ItemRef(2, "b.jpg", 64, 48), ItemRef(3, "c.jpg", 30, 20)]
    labels = {
        1: [
            ExportLabel("cat", 0, 0, 10, 10, {"coco": {"id": 5, "area": 3.5}}),
            ExportLabel("dog", 1, 1, 2, 2, {"coco": {"id": 5}, "note": "copied"}),  # a duplicate stored id
            ExportLabel("dog", 2, 2, 3, 3),  # a label that never came from COCO
        ],
        3: [ExportLabel("bird", 1, 1, 4, 4, {"iscrowd": 1, "kind": "flock"})],  # imported before the reserved key
    }
    data = ExportData("p@v1", ["cat", "dog", "bird"], items, labels)
    doc = export_coco(data, id_map={"images": {"a.jpg": 10, "gone.jpg": 30}, "categories": {"dog": 4}})
    assert [(i["file_name"], i["id"]) for i in doc["images"]] == [("a.jpg", 10), ("b.jpg", 31), ("c.jpg", 32)]
    assert [(c["name"], c["id"]) for c in doc["categories"]] == [("cat", 5), ("dog", 4), ("bird", 6)]
    got = [
        (a["id"], a["image_id"], a["category_id"], a["area"], a["iscrowd"], a.get("attributes"))
        for a in doc["annotations"]
    ]
    assert got == [
        (5, 10, 5, 3.5, 0, None),
        (6, 10, 4, 4, 0, {"note": "copied"}),
        (7, 10, 4, 9, 0, None),
        (8, 32, 6, 16, 1, {"kind": "flock"}),
    ]
    assert export_coco(data)["categories"][0]["id"] == 1  # no map: 1..K as before


def test_coco_export_data_lists_schema_classes_without_boxes(
    session: Session, ml: Actor, versions: Any, tmp_path: Path
) -> None:
    ds, (v1, _) = versions
    doc = {"images": [{"id": 1, "file_name": "a.jpg"}], "categories": [{"id": 1, "name": "cat"}], "annotations": []}
    import_annotations(session, actor=ml, version=v1, fmt="coco", data=json.dumps(doc).encode(), source_name="x.json")
    export_version(session, dataset=ds, version=v1, fmt="coco", out=tmp_path / "o.json", id_map={})
    out = json.loads((tmp_path / "o.json").read_text())
    assert [(c["id"], c["name"]) for c in out["categories"]] == [(1, "cat"), (2, "dog"), (3, "bird")]


def test_coco_categories_without_boxes_survive_a_version_without_schema(
    session: Session, world: World, ml: Actor, tmp_path: Path
) -> None:
    ds, bare = quick_version(session, actor=ml, project_id=world.project.id or 0, items=PETS, version="bare")
    src = FIXTURES / "coco" / "cvat_coco_1_0.json"
    import_annotations(session, actor=ml, version=bare, fmt="coco", path=src)
    export_version(session, dataset=ds, version=bare, fmt="coco", out=tmp_path / "o.json")
    out = json.loads((tmp_path / "o.json").read_text())
    assert [(c["id"], c["name"]) for c in out["categories"]] == [(3, "dog"), (7, "cat"), (12, "bird")]


# --- COCO: strict types and bounded attributes -------------------------------------------------------------


def coco_doc(**third: Any) -> dict[str, Any]:
    return {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 80}, {"id": 2, "file_name": "b.jpg"}],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10]},
            {"id": 2, "image_id": 2, "category_id": 2, "bbox": [1, 1, 5, 5], "area": 20, "iscrowd": 1},
            {"id": 3, "image_id": 1, "category_id": 2, "bbox": [5, 5, 10, 10], **third},
        ],
    }


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"n": value}
    return value


BAD_COCO = {
    "iscrowd_letter": (coco_doc(iscrowd="a"), "expected iscrowd 0 or 1 (an integer), got 'a'"),
    "iscrowd_yes": (coco_doc(iscrowd="yes"), "got 'yes'"),
    "iscrowd_bool": (coco_doc(iscrowd=True), "got True"),
    "iscrowd_two": (coco_doc(iscrowd=2), "got 2"),
    "iscrowd_null": (coco_doc(iscrowd=None), "got None"),
    "attributes_list": (coco_doc(attributes=[1, 2]), "expected attributes as a JSON object, got [1, 2]"),
    "attributes_string": (coco_doc(attributes="x"), "expected attributes as a JSON object"),
    "area_negative": (coco_doc(area=-1), "expected area as a number >= 0, got -1"),
    "area_string": (coco_doc(area="12"), "got '12'"),
    "area_bool": (coco_doc(area=True), "got True"),
    "reserved_key": (coco_doc(attributes={"coco": {"id": 9}}), "attribute 'coco' is reserved"),
    "too_deep": (coco_doc(attributes=nested(MAX_ATTRIBUTE_DEPTH + 1)), "nest deeper than 16 levels"),
    "long_string": (coco_doc(attributes={"s": "x" * (MAX_ATTRIBUTE_STRING + 1)}), "attribute string of 4097 bytes"),
    "five_megabytes": (coco_doc(attributes={"s": "x" * 5_000_000}), "attribute string of 5000000 bytes"),
    "too_large": (coco_doc(attributes={f"k{i}": "v" * 1000 for i in range(70)}), "larger than 64 KiB"),
}


@pytest.mark.parametrize("case", sorted(BAD_COCO))
def test_coco_strict_types_and_attribute_bounds_are_refused_on_both_paths(case: str) -> None:
    doc, what = BAD_COCO[case]
    data = json.dumps(doc).encode()
    problem = refused(lambda: parse_coco(data, source="in.json", items=index(PETS), classes=None))
    assert problem.field == "in.json: annotations[2] (id 3)" and what in problem.message, (
        problem.field,
        problem.message,
    )
    assert _parse_fast(data, sha="s", source="in.json", items=index(PETS), classes=None) is None


@pytest.mark.parametrize(
    ("change", "where", "what"),
    [
        (lambda d: d["categories"].append({"id": 3, "name": "cat"}), "categories[2]", "'cat' is used by two ids"),
        (lambda d: d["images"].append({"id": 3, "file_name": "a.jpg"}), "images[2]", "'a.jpg' is listed twice"),
    ],
)
def test_coco_names_that_would_merge_ids_are_refused(change: Any, where: str, what: str) -> None:
    doc = coco_doc()
    change(doc)
    problem = refused(lambda: parse_coco(json.dumps(doc).encode(), source="in.json", items=index(PETS), classes=None))
    assert where in (problem.field or "") and what in problem.message


GOOD_COCO = {
    "plain": coco_doc(),
    "area_int_and_float": coco_doc(area=12, attributes={}),
    "area_float_crowd": coco_doc(area=12.25, iscrowd=1, attributes=None),
    "area_zero_null_attributes": coco_doc(area=0, iscrowd=0),
    "nested_attributes": coco_doc(attributes={"z": [1, {"a": None}], "a": "é", "m": nested(MAX_ATTRIBUTE_DEPTH - 1)}),
    "string_at_the_bound": coco_doc(attributes={"s": "x" * MAX_ATTRIBUTE_STRING}),
    "empty_annotations": {**coco_doc(), "annotations": []},
    "all_empty": {"images": [], "categories": [], "annotations": []},
    "no_categories": {"images": [{"id": 1, "file_name": "a.jpg"}], "categories": [], "annotations": []},
}


@pytest.mark.parametrize("case", sorted(GOOD_COCO))
def test_coco_fast_and_slow_paths_read_the_same(case: str) -> None:
    data = json.dumps(GOOD_COCO[case]).encode()
    fast = _parse_fast(data, sha="s", source="in.json", items=index(PETS), classes=None)
    slow = _parse_slow(data, sha="s", source="in.json", items=index(PETS), classes=None)
    assert fast is not None, "the fast path must take every valid file"
    assert (fast.labels, fast.id_map, fast.images) == (slow.labels, slow.id_map, slow.images)
    assert len(fast.labels) == len(GOOD_COCO[case]["annotations"])
    for row in fast.labels:
        assert json.loads(row[6])["coco"]["id"] in {a["id"] for a in GOOD_COCO[case]["annotations"]}


def test_coco_keeps_id_area_and_iscrowd_under_the_reserved_key() -> None:
    doc = coco_doc(area=12, attributes={"occluded": True})
    parsed = parse_coco(json.dumps(doc).encode(), source="in.json", items=index(PETS), classes=None)
    stored = [json.loads(r[6]) for r in parsed.labels]
    assert stored == [
        {"coco": {"id": 1}},
        {"coco": {"id": 2, "area": 20.0, "iscrowd": 1}},
        {"coco": {"id": 3, "area": 12.0}, "occluded": True},
    ]
    assert parsed.id_map == {"images": {"a.jpg": 1, "b.jpg": 2}, "categories": {"cat": 1, "dog": 2}}


def test_attribute_bounds_are_exact() -> None:
    assert attributes_json(nested(MAX_ATTRIBUTE_DEPTH)).count("{") == MAX_ATTRIBUTE_DEPTH + 0
    assert attributes_json({"s": "é" * (MAX_ATTRIBUTE_STRING // 2)})  # 4096 bytes of UTF-8: at the bound
    big = {"s": "x" * (MAX_ATTRIBUTES_BYTES - len('{"s": ""}'))}
    with pytest.raises(AttributesRefused, match="string"):
        attributes_json(big)  # a 64 KiB string breaks the string bound first
    filled = {f"k{i:03d}": "v" * 4000 for i in range(16)}
    room = MAX_ATTRIBUTES_BYTES - len(attributes_json(filled)) - len(', "more": ""')
    assert len(attributes_json({**filled, "more": "v" * room})) == MAX_ATTRIBUTES_BYTES  # at the bound
    with pytest.raises(AttributesRefused, match="larger than 64 KiB"):
        attributes_json({**filled, "more": "v" * (room + 1)})
    with pytest.raises(AttributesRefused, match="string of 4098 bytes"):
        attributes_json({"s": "é" * (MAX_ATTRIBUTE_STRING // 2 + 1)})
    with pytest.raises(AttributesRefused, match="string of 4097 bytes"):
        attributes_json({"x" * (MAX_ATTRIBUTE_STRING + 1): 1})  # keys are strings too
    with pytest.raises(AttributesRefused, match="deeper than 16"):
        attributes_json({"l": [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]})
    with pytest.raises(AttributesRefused, match="got an array"):
        attributes_json([1, 2])


def test_gate_coco_reader_accepts_empty_annotations() -> None:
    """pycocotools accepts ``"annotations": []``; so does the gate's COCO reader (it refused it with
    "annotations.id: could not be read as an integer")."""
    from pycocotools.coco import COCO

    doc = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 80}],
        "categories": [{"id": 1, "name": "cat"}],
        "annotations": [],
    }
    reference = COCO()
    reference.dataset = json.loads(json.dumps(doc))
    reference.createIndex()
    assert reference.getAnnIds() == []
    assert len(parse_coco_instances(doc, source="gt.json").annotation_ids) == 0


# --- VOC: image sets and flags --------------------------------------------------------------------------


@sqlite_only
def test_voc_export_writes_an_image_set_torchvision_reads(
    session: Session, ml: Actor, versions: Any, tmp_path: Path
) -> None:
    voc = pytest.importorskip("torchvision.datasets.voc")
    import xml.etree.ElementTree as ET

    ds, (v1, _) = versions
    import_annotations(session, actor=ml, version=v1, fmt="voc", path=FIXTURES / "voc_cvat")
    out = tmp_path / "VOCdevkit" / "VOC2012"
    export_version(session, dataset=ds, version=v1, fmt="voc", out=out)
    ids = (out / "ImageSets" / "Main" / "trainval.txt").read_text().splitlines()
    assert ids == sorted(u.rsplit(".", 1)[0] for u in {**PETS, **ODD})
    dataset = voc.VOCDetection(str(tmp_path), year="2012", image_set="trainval")
    assert len(dataset) == len(ids)
    target = dataset.parse_voc_xml(ET.parse(dataset.targets[ids.index("a")]).getroot())["annotation"]
    assert [(o["name"], o.get("difficult"), o.get("occluded"), o["bndbox"]["xmax"]) for o in target["object"]] == [
        ("cat", None, "1", "100"),  # flags are written when set
        ("dog", "1", None, "40.375"),
    ]


def test_voc_image_sets_are_read_on_import(tmp_path: Path) -> None:
    root = tmp_path / "voc"
    shutil.copytree(FIXTURES / "voc_cvat", root)
    parsed = parse_voc(root, items=index(PETS), classes=set(CLASSES))
    assert {"ImageSets/Main/default.txt", "ImageSets/Main/cat_default.txt"} <= set(parsed.files)
    with (root / "ImageSets" / "Main" / "default.txt").open("a") as f:
        f.write("ghost\n")
    problem = refused(lambda: parse_voc(root, items=index(PETS), classes=set(CLASSES)))
    assert problem.field == f"{root / 'ImageSets' / 'Main' / 'default.txt'}:4"
    assert "'ghost' is listed but has no annotation file Annotations/ghost.xml" in problem.message


@pytest.mark.parametrize(
    ("flag", "value"), [("difficult", "a"), ("truncated", "2"), ("occluded", "yes"), ("difficult", "")]
)
def test_voc_flags_other_than_0_or_1_are_refused(tmp_path: Path, flag: str, value: str) -> None:
    root = tmp_path / "voc"
    shutil.copytree(FIXTURES / "voc_cvat", root)
    xml = root / "Annotations" / "b.xml"
    xml.write_text(xml.read_text().replace(f"<{flag}>0</{flag}>", f"<{flag}>{value}</{flag}>"))
    problem = refused(lambda: parse_voc(root, items=index(PETS), classes=set(CLASSES)))
    assert problem.field == f"{xml}: object[0] ('bird'): {flag}"
    assert problem.message == f"expected <{flag}> to be 0 or 1, got {value!r}"


# --- Round trips, both directions -----------------------------------------------------------------------

SOURCES = {
    "coco": FIXTURES / "coco" / "cvat_coco_1_0.json",  # CVAT "COCO 1.0"
    "yolo": FIXTURES / "yolo" / "cvat_yolo_1_1",  # CVAT "YOLO 1.1" (Darknet); exported as Ultralytics
    "voc": FIXTURES / "voc_cvat",  # CVAT "PASCAL VOC 1.1"
}


@pytest.mark.parametrize("fmt", sorted(SOURCES))
def test_round_trip_from_the_tools_files(session: Session, ml: Actor, versions: Any, tmp_path: Path, fmt: str) -> None:
    """Import a tool's files, export, import the export: the same boxes, classes and attributes; the export
    carries what the tool wrote (COCO ids, area and iscrowd; VOC image sets)."""
    ds, (v1, v2) = versions
    import_annotations(session, actor=ml, version=v1, fmt=fmt, path=SOURCES[fmt])
    out = tmp_path / ("out.json" if fmt == "coco" else "out")
    export_version(session, dataset=ds, version=v1, fmt=fmt, out=out)
    import_annotations(session, actor=ml, version=v2, fmt=fmt, path=out)
    first, second = live(session, v1), live(session, v2)
    assert len(first) == 3
    assert_same_boxes(first, second)
    if fmt == "yolo":
        assert {(*r[:2], *(round(v, 6) for v in r[2:6])) for r in second} == PET_BOXES
    if fmt == "coco":
        source = json.loads(SOURCES["coco"].read_text())["annotations"]
        written = json.loads(out.read_text())["annotations"]
        assert {a["id"]: (a["image_id"], a["category_id"], a["area"], a["iscrowd"]) for a in written} == {
            a["id"]: (a["image_id"], a["category_id"], a.get("area", a["bbox"][2] * a["bbox"][3]), a["iscrowd"])
            for a in source
        }
    if fmt == "voc":
        assert (out / "ImageSets" / "Main" / "trainval.txt").read_text().split() == sorted(
            u.rsplit(".", 1)[0] for u in {**PETS, **ODD}
        )


def random_coco(rng: random.Random, n: int) -> dict[str, Any]:
    images = [{"id": i + 1, "file_name": uri, "width": w, "height": h} for i, (uri, (w, h)) in enumerate(ODD.items())]
    annotations = []
    for image in images[:-1]:  # none.jpg stays empty
        for box in random_boxes(rng, image["width"], image["height"], n):
            ann: dict[str, Any] = {"id": 5000 - 3 * len(annotations), "image_id": image["id"], "bbox": list(box)}
            ann["category_id"] = rng.randint(1, 3)
            if rng.random() < 0.3:
                ann["attributes"] = {"difficult": 1, "note": rng.choice(["a", "b"])}
            annotations.append(ann)
    return {
        "images": images,
        "categories": [{"id": i + 1, "name": c} for i, c in enumerate(CLASSES)],
        "annotations": annotations,
    }


@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc"])
def test_round_trip_from_labelgates_labels(
    session: Session, ml: Actor, versions: Any, tmp_path: Path, fmt: str
) -> None:
    """Labels (random, touching edges, odd image sizes) → export → import: the same boxes within 1e-6 px;
    COCO keeps the attributes too, VOC its flags."""
    ds, (v1, v2) = versions
    doc = random_coco(random.Random(7), 40)
    import_annotations(session, actor=ml, version=v1, fmt="coco", data=json.dumps(doc).encode(), source_name="r.json")
    out = tmp_path / ("out.json" if fmt == "coco" else "out")
    export_version(session, dataset=ds, version=v1, fmt=fmt, out=out)
    result = import_annotations(session, actor=ml, version=v2, fmt=fmt, path=out)
    assert result.annotations == len(doc["annotations"]) and result.clipped == 0
    first, second = live(session, v1), live(session, v2)
    assert_same_boxes(first, second, attributes=fmt == "coco")
    if fmt == "coco":
        assert sorted(a["id"] for a in json.loads(out.read_text())["annotations"]) == sorted(
            a["id"] for a in doc["annotations"]
        )
    if fmt == "voc":
        assert [bool(r[6] and r[6].get("difficult")) for r in first] == [bool(r[6]) for r in second]
