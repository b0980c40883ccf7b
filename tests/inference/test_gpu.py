"""The CUDA path: the same detections as on the CPU, and a run that picks the GPU by itself.

Marked ``gpu``; skipped where CUDA is not available (CI). ``bench/gpu_check.sh`` runs them on a GPU machine.
"""

from __future__ import annotations

import numpy as np
import pytest
from sqlmodel import Session, select

from inference.tiny import ShapesSpec, TinyModel, render_shapes
from inference.ultra import PredictOptions, Predictor
from lineage.models import Annotation, AutoLabelRun
from quality_gates import box_iou
from tests.inference.conftest import Env


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not _cuda(), reason="needs a CUDA GPU")]


def test_cuda_finds_what_the_cpu_finds(tiny: TinyModel) -> None:
    shapes = list(render_shapes(ShapesSpec(), count=16, seed=5))
    images = [np.ascontiguousarray(s.pixels[:, :, ::-1]) for s in shapes]
    cpu = Predictor(tiny.weights, device="cpu", options=PredictOptions(conf=0.25)).predict(images)
    gpu = Predictor(tiny.weights, device="cuda:0", options=PredictOptions(conf=0.25)).predict(images)
    for c, g in zip(cpu, gpu, strict=True):
        confident = c.score >= 0.3  # away from the conf floor, where a rounding difference could flip a box
        if not confident.any():
            continue
        assert len(g) > 0
        iou = box_iou(c.xywh[confident], g.xywh)
        best = iou.argmax(axis=1)
        assert np.all(iou.max(axis=1) > 0.95)
        assert np.all(g.cls[best] == c.cls[confident])
        assert np.allclose(g.score[best], c.score[confident], atol=0.02)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_run_with_device_auto_uses_the_gpu(env: Env) -> None:
    on_gpu = env.queue(device="auto")
    summary = env.execute(on_gpu)
    assert summary.state == "succeeded" and summary.device == "cuda:0"
    on_cpu = env.queue(device="cpu")
    env.execute(on_cpu)
    with Session(env.engine) as s:
        assert s.get(AutoLabelRun, on_gpu).device == "cuda:0"  # type: ignore[union-attr]
        n = [len(list(s.exec(select(Annotation).where(Annotation.autolabel_run_id == r)))) for r in (on_gpu, on_cpu)]
    assert n[0] > 0 and abs(n[0] - n[1]) <= max(2, n[1] // 20)
