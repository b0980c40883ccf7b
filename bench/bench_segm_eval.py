"""Benchmark: COCO "segm" mAP by labelgate's ``coco_evaluate`` against faster-coco-eval (and pycocotools).

Method: for each size, seeded synthetic data (``_common.make_segm_data``: images of 320..640 px, ~7 masks per
image, 10 classes, 5% empty images; ground truth as polygons, 1 in 10 in two parts, 5% compressed RLE, 3% crowd
regions as uncompressed RLE; detections as compressed RLE, as real models give: jittered outlines, misses,
class confusions, duplicates and false positives) is held in memory as a COCO instances dict and a results
list. Each timed run starts from those Python objects and ends with the 12 summary stats:

- labelgate: the parsers ``labelgate gate check`` runs (``parse_coco_instances``, then
  ``quality_gates.coco_shapes.parse_coco_masks`` and ``parse_mask_results``: every polygon rasterised and
  RLE decoded, ids and scores validated and looked up) + ``coco_evaluate``;
- faster-coco-eval: ``COCO(dict)`` + ``loadRes(list)`` + ``COCOeval_faster(..., "segm")``
  evaluate/accumulate/summarize (its defaults, so up to 8 threads for mask IoU);
- pycocotools: ``COCO`` + ``loadRes`` + ``COCOeval(..., "segm")``, at ``--pycocotools-size`` images
  (default: the first size; it is slow) and compared there with the other two.

Reference libraries get fresh copies of the records each run (they annotate them in place); the copying is
not timed. The script prints the machine, the medians of ``--repeats`` runs and the ratios, and asserts that
all stats agree to 1e-9.

    python bench/bench_segm_eval.py --sizes 5000 --repeats 3
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
from _common import faster_coco_stats, machine, make_segm_data, parse_segm, pycocotools_stats, timed

from quality_gates.cocoeval import coco_evaluate


def ours(gt: dict[str, Any], dets: list[dict[str, Any]]) -> np.ndarray:
    ds, g, d = parse_segm(gt, dets)
    return coco_evaluate(g, d, num_classes=len(ds.category_ids), image_ids=ds.image_ids, iou_type="segm").stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="5000", help="comma-separated image counts")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per method (median reported), >= 1")
    ap.add_argument("--pycocotools-size", type=int, default=None, help="images for pycocotools (default: first size)")
    ap.add_argument("--pycocotools-repeats", type=int, default=1, help="timed pycocotools runs")
    ap.add_argument("--only-ours", action="store_true", help="time labelgate only (for profiling)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    py_size = args.pycocotools_size or sizes[0]
    print(f"machine: {machine()}")
    print(
        "method: in-memory COCO dict + RLE results list -> 12 COCOeval segm stats; median of "
        f"{args.repeats} runs (pycocotools: {args.pycocotools_repeats}); stats asserted equal to 1e-9"
    )
    print(
        f"{'images':>8} {'gt masks':>9} {'dets':>9} {'labelgate s':>12} {'faster-coco s':>14} "
        f"{'pycocotools s':>14} {'faster/ours':>12} {'pycoco/ours':>12}"
    )
    for n in sorted(set(sizes) | ({py_size} if not args.only_ours else set())):
        gt, dets = make_segm_data(n_images=n, n_classes=10, masks_per_image=7.0, seed=args.seed)
        t_ours, s_ours = timed(ours, gt, dets, repeats=args.repeats, copy=False)
        if args.only_ours:
            print(f"{n:>8} {len(gt['annotations']):>9} {len(dets):>9} {t_ours:>12.2f}", flush=True)
            continue
        t_fast_text, r_fast = "-", "-"
        if n in sizes:
            t_fast, s_fast = timed(
                lambda g, d: faster_coco_stats(g, d, "segm"), gt, dets, repeats=args.repeats, copy=True
            )
            assert np.allclose(s_ours, s_fast, rtol=0, atol=1e-9), (s_ours, s_fast)
            t_fast_text, r_fast = f"{t_fast:.2f}", f"{t_fast / t_ours:.2f}x"
        t_py_text, r_py = "-", "-"
        if n == py_size:
            t_py, s_py = timed(
                lambda g, d: pycocotools_stats(g, d, "segm"), gt, dets, repeats=args.pycocotools_repeats, copy=True
            )
            assert np.allclose(s_ours, s_py, rtol=0, atol=1e-9), (s_ours, s_py)
            t_py_text, r_py = f"{t_py:.2f}", f"{t_py / t_ours:.1f}x"
        print(
            f"{n:>8} {len(gt['annotations']):>9} {len(dets):>9} {t_ours:>12.2f} {t_fast_text:>14} "
            f"{t_py_text:>14} {r_fast:>12} {r_py:>12}",
            flush=True,
        )
    print(f"stats (last size): {np.array2string(s_ours, precision=4)}")


if __name__ == "__main__":
    main()
