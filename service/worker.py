"""The background job runner: executes auto-label runs outside the API's requests.

``labelgate worker`` polls the database for runs to execute: ``queued`` ones, and ``running`` ones whose
lease is free (their executor died, e.g. a killed worker): those resume where their last committed batch
left them. Several workers may poll one database; a run's lease (:mod:`inference.lease`) makes sure only
one executes it. A run is executed on behalf of the user who queued it. ``failed`` runs are not retried
automatically: ``labelgate runs resume ID`` does that once the cause is fixed.

The CLI's ``labelgate autolabel`` executes in-process through :func:`execute_in_process` instead. Both are
verbs of :mod:`service.actions.runs`; this module is the polling loop around them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from lineage.errors import LabelgateError
from service.actions.runs import (
    execute_in_process,
    execute_pending,
    pending_runs,
    run_actor,
    runner_options,
    signals_dir,
)
from service.settings import Settings
from service.workspace import open_engine

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["execute_in_process", "run_actor", "run_worker", "signals_dir"]

log = logging.getLogger("labelgate.worker")


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
    engine = engine or open_engine(settings)
    stop = stop or threading.Event()
    say = report or log.info
    options = runner_options(settings, executor=executor, workers=workers, ray_address=ray_address, stop=stop)
    executed = 0
    try:
        while not stop.is_set():
            worked = False
            for run_id in pending_runs(engine):
                if stop.is_set():
                    break
                try:
                    summary = execute_pending(settings, engine, run_id, options)
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
