"""``labelgate autolabel|runs|worker`` (``model``: ``service.cli.models``; ``review``: ``service.cli.review``;
``calibrate``: ``service.cli.calibrate``).

``model list``, ``autolabel --queue``, ``runs list|show|cancel`` and ``review list|select`` call their verb
of ``service.actions`` on the local workspace, or the API with ``--server`` (``service.cli.door``), and
print from the API's response models in both modes: the same output, the same exit codes. What needs the
workspace's machine refuses ``--server``: executing a run (``autolabel`` without ``--queue``, ``runs
resume``, ``worker``), ``calibrate`` (it runs the model) and ``model register`` (it loads a local weights
file; the API registers only weights already under the server's ``<workspace>/models/``).

``--project`` takes a project name or id; it may be left out when the caller sees one project.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lineage.errors import InvalidInput
from service.cli.choices import RunState
from service.cli.common import exits_cleanly, out
from service.cli.door import local, remote, require_local
from service.cli.lazy import lazy_module
from service.cli.lineage import JsonOpt, ProjectOpt
from service.cli.names import local_names, remote_names
from service.cli.table import print_table

if TYPE_CHECKING:
    from inference import runner
    from lineage import models
    from service import actions, workspace
    from service import settings as app_settings
    from service.api.schemas import inference as pub
else:
    actions = lazy_module("service.actions")
    runner = lazy_module("inference.runner")
    pub = lazy_module("service.api.schemas.inference")
    app_settings = lazy_module("service.settings")
    workspace = lazy_module("service.workspace")
    models = lazy_module("lineage.models")


__all__ = ["autolabel_command", "runs_app", "worker_command"]

runs_app = typer.Typer(help="Auto-label runs: list, show, resume, cancel.", no_args_is_help=True)


def _dump(value: Any) -> None:
    out.print(json.dumps(value, indent=2, default=str))


def _print_summary(summary: runner.RunSummary) -> None:
    rate = f"{summary.images_per_s:.1f} images/s" if summary.images_per_s else "-"
    out.print(
        f"run {summary.run_id} {summary.state}: {summary.items_done}/{summary.items_total} items "
        f"({summary.processed} now), {summary.labels} labels, {summary.routed} routed to review, "
        f"{summary.errors} unreadable; {rate} on {summary.device}",
    )


def _execute(run_id: int, *, executor: str, workers: int, ray_address: str | None) -> None:
    """Execute a run in this process (on the workspace's machine), as the caller, with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from service.actions.runs import execute_in_process

    with local() as ctx:
        settings, actor = ctx.settings, ctx.actor
        run = ctx.session.get(models.AutoLabelRun, run_id)
        assert run is not None
        done, total = run.items_done, run.items_total
    engine = workspace.open_engine(settings)
    columns = (
        TextColumn(f"run {run_id}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
    )
    try:
        with Progress(*columns, console=out, transient=False) as bar:
            task = bar.add_task("autolabel", total=total, completed=done, rate="")

            def progress(p: runner.RunProgress) -> None:
                rate = f"{p.images_per_s:.1f} img/s, {p.labels} labels, {p.routed} routed"
                bar.update(task, completed=p.done, total=p.total, rate=rate)

            summary = execute_in_process(
                settings,
                engine,
                run_id=run_id,
                actor=actor,
                executor=executor,
                workers=workers,
                ray_address=ray_address,
                on_progress=progress,
            )
    finally:
        engine.dispose()
    _print_summary(summary)


ExecutorOpt = Annotated[str, typer.Option("--executor", help="local (in this process) or ray")]
WorkersOpt = Annotated[int, typer.Option("--workers", min=1, help="Ray actors (with --executor ray)")]
RayAddressOpt = Annotated[str | None, typer.Option("--ray-address", help="an existing Ray cluster")]


@exits_cleanly
def autolabel_command(
    version: Annotated[str, typer.Argument(metavar="DATASET@VERSION", help="the version to label")],
    model: Annotated[str, typer.Option("--model", help="registered model NAME@VERSION")],
    threshold: Annotated[float, typer.Option(min=0.0, max=1.0, help="confidence threshold")] = 0.3,
    review_band: Annotated[float, typer.Option(min=0.0, max=1.0, help="uncertain band below the threshold")] = 0.0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N")] = "auto",
    batch: Annotated[int, typer.Option(min=1, max=1024, help="images per batch")] = 32,
    nms_iou: Annotated[float, typer.Option(min=0.0, max=1.0, help="NMS IoU")] = 0.7,
    calibration_id: Annotated[
        int | None, typer.Option("--calibration", help="per-class thresholds from this calibration id")
    ] = None,
    strategy: Annotated[str, typer.Option(help="with --calibration: tbal or f1")] = "tbal",
    queue_only: Annotated[bool, typer.Option("--queue", help="only queue it (a `labelgate worker` runs it)")] = False,
    new: Annotated[bool, typer.Option("--new", help="never resume an unfinished identical run")] = False,
    executor: ExecutorOpt = "local",
    workers: WorkersOpt = 1,
    ray_address: RayAddressOpt = None,
    project: ProjectOpt = None,
) -> None:
    """Auto-label a dataset version; rerunning the same command resumes an interrupted run. With
    ``--server``, ``--queue`` is required: the server's ``labelgate worker`` runs it."""
    if not queue_only:
        require_local("autolabel without --queue", "it runs the batch here; pass --queue for the server's worker")
    with remote() as api:
        if api is not None:
            if new:
                raise InvalidInput(
                    "the API returns an identical unfinished run: --new works locally only", field="--new"
                )
            body = {
                "version": version,
                "model": model,
                "threshold": threshold,
                "review_band": review_band,
                "nms_iou": nms_iou,
                "device": device,
                "batch_size": batch,
                "calibration_id": calibration_id,
                "strategy": strategy,
            }
            run = api.model(pub.RunPublic, "POST", f"/projects/{api.project_id(project)}/autolabel-runs", json=body)
        else:
            with local() as ctx:
                queued = actions.queue_run(
                    ctx,
                    actions.find_project(ctx, project),
                    version=version,
                    model=model,
                    threshold=threshold,
                    review_band=review_band,
                    nms_iou=nms_iou,
                    device=device,
                    batch_size=batch,
                    calibration_id=calibration_id,
                    strategy=strategy,
                    reuse=not new,
                )
                run = pub.RunPublic.model_validate(queued)
    finished = run.state == "succeeded"
    verb = f"resuming ({run.state}, {run.items_done}/{run.items_total} done)" if run.reused else "queued"
    if finished:
        verb = "already succeeded with these parameters; nothing to do (--new runs it again)"
    out.print(f"run {run.id} {verb}")
    if not queue_only and not finished:
        _execute(run.id, executor=executor, workers=workers, ray_address=ray_address)


@runs_app.command("list")
@exits_cleanly
def runs_list(
    state: Annotated[RunState | None, typer.Option(help="only runs in this state")] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Auto-label runs of the project, newest first (the latest 100): the version labelled and the model."""
    with remote() as api:
        if api is not None:
            pid = api.project_id(project)
            params = {"state": state.value} if state else {}
            rows = [pub.RunPublic.model_validate(r) for r in api.get(f"/projects/{pid}/autolabel-runs", params=params)]
            names = remote_names(api, pid) if rows and not as_json else None
        else:
            with local() as ctx:
                pid = actions.find_project(ctx, project)
                wanted = models.RunState(state.value) if state else None
                rows = [pub.RunPublic.model_validate(r) for r in actions.runs_of(ctx, pid, state=wanted)]
                names = local_names(ctx, pid) if rows and not as_json else None
    if as_json:
        _dump([r.model_dump(mode="json") for r in rows])
        return
    header = ("RUN", "STATE", "DATASET@VERSION", "MODEL", "DONE", "THRESHOLD", "DEVICE", "RATE", "ERROR")
    print_table(
        header,
        [
            (
                r.id,
                r.state,
                names.version(r.dataset_version_id) if names else r.dataset_version_id,
                names.model(r.model_version_id) if names else r.model_version_id,
                f"{r.items_done}/{r.items_total}",
                f"{r.threshold:g}",
                r.device,
                f"{r.images_per_s:.1f}/s" if r.images_per_s else "-",
                r.error or "",
            )
            for r in rows
        ],
        empty="no auto-label runs",
    )


@runs_app.command("show")
@exits_cleanly
def runs_show(run_id: int, project: ProjectOpt = None) -> None:
    """One run as JSON (the API's run), with its per-class thresholds."""
    with remote() as api:
        if api is not None:
            run = api.model(pub.RunPublic, "GET", f"/projects/{api.project_id(project)}/autolabel-runs/{run_id}")
        else:
            with local() as ctx:
                run = pub.RunPublic.model_validate(actions.run_of(ctx, actions.find_project(ctx, project), run_id))
    _dump(run.model_dump(mode="json"))


@runs_app.command("resume")
@exits_cleanly
def runs_resume(
    run_id: int,
    executor: ExecutorOpt = "local",
    workers: WorkersOpt = 1,
    ray_address: RayAddressOpt = None,
    project: ProjectOpt = None,
) -> None:
    """Execute a queued, interrupted or failed run here, from where it stopped."""
    require_local("runs resume", "it executes the run here; the server's `labelgate worker` resumes orphaned runs")
    with local() as ctx:
        actions.run_of(ctx, actions.find_project(ctx, project), run_id)
    _execute(run_id, executor=executor, workers=workers, ray_address=ray_address)


@runs_app.command("cancel")
@exits_cleanly
def runs_cancel(run_id: int, reason: str = "", project: ProjectOpt = None) -> None:
    """Cancel a run (a runner executing it stops before its next batch)."""
    with remote() as api:
        if api is not None:
            path = f"/projects/{api.project_id(project)}/autolabel-runs/{run_id}/cancel"
            api.model(pub.RunPublic, "POST", path, json={"reason": reason})
        else:
            with local() as ctx:
                actions.cancel_run(ctx, actions.find_project(ctx, project), run_id, reason=reason)
    out.print(f"run {run_id} cancelled")


@exits_cleanly
def worker_command(
    once: Annotated[bool, typer.Option("--once", help="exit when nothing is left to run")] = False,
    poll: Annotated[float, typer.Option(min=0.1, help="seconds between polls")] = 2.0,
    executor: ExecutorOpt = "local",
    workers: WorkersOpt = 1,
    ray_address: RayAddressOpt = None,
) -> None:
    """Execute queued auto-label runs (and resume orphaned ones) until stopped."""
    import signal
    import threading

    from service.worker import run_worker

    require_local("worker", "it executes the queued runs of the workspace's database")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    out.print("worker started; SIGTERM stops it after the batch in hand (the run resumes later)")
    try:
        n = run_worker(
            app_settings.get_settings(),
            once=once,
            poll_s=poll,
            executor=executor,
            workers=workers,
            ray_address=ray_address,
            stop=stop,
            report=lambda line: out.print(line),
        )
    except KeyboardInterrupt:
        stop.set()
        return
    out.print(f"worker stopped after {n} runs")
