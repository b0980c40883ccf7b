"""The data and the conversion the segm and keypoints benchmarks time (``bench/_common.py``) give COCOeval's
numbers: at a small size, labelgate's stats, precision and recall equal pycocotools' to 1e-9 and
faster-coco-eval's stats agree too; the conversion refuses bad records naming them."""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from quality_gates.cocoeval import CocoEvalParams, coco_evaluate
from quality_gates.errors import InputFormatError

pytest.importorskip("pycocotools")

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def common() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_common_under_test", BENCH / "_common.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def pycocotools_eval(gt: dict[str, Any], dets: list[dict[str, Any]], iou_type: str, sigmas: Any = None) -> Any:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        cg = COCO()
        cg.dataset = copy.deepcopy(gt)
        cg.createIndex()
        ev = COCOeval(cg, cg.loadRes(copy.deepcopy(dets)), iou_type)
        if sigmas is not None:
            ev.params.kpt_oks_sigmas = np.array(sigmas)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def assert_same(res: Any, ref: Any) -> None:
    np.testing.assert_allclose(res.stats, np.array(ref.stats), rtol=0, atol=1e-9)
    np.testing.assert_allclose(res.precision, ref.eval["precision"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(res.recall, ref.eval["recall"], rtol=0, atol=1e-9)


@pytest.mark.parametrize("seed", range(2))
def test_segm_bench_data_equals_pycocotools_and_faster_coco_eval(common: ModuleType, seed: int) -> None:
    gt, dets = common.make_segm_data(n_images=40, seed=seed)
    kinds = {type(a["segmentation"]).__name__ for a in gt["annotations"]}
    assert kinds == {"list", "dict"}  # polygons and RLEs
    ds, g, d = common.parse_segm(gt, dets)
    res = coco_evaluate(g, d, num_classes=len(ds.category_ids), image_ids=ds.image_ids, iou_type="segm")
    assert_same(res, pycocotools_eval(gt, dets, "segm"))
    np.testing.assert_allclose(
        res.stats, common.faster_coco_stats(*common.fresh_copies(gt, dets), "segm"), rtol=0, atol=1e-9
    )


@pytest.mark.parametrize("n_kp", [17, 5])
def test_keypoint_bench_data_equals_pycocotools_and_faster_coco_eval(common: ModuleType, n_kp: int) -> None:
    gt, dets, sigmas = common.make_keypoint_data(n_images=60, n_kp=n_kp, seed=3)
    assert any(a["num_keypoints"] == 0 for a in gt["annotations"])
    ds, g, d = common.parse_keypoints(gt, dets)
    params = CocoEvalParams.keypoints(sigmas)
    res = coco_evaluate(g, d, num_classes=len(ds.category_ids), image_ids=ds.image_ids, params=params)
    assert_same(res, pycocotools_eval(gt, dets, "keypoints", sigmas))
    np.testing.assert_allclose(
        res.stats, common.faster_coco_stats(*common.fresh_copies(gt, dets), "keypoints", sigmas), rtol=0, atol=1e-9
    )


def test_bench_conversion_names_bad_records(common: ModuleType) -> None:
    gt, dets = common.make_segm_data(n_images=5, seed=1)
    bad = copy.deepcopy(dets)
    bad[2]["score"] = float("nan")
    with pytest.raises(InputFormatError, match=r"\[2\]\.score"):
        common.parse_segm(gt, bad)
    bad = copy.deepcopy(dets)
    del bad[1]["segmentation"]
    with pytest.raises(InputFormatError, match=r"\[1\]\.segmentation: missing"):
        common.parse_segm(gt, bad)
    bad = copy.deepcopy(dets)
    bad[3]["image_id"] = 10**6
    with pytest.raises(InputFormatError, match=r"\[3\]\.image_id: unknown image id 1000000"):
        common.parse_segm(gt, bad)
    kgt, kdets, _ = common.make_keypoint_data(n_images=5, n_kp=5, seed=1)
    kdets[0]["keypoints"] = kdets[0]["keypoints"][:-1]
    with pytest.raises(InputFormatError, match=r"\[0\]\.keypoints: expected 15 numbers \(5 points x, y, v\)"):
        common.parse_keypoints(kgt, kdets)
