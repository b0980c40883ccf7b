"""The background job runner: executes auto-label runs outside the API's requests.

``labelgate worker`` polls the database for runs to execute: ``queued`` ones, and ``running`` ones whose
lease is free (their executor died, e.g. a killed worker): those resume where their last committed batch
left them. Several workers may poll one database; a run's lease (:mod:`inference.lease`) makes sure only
one executes it. A run is executed on behalf of the user who queued it. ``failed`` runs are not retried
automatically: ``labelgate runs resume ID`` does that once the cause is fixed.

The CLI's ``labelgate autolabel`` executes in-process through :func:`execute_in_process` instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from inference.lease import try_run_lease
from inference.runner import RunnerOptions, RunProgress, RunSummary, execute_run
from lineage.context import Actor
from lineage.db import make_engine
from lineage.errors import LabelgateError, NotFound
from lineage.models import AutoLabelRun, RunState, User
from service.settings import Settings

__all__ = ["execute_in_process", "run_actor", "run_worker", "signals_dir"]

log = logging.getLogger("labelgate.worker")


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
    return execute_run(
        engine,
        run_id=run_id,
        actor=actor,
        repo_dir=settings.repo_dir,
        options=runner_options(
            settings, executor=executor, workers=workers, ray_address=ray_address, on_progress=on_progress
        ),
    )


def _candidates(engine: Engine) -> list[int]:
    with Session(engine) as session:
        stmt = (
            select(AutoLabelRun.id)
            .where(col(AutoLabelRun.state).in_([RunState.queued.value, RunState.running.value]))
            .order_by(col(AutoLabelRun.id))
        )
        return [int(i) for i in session.exec(stmt) if i is not None]


def _try_execute(settings: Settings, engine: Engine, run_id: int, options: RunnerOptions) -> RunSummary | None:
    with try_run_lease(engine, run_id) as got:
        if not got:
            return None
        with Session(engine, expire_on_commit=False) as session:
            run = session.get(AutoLabelRun, run_id)
            if run is None or run.state not in (RunState.queued.value, RunState.running.value):
                return None  # finished by someone else between the poll and the lease
            actor = run_actor(session, run, via="worker")
        return execute_run(engine, run_id=run_id, actor=actor, repo_dir=settings.repo_dir, options=options, lease=False)


def run_worker(
    settings: Settings,
    *,
    engine: Engine | None = None,
    once: bool = False,
    poll_s: float = 2.0,
    executor: str = "local",
    workers: int = 1,
    ray_address: str | None = None,
    stop: threading.Event | None = None,
    report: Callable[[str], None] | None = None,
) -> int:
    """Poll and execute runs until ``stop`` is set (or, with ``once``, until nothing is left); returns the
    number of runs executed. A run's failure is recorded on the run and does not stop the worker."""
    own = engine is None
    engine = engine or make_engine(settings.database_url)
    stop = stop or threading.Event()
    say = report or log.info
    options = runner_options(settings, executor=executor, workers=workers, ray_address=ray_address, stop=stop)
    executed = 0
    try:
        while not stop.is_set():
            worked = False
            for run_id in _candidates(engine):
                if stop.is_set():
                    break
                try:
                    summary = _try_execute(settings, engine, run_id, options)
                except LabelgateError as exc:
                    say(f"run {run_id} failed: {exc}")
                    worked = True
                    continue
                except Exception as exc:  # recorded on the run by the runner; the worker carries on
                    log.exception("run %s failed", run_id)
                    say(f"run {run_id} failed: {type(exc).__name__}: {exc}")
                    worked = True
                    continue
                if summary is not None:
                    executed += 1
                    worked = True
                    rate = f"{summary.images_per_s:.1f} images/s" if summary.images_per_s else "-"
                    say(f"run {run_id} {summary.state}: {summary.processed} items, {summary.labels} labels, {rate}")
            if once and not worked:
                break
            if not worked:
                stop.wait(poll_s)
    finally:
        if own:
            engine.dispose()
    return executed
