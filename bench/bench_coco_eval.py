"""Benchmark: COCO bbox mAP by labelgate's ``coco_evaluate`` against faster-coco-eval (and pycocotools).

Method: for each size, seeded synthetic data (``service.demo.synthetic``: ~7 boxes per image, 10 classes,
5% empty images, predictions with misses, jitter, class confusions, duplicates and false positives) is held
in memory as a COCO instances dict and a results list. Each timed run starts from those Python objects
and ends with the 12 summary stats:

- labelgate: ``parse_coco_instances`` + ``parse_coco_results`` (validation and conversion to arrays) +
  ``coco_evaluate``;
- faster-coco-eval: ``COCO(dict)`` + ``loadRes(list)`` + ``COCOeval_faster`` evaluate/accumulate/summarize;
- pycocotools (``--pycocotools``, smallest size only; it is slow): ``COCO`` + ``loadRes`` + ``COCOeval``.

Reference libraries get fresh shallow copies of the records each run (they annotate them in place); the
copying is not timed. The script prints the machine, the medians of ``--repeats`` runs and the ratios, and
asserts that all stats agree to 1e-9.

    python bench/bench_coco_eval.py --sizes 5000,20000,100000 --repeats 3 --pycocotools
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
from _common import faster_coco_stats, machine, pycocotools_stats, timed

from quality_gates.coco import parse_coco_instances, parse_coco_results
from quality_gates.cocoeval import coco_evaluate
from service.demo.synthetic import make_coco_gt, make_predictions


def ours(gt: dict[str, Any], dets: list[dict[str, Any]]) -> np.ndarray:
    ds = parse_coco_instances(gt)
    res = parse_coco_results(dets, dataset=ds)
    return coco_evaluate(ds.boxes, res.boxes, num_classes=len(ds.category_ids), image_ids=ds.image_ids).stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="5000,20000,100000", help="comma-separated image counts")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per method (median reported), >= 1")
    ap.add_argument("--pycocotools", action="store_true", help="also time pycocotools at the smallest size")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    print(f"machine: {machine()}")
    print(
        "method: in-memory COCO dict + results list -> 12 COCOeval bbox stats; median of "
        f"{args.repeats} runs; stats asserted equal to 1e-9"
    )
    print(
        f"{'images':>8} {'gt boxes':>9} {'dets':>9} {'labelgate s':>12} {'faster-coco s':>14} "
        f"{'pycocotools s':>14} {'faster/ours':>12}"
    )
    for i, n in enumerate(sizes):
        gt = make_coco_gt(n_images=n, n_classes=10, boxes_per_image=7.0, seed=args.seed)
        dets = make_predictions(gt, seed=args.seed + 1)
        t_ours, s_ours = timed(ours, gt, dets, repeats=args.repeats, copy=False)
        t_fast, s_fast = timed(lambda g, d: faster_coco_stats(g, d, "bbox"), gt, dets, repeats=args.repeats, copy=True)
        assert np.allclose(s_ours, s_fast, rtol=0, atol=1e-9), (s_ours, s_fast)
        t_py_text = "-"
        if args.pycocotools and i == 0:
            t_py, s_py = timed(lambda g, d: pycocotools_stats(g, d, "bbox"), gt, dets, repeats=args.repeats, copy=True)
            assert np.allclose(s_ours, s_py, rtol=0, atol=1e-9), (s_ours, s_py)
            t_py_text = f"{t_py:.2f}"
        print(
            f"{n:>8} {len(gt['annotations']):>9} {len(dets):>9} {t_ours:>12.2f} {t_fast:>14.2f} "
            f"{t_py_text:>14} {t_fast / t_ours:>11.1f}x",
            flush=True,
        )
    print(f"stats (last size): {np.array2string(s_ours, precision=4)}")


if __name__ == "__main__":
    main()
