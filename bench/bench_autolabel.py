"""Benchmark: auto-label run throughput against a bare ``model.predict`` loop (goal: run >= 0.9x bare).

Method: one fresh workspace (SQLite by default, ``--pg URL`` for PostgreSQL) holds a version of ``--images``
generated shape images and the tiny detector (trained once, cached). Two things are timed, alternating,
``--repeat`` times each, on the same images, batch size, device and prediction options:

- **bare**: a loaded, warmed-up Ultralytics model; a loop that reads each batch's files with ``cv2.imread``
  and calls ``predict`` (what a script without any record-keeping does);
- **run**: ``inference.runner.execute_run`` on a freshly queued run: images read from the version (hash
  checked), predicted, routed, and per batch one transaction with the annotations (full provenance), the
  review-queue rows, the progress and an audit event. Its figure is the run's own ``images_per_s``
  (first batch to last commit; model load and warm-up excluded, as for bare).

Medians of the repeats are printed with the machine and versions; ``--json`` writes them too.

``--task segment|pose|classify`` times the tiny model of that task instead (:mod:`inference.tiny_tasks`) on a
version whose schema has that task's geometry (``--geometry mask`` for masks instead of polygons), so the run
also pays for turning outlines, masks, keypoints or probabilities into contract rows.

    python bench/bench_autolabel.py [--images 512] [--batch 32] [--device auto] [--repeat 3] [--pg URL]
        [--task detect|segment|pose|classify] [--geometry polygon|mask]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inference.runner import RunnerOptions, execute_run  # noqa: E402
from inference.runs import queue_run  # noqa: E402
from inference.tiny import ensure_tiny_model  # noqa: E402
from inference.ultra import PredictOptions, Predictor, resolve_device  # noqa: E402
from lineage import identity  # noqa: E402
from lineage.context import Actor  # noqa: E402
from lineage.datasets import resolve_version  # noqa: E402
from lineage.db import make_engine, session_scope  # noqa: E402
from lineage.models import AutoLabelRun  # noqa: E402
from service.demo.shapes import build_shapes_world, register_tiny  # noqa: E402
from service.settings import Settings  # noqa: E402
from service.workspace import init_workspace  # noqa: E402

THRESHOLD, BAND = 0.3, 0.1
TASK_GEOMETRY = {"segment": "polygon", "pose": "keypoints", "classify": "tag"}


from _common import cpu_model  # noqa: E402  (the bench folder is the script's path)


def machine(device: str) -> str:
    cpu = cpu_model()
    import torch
    import ultralytics

    gpu = f", GPU {torch.cuda.get_device_name(0)}" if device.startswith("cuda") else ""
    return (
        f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores{gpu}; Python "
        f"{platform.python_version()}, torch {torch.__version__}, ultralytics {ultralytics.__version__}"
    )


def bare_loop(weights: Path, files: list[Path], *, batch: int, device: str, options: PredictOptions) -> float:
    """images/s of read + predict over ``files`` (model loaded and warmed up beforehand)."""
    import cv2

    predictor = Predictor(weights, device=device, options=options)
    predictor.warmup()
    started = time.perf_counter()
    n = 0
    for i in range(0, len(files), batch):
        images = [cv2.imread(str(f), cv2.IMREAD_COLOR) for f in files[i : i + batch]]
        n += len(predictor.predict(images))
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
    return n / (time.perf_counter() - started)


def task_world(
    s: Any, *, actor: Actor, pid: int, repo_dir: Path, scratch: Path, task: str, geometry: str, images: int, tiny: Any
) -> tuple[str, str]:
    """A ``task`` schema (classes of ``geometry``), an unlabelled version of ``images`` generated images and the
    tiny ``task`` model registered on it; returns ``(DATASET@VERSION, NAME@VERSION)``."""
    from inference.registry import register_model
    from inference.tiny import write_shapes
    from inference.tiny_tasks import TRIANGLE_POINTS, task_spec
    from lineage.datasets import create_dataset, create_version, version_ref
    from lineage.schemas import KeypointSpec, LabelClass, create_schema

    points = KeypointSpec(**TRIANGLE_POINTS) if geometry == "keypoints" else None
    classes = [LabelClass(name=c, geometry=geometry, keypoints=points) for c in tiny.classes]  # type: ignore[arg-type]
    sv = create_schema(s, actor=actor, project_id=pid, name=f"bench-{task}", classes=classes, repo_dir=repo_dir)
    write_shapes(scratch / "pool", task_spec(task), count=images, seed=1000)  # type: ignore[arg-type]
    ds = create_dataset(s, actor=actor, project_id=pid, name=f"bench-{task}-pool")
    dv = create_version(
        s, actor=actor, dataset=ds, version="v1", repo_dir=repo_dir, source_dir=scratch / "pool",
        schema_version_id=sv.id,
    )  # fmt: skip
    model = register_model(
        s, actor=actor, project_id=pid, name=f"tiny-{task}", version=tiny.key[:12], weights=tiny.weights,
        schema_version_id=sv.id or 0, repo_dir=repo_dir,
    )  # fmt: skip
    return version_ref(ds, dv), f"{model.name}@{model.version}"


def _materialise(session: Any, repo_dir: Path, version: Any, folder: Path) -> Path:
    """The version's images as files in ``folder`` (a version has no working copy: its images are read from
    the DVC cache), for the bare loop to read."""
    from lineage.datasets import list_items, read_item

    for item in list_items(session, version_id=version.id or 0):
        (folder / item.uri).parent.mkdir(parents=True, exist_ok=True)
        (folder / item.uri).write_bytes(read_item(repo_dir=repo_dir, version=version, uri=item.uri))
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pg", default=None, help="PostgreSQL URL (an empty database) instead of SQLite")
    ap.add_argument("--cache", type=Path, default=None, help="tiny-model cache (default ~/.cache/labelgate)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    ap.add_argument("--task", choices=("detect", "segment", "pose", "classify"), default="detect")
    ap.add_argument("--geometry", choices=("polygon", "mask"), default="polygon", help="segment: what is stored")
    args = ap.parse_args()

    device = resolve_device(args.device)
    if args.task == "detect":
        tiny = ensure_tiny_model(args.cache)
    else:
        from inference.tiny_tasks import ensure_tiny_task_model

        tiny = ensure_tiny_task_model(args.task, args.cache)
    with tempfile.TemporaryDirectory(prefix="lg-bench-autolabel-") as tmp:
        settings = Settings(workspace=Path(tmp) / "ws", database_url=args.pg or "", env="test")
        init_workspace(settings)
        engine = make_engine(settings.database_url)
        with session_scope(engine) as s:
            admin = identity.get_user_by_name(s, "admin")
            actor = Actor(user_id=admin.id or 0, username="admin", request_id="bench", is_admin=True)
            project = identity.create_project(s, actor=actor, name="bench")
            pid = project.id or 0
        if args.task != "detect":
            with session_scope(engine) as s:
                geometry = args.geometry if args.task == "segment" else TASK_GEOMETRY[args.task]
                pool, ref = task_world(
                    s, actor=actor, pid=pid, repo_dir=settings.repo_dir, scratch=Path(tmp) / "gen", task=args.task,
                    geometry=geometry, images=args.images, tiny=tiny,
                )  # fmt: skip
                _, version = resolve_version(s, project_id=pid, ref=pool)
                data = _materialise(s, settings.repo_dir, version, Path(tmp) / "pool-images")
        else:
            with session_scope(engine) as s:
                world = build_shapes_world(
                    s,
                    actor=actor,
                    project_id=pid,
                    repo_dir=settings.repo_dir,
                    scratch=Path(tmp) / "gen",
                    pool_items=args.images,
                    golden_items=1,
                )
                model = register_tiny(
                    s,
                    actor=actor,
                    project_id=pid,
                    schema_version_id=world.schema_version_id,
                    tiny=tiny,
                    repo_dir=settings.repo_dir,
                )
                ref, pool = f"{model.name}@{model.version}", world.pool
                _, version = resolve_version(s, project_id=pid, ref=pool)
                data = _materialise(s, settings.repo_dir, version, Path(tmp) / "pool-images")
        files = sorted(p for p in data.rglob("*.png"))
        masks = args.task == "segment" and args.geometry == "mask"  # what the run asks of the model too
        options = PredictOptions(conf=max(0.001, min(0.05, THRESHOLD - BAND)), iou=0.7, max_det=100, masks=masks)
        bare: list[float] = []
        run: list[float] = []
        labels = 0
        for _ in range(args.repeat):
            bare.append(bare_loop(tiny.weights, files, batch=args.batch, device=device, options=options))
            with session_scope(engine) as s:
                queued, _ = queue_run(
                    s,
                    actor=actor,
                    project_id=pid,
                    version=pool,
                    model=ref,
                    threshold=THRESHOLD,
                    review_band=BAND,
                    device=device,
                    batch_size=args.batch,
                    reuse=False,
                )
                run_id = queued.id or 0
            summary = execute_run(
                engine,
                run_id=run_id,
                actor=actor,
                repo_dir=settings.repo_dir,
                options=RunnerOptions(signals_dir=settings.workspace / "signals"),
            )
            with session_scope(engine) as s:
                record = s.get(AutoLabelRun, run_id)
                assert record is not None and record.images_per_s
                run.append(record.images_per_s)
            labels = summary.labels
        engine.dispose()
    result: dict[str, Any] = {
        "method": "bare read+predict loop vs execute_run (provenance, queue, audit, one transaction per batch)",
        "machine": machine(device),
        "database": "postgresql" if args.pg else "sqlite",
        "device": device,
        "task": args.task,
        "images": len(files),
        "batch": args.batch,
        "repeat": args.repeat,
        "labels_per_run": labels,
        "bare_images_per_s": bare,
        "run_images_per_s": run,
        "bare_median": statistics.median(bare),
        "run_median": statistics.median(run),
    }
    result["ratio"] = result["run_median"] / result["bare_median"]
    result["paired_ratio_median"] = statistics.median(r / b for r, b in zip(run, bare, strict=True))
    print(f"method:   {result['method']}")
    print(f"machine:  {result['machine']}")
    print(
        f"setup:    {args.task}: {len(files)} images of {tiny.classes}, batch {args.batch}, device {device}, "
        f"{result['database']}, {labels} labels per run, medians of {args.repeat}"
    )
    print(f"bare:     {result['bare_median']:8.1f} images/s  (runs: {', '.join(f'{x:.1f}' for x in bare)})")
    print(f"run:      {result['run_median']:8.1f} images/s  (runs: {', '.join(f'{x:.1f}' for x in run)})")
    verdict = "met" if result["ratio"] >= 0.9 else "NOT met"
    print(
        f"ratio:    {result['ratio']:.3f} of medians, {result['paired_ratio_median']:.3f} median of paired runs "
        f"(goal >= 0.9: {verdict})"
    )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
