"""Executing auto-label runs: the verbs the worker and ``labelgate autolabel`` take. A run is executed on
behalf of the user who queued it (their permissions checked when it was queued), holding its lease so that
only one executor works on it; a run spans many transactions (one per batch), so these verbs take the
engine rather than one session."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from inference.calibrate import CalibrationOutcome
from inference.calibrate import calibrate as run_calibration
from inference.lease import try_run_lease
from inference.runner import RunnerOptions, RunProgress, RunSummary, execute_run
from inference.ultra import inference_available
from lineage.context import Actor
from lineage.errors import NotFound
from lineage.models import AutoLabelRun, RunState, User
from service.actions.context import Context, Principal, authorize
from service.settings import Settings

__all__ = [
    "calibrate",
    "execute_in_process",
    "execute_pending",
    "inference_available",
    "pending_runs",
    "run_actor",
    "runner_options",
    "signals_dir",
]


def signals_dir(settings: Settings) -> Path:
    """Where runs leave their active-learning signals: ``<workspace>/signals``."""
    return settings.workspace / "signals"


def run_actor(session: Session, run: AutoLabelRun, *, via: str) -> Actor:
    """The user who queued ``run``, acting through ``via`` (recorded as the audit events' request id)."""
    user = session.get(User, run.created_by)
    if user is None:
        raise NotFound(f"the user who queued run {run.id} no longer exists", field="run_id")
    return Actor(user_id=user.id or 0, username=user.username, request_id=f"{via}-run-{run.id}", is_admin=user.is_admin)


def runner_options(
    settings: Settings,
    *,
    executor: str = "local",
    workers: int = 1,
    ray_address: str | None = None,
    on_progress: Callable[[RunProgress], None] | None = None,
    stop: threading.Event | None = None,
) -> RunnerOptions:
    return RunnerOptions(
        executor=executor,
        workers=workers,
        ray_address=ray_address,
        signals_dir=signals_dir(settings),
        on_progress=on_progress,
        stop=stop,
    )


def execute_in_process(
    settings: Settings,
    engine: Engine,
    *,
    run_id: int,
    actor: Actor,
    executor: str = "local",
    workers: int = 1,
    ray_address: str | None = None,
    on_progress: Callable[[RunProgress], None] | None = None,
) -> RunSummary:
    """Execute (or resume) one run here, holding its lease; what ``labelgate autolabel`` does."""
    _bind_lineage(settings, engine)
    return execute_run(
        engine,
        run_id=run_id,
        actor=actor,
        repo_dir=settings.repo_dir,
        options=runner_options(
            settings, executor=executor, workers=workers, ray_address=ray_address, on_progress=on_progress
        ),
    )


def pending_runs(engine: Engine) -> list[int]:
    """Ids of the runs to execute: queued ones, and running ones (their lease decides if they are free)."""
    with Session(engine) as session:
        stmt = (
            select(AutoLabelRun.id)
            .where(col(AutoLabelRun.state).in_([RunState.queued.value, RunState.running.value]))
            .order_by(col(AutoLabelRun.id))
        )
        return [int(i) for i in session.exec(stmt) if i is not None]


def execute_pending(settings: Settings, engine: Engine, run_id: int, options: RunnerOptions) -> RunSummary | None:
    """Execute (or resume) run ``run_id`` as the user who queued it, if its lease is free and it still
    waits; ``None`` when another executor holds it or finished it."""
    _bind_lineage(settings, engine)
    with try_run_lease(engine, run_id) as got:
        if not got:
            return None
        with Session(engine, expire_on_commit=False) as session:
            run = session.get(AutoLabelRun, run_id)
            if run is None or run.state not in (RunState.queued.value, RunState.running.value):
                return None  # finished by someone else between the poll and the lease
            actor = run_actor(session, run, via="worker")
        return execute_run(engine, run_id=run_id, actor=actor, repo_dir=settings.repo_dir, options=options, lease=False)


def calibrate(
    engine: Engine,
    settings: Settings,
    principal: Principal,
    *,
    project_id: int,
    model: str,
    golden: str,
    **options: Any,
) -> CalibrationOutcome:
    """Calibrate ``model`` (``NAME@VER``) against golden set ``golden`` here (it runs the model over the
    golden images, so it has no API route: action ``calibrate``, ML engineers), record the evidence and,
    with ``apply_to_run``, write the thresholds into a queued run. The permission is checked in its own
    short transaction first; the calibration then makes its own (see ``inference.calibrate``)."""
    with Session(engine) as session:
        authorize(Context(session=session, principal=principal, settings=settings), "calibrate", project_id=project_id)
    return run_calibration(
        engine,
        actor=principal.actor,
        project_id=project_id,
        model=model,
        golden=golden,
        repo_dir=settings.repo_dir,
        **options,
    )


def _bind_lineage(settings: Settings, engine: Engine) -> None:
    """The runner opens its own sessions on ``engine``: its runs emit to the workspace's event log."""
    from lineage.openlineage import bind_emitter, shared_workspace_emitter

    bind_emitter(engine, shared_workspace_emitter(settings.workspace))
