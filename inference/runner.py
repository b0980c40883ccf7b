"""Executing an auto-label run: batches through an executor, one transaction per batch, resumable.

The items of the run's version, ordered by path, are cut into fixed batches of ``batch_size``. Each batch's
results are committed in **one** transaction holding its ``model`` annotations (model version, weights hash,
confidence, the threshold each label was held to, run id), its review-queue rows, the run's progress and an
``autolabel_run.batch`` audit event (:mod:`inference.commit`). An item is *done* for a run when it has an
annotation or a queue row of that run, and every item gets one or the other (:mod:`inference.routing`), so a
run killed at any point resumes by skipping done items: nothing is duplicated or half-written, and the batches
are the same as in an uninterrupted run. Batch ``k`` commits on a writer thread (:mod:`inference.writer`, in
order) while the device predicts batch ``k + 1``.

Detect, segment, pose and classify models run the same way; labels take the geometry of the version's schema
(:mod:`inference.outputs`), and a model whose task does not fit that schema is refused before anything runs
(:func:`inference.registry.check_model_fits`).

Failures set the run ``failed`` with the error message and an ``autolabel_run.fail`` event; executing a
failed run again resumes it. A run cancelled meanwhile stops before its next batch. Only one process
executes a run at a time (:mod:`inference.lease`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, union, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from inference.commit import Cancelled, RunPlan, Tally, commit_batch, fail_run, finish_run, run_event
from inference.executors import WorkerSpec, make_executor
from inference.lease import run_lease
from inference.registry import class_names_of, model_task, schema_facts, verify_weights
from inference.runs import check_run_fits, run_context, run_thresholds
from inference.types import BatchResult, BatchTask, ItemRef
from inference.ultra import PredictOptions, resolve_device
from inference.writer import OrderedWriter
from lineage.context import Actor
from lineage.datasets import ensure_writable, list_items, version_ref
from lineage.db import session_scope
from lineage.errors import Conflict, NotFound
from lineage.models import Annotation, AutoLabelRun, ReviewQueueItem, RunState
from lineage.models._base import utcnow
from lineage.openlineage_jobs import emit_autolabel

__all__ = ["RunProgress", "RunSummary", "RunnerOptions", "done_item_ids", "execute_run", "plan_batches"]

MAX_DETECTIONS = 100


@dataclass(frozen=True, slots=True)
class RunProgress:
    """Reported after each committed batch. ``images_per_s`` counts this execution's items only."""

    run_id: int
    batch_index: int
    done: int
    total: int
    labels: int
    routed: int
    images_per_s: float


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What one execution did. ``processed`` items were done by it; ``seconds`` from its first batch on."""

    run_id: int
    state: str
    items_total: int
    items_done: int
    processed: int
    labels: int
    routed: int
    errors: int
    images_per_s: float | None
    seconds: float
    device: str


@dataclass(frozen=True)
class RunnerOptions:
    """How to execute: ``executor`` (``local`` or ``ray``), Ray ``workers`` and ``ray_address``, where to
    leave active-learning ``signals_dir`` (None: nowhere), an ``on_progress`` callback, and ``stop``: when set,
    the execution ends after the batch in hand and leaves the run ``running`` for a later resume."""

    executor: str = "local"
    workers: int = 1
    ray_address: str | None = None
    signals_dir: Path | None = None
    on_progress: Callable[[RunProgress], None] | None = None
    stop: threading.Event | None = None


@dataclass
class _Clock:
    started: float = field(default_factory=time.perf_counter)
    rate: float | None = None


def plan_batches(items: list[ItemRef], *, batch_size: int, done: set[int]) -> list[BatchTask]:
    """The run's fixed batches (``batch_size`` consecutive items) without done items; empty batches dropped."""
    tasks = []
    for index, start in enumerate(range(0, len(items), batch_size)):
        pending = tuple(i for i in items[start : start + batch_size] if i.item_id not in done)
        if pending:
            tasks.append(BatchTask(index, pending))
    return tasks


def done_item_ids(session: Session, run_id: int) -> set[int]:
    """Items that already have an annotation or a review-queue row of ``run_id``."""
    stmt = union(
        sa_select(col(Annotation.item_id)).where(col(Annotation.autolabel_run_id) == run_id),
        sa_select(col(ReviewQueueItem.item_id)).where(col(ReviewQueueItem.autolabel_run_id) == run_id),
    )
    return {int(r[0]) for r in session.execute(stmt)}


def _start(engine: Engine, run_id: int, actor: Actor, repo_dir: Path, options: RunnerOptions) -> RunPlan | None:
    with session_scope(engine) as session:
        run = session.get(AutoLabelRun, run_id)
        if run is None:
            raise NotFound(f"no auto-label run {run_id}", field="run_id")
        state = RunState(run.state)
        if state is RunState.succeeded:
            return None
        if state is RunState.cancelled:
            raise Conflict(f"run {run_id} was cancelled; queue a new run", field="run_id")
        dataset, version, model = run_context(session, run)
        ensure_writable(session, actor=actor, version=version, attempted=f"auto-labelling (run {run_id})")
        if version.git_revision is None or version.data_path is None:
            raise NotFound(f"{version_ref(dataset, version)} has no committed content", field="version")
        check_run_fits(session, run)
        weights = verify_weights(model, repo_dir)
        device = resolve_device(run.device)
        facts = schema_facts(session, version.schema_version_id or model.schema_version_id)
        thresholds = run_thresholds(session, run)
        items = list_items(session, version_id=version.id or 0)
        refs = [ItemRef(i.id or 0, i.uri, i.sha256) for i in items]
        done = done_item_ids(session, run_id)
        plan = RunPlan(
            run_id=run_id,
            project_id=dataset.project_id,
            version_id=version.id or 0,
            actor=actor,
            thresholds=thresholds,
            class_map=class_names_of(model),
            tasks=plan_batches(refs, batch_size=run.batch_size, done=done),
            dims={i.id or 0: (i.width, i.height) for i in items},
            total=len(refs),
            done_before=len(done),
            task=model_task(model),
            geometry=facts.geometry,
            keypoints=facts.keypoints,
            multi_label=facts.multi_label,
            spec=WorkerSpec(
                weights=str(weights),
                weights_sha256=model.weights_sha256,
                device=device,
                repo_dir=str(repo_dir),
                git_revision=version.git_revision,
                data_path=version.data_path,
                options=PredictOptions(
                    conf=max(0.001, min(0.05, thresholds.lowest())),
                    iou=run.nms_iou,
                    max_det=MAX_DETECTIONS,
                    masks="mask" in facts.geometry.values(),
                ),
                features=options.signals_dir is not None,
            ),
        )
        resumed = state is not RunState.queued or bool(done)
        session.execute(
            update(AutoLabelRun)
            .where(col(AutoLabelRun.id) == run_id)
            .values(
                state=RunState.running.value,
                started_at=run.started_at or utcnow(),
                device=device,
                error=None,
                items_total=len(refs),
                items_done=len(done),
            )
        )
        run_event(
            session,
            plan,
            "autolabel_run.resume" if resumed else "autolabel_run.start",
            {
                "from": state.value,
                "device": device,
                "executor": options.executor,
                "items": len(refs),
                "done": len(done),
                "pending_batches": len(plan.tasks),
                "thresholds": thresholds.as_dict(),
            },
        )
        emit_autolabel(
            session, run=run, state="resume" if resumed else "start", actor=actor,
            details={"device": device, "items": len(refs), "done": len(done)},
        )  # fmt: skip
        return plan


def execute_run(
    engine: Engine,
    *,
    run_id: int,
    actor: Actor,
    repo_dir: Path,
    options: RunnerOptions | None = None,
    lease: bool = True,
) -> RunSummary:
    """Execute (or resume) run ``run_id`` to the end; returns what this execution did.

    Args:
        repo_dir: the workspace's git + DVC repository holding the version's images.
        options (``RunnerOptions()``): executor, progress callback, active-learning signals folder.
        lease (True): take the run's lease (``Conflict`` when another process holds it); False when the
            caller already holds it.
    """
    options = options or RunnerOptions()
    if lease:
        with run_lease(engine, run_id):
            return execute_run(engine, run_id=run_id, actor=actor, repo_dir=repo_dir, options=options, lease=False)
    try:
        plan = _start(engine, run_id, actor, repo_dir, options)
    except BaseException as exc:
        fail_run(engine, run_id, actor, exc)
        raise
    if plan is None:
        return _summary_of(engine, run_id, processed=0, tally=Tally(), seconds=0.0)
    tally = Tally()
    clock = _Clock()
    executor = None
    stopped = False

    def commit(result: BatchResult) -> None:
        elapsed = time.perf_counter() - clock.started
        clock.rate = (tally.processed + len(result.items)) / elapsed if elapsed > 0 else None
        commit_batch(engine, plan, result, tally, clock.rate or 0.0, options.signals_dir)
        if options.on_progress is not None:
            done = plan.done_before + tally.processed
            options.on_progress(
                RunProgress(run_id, result.index, done, plan.total, tally.labels, tally.routed, clock.rate or 0.0)
            )

    try:
        if plan.tasks:
            executor = make_executor(
                options.executor, plan.spec, workers=options.workers, ray_address=options.ray_address
            )
            writer: OrderedWriter[BatchResult] = OrderedWriter(commit)
            clock.started = time.perf_counter()
            results = executor.run(plan.tasks)
            try:
                for result in results:
                    writer.submit(result)
                    if options.stop is not None and options.stop.is_set():
                        stopped = True
                        break
            finally:
                close = getattr(results, "close", None)
                if callable(close):
                    close()  # stops the executor's read-ahead now, not when the generator is collected
                writer.close()  # commits what was predicted; raises the first commit error
        seconds = time.perf_counter() - clock.started
        state = RunState.running.value if stopped else finish_run(engine, plan, tally, seconds, clock.rate)
    except Cancelled:
        state = RunState.cancelled.value
    except BaseException as exc:
        fail_run(engine, run_id, actor, exc)
        raise
    finally:
        if executor is not None:
            executor.close()
    seconds = time.perf_counter() - clock.started
    return _summary_of(engine, run_id, processed=tally.processed, tally=tally, seconds=seconds, state=state)


def _summary_of(
    engine: Engine, run_id: int, *, processed: int, tally: Tally, seconds: float, state: str | None = None
) -> RunSummary:
    with session_scope(engine) as session:
        run = session.get(AutoLabelRun, run_id)
        assert run is not None
        return RunSummary(
            run_id=run_id,
            state=state or str(run.state),
            items_total=run.items_total,
            items_done=run.items_done,
            processed=processed,
            labels=tally.labels,
            routed=tally.routed,
            errors=tally.errors,
            images_per_s=run.images_per_s,
            seconds=seconds,
            device=run.device,
        )
