"""Seeded synthetic COCO data: a ground truth, model predictions of controllable quality, and simulated
annotators who disagree the way people do (missed boxes, class confusions, jittered corners, extra boxes).

Everything is generated with ``numpy.random.default_rng(seed)`` and returned as plain COCO dicts/lists (the
shapes of ``instances.json`` and of a results file), so the same data can be written to disk by a caller,
parsed back with :mod:`quality_gates.coco`, or fed to pycocotools. Used by the tests, the benchmarks and the
product demo.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quality_gates._types import FloatArray, IntArray, JsonDict

__all__ = [
    "DemoData",
    "make_annotator",
    "make_coco_gt",
    "make_demo",
    "make_predictions",
]

_CLASS_NAMES = (
    "person",
    "car",
    "bicycle",
    "dog",
    "cat",
    "truck",
    "bus",
    "bird",
    "chair",
    "bottle",
    "boat",
    "horse",
    "sheep",
    "cow",
    "train",
    "plane",
)


def _class_names(n: int) -> list[str]:
    return [_CLASS_NAMES[i] if i < len(_CLASS_NAMES) else f"class_{i}" for i in range(n)]


def make_coco_gt(
    *,
    n_images: int,
    n_classes: int = 10,
    boxes_per_image: float = 7.0,
    empty_fraction: float = 0.05,
    width: int = 640,
    height: int = 480,
    seed: int = 0,
) -> JsonDict:
    """A COCO instances dict with ``n_images`` images and about ``boxes_per_image`` boxes each.

    Args:
        n_images: number of images (ids 1..n).
        n_classes (10): categories with ids 1..K, named like COCO classes.
        boxes_per_image (7.0): Poisson mean of boxes on a non-empty image.
        empty_fraction (0.05): share of images with no boxes, in [0, 1].
        width, height (640, 480): image size in px; boxes lie inside it.
        seed (0): random seed.

    Box sides are log-uniform in [6, 300] px so COCO's small/medium/large ranges are all populated; class
    frequencies follow a Zipf-like profile; coordinates have 2 decimals and ``area = w * h``.
    """
    rng = np.random.default_rng(seed)
    counts = rng.poisson(boxes_per_image, n_images)
    counts[rng.random(n_images) < empty_fraction] = 0
    n = int(counts.sum())
    image = np.repeat(np.arange(1, n_images + 1), counts)
    weights = 1.0 / np.arange(1, n_classes + 1) ** 0.7
    cat = rng.choice(n_classes, size=n, p=weights / weights.sum()) + 1
    w = np.round(np.minimum(np.exp(rng.uniform(np.log(6), np.log(300), n)), width - 1), 2)
    h = np.round(np.minimum(w * np.exp(rng.normal(0, 0.35, n)), height - 1).clip(4), 2)
    x = np.round(rng.uniform(0, 1, n) * (width - w), 2)
    y = np.round(rng.uniform(0, 1, n) * (height - h), 2)
    anns = [
        {"id": i + 1, "image_id": im, "category_id": c, "bbox": [bx, by, bw, bh], "area": bw * bh, "iscrowd": 0}
        for i, (im, c, bx, by, bw, bh) in enumerate(
            zip(image.tolist(), cat.tolist(), x.tolist(), y.tolist(), w.tolist(), h.tolist(), strict=True)
        )
    ]
    return {
        "info": {"description": f"labelgate synthetic ground truth (seed {seed})"},
        "images": [
            {"id": i, "file_name": f"{i:08d}.jpg", "width": width, "height": height} for i in range(1, n_images + 1)
        ],
        "categories": [{"id": k + 1, "name": nm} for k, nm in enumerate(_class_names(n_classes))],
        "annotations": anns,
    }


def _image_wh(image: IntArray, sizes: dict[int, tuple[float, float]]) -> FloatArray:
    return np.array([sizes[int(i)] for i in image.tolist()], dtype=np.float64).reshape(-1, 2)


def _gt_arrays(gt: JsonDict) -> tuple[IntArray, IntArray, FloatArray, dict[int, tuple[float, float]]]:
    anns = gt["annotations"]
    image = np.array([a["image_id"] for a in anns], dtype=np.int64)
    cat = np.array([a["category_id"] for a in anns], dtype=np.int64)
    box = np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)
    sizes = {int(im["id"]): (float(im.get("width", 640)), float(im.get("height", 480))) for im in gt["images"]}
    return image, cat, box, sizes


def _perturb(
    rng: np.random.Generator,
    box: FloatArray,
    cat: IntArray,
    *,
    jitter: float,
    confusion: float,
    cat_ids: IntArray,
    wh: FloatArray,
) -> tuple[FloatArray, IntArray]:
    n = len(box)
    scale = np.stack([box[:, 2], box[:, 3], box[:, 2], box[:, 3]], axis=1)
    out = box + rng.normal(0, jitter, (n, 4)) * scale
    # Keep boxes inside their image (what a labelling tool or a detector's clipping would do).
    out[:, :2] = np.clip(np.round(out[:, :2], 2), 0.0, np.maximum(wh - 2.0, 0.0))
    out[:, 2:] = np.clip(np.round(out[:, 2:], 2), 1.0, np.maximum(np.round(wh - out[:, :2], 2), 1.0))
    confused = rng.random(n) < confusion
    new_cat = cat.copy()
    if confused.any() and len(cat_ids) > 1:
        shift = rng.integers(1, len(cat_ids), int(confused.sum()))
        pos = np.searchsorted(cat_ids, cat[confused])
        new_cat[confused] = cat_ids[(pos + shift) % len(cat_ids)]
    return out, new_cat


def _random_boxes(rng: np.random.Generator, image: IntArray, sizes: dict[int, tuple[float, float]]) -> FloatArray:
    n = len(image)
    wh = _image_wh(image, sizes)
    w = np.minimum(np.exp(rng.uniform(np.log(6), np.log(250), n)), wh[:, 0] - 1)
    h = np.minimum(w * np.exp(rng.normal(0, 0.35, n)), wh[:, 1] - 1).clip(4)
    x = rng.uniform(0, 1, n) * (wh[:, 0] - w)
    y = rng.uniform(0, 1, n) * (wh[:, 1] - h)
    out: FloatArray = np.floor(np.stack([x, y, w, h], axis=1) * 100) / 100  # floor: stays inside the image
    return out


def make_predictions(
    gt: JsonDict,
    *,
    recall: float = 0.9,
    jitter: float = 0.05,
    confusion: float = 0.05,
    false_positives_per_image: float = 1.0,
    duplicate_rate: float = 0.05,
    review_rate: float | None = None,
    seed: int = 1,
) -> list[JsonDict]:
    """A COCO results list of simulated detections for ``gt``.

    Args:
        gt: a COCO instances dict (e.g. from :func:`make_coco_gt`).
        recall (0.9): probability that a ground-truth box is detected, in [0, 1].
        jitter (0.05): standard deviation of corner noise as a fraction of the box size.
        confusion (0.05): probability that a detection carries another class.
        false_positives_per_image (1.0): Poisson mean of spurious boxes per image.
        duplicate_rate (0.05): probability of a second, lower-scored detection of the same object.
        review_rate (None): when set, every record gets ``routed`` (score in the uncertain band [0.3, 0.6))
            and ``reviewed`` (routed records with probability ``review_rate``, others with a tenth of it).
        seed (1): random seed.

    Scores: correct detections ~ Beta(6, 2), confused ones ~ Beta(3, 3), spurious ones ~ Beta(2, 5).
    """
    rng = np.random.default_rng(seed)
    image, cat, box, sizes = _gt_arrays(gt)
    cat_ids = np.array(sorted(int(c["id"]) for c in gt["categories"]), dtype=np.int64)
    hit = rng.random(len(image)) < recall
    dup = hit & (rng.random(len(image)) < duplicate_rate)
    src = np.concatenate([np.flatnonzero(hit), np.flatnonzero(dup)])
    det_box, det_cat = _perturb(
        rng, box[src], cat[src], jitter=jitter, confusion=confusion, cat_ids=cat_ids, wh=_image_wh(image[src], sizes)
    )
    score = np.where(det_cat == cat[src], rng.beta(6, 2, len(src)), rng.beta(3, 3, len(src)))
    score[int(hit.sum()) :] *= 0.6
    image_ids = np.array(sorted(sizes), dtype=np.int64)
    n_fp = rng.poisson(false_positives_per_image, len(image_ids))
    fp_image = np.repeat(image_ids, n_fp)
    fp_box = _random_boxes(rng, fp_image, sizes)
    fp_cat = rng.choice(cat_ids, len(fp_image)) if len(cat_ids) else np.zeros(0, dtype=np.int64)
    all_image = np.concatenate([image[src], fp_image])
    all_cat = np.concatenate([det_cat, fp_cat])
    all_box = np.concatenate([det_box, fp_box]).reshape(-1, 4)
    all_score = np.round(np.concatenate([score, rng.beta(2, 5, len(fp_image))]), 4)
    order = np.argsort(all_image, kind="stable")
    records = [
        {"image_id": im, "category_id": c, "bbox": b, "score": s}
        for im, c, b, s in zip(
            all_image[order].tolist(),
            all_cat[order].tolist(),
            all_box[order].tolist(),
            all_score[order].tolist(),
            strict=True,
        )
    ]
    if review_rate is not None:
        s_arr = all_score[order]
        routed = (s_arr >= 0.3) & (s_arr < 0.6)
        reviewed = rng.random(len(s_arr)) < np.where(routed, review_rate, review_rate / 10)
        for rec, ro, rv in zip(records, routed.tolist(), reviewed.tolist(), strict=True):
            rec["routed"] = ro
            rec["reviewed"] = rv
    return records


def make_annotator(
    gt: JsonDict,
    *,
    miss_rate: float = 0.05,
    confusion: float = 0.03,
    jitter: float = 0.03,
    extra_per_image: float = 0.05,
    image_fraction: float = 1.0,
    seed: int = 2,
) -> JsonDict:
    """A COCO instances dict with one simulated annotator's labels of the images of ``gt``.

    Args:
        gt: the reference (true) labels.
        miss_rate (0.05): probability of leaving an object unlabelled.
        confusion (0.03): probability of choosing another class.
        jitter (0.03): corner noise, fraction of the box size.
        extra_per_image (0.05): Poisson mean of spurious boxes per image.
        image_fraction (1.0): share of the images this annotator labelled (the others are absent from the
            dict's ``images``, i.e. missing, not "no object").
        seed (2): random seed.
    """
    rng = np.random.default_rng(seed)
    image, cat, box, sizes = _gt_arrays(gt)
    cat_ids = np.array(sorted(int(c["id"]) for c in gt["categories"]), dtype=np.int64)
    all_images = np.array(sorted(sizes), dtype=np.int64)
    labelled = all_images[rng.random(len(all_images)) < image_fraction]
    keep = np.isin(image, labelled) & (rng.random(len(image)) >= miss_rate)
    a_box, a_cat = _perturb(
        rng, box[keep], cat[keep], jitter=jitter, confusion=confusion, cat_ids=cat_ids, wh=_image_wh(image[keep], sizes)
    )
    n_extra = rng.poisson(extra_per_image, len(labelled))
    x_image = np.repeat(labelled, n_extra)
    x_box = _random_boxes(rng, x_image, sizes)
    x_cat = rng.choice(cat_ids, len(x_image)) if len(cat_ids) else np.zeros(0, dtype=np.int64)
    all_image = np.concatenate([image[keep], x_image])
    all_cat = np.concatenate([a_cat, x_cat])
    all_box = np.concatenate([a_box, x_box]).reshape(-1, 4)
    order = np.argsort(all_image, kind="stable")
    labelled_set = set(labelled.tolist())
    return {
        "images": [im for im in gt["images"] if int(im["id"]) in labelled_set],
        "categories": [dict(c) for c in gt["categories"]],
        "annotations": [
            {"id": i + 1, "image_id": im, "category_id": c, "bbox": b, "area": b[2] * b[3], "iscrowd": 0}
            for i, (im, c, b) in enumerate(
                zip(all_image[order].tolist(), all_cat[order].tolist(), all_box[order].tolist(), strict=True)
            )
        ],
    }


@dataclass(frozen=True)
class DemoData:
    """The demo's story: a golden set, three annotators, a parent version and two model versions.

    Attributes:
        golden: COCO instances dict, the expert labels.
        parent: COCO instances dict of the parent dataset version (for drift).
        annotators: name → COCO instances dict of that annotator's labels of the golden images.
        good_predictions: a model version the default demo policy lets through.
        bad_predictions: a model version it blocks (low recall, many false positives).
    """

    golden: JsonDict
    parent: JsonDict
    annotators: dict[str, JsonDict]
    good_predictions: list[JsonDict]
    bad_predictions: list[JsonDict]


def make_demo(*, n_images: int = 200, n_classes: int = 5, seed: int = 7) -> DemoData:
    """Build :class:`DemoData` (three annotators of different care; ``bad_predictions`` misses a third of the
    objects and invents three boxes per image)."""
    golden = make_coco_gt(n_images=n_images, n_classes=n_classes, seed=seed)
    parent = make_coco_gt(n_images=n_images, n_classes=n_classes, seed=seed + 1)
    annotators = {
        "alice": make_annotator(
            golden, miss_rate=0.01, confusion=0.005, jitter=0.01, extra_per_image=0.0, seed=seed + 10
        ),
        "bob": make_annotator(
            golden, miss_rate=0.02, confusion=0.01, jitter=0.015, extra_per_image=0.01, seed=seed + 11
        ),
        "carol": make_annotator(
            golden, miss_rate=0.015, confusion=0.01, jitter=0.01, extra_per_image=0.01, seed=seed + 12
        ),
    }
    good = make_predictions(
        golden,
        recall=0.99,
        jitter=0.01,
        confusion=0.005,
        false_positives_per_image=0.1,
        duplicate_rate=0.0,
        review_rate=0.9,
        seed=seed + 20,
    )
    bad = make_predictions(
        golden,
        recall=0.65,
        jitter=0.08,
        confusion=0.15,
        false_positives_per_image=3.0,
        duplicate_rate=0.1,
        review_rate=0.9,
        seed=seed + 21,
    )
    return DemoData(golden, parent, annotators, good, bad)
