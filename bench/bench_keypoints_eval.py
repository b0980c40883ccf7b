"""Benchmark: COCO "keypoints" mAP by labelgate's ``coco_evaluate`` against faster-coco-eval (and pycocotools).

Method: for each size and each of two cases, seeded synthetic data (``_common.make_keypoint_data``: images of
320..640 px, ~7 objects per image, 5% empty images; points unlabelled (v=0), occluded (v=1) or visible (v=2);
5% of the objects with num_keypoints 0, 2% crowd regions; detections with per-point jitter, misses,
duplicates and false positives) is held in memory as a COCO keypoints dict and a results list. The cases:
"person17", the 17 COCO person points with pycocotools' default sigmas, and "custom5", a 5-point category
with its own sigmas (pycocotools evaluates one sigma vector, so one category per dataset). Each timed run
starts from those Python objects and ends with the 10 summary stats:

- labelgate: the parsers ``labelgate gate check`` runs (``parse_coco_instances``, then
  ``quality_gates.coco_shapes.parse_coco_keypoints`` and ``parse_keypoint_results``: points, visibility and
  ``num_keypoints`` validated, ids and scores looked up) + ``coco_evaluate``;
- faster-coco-eval: ``COCO(dict)`` + ``loadRes(list)`` + ``COCOeval_faster(..., "keypoints")``
  evaluate/accumulate/summarize;
- pycocotools: ``COCO`` + ``loadRes`` + ``COCOeval(..., "keypoints")``, at ``--pycocotools-size`` images
  (default: the first size) and compared there with the other two.

Reference libraries get fresh copies of the records each run (they annotate them in place); the copying is
not timed. The script prints the machine, the medians of ``--repeats`` runs and the ratios, and asserts that
all stats agree to 1e-9.

    python bench/bench_keypoints_eval.py --sizes 5000 --repeats 3
"""

from __future__ import annotations

import argparse
from functools import partial
from typing import Any

import numpy as np
from _common import faster_coco_stats, machine, make_keypoint_data, parse_keypoints, pycocotools_stats, timed

from quality_gates.cocoeval import CocoEvalParams, coco_evaluate


def ours(gt: dict[str, Any], dets: list[dict[str, Any]], sigmas: list[float]) -> np.ndarray:
    ds, g, d = parse_keypoints(gt, dets)
    params = CocoEvalParams.keypoints(sigmas)
    return coco_evaluate(g, d, num_classes=len(ds.category_ids), image_ids=ds.image_ids, params=params).stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="5000", help="comma-separated image counts")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per method (median reported), >= 1")
    ap.add_argument("--pycocotools-size", type=int, default=None, help="images for pycocotools (default: first size)")
    ap.add_argument("--pycocotools-repeats", type=int, default=1, help="timed pycocotools runs")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    py_size = args.pycocotools_size or sizes[0]
    print(f"machine: {machine()}")
    print(
        "method: in-memory COCO keypoints dict + results list -> 10 COCOeval keypoints stats; median of "
        f"{args.repeats} runs (pycocotools: {args.pycocotools_repeats}); stats asserted equal to 1e-9"
    )
    print(
        f"{'case':>9} {'images':>7} {'gt objs':>8} {'dets':>8} {'labelgate s':>12} {'faster-coco s':>14} "
        f"{'pycocotools s':>14} {'faster/ours':>12} {'pycoco/ours':>12}"
    )
    for case, n_kp in (("person17", 17), ("custom5", 5)):
        for n in sorted(set(sizes) | {py_size}):
            gt, dets, sigmas = make_keypoint_data(n_images=n, n_kp=n_kp, objects_per_image=7.0, seed=args.seed)
            t_ours, s_ours = timed(partial(ours, sigmas=sigmas), gt, dets, repeats=args.repeats, copy=False)
            t_fast_text, r_fast = "-", "-"
            if n in sizes:
                t_fast, s_fast = timed(
                    partial(faster_coco_stats, iou_type="keypoints", sigmas=sigmas),
                    gt,
                    dets,
                    repeats=args.repeats,
                    copy=True,
                )
                assert np.allclose(s_ours, s_fast, rtol=0, atol=1e-9), (case, s_ours, s_fast)
                t_fast_text, r_fast = f"{t_fast:.2f}", f"{t_fast / t_ours:.2f}x"
            t_py_text, r_py = "-", "-"
            if n == py_size:
                t_py, s_py = timed(
                    partial(pycocotools_stats, iou_type="keypoints", sigmas=sigmas),
                    gt,
                    dets,
                    repeats=args.pycocotools_repeats,
                    copy=True,
                )
                assert np.allclose(s_ours, s_py, rtol=0, atol=1e-9), (case, s_ours, s_py)
                t_py_text, r_py = f"{t_py:.2f}", f"{t_py / t_ours:.1f}x"
            print(
                f"{case:>9} {n:>7} {len(gt['annotations']):>8} {len(dets):>8} {t_ours:>12.3f} {t_fast_text:>14} "
                f"{t_py_text:>14} {r_fast:>12} {r_py:>12}",
                flush=True,
            )
        print(f"stats ({case}, last size): {np.array2string(s_ours, precision=4)}")


if __name__ == "__main__":
    main()
