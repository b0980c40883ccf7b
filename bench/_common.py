"""Shared by the benchmark scripts: what machine the figures come from."""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown cpu"


# -- Seeded synthetic "segm" and "keypoints" data, and their conversion to labelgate's arrays -------------------
#
# Added for bench/bench_segm_eval.py and bench/bench_keypoints_eval.py; the conversion functions are what the
# benchmarks time on labelgate's side (quality_gates has no parser of COCO segmentation/keypoints results yet).

import os  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from quality_gates.coco import CocoDataset, parse_coco_instances  # noqa: E402
from quality_gates.coco_shapes import (  # noqa: E402
    parse_coco_keypoints,
    parse_coco_masks,
    parse_keypoint_results,
    parse_mask_results,
)
from quality_gates.errors import InputFormatError  # noqa: E402
from quality_gates.keypoints import KeypointSet  # noqa: E402
from quality_gates.masks import MaskSet  # noqa: E402
from quality_gates.segmentation import rles_from_segmentations  # noqa: E402


def machine() -> str:
    """One line: CPU model, logical cores, Python and numpy versions."""
    return f"{cpu_model()}, {os.cpu_count()} logical cores, Python {platform.python_version()}, numpy {np.__version__}"


def _star(rng: np.random.Generator, cx: float, cy: float, r: float) -> list[float]:
    """A star-shaped polygon of 8..16 points around (cx, cy) with radius about ``r`` px, 2 decimals."""
    k = int(rng.integers(8, 17))
    ang = np.sort(rng.uniform(0, 2 * np.pi, k))
    rad = r * rng.uniform(0.6, 1.0, k)
    return np.round(np.column_stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)]), 2).ravel().tolist()


def make_segm_data(
    *, n_images: int, n_classes: int = 10, masks_per_image: float = 7.0, seed: int = 0
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A COCO instances dict with "segm" ground truth and a results list of RLE detections.

    Images are 320..640 px on each side; 5% have no objects, the others a Poisson(``masks_per_image``) number.
    Ground truth: star polygons (10% in two parts) with radii log-uniform in [3, 160] px (all area ranges),
    5% stored as compressed RLE; 3% crowd regions as uncompressed RLE (counts lists, as COCO stores them).
    ``area`` is the mask area, ``bbox`` its box. Detections, all compressed RLE (as real models give): 90% of
    the objects found with jittered outlines, 5% with the wrong class, 5% duplicated with a lower score,
    1..3 inside each crowd region, and Poisson(1.5) false positives per image.
    """
    rng = np.random.default_rng(seed)
    hs = rng.integers(320, 641, n_images)
    ws = rng.integers(320, 641, n_images)
    counts = rng.poisson(masks_per_image, n_images)
    counts[rng.random(n_images) < 0.05] = 0
    weights = 1.0 / np.arange(1, n_classes + 1) ** 0.7
    images = [
        {"id": i + 1, "file_name": f"{i + 1:08d}.jpg", "height": int(h), "width": int(w)}
        for i, (h, w) in enumerate(zip(hs.tolist(), ws.tolist(), strict=True))
    ]
    g_seg: list[Any] = []
    g_meta: list[tuple[int, int, int, str]] = []  # image index, class, crowd, storage
    d_seg: list[Any] = []
    d_meta: list[tuple[int, int, float]] = []  # image index, class, score

    def det(i: int, c: int, parts: list[list[float]], score: float) -> None:
        d_seg.append(parts)
        d_meta.append((i, c, round(score, 6)))

    def jitter(parts: list[list[float]], cx: float, cy: float, r: float, j: float) -> list[list[float]]:
        """The outline moved, rescaled and its vertices shaken by about ``j`` of the radius."""
        dx, dy, scale = rng.normal(0, j * r), rng.normal(0, j * r), rng.uniform(1 - j, 1 + j)
        out = []
        for p in parts:
            xy = np.asarray(p).reshape(-1, 2)
            xy = (xy - [cx, cy]) * scale + [cx + dx, cy + dy] + rng.normal(0, j * r * 0.5, xy.shape)
            out.append(np.round(xy, 2).ravel().tolist())
        return out

    for i in range(n_images):
        h, w = int(hs[i]), int(ws[i])
        for _ in range(int(counts[i])):
            c = int(rng.choice(n_classes, p=weights / weights.sum()))
            r = float(min(np.exp(rng.uniform(np.log(3), np.log(160))), 0.45 * min(h, w)))
            cx, cy = float(rng.uniform(r * 0.5, w - r * 0.5)), float(rng.uniform(r * 0.5, h - r * 0.5))
            crowd = rng.random() < 0.03
            parts = [_star(rng, cx, cy, r)]
            if not crowd and rng.random() < 0.1:
                parts.append(_star(rng, cx + r, cy + r * 0.3, r * 0.5))
            g_seg.append(parts)
            g_meta.append((i, c, int(crowd), "counts" if crowd else ("string" if rng.random() < 0.05 else "poly")))
            if crowd:
                for _ in range(int(rng.integers(1, 4))):
                    at = cx + rng.normal(0, r / 3), cy + rng.normal(0, r / 3)
                    det(i, c, [_star(rng, *at, r / 3)], float(rng.uniform(0.2, 0.9)))
                continue
            if rng.random() < 0.9:
                cc = c if rng.random() < 0.95 else int(rng.integers(0, n_classes))
                j = float(rng.uniform(0.0, 0.15))
                score = float(rng.uniform(0.3, 1.0))
                det(i, cc, jitter(parts, cx, cy, r, j), score)
                if rng.random() < 0.05:
                    det(i, cc, jitter(parts, cx, cy, r, 2 * j), score * 0.8)
        for _ in range(int(rng.poisson(1.5))):
            r = float(min(np.exp(rng.uniform(np.log(3), np.log(120))), 0.45 * min(h, w)))
            at = float(rng.uniform(r, w - r)), float(rng.uniform(r, h - r))
            det(i, int(rng.integers(0, n_classes)), [_star(rng, *at, r)], float(rng.uniform(0.0, 0.6)))
    g_img = np.array([m[0] for m in g_meta], dtype=np.int64)
    g_rle = rles_from_segmentations(g_seg, hs[g_img], ws[g_img])
    anns = []
    for k, ((i, c, crowd, kind), seg, rle) in enumerate(zip(g_meta, g_seg, g_rle, strict=True)):
        stored: Any = seg
        if kind == "counts":
            stored = {"size": [rle.height, rle.width], "counts": rle.counts.tolist()}
        elif kind == "string":
            stored = rle.to_coco()
        anns.append({"id": k + 1, "image_id": i + 1, "category_id": c + 1, "segmentation": stored,
                     "area": float(rle.area), "bbox": rle.bbox.tolist(), "iscrowd": crowd})  # fmt: skip
    d_img = np.array([m[0] for m in d_meta], dtype=np.int64)
    d_rle = rles_from_segmentations(d_seg, hs[d_img], ws[d_img])
    dets = [
        {"image_id": i + 1, "category_id": c + 1, "segmentation": rle.to_coco(), "score": s}
        for (i, c, s), rle in zip(d_meta, d_rle, strict=True)
    ]
    cats = [{"id": k + 1, "name": f"class_{k}", "supercategory": "thing"} for k in range(n_classes)]
    return {"images": images, "categories": cats, "annotations": anns}, dets


# A person-like 17-point skeleton (COCO order: nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles)
# in units of the person's height, x to the right and y down from the top of the head.
_PERSON = np.array(
    [[0.0, 0.06], [-0.03, 0.04], [0.03, 0.04], [-0.06, 0.05], [0.06, 0.05], [-0.12, 0.2], [0.12, 0.2],
     [-0.16, 0.36], [0.16, 0.36], [-0.17, 0.5], [0.17, 0.5], [-0.08, 0.52], [0.08, 0.52], [-0.09, 0.75],
     [0.09, 0.75], [-0.09, 0.97], [0.09, 0.97]]
)  # fmt: skip


def make_keypoint_data(
    *, n_images: int, n_kp: int = 17, objects_per_image: float = 7.0, seed: int = 0
) -> tuple[dict[str, Any], list[dict[str, Any]], list[float]]:
    """A COCO keypoints dict (one category with ``n_kp`` points), a results list and the OKS sigmas.

    17 points: the COCO person skeleton and sigmas; other counts: a random template and random sigmas in
    [0.025, 0.11] (pycocotools evaluates one sigma vector, so one category per dataset). Images 320..640 px;
    5% empty, others Poisson(``objects_per_image``) objects with heights log-uniform in [16, 400] px (medium
    and large area ranges, and small ones that COCO's keypoint ranges leave out of the area rows). Points are
    unlabelled (v=0, x=y=0) with probability 0.2 or when outside the image, occluded (v=1) 0.2, visible
    (v=2) 0.6; 5% of the objects have no labelled point (num_keypoints 0, ignored by COCOeval) and 2% are
    crowd regions (no points, as COCO's). ``area`` is about 55% of the box. Detections: 90% of the objects
    found with per-point jitter of 0.5..4% of the height, 5% duplicated with a lower score, Poisson(1.5) false
    positives per image; every point v=1, coordinates with 2 decimals.
    """
    from quality_gates.keypoints import COCO_PERSON_SIGMAS

    rng = np.random.default_rng(seed)
    if n_kp == 17:
        template, sigmas = _PERSON, list(COCO_PERSON_SIGMAS)
    else:
        template = np.column_stack([rng.uniform(-0.25, 0.25, n_kp), rng.uniform(0, 1, n_kp)])
        sigmas = [round(float(v), 4) for v in rng.uniform(0.025, 0.11, n_kp)]
    hs = rng.integers(320, 641, n_images)
    ws = rng.integers(320, 641, n_images)
    counts = rng.poisson(objects_per_image, n_images)
    counts[rng.random(n_images) < 0.05] = 0
    images = [
        {"id": i + 1, "file_name": f"{i + 1:08d}.jpg", "height": int(h), "width": int(w)}
        for i, (h, w) in enumerate(zip(hs.tolist(), ws.tolist(), strict=True))
    ]
    anns: list[dict[str, Any]] = []
    dets: list[dict[str, Any]] = []

    def det(i: int, xy: np.ndarray, score: float) -> None:
        kp = np.column_stack([np.round(xy, 2), np.ones(n_kp)]).ravel()
        dets.append({"image_id": i + 1, "category_id": 1, "keypoints": kp.tolist(), "score": round(score, 6)})

    for i in range(n_images):
        h, w = int(hs[i]), int(ws[i])
        for _ in range(int(counts[i])):
            size = float(min(np.exp(rng.uniform(np.log(16), np.log(400))), 0.95 * h))
            x0, y0 = rng.uniform(-0.1 * w, w), rng.uniform(-0.05 * h, h - size)
            xy = np.column_stack([x0, y0]) + template * size + rng.normal(0, size * 0.02, (n_kp, 2))
            v = rng.choice([0, 1, 2], n_kp, p=[0.2, 0.2, 0.6])
            v[(xy[:, 0] < 0) | (xy[:, 0] >= w) | (xy[:, 1] < 0) | (xy[:, 1] >= h)] = 0
            crowd = rng.random() < 0.02
            if crowd or rng.random() < 0.05:
                v[:] = 0
            lo, hi = xy.min(axis=0) - 0.03 * size, xy.max(axis=0) + 0.03 * size
            lo, hi = np.maximum(lo, 0), np.minimum(hi, [w, h])
            bw, bh = max(float(hi[0] - lo[0]), 1.0), max(float(hi[1] - lo[1]), 1.0)
            bbox = [round(float(lo[0]), 2), round(float(lo[1]), 2), round(bw, 2), round(bh, 2)]
            kp = np.column_stack([np.where(v[:, None] > 0, np.round(xy, 2), 0.0), v]).ravel()
            area = round(bw * bh * float(rng.uniform(0.45, 0.65)), 2)
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": 1, "keypoints": kp.tolist(),
                         "num_keypoints": int((v > 0).sum()), "bbox": bbox, "area": area,
                         "iscrowd": int(crowd)})  # fmt: skip
            if crowd:
                continue
            if rng.random() < 0.9:
                score = float(rng.uniform(0.3, 1.0))
                det(i, xy + rng.normal(0, size * rng.uniform(0.005, 0.04), (n_kp, 2)), score)
                if rng.random() < 0.05:
                    det(i, xy + rng.normal(0, size * 0.1, (n_kp, 2)), score * 0.8)
        for _ in range(int(rng.poisson(1.5))):
            size = float(np.exp(rng.uniform(np.log(16), np.log(300))))
            at = np.array([rng.uniform(0, w), rng.uniform(0, h - size / 2)])
            det(i, at + template * size + rng.normal(0, size * 0.05, (n_kp, 2)), float(rng.uniform(0.0, 0.6)))
    names = [f"p{k}" for k in range(n_kp)]
    cats = [{"id": 1, "name": "person" if n_kp == 17 else f"object{n_kp}", "supercategory": "thing",
             "keypoints": names, "skeleton": [[k + 1, k + 2] for k in range(n_kp - 1)]}]  # fmt: skip
    return {"images": images, "categories": cats, "annotations": anns}, dets, sigmas


def parse_segm(gt: dict[str, Any], dets: list[dict[str, Any]]) -> tuple[CocoDataset, MaskSet, MaskSet]:
    """COCO instances dict and RLE results list to ground-truth and detection :class:`MaskSet` s, validated, by
    the parsers ``labelgate gate check`` runs (``quality_gates.coco`` and ``quality_gates.coco_shapes``)."""
    ds = parse_coco_instances(gt)
    return ds, parse_coco_masks(gt, ds), parse_mask_results(dets, ds, source="results")


def parse_keypoints(gt: dict[str, Any], dets: list[dict[str, Any]]) -> tuple[CocoDataset, KeypointSet, KeypointSet]:
    """COCO keypoints dict and results list to :class:`KeypointSet` s, validated, by the parsers ``labelgate
    gate check`` runs; K is the categories' ``keypoints`` list's length."""
    ds = parse_coco_instances(gt)
    ks = {len(c.get("keypoints", [])) for c in gt["categories"]}
    if len(ks) != 1 or 0 in ks:
        raise InputFormatError("ground truth", "categories", "every category needs the same non-empty 'keypoints' list")
    gt_set = parse_coco_keypoints(gt, ds)
    return ds, gt_set, parse_keypoint_results(dets, ds, num_points=ks.pop(), source="results")


# --- the reference libraries and the timing every COCO benchmark shares ------------------------------------

STAT_COUNT = {"bbox": 12, "segm": 12, "keypoints": 10}


def fresh_copies(gt: dict[str, Any], dets: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Copies of the records a reference library annotates in place (``loadRes`` and ``createIndex`` add
    fields), deep enough that every run starts from the same objects."""
    import copy

    return copy.deepcopy(gt), copy.deepcopy(dets)


def faster_coco_stats(
    gt: dict[str, Any], dets: list[dict[str, Any]], iou_type: str, sigmas: list[float] | None = None
) -> np.ndarray:
    """faster-coco-eval's ``COCO(dict)`` + ``loadRes`` + ``COCOeval_faster`` evaluate/accumulate/summarize."""
    import contextlib
    import io

    from faster_coco_eval import COCO, COCOeval_faster

    extra = {"kpt_oks_sigmas": sigmas} if sigmas is not None else {}
    with contextlib.redirect_stdout(io.StringIO()):
        cg = COCO(gt)
        cd = cg.loadRes(dets)
        ev = COCOeval_faster(cg, cd, iou_type, print_function=lambda *a, **k: None, **extra)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats[: STAT_COUNT[iou_type]], dtype=np.float64)


def pycocotools_stats(
    gt: dict[str, Any], dets: list[dict[str, Any]], iou_type: str, sigmas: list[float] | None = None
) -> np.ndarray:
    """pycocotools' ``COCO`` + ``loadRes`` + ``COCOeval`` evaluate/accumulate/summarize."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        cg = COCO()
        cg.dataset = gt
        cg.createIndex()
        cd = cg.loadRes(dets)
        ev = COCOeval(cg, cd, iou_type)
        if sigmas is not None:
            ev.params.kpt_oks_sigmas = np.array(sigmas)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats, dtype=np.float64)


def timed(
    fn: Callable[[dict[str, Any], list[dict[str, Any]]], np.ndarray],
    gt: dict[str, Any],
    dets: list[dict[str, Any]],
    *,
    repeats: int,
    copy: bool,
) -> tuple[float, np.ndarray]:
    """The median seconds of ``repeats`` runs of ``fn(gt, dets)`` and its last stats; with ``copy`` each run gets
    :func:`fresh_copies` (made before the clock starts)."""
    import statistics
    import time

    times, stats = [], np.zeros(0)
    for _ in range(repeats):
        g, d = fresh_copies(gt, dets) if copy else (gt, dets)
        t0 = time.perf_counter()
        stats = fn(g, d)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), stats
