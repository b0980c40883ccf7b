"""The stored-geometry validator, per type."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_util

from lineage.labels.geometry import check_geometry

SIZE = (100, 80)


def test_polygon_ok_and_bbox_checked() -> None:
    g = {"polygons": [[10.0, 10.0, 50.0, 10.0, 30.0, 60.0]]}
    assert check_geometry("polygon", 10.0, 10.0, 40.0, 50.0, g, image_size=SIZE) is None
    assert "differ" in (check_geometry("polygon", 10.0, 10.0, 41.0, 50.0, g, image_size=SIZE) or "")


@pytest.mark.parametrize(
    ("geometry", "message"),
    [
        ({"polygons": [[1.0, 2.0, 3.0, 4.0]]}, "polygon part 0 has 2 points, needs at least 3"),
        ({"polygons": [[1.0, 2.0, 3.0, 4.0, float("nan"), 1.0]]}, "finite"),
        ({"polygons": [[1.0, 2.0, 3.0]]}, "odd number"),
    ],
)
def test_bad_polygons(geometry: dict[str, object], message: str) -> None:
    assert message in (check_geometry("polygon", 1.0, 2.0, 2.0, 2.0, geometry, image_size=SIZE) or "")


def test_mask_against_pycocotools() -> None:
    m = np.zeros((80, 100), dtype=np.uint8, order="F")
    m[5:20, 30:40] = 1
    rle = mask_util.encode(m)
    x, y, w, h = mask_util.toBbox(rle).tolist()
    g = {"rle": {"size": [80, 100], "counts": rle["counts"].decode()}}
    assert check_geometry("mask", x, y, w, h, g, image_size=SIZE) is None
    assert "differs from the image" in (check_geometry("mask", x, y, w, h, g, image_size=(80, 100)) or "")


def test_keypoints() -> None:
    g = {"keypoints": [[10.0, 10.0, 2], [0.0, 0.0, 0]]}
    assert check_geometry("keypoints", 5.0, 5.0, 20.0, 20.0, g, image_size=SIZE, keypoint_count=2) is None
    assert "K=3" in (check_geometry("keypoints", 5.0, 5.0, 20.0, 20.0, g, image_size=SIZE, keypoint_count=3) or "")
    bad = {"keypoints": [[10.0, 10.0, 3], [0.0, 0.0, 0]]}
    assert "visibility" in (check_geometry("keypoints", 5.0, 5.0, 20.0, 20.0, bad, image_size=SIZE) or "")


def test_tag() -> None:
    assert check_geometry("tag", None, None, None, None, None, image_size=SIZE) is None
    assert check_geometry("tag", 1.0, None, None, None, None, image_size=SIZE) is not None
