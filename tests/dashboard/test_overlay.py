"""The label overlay draws each geometry where it is, and names what it cannot draw instead of failing.

Pixel tests on small canvases: a pixel is "drawn" when it differs from the blank canvas. The COCO RLE decoder
of the dashboard (which may not import ``quality_gates``) is compared with pycocotools and with
``quality_gates.rle``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as coco_mask

from dashboard.geometry import MAX_MASK_PIXELS, decode_rle, parse_label
from dashboard.overlay import CANVAS, PALETTE, class_styles, draw_labels
from quality_gates.rle import Rle

CAT, DOG = PALETTE[0], PALETTE[1]
CLASSES = [
    {"name": "cat", "geometry": "polygon"},
    {
        "name": "dog",
        "geometry": "keypoints",
        "keypoints": {"names": ["a", "b", "c", "d"], "skeleton": [[0, 2], [1, 3]]},
    },
]


def pixels(labels: list[Any], *, size: tuple[int, int] = (40, 40), **kw: Any) -> np.ndarray:
    drawn = draw_labels(labels, size=size, classes=CLASSES, names=False, **kw)
    assert drawn.warnings == (), drawn.warnings
    return np.asarray(drawn.image)


def changed(img: np.ndarray) -> np.ndarray:
    """(h, w) bool: pixels that are not the blank canvas."""
    found: np.ndarray = (img != np.asarray(CANVAS, dtype=np.uint8)).any(axis=2)
    return found


def rle_counts(mask: np.ndarray) -> str:
    return str(coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))["counts"].decode())


# ---- each geometry where it is -------------------------------------------------------------------------------


def test_a_blank_item_stays_blank() -> None:
    assert not changed(pixels([])).any()


def test_a_polygon_is_filled_inside_and_nothing_outside() -> None:
    square = [5, 5, 25, 5, 25, 25, 5, 25]
    triangle = [30, 30, 38, 30, 34, 38]
    img = pixels([{"category": "cat", "geometry_type": "polygon", "geometry": {"polygons": [square, triangle]}}])
    drawn = changed(img)
    inside = img[15, 15].astype(int)
    # Translucent: the fill lies between the canvas and the class colour, on the way to the class colour.
    assert all(min(c, k) <= v <= max(c, k) for v, c, k in zip(inside, CANVAS, CAT, strict=True))
    assert tuple(inside) != CANVAS and tuple(inside) != CAT
    assert drawn[34, 33]  # the second part
    assert not drawn[15, 28] and not drawn[2, 35] and not drawn[35, 10]  # outside both parts
    assert tuple(img[5, 15]) == CAT  # the outline, in full colour


def test_a_mask_changes_exactly_its_pixels() -> None:
    mask = np.zeros((30, 40), dtype=bool)
    mask[3:12, 4:30] = True
    mask[12:25, 4:9] = True  # an L
    labels = [
        {
            "category": "cat",
            "geometry_type": "mask",
            "geometry": {"rle": {"size": [30, 40], "counts": rle_counts(mask)}},
        }
    ]
    img = pixels(labels, size=(30, 40))
    assert np.array_equal(changed(img), mask)
    assert len({tuple(p) for p in img[mask]}) == 1  # one translucent class colour


def test_a_crowd_mask_is_hatched_and_dimmer() -> None:
    mask = np.zeros((30, 30), dtype=bool)
    mask[5:25, 5:25] = True
    geometry = {"rle": {"size": [30, 30], "counts": rle_counts(mask)}}
    plain = pixels([{"category": "cat", "geometry_type": "mask", "geometry": geometry}], size=(30, 30))
    crowd_label = {
        "category": "cat",
        "geometry_type": "mask",
        "geometry": geometry,
        "attributes": {"coco": {"iscrowd": 1}},
    }
    drawn = draw_labels([crowd_label], size=(30, 30), classes=CLASSES, names=False)
    crowd = np.asarray(drawn.image)
    assert np.array_equal(changed(crowd), mask)
    colours = {tuple(p) for p in crowd[mask]}
    assert len(colours) == 2  # stripes and the dim fill between them

    def distance(p: np.ndarray) -> float:
        return float(np.abs(p.astype(int) - np.asarray(CANVAS)).sum())

    dim = min(colours, key=lambda c: distance(np.asarray(c)))
    assert distance(np.asarray(dim)) < distance(plain[10, 10])  # dimmer than a plain mask
    assert any("hatched" in n for n in drawn.notes)


def test_keypoints_filled_hollow_and_skeleton_lines() -> None:
    points = [[10, 10, 2], [30, 10, 1], [10, 30, 2], [0, 0, 0]]
    labels = [{"category": "dog", "geometry_type": "keypoints", "x": 10, "y": 10, "w": 20, "h": 20,
               "geometry": {"keypoints": points}}]  # fmt: skip
    img = pixels(labels)
    drawn = changed(img)
    assert tuple(img[10, 10]) == DOG  # v = 2: filled
    assert not drawn[10, 30] and drawn[10, 33]  # v = 1: a ring, hollow in the middle
    assert tuple(img[20, 10]) == DOG  # skeleton (0, 2): a line between two labelled points
    # skeleton (1, 3) ends at an unlabelled point: no line; v = 0 is not drawn
    assert not drawn[5, 15] and not drawn[0, 0] and not drawn[2, 2]
    assert not drawn[20, 20] and not drawn[35, 35]  # no box, no fill


def test_keypoints_without_a_skeleton_say_so() -> None:
    labels = [{"category": "bird", "geometry_type": "keypoints", "geometry": {"keypoints": [[5, 5, 2], [20, 20, 2]]}}]
    drawn = draw_labels(labels, size=(30, 30), names=False)
    img = np.asarray(drawn.image)
    assert changed(img)[5, 5] and changed(img)[20, 20] and not changed(img)[12, 12]  # no line
    assert any("No skeleton drawn for bird" in n for n in drawn.notes)


def test_a_box_is_outlined_and_empty_inside() -> None:
    img = pixels([{"category": "cat", "x": 5, "y": 8, "w": 20, "h": 10}])
    assert tuple(img[8, 15]) == CAT and tuple(img[18, 15]) == CAT and tuple(img[12, 5]) == CAT
    assert not changed(img)[13, 15] and not changed(img)[30, 30]


def test_tags_are_a_badge_with_the_model_confidence() -> None:
    labels = [
        {"category": "cat", "geometry_type": "tag", "confidence": 0.914},
        {"category": "dog", "geometry_type": "tag"},
    ]
    drawn = draw_labels(labels, size=(60, 160), classes=CLASSES)
    assert drawn.tags == ("cat 0.91", "dog") and drawn.warnings == ()
    img = changed(np.asarray(drawn.image))
    assert img[45:, :40].any() and not img[:20, :].any()  # the badge sits in the bottom-left corner


def test_object_labels_carry_their_class_name() -> None:
    box = {"category": "cat", "x": 10, "y": 30, "w": 20, "h": 10, "confidence": 0.5}
    with_names = changed(np.asarray(draw_labels([box], size=(60, 60)).image))
    without = changed(np.asarray(draw_labels([box], size=(60, 60), names=False).image))
    assert with_names[15:29, 10:30].any() and not without[15:29, 10:30].any()  # the text above the box


def test_labels_are_drawn_over_the_image_pixels() -> None:
    image = Image.new("RGB", (40, 30), (200, 10, 10))
    poly = {"category": "cat", "geometry_type": "polygon", "geometry": {"polygons": [[5, 5, 20, 5, 20, 20, 5, 20]]}}
    drawn = draw_labels([poly], image=image, classes=CLASSES, names=False)
    img = np.asarray(drawn.image)
    assert img.shape == (30, 40, 3)
    assert tuple(img[25, 35]) == (200, 10, 10) and tuple(img[12, 12]) != (200, 10, 10)


def test_large_items_are_scaled_down_with_their_labels() -> None:
    poly = {
        "category": "cat",
        "geometry_type": "polygon",
        "geometry": {"polygons": [[100, 100, 300, 100, 300, 300, 100, 300]]},
    }
    drawn = draw_labels([poly], size=(400, 800), classes=CLASSES, names=False, max_side=200)
    img = np.asarray(drawn.image)
    assert img.shape == (100, 200, 3) and drawn.scale == 0.25
    assert changed(img)[50, 50] and not changed(img)[50, 90]
    assert "Drawn at 25% of the image's size." in drawn.notes


def test_without_a_size_the_mask_gives_the_canvas() -> None:
    mask = np.zeros((24, 36), dtype=bool)
    mask[2:5, 2:5] = True
    labels = [
        {
            "category": "cat",
            "geometry_type": "mask",
            "geometry": {"rle": {"size": [24, 36], "counts": rle_counts(mask)}},
        }
    ]
    drawn = draw_labels(labels, names=False)
    assert drawn.image.size == (36, 24) and np.array_equal(changed(np.asarray(drawn.image)), mask)


def test_the_legend_follows_the_schema_order() -> None:
    labels = [{"category": name, "x": 1, "y": 1, "w": 2, "h": 2} for name in ("zebra", "dog", "cat")]
    legend = draw_labels(labels, size=(10, 10), classes=CLASSES).legend
    assert [name for name, _ in legend] == ["cat", "dog", "zebra"]
    assert legend[0][1] == "#1f77b4" and class_styles(CLASSES)["dog"].keypoint_count == 4


# ---- hostile geometry: a warning naming the label, never an exception -----------------------------------------

NAN = math.nan
HOSTILE = [
    ({"id": 1, "category": "cat", "geometry_type": "polygon"}, "label #1 (cat): a polygon label has no geometry"),
    ({"id": 2, "category": "cat", "geometry_type": "polygon", "geometry": {"polygons": [[1, 2, 3, NAN, 5, 6]]}},
     "geometry.polygons[0] holds a value that is not a finite number"),
    ({"id": 3, "category": "cat", "geometry_type": "polygon", "geometry": {"polygons": [[1, 2, 3, 4, 5]]}},
     "geometry.polygons[0] has 5 numbers"),
    ({"id": 4, "category": "cat", "geometry_type": "mask", "geometry": {"rle": {"size": [5, 5], "counts": "52"}}},
     "geometry.rle.size [5, 5] differs from the image's [height, width] [40, 40]"),
    ({"id": 5, "category": "cat", "geometry_type": "mask", "geometry": {"rle": {"size": [40, 40], "counts": "52"}}},
     "geometry.rle: the runs add up to 7 pixels; the size 40x40 has 1600"),
    ({"id": 6, "category": "cat", "geometry_type": "mask", "geometry": {"rle": {"size": [40, 40], "counts": "~~"}}},
     "geometry.rle: counts hold '~'"),
    ({"id": 7, "category": "cat", "geometry_type": "mask", "geometry": {"rle": {"size": [40, 40]}}},
     "geometry.rle: counts must be a non-empty COCO compressed RLE string"),
    ({"id": 8, "category": "dog", "geometry_type": "keypoints", "geometry": {"keypoints": [[1, 1, 2]]}},
     "geometry.keypoints has 1 points; the class names 4"),
    ({"id": 9, "category": "dog", "geometry_type": "keypoints", "geometry": {"keypoints": [[1, 1, 3]] * 4}},
     "geometry.keypoints[0] has v=3"),
    ({"id": 10, "category": "dog", "geometry_type": "keypoints", "geometry": {"keypoints": [[1, NAN, 2]] * 4}},
     "geometry.keypoints[0] must be [x, y, v] of finite numbers"),
    ({"id": 11, "category": "cat", "x": NAN, "y": 1, "w": 2, "h": 2}, "x, y, w, h must be finite numbers"),
    ({"id": 12, "category": "cat", "geometry_type": "hexagon"}, "unknown geometry_type 'hexagon'"),
    ("not a label", "label 1 is not an object"),
]  # fmt: skip


@pytest.mark.parametrize(("label", "message"), HOSTILE, ids=[m[:40] for _, m in HOSTILE])
def test_hostile_geometry_is_a_warning_not_a_crash(label: Any, message: str) -> None:
    drawn = draw_labels([label], size=(40, 40), classes=CLASSES, names=False)
    (warning,) = drawn.warnings
    assert message in warning, warning
    assert warning.endswith("not drawn") or warning.endswith("not an object")
    assert not changed(np.asarray(drawn.image)).any()


def test_a_huge_mask_size_is_refused_before_decoding() -> None:
    label = {"category": "cat", "geometry_type": "mask", "geometry": {"rle": {"size": [10**6, 10**6], "counts": "0"}}}
    drawn = draw_labels([label], names=False)  # no item size: the mask's own would set the canvas
    (warning,) = drawn.warnings
    assert f"size 1000000x1000000 exceeds {MAX_MASK_PIXELS} pixels" in warning and drawn.image.size == (32, 32)


def test_a_label_whose_geometry_fails_is_drawn_as_its_box() -> None:
    label = {"id": 5, "category": "cat", "geometry_type": "polygon", "x": 5, "y": 5, "w": 10, "h": 10,
             "geometry": {"polygons": [[1, 2]]}}  # fmt: skip
    good = {"category": "cat", "x": 20, "y": 20, "w": 10, "h": 10}
    drawn = draw_labels([label, good], size=(40, 40), classes=CLASSES, names=False)
    (warning,) = drawn.warnings
    assert warning.startswith("label #5 (cat): geometry.polygons[0] has 2 numbers") and warning.endswith(
        "its box is drawn"
    )
    img = np.asarray(drawn.image)
    assert tuple(img[5, 10]) == CAT and tuple(img[20, 25]) == CAT  # both boxes


def test_a_skeleton_pair_outside_the_points_is_named() -> None:
    classes = [{"name": "dog", "keypoints": {"names": ["a", "b"], "skeleton": [[0, 5]]}}]
    labels = [{"category": "dog", "geometry_type": "keypoints", "geometry": {"keypoints": [[5, 5, 2], [9, 9, 2]]}}]
    drawn = draw_labels(labels, size=(20, 20), classes=classes)
    assert drawn.warnings == ("class dog: skeleton pair (0, 5) names a point outside 0..1",)


# ---- the RLE decoder ----------------------------------------------------------------------------------------


def test_rle_decoding_matches_pycocotools_and_quality_gates() -> None:
    rng = np.random.default_rng(13)
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(1, 50, 2))
        mask = rng.random((h, w)) < rng.random()
        counts = rle_counts(mask)
        got = decode_rle(counts, h, w)
        assert np.array_equal(got, coco_mask.decode({"size": [h, w], "counts": counts.encode()}).astype(bool))
        assert np.array_equal(got, Rle.from_string(counts, h, w).to_mask().astype(bool))


@pytest.mark.parametrize(("counts", "size"), [("0", (0, 3)), ("1", (True, 1)), ("3", (1.5, 2)), ("P", (1, 1))])
def test_rle_decoding_refuses_bad_input(counts: str, size: tuple[Any, Any]) -> None:
    with pytest.raises(ValueError):
        decode_rle(counts, *size)


def test_parse_label_reads_a_point() -> None:
    d = parse_label({"category": "cat", "geometry_type": "point", "x": 3, "y": 4})
    assert d.geometry_type == "point" and d.point == (3.0, 4.0) and d.problems == ()
