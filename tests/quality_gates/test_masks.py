"""Masks equal pycocotools' mask API bit for bit (RLE strings, polygon rasterisation, area, box, IoU with crowd
regions), and COCO "segm" AP/AR equals ``COCOeval(iouType="segm")`` to 1e-9 on randomized scenes; hand-checked
small cases and invalid geometry refused with the object named."""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

import numpy as np
import pytest

from quality_gates.boxes import BoxSet
from quality_gates.cocoeval import CocoEvalResult, coco_evaluate
from quality_gates.errors import InputFormatError
from quality_gates.masks import MaskSet, mask_iou_matrix, match_masks_by_iou, match_masks_greedy
from quality_gates.matching import match_greedy
from quality_gates.rle import Rle, merge
from quality_gates.segmentation import rle_from_polygons, rle_from_segmentation, rles_from_segmentations

mask_api = pytest.importorskip("pycocotools.mask")


def _fortran(m: np.ndarray) -> np.ndarray:
    return np.asfortranarray(m.astype(np.uint8))


def random_polygon(rng: np.random.Generator, h: int, w: int) -> list[float]:
    """A star-shaped polygon of 3..10 points around a random centre, partly outside the image at times;
    coordinates float, on half pixels or integers."""
    k = int(rng.integers(3, 11))
    cx, cy = rng.uniform(-0.1 * w, 1.1 * w), rng.uniform(-0.1 * h, 1.1 * h)
    r = rng.uniform(1.0, 0.6 * max(h, w))
    ang = np.sort(rng.uniform(0, 2 * np.pi, k))
    rad = rng.uniform(0.3, 1.0, k) * r
    xy = np.column_stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)])
    mode = rng.random()
    if mode < 0.25:
        xy = np.round(xy)
    elif mode < 0.4:
        xy = np.round(xy * 2) / 2
    return [float(v) for v in xy.ravel()]


def random_blob(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    m = np.zeros((h, w), dtype=bool)
    y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w))
    m[y0 : y0 + int(rng.integers(1, h + 1)), x0 : x0 + int(rng.integers(1, w + 1))] = True
    return m ^ (rng.random((h, w)) < 0.05)


# -- RLE, polygons, IoU against pycocotools' mask API ------------------------------------------------------------


def test_hand_checked_rle() -> None:
    # h=3, w=2; column-major: column 0 = 0,1,0 and column 1 = 1,1,0.
    m = np.array([[0, 1], [1, 1], [0, 0]])
    r = Rle.from_mask(m)
    assert r.counts.tolist() == [1, 1, 1, 2, 1]
    assert r.area == 3
    assert r.bbox.tolist() == [0.0, 0.0, 2.0, 2.0]
    # deltas 1, 1, 1, 2-1, 1-1 → one character each, '0' + value
    assert r.to_string() == "11110"
    assert (r.to_mask() == m).all()
    assert Rle.from_string("11110", 3, 2).counts.tolist() == [1, 1, 1, 2, 1]
    # counts [5, 3, 2, 1, 1]: from the fourth on a value is stored as the difference to the one two back,
    # 1 - 3 = -2 → '0' + (-2 & 31) = 'N' and 1 - 2 = -1 → 'O' (one character each: the sign bit ends them).
    assert Rle(3, 4, np.array([5, 3, 2, 1, 1])).to_string() == "532NO"
    assert Rle.from_string("532NO", 3, 4).counts.tolist() == [5, 3, 2, 1, 1]
    assert Rle.from_mask(np.ones((2, 2))).counts.tolist() == [0, 4]
    assert Rle.from_mask(np.zeros((2, 3))).counts.tolist() == [6]


def test_hand_checked_square_polygon() -> None:
    # Vertices (1,1)-(4,4): rleFrPoly keeps pixel centres 1..3 in both axes, a 3x3 block.
    r = rle_from_polygons([[1, 1, 4, 1, 4, 4, 1, 4]], 6, 6)
    expected = np.zeros((6, 6), dtype=np.uint8)
    expected[1:4, 1:4] = 1
    assert (r.to_mask() == expected).all()
    assert r.area == 9 and r.bbox.tolist() == [1.0, 1.0, 3.0, 3.0]


def test_hand_checked_iou_and_crowd() -> None:
    a = np.zeros((5, 5))
    a[0:2, 0:2] = 1  # 4 px
    b = np.zeros((5, 5))
    b[1:3, 0:3] = 1  # 6 px, 2 shared with a
    ra, rb, empty = Rle.from_mask(a), Rle.from_mask(b), Rle.from_mask(np.zeros((5, 5)))
    iou = mask_iou_matrix([ra, empty], [rb, ra], crowd=[True, False])
    # dt a vs crowd b: 2 / area(a) = 0.5; dt a vs a: 1; an empty detection overlaps nothing.
    assert iou.tolist() == [[0.5, 1.0], [0.0, 0.0]]
    assert mask_iou_matrix([ra], [rb]).tolist() == [[2 / 8]]
    assert mask_iou_matrix([], []).shape == (0, 0)
    assert mask_iou_matrix([ra], []).shape == (1, 0)


@pytest.mark.parametrize("seed", range(4))
def test_polygons_strings_area_bbox_equal_pycocotools(seed: int) -> None:
    """Rasterisation, union of parts, compressed strings, decode, area and box are bit-identical."""
    rng = np.random.default_rng(seed)
    for _ in range(250):
        h, w = (int(v) for v in rng.integers(1, 90, 2))
        parts = [random_polygon(rng, h, w) for _ in range(int(rng.integers(1, 4)))]
        if rng.random() < 0.1:
            parts[0][2:4] = parts[0][0:2]  # a repeated vertex: an edge of zero length
        ref = mask_api.merge(mask_api.frPyObjects(parts, h, w))
        ours = rle_from_polygons(parts, h, w)
        assert ours.to_string() == ref["counts"].decode()
        assert ours.area == int(mask_api.area(ref))
        assert np.array_equal(ours.bbox, mask_api.toBbox(ref))
        assert np.array_equal(ours.to_mask(), mask_api.decode(ref))
        assert np.array_equal(Rle.from_string(ref["counts"], h, w).counts, ours.counts)
        blob = random_blob(rng, h, w)
        assert Rle.from_mask(blob).to_string() == mask_api.encode(_fortran(blob))["counts"].decode()


def test_large_image_polygon_equals_pycocotools() -> None:
    rng = np.random.default_rng(11)
    h, w = 1999, 3001
    parts = [random_polygon(rng, h, w) for _ in range(3)]
    ref = mask_api.merge(mask_api.frPyObjects(parts, h, w))
    assert rle_from_polygons(parts, h, w).to_string() == ref["counts"].decode()


def test_bulk_conversion_equals_ann_to_rle_in_any_batching() -> None:
    """Polygons of many objects and sizes rasterised together, mixed with RLE dicts, equal pycocotools'
    annToRLE object by object, whether rasterised in one batch or in many small ones."""
    from quality_gates.segmentation import _polygon_xy, _rasterise

    rng = np.random.default_rng(21)
    segs: list[Any] = []
    hs, ws, refs = [], [], []
    for _ in range(120):
        h, w = (int(v) for v in rng.integers(1, 120, 2))
        kind = rng.random()
        if kind < 0.6:
            seg: Any = [random_polygon(rng, h, w) for _ in range(int(rng.integers(1, 4)))]
            ref = mask_api.merge(mask_api.frPyObjects(seg, h, w))
        else:
            ref = mask_api.encode(_fortran(random_blob(rng, h, w)))
            if kind < 0.8:
                seg = {"size": [h, w], "counts": ref["counts"].decode()}
            else:
                seg = {"size": [h, w], "counts": Rle.from_string(ref["counts"], h, w).counts.tolist()}
        segs.append(seg)
        hs.append(h)
        ws.append(w)
        refs.append(ref["counts"].decode())
    assert [r.to_string() for r in rles_from_segmentations(segs, hs, ws)] == refs
    polys = [_polygon_xy(p, "p") for s in segs if isinstance(s, list) for p in s]
    ph = np.array([h for s, h in zip(segs, hs, strict=True) if isinstance(s, list) for _ in s])
    pw = np.array([w for s, w in zip(segs, ws, strict=True) if isinstance(s, list) for _ in s])
    one = _rasterise(polys, ph, pw)
    many = _rasterise(polys, ph, pw, chunk_points=300)
    assert all(np.array_equal(a, b) for a, b in zip(one, many, strict=True))
    with pytest.raises(ValueError, match=r"annotations\[1\]\[0\]: .*at least 3 points"):
        rles_from_segmentations([segs[0], [[0, 0, 1, 1]]], hs[:2], ws[:2], names=["annotations[0]", "annotations[1]"])


@pytest.mark.parametrize("seed", range(3))
def test_mask_iou_matrix_equals_pycocotools(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    for _ in range(60):
        h, w = (int(v) for v in rng.integers(1, 50, 2))
        dms = [random_blob(rng, h, w) & (rng.random() > 0.1) for _ in range(int(rng.integers(1, 7)))]
        gms = [random_blob(rng, h, w) for _ in range(int(rng.integers(1, 7)))]
        crowd = rng.random(len(gms)) < 0.4
        ref = mask_api.iou(
            [mask_api.encode(_fortran(m)) for m in dms], [mask_api.encode(_fortran(m)) for m in gms], crowd.tolist()
        )
        ours = mask_iou_matrix([Rle.from_mask(m) for m in dms], [Rle.from_mask(m) for m in gms], crowd)
        assert np.array_equal(ours, np.asarray(ref))


def test_merge_equals_pycocotools_and_checks_sizes() -> None:
    rng = np.random.default_rng(5)
    ms = [random_blob(rng, 13, 17) for _ in range(4)]
    ref = mask_api.merge([mask_api.encode(_fortran(m)) for m in ms])
    assert merge([Rle.from_mask(m) for m in ms]).to_string() == ref["counts"].decode()
    with pytest.raises(InputFormatError, match="different sizes"):
        merge([Rle.from_mask(ms[0]), Rle.from_mask(np.zeros((3, 3)))])


# -- invalid geometry ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("segmentation", "message"),
    [
        ([[1, 1, 5, 5]], "at least 3 points"),
        ([[1, 1, 5, 5, 6, 1], [0, 0, 2, 2]], r"\[1\]: .*at least 3 points"),
        ([[1, 1, 5, float("nan"), 6, 1]], "NaN"),
        ([[1, 1, 5, 5, 6]], "even number"),
        ([], "at least one part"),
        ({"size": [10, 12], "counts": [120]}, "differs from the image"),
        ({"size": [12, 10], "counts": [100]}, "add up to 100"),
        ({"size": [12, 10], "counts": [60, -1, 61]}, "non-negative"),
        ({"size": [12, 10], "counts": "z!"}, "characters"),
        ({"counts": [120]}, "expected polygons"),
    ],
)
def test_invalid_geometry_is_refused_naming_the_object(segmentation: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message) as err:
        rle_from_segmentation(segmentation, 12, 10, name="annotations[3] (id 17).segmentation")
    assert "annotations[3] (id 17).segmentation" in str(err.value)


def test_masks_of_different_sizes_on_one_image_are_refused() -> None:
    gt = MaskSet.build([1], [0], [Rle.from_mask(np.ones((4, 4)))])
    dt = MaskSet.build([1], [0], [Rle.from_mask(np.ones((4, 5)))], score=[0.9])
    with pytest.raises(ValueError, match="mask sizes differ"):
        coco_evaluate(gt, dt, num_classes=1)
    with pytest.raises(ValueError, match="mask sizes differ"):
        mask_iou_matrix(dt.masks, gt.masks)


# -- matching helpers ---------------------------------------------------------------------------------------------


def _rect_masks(rng: np.random.Generator, n: int, h: int, w: int) -> tuple[list[Rle], np.ndarray]:
    rles, boxes = [], []
    for _ in range(n):
        x, y = int(rng.integers(0, w - 1)), int(rng.integers(0, h - 1))
        bw, bh = int(rng.integers(1, w - x + 1)), int(rng.integers(1, h - y + 1))
        m = np.zeros((h, w))
        m[y : y + bh, x : x + bw] = 1
        rles.append(Rle.from_mask(m))
        boxes.append([x, y, bw, bh])
    return rles, np.array(boxes, dtype=np.float64).reshape(-1, 4)


@pytest.mark.parametrize("seed", range(3))
def test_pixel_aligned_rectangles_match_like_boxes(seed: int) -> None:
    """For pixel-aligned rectangles mask IoU is box IoU, so mask matching must equal box matching."""
    rng = np.random.default_rng(300 + seed)
    img_g, img_d = rng.integers(0, 4, 25), rng.integers(0, 4, 30)
    rg, bg = _rect_masks(rng, 25, 20, 24)
    rd, bd = _rect_masks(rng, 30, 20, 24)
    cat_g, cat_d = rng.integers(0, 2, 25), rng.integers(0, 2, 30)
    score = rng.random(30)
    crowd = rng.random(25) < 0.2
    gt = MaskSet.build(img_g, cat_g, rg, iscrowd=crowd)
    dt = MaskSet.build(img_d, cat_d, rd, score=score)
    assert np.array_equal(gt.boxes.xywh, bg)
    thr = (0.3, 0.5, 0.7)
    mine = match_masks_greedy(gt, dt, iou_thresholds=thr)
    boxes = match_greedy(
        BoxSet(img_g, cat_g, bg, iscrowd=crowd), BoxSet(img_d, cat_d, bd, score=score), iou_thresholds=thr
    )
    assert np.array_equal(mine.dt_match, boxes.dt_match) and np.array_equal(mine.gt_match, boxes.gt_match)
    assert np.array_equal(mine.dt_iou, boxes.dt_iou)
    d1, g1, i1 = match_masks_by_iou(gt, dt, iou_threshold=0.4)
    from quality_gates.matching import match_by_iou

    d2, g2, i2 = match_by_iou(BoxSet(img_g, cat_g, bg), BoxSet(img_d, cat_d, bd), iou_threshold=0.4)
    assert np.array_equal(d1, d2) and np.array_equal(g1, g2) and np.array_equal(i1, i2)


def test_match_masks_by_iou_hand_case() -> None:
    a = np.zeros((6, 6))
    a[0:3, 0:3] = 1
    b = np.zeros((6, 6))
    b[0:3, 1:4] = 1  # IoU with a: 6 / 12
    c = np.zeros((6, 6))
    c[4:6, 4:6] = 1
    gt = MaskSet.build([1, 1], [0, 0], [Rle.from_mask(a), Rle.from_mask(c)])
    dt = MaskSet.build([1, 1], [0, 0], [Rle.from_mask(c), Rle.from_mask(b)])
    dt_match, gt_match, dt_iou = match_masks_by_iou(gt, dt, iou_threshold=0.5)
    assert dt_match.tolist() == [1, 0] and gt_match.tolist() == [1, 0] and dt_iou.tolist() == [1.0, 0.5]
    assert match_masks_by_iou(gt, dt, iou_threshold=0.51)[0].tolist() == [1, -1]


# -- COCO segm evaluation against COCOeval ----------------------------------------------------------------------


def random_segm_scene(
    seed: int, *, n_images: int = 30, n_classes: int = 4, crowd: float = 0.1, with_zero_id: bool = True
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Images of odd sizes (one 1 px high), 0..6 objects each of 1..3 polygon parts, crowd regions as
    uncompressed or compressed RLE, a class without ground truth (the last), detections as compressed RLE:
    jittered copies, empty masks, random blobs; score ties; annotation id 0 on one object."""
    rng = np.random.default_rng(seed)
    sizes = [(int(rng.integers(9, 262)), int(rng.integers(9, 262))) for _ in range(n_images)]
    sizes[0] = (1, 41)
    images = [{"id": 2 * i + 3, "height": h, "width": w} for i, (h, w) in enumerate(sizes)]
    cats = [{"id": 3 * c + 2, "name": f"c{c}"} for c in range(n_classes)]
    anns: list[dict[str, Any]] = []
    dets: list[dict[str, Any]] = []

    def det(image_id: int, cat: int, m: np.ndarray) -> None:
        rle = mask_api.encode(_fortran(m))
        score = float(rng.integers(0, 6)) / 5 if rng.random() < 0.3 else float(rng.random())
        dets.append({"image_id": image_id, "category_id": cats[cat]["id"], "score": score,
                     "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()}})  # fmt: skip

    for im in images:
        h, w = im["height"], im["width"]
        for _ in range(int(rng.integers(0, 7))):
            c = int(rng.integers(0, n_classes - 1))
            is_crowd = rng.random() < crowd
            if is_crowd:
                m = random_blob(rng, h, w)
                if rng.random() < 0.5:
                    seg: Any = {"size": [h, w], "counts": Rle.from_mask(m).counts.tolist()}
                else:
                    seg = {"size": [h, w], "counts": mask_api.encode(_fortran(m))["counts"].decode()}
            else:
                parts = [random_polygon(rng, h, w) for _ in range(int(rng.integers(1, 4)))]
                seg = parts
                m = mask_api.decode(mask_api.merge(mask_api.frPyObjects(parts, h, w))).astype(bool)
            area = float(m.sum()) * (float(rng.uniform(0.7, 1.3)) if rng.random() < 0.3 else 1.0)
            anns.append({"id": len(anns) + 1, "image_id": im["id"], "category_id": cats[c]["id"],
                         "segmentation": seg, "area": area, "iscrowd": int(is_crowd),
                         "bbox": [0.0, 0.0, float(w), float(h)]})  # fmt: skip
            for _ in range(int(rng.integers(0, 3))):
                cc = c if rng.random() < 0.85 else int(rng.integers(0, n_classes))
                if isinstance(seg, list):
                    jit = [list(np.asarray(p) + rng.normal(0, 0.3 + 0.015 * max(h, w), len(p))) for p in seg]
                    dm = mask_api.decode(mask_api.merge(mask_api.frPyObjects(jit, h, w))).astype(bool)
                else:
                    dm = np.roll(m, int(rng.integers(-3, 4)), axis=1)
                det(im["id"], cc, dm)
        for _ in range(int(rng.integers(0, 4))):
            blob = random_blob(rng, h, w) if rng.random() < 0.8 else np.zeros((h, w), dtype=bool)
            det(im["id"], int(rng.integers(0, n_classes)), blob)
    if with_zero_id and anns:
        anns[int(rng.integers(0, len(anns)))]["id"] = 0
    return {"images": images, "categories": cats, "annotations": anns}, dets


def masks_from_coco(gt: dict[str, Any]) -> tuple[MaskSet, list[int], dict[int, tuple[int, int]]]:
    """The ground truth as a MaskSet (category index in sorted-id order), the sorted ids and image sizes."""
    cat_ids = sorted(c["id"] for c in gt["categories"])
    idx = {c: i for i, c in enumerate(cat_ids)}
    sizes = {im["id"]: (im["height"], im["width"]) for im in gt["images"]}
    anns = gt["annotations"]
    rles = [
        rle_from_segmentation(a["segmentation"], *sizes[a["image_id"]], name=f"annotations[{i}].segmentation")
        for i, a in enumerate(anns)
    ]
    ms = MaskSet.build(
        [a["image_id"] for a in anns],
        [idx[a["category_id"]] for a in anns],
        rles,
        area=[a["area"] for a in anns],
        iscrowd=[bool(a["iscrowd"]) for a in anns],
        ann_id=[a["id"] for a in anns],
    )
    return ms, cat_ids, sizes


def mask_dets_from_coco(
    dets: list[dict[str, Any]], cat_ids: list[int], sizes: dict[int, tuple[int, int]], *, bbox_area: bool = False
) -> MaskSet:
    idx = {c: i for i, c in enumerate(cat_ids)}
    rles = [
        rle_from_segmentation(d["segmentation"], *sizes[d["image_id"]], name=f"results[{i}].segmentation")
        for i, d in enumerate(dets)
    ]
    xywh = np.array([d["bbox"] for d in dets], dtype=np.float64).reshape(-1, 4) if bbox_area else None
    return MaskSet.build(
        [d["image_id"] for d in dets],
        [idx[d["category_id"]] for d in dets],
        rles,
        score=[d["score"] for d in dets],
        xywh=xywh,
        area=None if xywh is None else xywh[:, 2] * xywh[:, 3],
    )


def reference(gt: dict[str, Any], dets: list[dict[str, Any]], iou_type: str) -> Any:
    """pycocotools' COCOeval on copies of the inputs (it rewrites records in place)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        cg = COCO()
        cg.dataset = json.loads(json.dumps(gt))
        cg.createIndex()
        if dets:
            cd = cg.loadRes(json.loads(json.dumps(dets)))
        else:
            cd = COCO()
            cd.dataset = {"images": list(cg.dataset["images"]), "categories": cg.dataset["categories"],
                          "annotations": []}  # fmt: skip
            cd.createIndex()
        ev = COCOeval(cg, cd, iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def assert_same(res: CocoEvalResult, ref: Any) -> float:
    """Stats, precision and recall equal to 1e-9; returns the largest absolute difference seen."""
    np.testing.assert_allclose(res.stats, np.array(ref.stats), rtol=0, atol=1e-9)
    np.testing.assert_allclose(res.precision, ref.eval["precision"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(res.recall, ref.eval["recall"], rtol=0, atol=1e-9)
    return float(
        max(
            np.abs(res.stats - np.array(ref.stats)).max(),
            np.abs(res.precision - ref.eval["precision"]).max(),
            np.abs(res.recall - ref.eval["recall"]).max(),
        )
    )


def ours_segm(gt: dict[str, Any], dets: list[dict[str, Any]], *, bbox_area: bool = False) -> CocoEvalResult:
    g, cat_ids, sizes = masks_from_coco(gt)
    d = mask_dets_from_coco(dets, cat_ids, sizes, bbox_area=bbox_area)
    return coco_evaluate(g, d, num_classes=len(cat_ids), image_ids=[i["id"] for i in gt["images"]])


@pytest.mark.parametrize("seed", range(8))
def test_random_segm_scenes_equal_pycocotools(seed: int) -> None:
    gt, dets = random_segm_scene(seed)
    res = ours_segm(gt, dets)
    assert res.iou_type == "segm" and len(res.stats_dict()) == 12
    assert assert_same(res, reference(gt, dets, "segm")) <= 1e-9


@pytest.mark.parametrize("seed", range(2))
def test_many_crowd_regions_equal_pycocotools(seed: int) -> None:
    gt, dets = random_segm_scene(50 + seed, crowd=0.5)
    assert_same(ours_segm(gt, dets), reference(gt, dets, "segm"))


def test_detections_carrying_a_bbox_use_its_area_like_load_res() -> None:
    """pycocotools' loadRes takes w*h of a result's ``bbox`` as its area when the record has one."""
    gt, dets = random_segm_scene(60)
    rng = np.random.default_rng(61)
    for d in dets:
        d["bbox"] = [float(v) for v in rng.uniform(1, 80, 4)]
    assert_same(ours_segm(gt, dets, bbox_area=True), reference(gt, dets, "segm"))


def test_match_to_annotation_id_zero_counts_as_miss_like_pycocotools() -> None:
    h, w = 20, 30
    sq = [[2, 2, 12, 2, 12, 12, 2, 12]]
    gt = {"images": [{"id": 1, "height": h, "width": w}], "categories": [{"id": 1, "name": "a"}],
          "annotations": [{"id": 0, "image_id": 1, "category_id": 1, "segmentation": sq, "area": 100.0,
                           "iscrowd": 0, "bbox": [2, 2, 10, 10]}]}  # fmt: skip
    rle = mask_api.merge(mask_api.frPyObjects(sq, h, w))
    dets = [{"image_id": 1, "category_id": 1, "score": 0.9,
             "segmentation": {"size": [h, w], "counts": rle["counts"].decode()}}]  # fmt: skip
    res = ours_segm(gt, dets)
    assert res.id_zero_matches == 1
    assert res.stats[0] == 0.0  # a perfect mask, yet a miss: pycocotools' dtm stores the id, 0
    assert_same(res, reference(gt, dets, "segm"))


def test_no_detections_and_no_ground_truth() -> None:
    gt, dets = random_segm_scene(70, n_images=6)
    res = ours_segm(gt, [])
    assert_same(res, reference(gt, [], "segm"))
    assert res.stats[0] == 0.0
    empty = {"images": gt["images"], "categories": gt["categories"], "annotations": []}
    res = ours_segm(empty, dets)
    assert_same(res, reference(empty, dets, "segm"))
    assert (res.stats == -1).all()


def test_bbox_kind_on_mask_sets_evaluates_their_boxes() -> None:
    gt, dets = random_segm_scene(80, n_images=10)
    g, cat_ids, sizes = masks_from_coco(gt)
    d = mask_dets_from_coco(dets, cat_ids, sizes)
    as_boxes = coco_evaluate(g, d, num_classes=len(cat_ids), iou_type="bbox")
    direct = coco_evaluate(g.boxes, d.boxes, num_classes=len(cat_ids))
    assert as_boxes.iou_type == "bbox" and np.array_equal(as_boxes.precision, direct.precision)
    with pytest.raises(TypeError, match="KeypointSet"):
        coco_evaluate(g, d, num_classes=len(cat_ids), iou_type="keypoints")


# -- bulk paths: column crossings, many compressed strings at once, unions of many objects --------------------


@pytest.mark.parametrize("seed", range(3))
def test_crossing_rasteriser_equals_the_point_walk_and_pycocotools(seed: int) -> None:
    """The rasteriser that computes column crossings directly gives the counts of the one that walks every
    upsampled point, and pycocotools' rleFrPoly, on polygons partly outside the image (negative coordinates
    included), with zero-length edges, on half pixels and on images up to 600 px."""
    from quality_gates.segmentation import _polygon_xy, _rasterise_crossings, _rasterise_walk, _scaled

    rng = np.random.default_rng(300 + seed)
    polys, hs, ws, refs = [], [], [], []
    for _ in range(400):
        h, w = (int(v) for v in rng.integers(2, 600 if rng.random() < 0.2 else 90, 2))
        p = random_polygon(rng, h, w)
        if rng.random() < 0.1:
            p[2:4] = p[0:2]
        if rng.random() < 0.2:
            p = [v - float(rng.uniform(0, w)) for v in p]
        polys.append(_polygon_xy(p, "p"))
        hs.append(h)
        ws.append(w)
        refs.append(Rle.from_string(mask_api.frPyObjects([p], h, w)[0]["counts"], h, w).counts)
    x, y = _scaled(np.concatenate(polys))
    k, h_arr, w_arr = np.array([len(p) for p in polys]), np.array(hs), np.array(ws)
    fast = _rasterise_crossings(x, y, k, h_arr, w_arr)
    assert fast is not None
    walk = _rasterise_walk(x, y, k, h_arr, w_arr)
    for a, b, ref in zip(fast, walk, refs, strict=True):
        assert np.array_equal(a, ref) and np.array_equal(b, ref)


def test_many_compressed_strings_and_multi_part_objects_decode_like_pycocotools() -> None:
    """Compressed strings decoded together (empty masks, full masks, long runs) and objects of several polygon
    parts united together equal pycocotools object by object."""
    rng = np.random.default_rng(41)
    segs: list[Any] = []
    hs, ws, refs = [], [], []
    for _ in range(300):
        h, w = (int(v) for v in rng.integers(1, 400, 2))
        if rng.random() < 0.5:
            m = random_blob(rng, h, w) if rng.random() < 0.8 else np.full((h, w), rng.random() < 0.5)
            ref = mask_api.encode(_fortran(m))
            segs.append({"size": [h, w], "counts": ref["counts"].decode()})
        else:
            seg = [random_polygon(rng, h, w) for _ in range(int(rng.integers(2, 5)))] if h > 1 and w > 1 else []
            if not seg:
                seg = [[0.0, 0.0, float(w), 0.0, float(w), float(h)]]
            ref = mask_api.merge(mask_api.frPyObjects(seg, h, w))
            segs.append(seg)
        hs.append(h)
        ws.append(w)
        refs.append(ref["counts"].decode())
    assert [r.to_string() for r in rles_from_segmentations(segs, hs, ws)] == refs


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"size": [12, 10], "counts": "z!"}, "characters"),
        ({"size": [12, 10], "counts": "10"}, "add up to"),
        ({"size": [12, 10], "counts": [60, True, 59]}, "string or a list of integers"),
        ({"size": [12, 10], "counts": [60, -1, 61]}, "non-negative"),
        ({"size": [10, 12], "counts": [120]}, "differs from the image"),
        ([[1, 1, 5, 5, 6, 1], [0, 0, 2, 2]], r"\[1\]: .*at least 3 points"),
        ([[1, 1, 5, float("inf"), 6, 1]], "NaN or infinity"),
        ([(1, 1, 5, 5)], "at least 3 points"),
    ],
)
def test_bulk_conversion_names_the_first_bad_object(bad: Any, message: str) -> None:
    """One invalid object among valid polygons and strings: the error names it (the bulk path gives up and the
    objects are converted one by one), even when a later object is also invalid."""
    good_poly = [[1.0, 1.0, 8.0, 1.0, 8.0, 9.0]]
    good_str = {"size": [12, 10], "counts": mask_api.encode(_fortran(np.ones((12, 10))))["counts"].decode()}
    segs = [good_poly, good_str, bad, {"size": [12, 10], "counts": "z!"}]
    names = [f"annotations[{i}].segmentation" for i in range(len(segs))]
    with pytest.raises(InputFormatError, match=message) as err:
        rles_from_segmentations(segs, [12] * 4, [10] * 4, names=names)
    assert "annotations[2].segmentation" in str(err.value)


@pytest.mark.parametrize(
    "counts",
    [[2**63 - 1, 2**63 - 1, 8002], [2**64 - 1, 1], np.array([2**63 + 5, 3], dtype=np.uint64), [10**30, 1], [8001, 0]],
)
def test_counts_that_would_wrap_around_or_overrun_the_mask_are_refused(counts: object) -> None:
    """Huge runs must not sum past int64 into a plausible total (a mask that never encodes)."""
    with pytest.raises(InputFormatError):
        Rle(80, 100, counts)
