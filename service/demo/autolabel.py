"""The demo's auto-labelling chapter, through the verbs: the tiny detector (trained here, or from the cache)
is registered, calibrated against the shapes golden set (TBAL thresholds), run over the unlabelled pool
with those thresholds, an active-learning batch is picked for people, and the reviewer acts on the queue:
each step as the demo user who would take it, authenticated by their token.

The active-learning cycle's KPIs (``inference.al_kpis``) are measured on a frozen validation set, the
first half of the pool by path (the pool's generator knows each image's true shapes): precision, recall
and mAP of every model label the run stored (the run keeps only confident ones, so mAP is a lower bound), the
share of the picked items where the model missed, invented or misnamed a shape, and the stop rule's
decision; the cycle is recorded as an ``active_learning.cycle`` event and plotted to
``reports/active-learning.png``. The demo runs one cycle (retraining between cycles would add a training
per cycle), so the rule says how many more cycles it needs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlmodel import col, select

from inference.al_kpis import CycleKpis, cycle_kpis, evaluate_cycle, items_with_model_error, plot_cycles, record_cycle
from inference.registry import CardWords, TrainingRecord
from inference.runner import RunProgress, RunSummary
from inference.tiny import ensure_tiny_model
from lineage.models import Annotation, Item, ProvenanceKind, ReviewDecision
from service import actions
from service.actions.labels import Correction
from service.actions.runs import execute_in_process
from service.demo.shapes import add_tiny_training_data, build_shapes_world

if TYPE_CHECKING:
    from inference.calibrate import CalibrationOutcome
    from inference.tiny import ShapeBox
    from quality_gates.boxes import BoxSet
    from service.actions.context import Context
    from service.demo.story import DemoState

__all__ = ["DemoAutolabelResult", "autolabel_chapter"]


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
    al_cycle: CycleKpis | None = None


def autolabel_chapter(
    state: DemoState,
    *,
    say: Callable[[str], None],
    cache_dir: Path | None = None,
    pool_items: int = 120,
    golden_items: int = 150,
) -> DemoAutolabelResult:
    """Run the chapter on the demo's workspace: mia (ML engineer) registers, calibrates, runs and selects;
    rex (reviewer) accepts one model label and corrects another."""
    settings, pid = state.settings, state.project_id
    tiny = ensure_tiny_model(cache_dir)
    say(
        f"tiny detector {'loaded from cache' if tiny.cached else f'trained in {tiny.train_seconds:.0f} s'}: "
        f"{', '.join(tiny.classes)}; validation mAP50 {tiny.metrics.get('map50', float('nan')):.2f}"
    )
    with state.as_("mia") as ctx:
        world = build_shapes_world(  # the chapter's starting point, written directly (a builder)
            ctx.session,
            actor=ctx.actor,
            project_id=pid,
            repo_dir=settings.repo_dir,
            scratch=settings.workspace / "generated",
            pool_items=pool_items,
            golden_items=golden_items,
        )
    with state.as_("mia") as ctx:  # what the detector was trained on, on the record (a builder, like the world)
        data = add_tiny_training_data(
            ctx.session,
            actor=ctx.actor,
            project_id=pid,
            repo_dir=settings.repo_dir,
            scratch=settings.workspace / "generated",
            schema_version_id=world.schema_version_id,
            tiny=tiny,
        )
    with state.as_("mia") as ctx:
        model = actions.register_model(
            ctx,
            pid,
            name="tiny-shapes",
            version=tiny.key[:12],
            weights=tiny.weights,
            schema_ref="shapes",
            task="detect",
            training=TrainingRecord(
                train=(data.train,),
                val=(data.val,),
                hyperparameters=data.hyperparameters,
                metrics=tiny.metrics,
                trainer="labelgate (inference.tiny, Ultralytics)",
            ),
            card=CardWords(
                intended_use="Pre-labelling filled squares, circles and triangles on dark 160 px images for "
                "review by people; not for any other imagery.",
                caveats=("Trained on 96 generated images: a demonstration model, not a production detector.",),
            ),
        )
        model_ref, mia = f"{model.name}@{model.version}", ctx.principal
        stored = f"{model.weights_uri} in the workspace's DVC ({model.weights_bytes} bytes)"
    say(f"registered {model_ref} (SHA-256 {tiny.sha256[:16]}…), weights stored at {stored}")
    say(f"  trained on {data.train}, validated on {data.val}; pool {world.pool}, golden set {world.golden_ref}")
    cal = actions.calibrate(
        state.engine, settings, mia, project_id=pid, model=model_ref, golden=world.golden_set, device="cpu"
    )
    for c in cal.report.classes:
        tbal = f"{c.tbal.threshold:.3f} (error bound {c.tbal.upper:.3f})" if c.tbal else "none (never auto-labelled)"
        f1 = f"{c.f1_threshold:.3f} (F1 {c.f1:.2f})" if c.f1_threshold is not None and c.f1 is not None else "-"
        say(f"  {c.name:<9} F1-optimal {f1}; TBAL {tbal}")
    cov = cal.report.coverage_tbal
    say(f"calibration {cal.calibration_id}: TBAL would auto-label {cov.auto_labelled} of {cov.items} golden items")
    with state.as_("mia") as ctx:
        run = actions.queue_run(
            ctx,
            pid,
            version=world.pool,
            model=model_ref,
            threshold=0.5,
            review_band=0.02,  # the tiny model's confidences are low; a wide band would route everything
            device="cpu",
            batch_size=16,
            calibration_id=cal.calibration_id,
            strategy="tbal",
        )
    run_id = int(run["id"])

    def progress(p: RunProgress) -> None:
        if p.done == p.total:
            say(f"  {p.done}/{p.total} items, {p.labels} labels, {p.routed} routed, {p.images_per_s:.0f} images/s")

    summary = execute_in_process(settings, state.engine, run_id=run_id, actor=mia.actor, on_progress=progress)
    say(f"run {run_id} {summary.state}: {summary.labels} model labels with provenance, {summary.routed} items queued")
    with state.as_("mia") as ctx:
        selected = actions.select_batch(ctx, pid, run_id, fraction=0.05)
        queued = len(actions.review_queue(ctx, pid, limit=10_000))
    say(f"active learning: {len(selected)} more items picked for people (uncertainty, then k-center diversity)")
    with state.as_("mia") as ctx:
        kpis = _al_cycle(ctx, pid, run_id, [e.item.uri for e in selected], world.pool_truth, list(tiny.classes))
    plot = plot_cycles([kpis], settings.workspace / "reports" / "active-learning.png")
    share = "-" if kpis.error_share is None else f"{kpis.error_share:.0%}"
    say(
        f"  cycle {kpis.cycle} on the frozen validation set: precision {kpis.precision:.2f}, recall {kpis.recall:.2f}, "
        f"mAP {kpis.map:.3f} (mAP50 {kpis.map50:.3f}); {kpis.selected_with_error} of {kpis.selected} picked items "
        f"({share}) held a model error"
    )
    say(f"  stop rule (< 0.5 mAP point in each of the last 2 cycles): {kpis.reason}; plotted to {plot}")
    reviewed = 0
    with state.as_("rex") as ctx:
        for entry in actions.review_queue(ctx, pid, run_id=run_id, limit=50):
            model_labels = [a for a in entry.labels if a.kind == ProvenanceKind.model.value]
            if not model_labels or reviewed >= 2:
                continue
            target, queue_id = model_labels[0], entry.row.id or 0
            if reviewed == 0:
                actions.decide_review(ctx, pid, queue_id, annotation_id=target.id or 0, decision=ReviewDecision.accept)
            else:
                actions.decide_review(
                    ctx,
                    pid,
                    queue_id,
                    annotation_id=target.id or 0,
                    decision=ReviewDecision.correct,
                    correction=Correction(w=max(1.0, (target.w or 2.0) - 1.0)),
                    comment="box was one pixel too wide",
                )
            actions.resolve_review(ctx, pid, queue_id)
            reviewed += 1
    say(
        f"rex reviewed {reviewed} queued items (one accepted, one corrected: the correction supersedes the model label)"
    )
    return DemoAutolabelResult(model_ref, cal, run_id, summary, queued, len(selected), reviewed, kpis)


def _boxes(rows: list[tuple[Any, ...]], scores: list[float] | None = None) -> BoxSet:
    from quality_gates.boxes import BoxSet

    table = np.array(rows, dtype=np.float64).reshape(-1, 6)
    ids, cats = table[:, 0].astype(np.int64), table[:, 1].astype(np.int64)
    return BoxSet(ids, cats, table[:, 2:], score=None if scores is None else np.array(scores))


def _al_cycle(
    ctx: Context, pid: int, run_id: int, picked: list[str], truth: dict[str, tuple[ShapeBox, ...]], classes: list[str]
) -> CycleKpis:
    """Measure and record the demo's one active-learning cycle (module docstring)."""
    uris = sorted(truth)
    index = {u: i for i, u in enumerate(uris)}
    stmt = (
        select(Annotation, Item.uri)
        .join(Item, col(Item.id) == col(Annotation.item_id))
        .where(Annotation.autolabel_run_id == run_id, Annotation.kind == ProvenanceKind.model.value)
    )
    preds = [
        (index[uri], classes.index(a.category), a.x, a.y, a.w, a.h, a.confidence)
        for a, uri in ctx.session.exec(stmt)
        if uri in index and a.category in classes and None not in (a.x, a.y, a.w, a.h)
    ]
    dt = _boxes([p[:6] for p in preds], [p[6] if p[6] is not None else 1.0 for p in preds])
    gt = _boxes([(i, classes.index(b.category), b.x, b.y, b.w, b.h) for i, u in enumerate(uris) for b in truth[u]])
    frozen = len(uris) // 2  # the first half by path: the same items every cycle
    evaluation = evaluate_cycle(
        gt.select(gt.image < frozen), dt.select(dt.image < frozen), num_classes=len(classes), threshold=0.0
    )
    picked_ids = [index[u] for u in picked if u in index]
    wrong = items_with_model_error(gt, dt, items=picked_ids, num_classes=len(classes), threshold=0.0)
    kpis = cycle_kpis([evaluation], [(len(picked_ids), len(wrong))])[-1]
    record_cycle(
        ctx.session,
        ctx.actor,
        kpis,
        project_id=pid,
        subject=("autolabel_run", run_id),
        validation=f"first {frozen} pool items",
    )
    return kpis
