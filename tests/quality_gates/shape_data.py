"""Seeded COCO data of masks and keypoints for the segment and pose gate tests (dicts as files hold them)."""

from __future__ import annotations

from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

H, W = 48, 64
POSE_SIGMAS = (0.03, 0.05, 0.07, 0.04, 0.06)


def _poly(rng: np.random.Generator, cx: float, cy: float, r: float, shape: int = 0) -> list[float]:
    own = np.random.default_rng(shape)  # one shape per object, its copies only moved
    angles = np.sort(own.uniform(0, 2 * np.pi, 6))
    rad = r * own.uniform(0.6, 1.0, 6)
    xs = np.clip(cx + rad * np.cos(angles), 0, W - 1)
    ys = np.clip(cy + rad * np.sin(angles), 0, H - 1)
    return [round(float(v), 2) for xy in zip(xs, ys, strict=True) for v in xy]


def _rle(poly: list[float]) -> dict[str, Any]:
    rle = mask_utils.merge(mask_utils.frPyObjects([poly], H, W))
    return {"size": [H, W], "counts": rle["counts"].decode()}


def segment_data(seed: int = 0, n_images: int = 8) -> dict[str, Any]:
    """``golden`` (polygons, one crowd RLE), ``pred`` (RLE results, scored), two annotators' polygons."""
    rng = np.random.default_rng(seed)
    images = [{"id": i + 1, "width": W, "height": H, "file_name": f"{i}.png"} for i in range(n_images)]
    cats = [{"id": 1, "name": "blob"}, {"id": 3, "name": "spot"}]
    golden: list[dict[str, Any]] = []
    pred: list[dict[str, Any]] = []
    ann: dict[str, list[Any]] = {"alice": [], "bob": []}
    aid = 1
    for img in images:
        for _ in range(int(rng.integers(1, 4))):
            cx, cy, r = rng.uniform(12, W - 12), rng.uniform(12, H - 12), rng.uniform(5, 12)
            cat = int(rng.choice([1, 3]))
            shape = int(rng.integers(1 << 30))
            poly = _poly(rng, cx, cy, r, shape)
            rle = mask_utils.merge(mask_utils.frPyObjects([poly], H, W))
            area, bbox = float(mask_utils.area(rle)), [float(v) for v in mask_utils.toBbox(rle)]
            golden.append({"id": aid, "image_id": img["id"], "category_id": cat, "segmentation": [poly],
                           "area": area, "bbox": bbox, "iscrowd": 0})  # fmt: skip
            aid += 1
            if rng.random() < 0.85:
                p = _poly(rng, cx + rng.normal(0, 1.5), cy + rng.normal(0, 1.5), r, shape)
                pred.append({"image_id": img["id"], "category_id": cat if rng.random() < 0.9 else 4 - cat,
                             "segmentation": _rle(p), "score": round(float(rng.uniform(0.3, 1)), 3)})  # fmt: skip
            for name, noise in (("alice", 0.8), ("bob", 2.5)):
                if rng.random() < 0.9:
                    p = _poly(rng, cx + rng.normal(0, noise), cy + rng.normal(0, noise), r, shape)
                    c = cat if rng.random() < 0.9 else 4 - cat
                    ann[name].append((img["id"], c, p))
        if rng.random() < 0.5:  # a false positive
            p = _poly(rng, rng.uniform(8, W - 8), rng.uniform(8, H - 8), 5)
            pred.append({"image_id": img["id"], "category_id": 1, "segmentation": _rle(p),
                         "score": round(float(rng.uniform(0, 0.6)), 3)})  # fmt: skip
    # a crowd region as an uncompressed RLE, as COCO writes crowds
    crowd = np.zeros((H, W), dtype=np.uint8, order="F")
    crowd[30:44, 2:20] = 1
    enc = mask_utils.encode(crowd)
    counts: list[int] = []
    run, val = 0, 0
    for v in crowd.flatten(order="F").tolist():
        if v == val:
            run += 1
        else:
            counts.append(run)
            run, val = 1, v
    counts.append(run)
    golden.append({"id": aid, "image_id": 1, "category_id": 1, "segmentation": {"size": [H, W], "counts": counts},
                   "area": float(mask_utils.area(enc)), "bbox": [float(v) for v in mask_utils.toBbox(enc)],
                   "iscrowd": 1})  # fmt: skip
    pred.append({"image_id": 1, "category_id": 1, "segmentation": _rle([3, 31, 18, 31, 18, 42, 3, 42]), "score": 0.5})

    def coco(anns: list[dict[str, Any]]) -> dict[str, Any]:
        return {"images": images, "categories": cats, "annotations": anns}

    out = {"golden": coco(golden), "pred": pred}
    for name, rows in ann.items():
        anns = []
        for i, (img_id, c, p) in enumerate(rows):
            rle = mask_utils.merge(mask_utils.frPyObjects([p], H, W))
            box = [float(v) for v in mask_utils.toBbox(rle)]
            anns.append({"id": i + 1, "image_id": img_id, "category_id": c, "segmentation": [p],
                         "area": float(mask_utils.area(rle)), "bbox": box})  # fmt: skip
        out[name] = coco(anns)
    return out


def pose_data(seed: int = 0, n_images: int = 8) -> dict[str, Any]:
    """``golden`` (5-point objects, some points unlabelled, one crowd), ``pred`` results, two annotators."""
    rng = np.random.default_rng(seed)
    k = len(POSE_SIGMAS)
    images = [{"id": i + 1, "width": 200, "height": 160} for i in range(n_images)]
    cats = [{"id": 1, "name": "person"}, {"id": 2, "name": "robot"}]
    golden: list[dict[str, Any]] = []
    pred: list[dict[str, Any]] = []
    ann: dict[str, list[Any]] = {"alice": [], "bob": []}
    aid = 1

    def obj(base: np.ndarray, noise: float, vis: np.ndarray) -> list[float]:
        pts = base + rng.normal(0, noise, base.shape)
        return [round(float(v), 2) for p, v in zip(pts, vis, strict=True) for v in (p[0], p[1], v)]

    for img in images:
        for _ in range(int(rng.integers(1, 4))):
            base = rng.uniform(40, 120, 2) + rng.uniform(-35, 35, (k, 2))
            vis = rng.choice([0, 1, 2], size=k, p=[0.15, 0.25, 0.6]).astype(float)
            x0, y0 = base.min(axis=0) - 2
            x1, y1 = base.max(axis=0) + 2
            kp = obj(base, 0.0, vis)
            for j in range(k):
                if vis[j] == 0:
                    kp[3 * j], kp[3 * j + 1] = 0.0, 0.0
            cat = int(rng.choice([1, 2]))
            golden.append({"id": aid, "image_id": img["id"], "category_id": cat, "keypoints": kp,
                           "num_keypoints": int((vis > 0).sum()), "area": float((x1 - x0) * (y1 - y0)),
                           "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)], "iscrowd": 0})  # fmt: skip
            aid += 1
            if rng.random() < 0.85:
                pred.append({"image_id": img["id"], "category_id": cat, "keypoints": obj(base, 1.5, np.full(k, 1.0)),
                             "score": round(float(rng.uniform(0.2, 1)), 3)})  # fmt: skip
            for name, noise in (("alice", 0.5), ("bob", 2.0)):
                if rng.random() < 0.9:
                    c = cat if rng.random() < 0.9 else 3 - cat
                    box = [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]
                    ann[name].append((img["id"], c, obj(base, noise, np.full(k, 2.0)), box))
        if rng.random() < 0.5:
            pred.append({"image_id": img["id"], "category_id": 1,
                         "keypoints": obj(rng.uniform(20, 140, 2) + rng.uniform(-15, 15, (k, 2)), 0, np.ones(k)),
                         "score": round(float(rng.uniform(0, 0.5)), 3)})  # fmt: skip
    golden.append({"id": aid, "image_id": 2, "category_id": 1, "keypoints": [0.0] * (3 * k), "num_keypoints": 0,
                   "area": 900.0, "bbox": [5.0, 5.0, 30.0, 30.0], "iscrowd": 1})  # fmt: skip

    def coco(anns: list[dict[str, Any]]) -> dict[str, Any]:
        return {"images": images, "categories": cats, "annotations": anns}

    out = {"golden": coco(golden), "pred": pred}
    for name, rows in ann.items():
        out[name] = coco([{"id": i + 1, "image_id": im, "category_id": c, "keypoints": kp, "num_keypoints": k,
                           "area": b[2] * b[3], "bbox": b} for i, (im, c, kp, b) in enumerate(rows)])  # fmt: skip
    return out
