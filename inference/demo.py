"""Auto-labelling end to end on generated shapes: the demo's chapter, and scenario builders for tests/bench.

:func:`run_demo_autolabel` trains (or loads) the tiny detector, builds a shapes schema, an unlabelled pool
and a golden set with generated labels, registers the model, calibrates TBAL thresholds on the golden set,
runs the pool with them, picks an active-learning batch and has a reviewer act on the queue: every step
through the same functions as the CLI and the API.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from inference.calibrate import CalibrationOutcome, calibrate
from inference.registry import register_model
from inference.review import decide, list_queue, resolve, select_next_batch
from inference.runner import RunnerOptions, RunProgress, RunSummary, execute_run
from inference.runs import queue_run
from inference.tiny import ShapeBox, ShapesSpec, TinyModel, ensure_tiny_model, generator_config_hash, write_shapes
from lineage.context import Actor
from lineage.datasets.versions import create_dataset, create_version, list_items, version_ref
from lineage.db import session_scope
from lineage.gates.records import register_golden_set
from lineage.labels.annotations import BoxChange, NewLabel, Provenance, add_annotations
from lineage.models import ModelVersion, ProvenanceKind, ReviewDecision
from lineage.schemas import LabelClass, create_schema

__all__ = ["DemoAutolabelResult", "ShapesWorld", "build_shapes_world", "register_tiny", "run_demo_autolabel"]


@dataclass(frozen=True)
class ShapesWorld:
    """A shapes schema, an unlabelled pool version and a golden version with its golden set."""

    schema_version_id: int
    pool: str
    golden_ref: str
    golden_set: str
    pool_truth: dict[str, tuple[ShapeBox, ...]]


def build_shapes_world(
    session: Session,
    *,
    actor: Actor,
    project_id: int,
    repo_dir: Path,
    scratch: Path,
    pool_items: int = 60,
    golden_items: int = 60,
    pool_seed: int = 1000,
    golden_seed: int = 2000,
    prefix: str = "shapes",
    spec: ShapesSpec | None = None,
) -> ShapesWorld:
    """Create ``<prefix>`` schema, ``<prefix>-pool@v1`` and ``<prefix>-golden@v1`` (synthetic labels, golden set
    ``<prefix>-golden``) from generated images written under ``scratch``."""
    spec = spec or ShapesSpec()
    sv = create_schema(
        session,
        actor=actor,
        project_id=project_id,
        name=prefix,
        classes=[LabelClass(name=c, description=f"a filled {c}") for c in spec.classes],
        repo_dir=repo_dir,
    )
    pool_dir, golden_dir = scratch / f"{prefix}-pool", scratch / f"{prefix}-golden"
    for folder in (pool_dir, golden_dir):
        if folder.exists():
            shutil.rmtree(folder)
    pool_truth = write_shapes(pool_dir, spec, count=pool_items, seed=pool_seed)
    golden_truth = write_shapes(golden_dir, spec, count=golden_items, seed=golden_seed)
    pool_ds = create_dataset(session, actor=actor, project_id=project_id, name=f"{prefix}-pool")
    pool_v = create_version(
        session,
        actor=actor,
        dataset=pool_ds,
        version="v1",
        repo_dir=repo_dir,
        source_dir=pool_dir,
        schema_version_id=sv.id,
    )
    golden_ds = create_dataset(session, actor=actor, project_id=project_id, name=f"{prefix}-golden", is_golden=True)
    golden_v = create_version(
        session,
        actor=actor,
        dataset=golden_ds,
        version="v1",
        repo_dir=repo_dir,
        source_dir=golden_dir,
        schema_version_id=sv.id,
    )
    labels = [
        NewLabel(item_id=item.id or 0, category=b.category, x=b.x, y=b.y, w=b.w, h=b.h)
        for item in list_items(session, version_id=golden_v.id or 0)
        for b in golden_truth[item.uri]
    ]
    provenance = Provenance(
        kind=ProvenanceKind.synthetic,
        generator_config_hash=generator_config_hash(spec, count=golden_items, seed=golden_seed),
    )
    add_annotations(session, actor=actor, version=golden_v, labels=labels, provenance=provenance)
    register_golden_set(session, actor=actor, project_id=project_id, name=f"{prefix}-golden", version=golden_v)
    return ShapesWorld(
        schema_version_id=sv.id or 0,
        pool=version_ref(pool_ds, pool_v),
        golden_ref=version_ref(golden_ds, golden_v),
        golden_set=f"{prefix}-golden",
        pool_truth=pool_truth,
    )


def register_tiny(
    session: Session,
    *,
    actor: Actor,
    project_id: int,
    schema_version_id: int,
    tiny: TinyModel,
    name: str = "tiny-shapes",
    version: str | None = None,
) -> ModelVersion:
    """Register the tiny detector (its version defaults to the first 12 characters of its cache key)."""
    return register_model(
        session,
        actor=actor,
        project_id=project_id,
        name=name,
        version=version or tiny.key[:12],
        weights=tiny.weights,
        schema_version_id=schema_version_id,
    )


@dataclass(frozen=True)
class DemoAutolabelResult:
    """What the chapter did: model, calibration record, run and its summary, queue and review counts."""

    model: str
    calibration: CalibrationOutcome
    run_id: int
    summary: RunSummary
    queued: int
    selected: int
    reviewed: int


def run_demo_autolabel(
    engine: Engine,
    *,
    actor: Actor,
    project_id: int,
    repo_dir: Path,
    workspace: Path,
    reviewer: Actor | None = None,
    say: Callable[[str], None] = print,
    cache_dir: Path | None = None,
    pool_items: int = 120,
    golden_items: int = 150,
    signals_dir: Path | None = None,
) -> DemoAutolabelResult:
    """The auto-labelling chapter of ``labelgate demo``.

    Args:
        engine: the demo database. actor: the ML engineer doing it (a project member with ``ml_engineer``).
        project_id: the demo project. repo_dir, workspace: the workspace's repository and folder.
        reviewer (None): who reviews the queue (skipped when None).
        say (print): one line of narration at a time.
        cache_dir (``~/.cache/labelgate``): tiny-model cache.
        pool_items (120), golden_items (150): generated images.
        signals_dir (``<workspace>/signals``): active-learning signals (as ``labelgate worker`` uses).
    """
    signals = signals_dir or workspace / "signals"
    tiny = ensure_tiny_model(cache_dir)
    say(
        f"tiny detector {'loaded from cache' if tiny.cached else f'trained in {tiny.train_seconds:.0f} s'}: "
        f"{', '.join(tiny.classes)}; validation mAP50 {tiny.metrics.get('map50', float('nan')):.2f}"
    )
    with session_scope(engine) as s:
        world = build_shapes_world(
            s,
            actor=actor,
            project_id=project_id,
            repo_dir=repo_dir,
            scratch=workspace / "generated",
            pool_items=pool_items,
            golden_items=golden_items,
        )
        model = register_tiny(
            s, actor=actor, project_id=project_id, schema_version_id=world.schema_version_id, tiny=tiny
        )
        model_ref = f"{model.name}@{model.version}"
    say(f"registered {model_ref} (SHA-256 {tiny.sha256[:16]}…); pool {world.pool}, golden set {world.golden_ref}")
    cal = calibrate(
        engine,
        actor=actor,
        project_id=project_id,
        model=model_ref,
        golden=world.golden_set,
        repo_dir=repo_dir,
        device="cpu",
    )
    for c in cal.report.classes:
        tbal = f"{c.tbal.threshold:.3f} (error bound {c.tbal.upper:.3f})" if c.tbal else "none (never auto-labelled)"
        f1 = f"{c.f1_threshold:.3f} (F1 {c.f1:.2f})" if c.f1_threshold is not None and c.f1 is not None else "-"
        say(f"  {c.name:<9} F1-optimal {f1}; TBAL {tbal}")
    cov = cal.report.coverage_tbal
    say(f"calibration {cal.calibration_id}: TBAL would auto-label {cov.auto_labelled} of {cov.items} golden items")
    with session_scope(engine) as s:
        run, _ = queue_run(
            s,
            actor=actor,
            project_id=project_id,
            version=world.pool,
            model=model_ref,
            threshold=0.5,
            review_band=0.02,  # the tiny model's confidences are low; a wide band would route everything
            device="cpu",
            batch_size=16,
            class_thresholds=cal.report.thresholds("tbal"),
            evidence={"calibration_id": cal.calibration_id, "strategy": "tbal", "golden": cal.golden},
        )
        run_id = run.id or 0

    def progress(p: RunProgress) -> None:
        if p.done == p.total:
            say(f"  {p.done}/{p.total} items, {p.labels} labels, {p.routed} routed, {p.images_per_s:.0f} images/s")

    summary = execute_run(
        engine,
        run_id=run_id,
        actor=actor,
        repo_dir=repo_dir,
        options=RunnerOptions(signals_dir=signals, on_progress=progress),
    )
    say(f"run {run_id} {summary.state}: {summary.labels} model labels with provenance, {summary.routed} items queued")
    with session_scope(engine) as s:
        selected = select_next_batch(
            s, actor=actor, project_id=project_id, run_id=run_id, signals_dir=signals, fraction=0.05
        )
        queued = len(list_queue(s, project_id=project_id, limit=10_000))
    say(f"active learning: {len(selected)} more items picked for people (uncertainty, then k-center diversity)")
    reviewed = 0
    if reviewer is not None:
        with session_scope(engine) as s:
            for entry in list_queue(s, project_id=project_id, run_id=run_id, limit=50):
                model_labels = [a for a in entry.labels if a.kind == ProvenanceKind.model.value]
                if not model_labels or reviewed >= 2:
                    continue
                target = model_labels[0]
                if reviewed == 0:
                    decide(
                        s,
                        actor=reviewer,
                        project_id=project_id,
                        queue_id=entry.row.id or 0,
                        annotation_id=target.id or 0,
                        decision=ReviewDecision.accept,
                    )
                else:
                    decide(
                        s,
                        actor=reviewer,
                        project_id=project_id,
                        queue_id=entry.row.id or 0,
                        annotation_id=target.id or 0,
                        decision=ReviewDecision.correct,
                        change=BoxChange(w=max(1.0, (target.w or 2.0) - 1.0)),
                        comment="box was one pixel too wide",
                    )
                resolve(s, actor=reviewer, project_id=project_id, queue_id=entry.row.id or 0)
                reviewed += 1
        say(
            f"{reviewer.username} reviewed {reviewed} queued items "
            "(one accepted, one corrected: the correction supersedes the model label)"
        )
    return DemoAutolabelResult(model_ref, cal, run_id, summary, queued, len(selected), reviewed)
