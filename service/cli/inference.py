"""``labelgate model|autolabel|runs|worker`` (``review``: ``service.cli.review``; ``calibrate``:
``service.cli.calibrate``).

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
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from inference.runner import RunProgress, RunSummary
from lineage.errors import InvalidInput
from lineage.models import AutoLabelRun, RunState
from service import actions
from service.actions import find_project
from service.api.schemas.inference import ModelPublic, RunPublic
from service.cli.common import exits_cleanly, out
from service.cli.door import local, remote, require_local
from service.cli.lineage import JsonOpt, ProjectOpt
from service.settings import get_settings
from service.workspace import open_engine

if TYPE_CHECKING:
    from inference.tiny_tasks import TinyTask

__all__ = [
    "autolabel_command",
    "model_app",
    "runs_app",
    "worker_command",
]

model_app = typer.Typer(help="Registered models (local weights, hashed, class-mapped).", no_args_is_help=True)
runs_app = typer.Typer(help="Auto-label runs: list, show, resume, cancel.", no_args_is_help=True)


def _dump(value: Any) -> None:
    out.print(json.dumps(value, indent=2, default=str))


def _parse_map(pairs: list[str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for pair in pairs:
        model_name, sep, schema_name = pair.partition("=")
        if not sep or not model_name or not schema_name:
            raise InvalidInput(f"expected MODEL_CLASS=SCHEMA_CLASS, got {pair!r}", field="--map")
        result[model_name] = schema_name
    return result


@model_app.command("register")
@exits_cleanly
def model_register(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION")],
    weights: Annotated[Path, typer.Option("--weights", help="local .pt file (nothing is downloaded)")],
    schema: Annotated[str, typer.Option("--schema", help="label schema NAME or NAME@N the classes map onto")],
    class_map: Annotated[
        list[str] | None, typer.Option("--map", help="MODEL_CLASS=SCHEMA_CLASS for differently named classes")
    ] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a model version from local weights: SHA-256, class map onto a schema version."""
    name, sep, version = ref.partition("@")
    if not sep:
        raise InvalidInput(f"expected NAME@VERSION, got {ref!r}", field="ref")
    mapped = _parse_map(class_map or [])
    require_local(
        "model register",
        "it hashes and loads a local weights file; the API registers only weights an operator placed under the "
        "server's <workspace>/models/ (POST /projects/{id}/models)",
    )
    with local() as ctx:
        row = actions.register_model(
            ctx,
            find_project(ctx, project),
            name=name,
            version=version,
            weights=weights,
            schema_ref=schema,
            class_map=mapped,
        )
        registered = ModelPublic.model_validate(row)
    if as_json:
        _dump(registered.model_dump(mode="json"))
        return
    classes = ", ".join(f"{k}→{v}" for k, v in registered.classes().items())
    out.print(
        f"registered {registered.name}@{registered.version} (id {registered.id}, {registered.task}) "
        f"sha256 {registered.weights_sha256}"
    )
    out.print(f"classes: {classes}")


@model_app.command("list")
@exits_cleanly
def model_list(project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """Registered model versions of the project."""
    with remote() as api:
        if api is not None:
            rows = [ModelPublic.model_validate(m) for m in api.get(f"/projects/{api.project_id(project)}/models")]
        else:
            with local() as ctx:
                rows = [ModelPublic.model_validate(m) for m in actions.models_of(ctx, find_project(ctx, project))]
    if as_json:
        _dump([r.model_dump(mode="json") for r in rows])
        return
    for r in rows:
        out.print(f"{r.name}@{r.version}  {r.framework}  {r.task}  {r.weights_sha256[:16]}…  {r.weights_uri}")


class TinyTaskName(StrEnum):
    detect = "detect"
    segment = "segment"
    pose = "pose"
    classify = "classify"


@model_app.command("tiny")
@exits_cleanly
def model_tiny(
    cache: Annotated[Path | None, typer.Option("--cache", help="cache folder (default ~/.cache/labelgate)")] = None,
    task: Annotated[
        TinyTaskName, typer.Option("--task", help="detect (the default), segment, pose or classify")
    ] = TinyTaskName.detect,
) -> None:
    """Train (or load from the cache) a tiny shapes model used by tests and the demo (a detector, or a
    segment, pose or classify model); print its path."""
    from inference.tiny import ensure_tiny_model
    from inference.tiny_tasks import ensure_tiny_task_model

    if task is TinyTaskName.detect:
        tiny = ensure_tiny_model(cache)
    else:
        tiny = ensure_tiny_task_model(cast("TinyTask", task.value), cache)
    state = "cached" if tiny.cached else f"trained in {tiny.train_seconds:.0f} s"
    out.print(f"{tiny.weights} ({state}; classes {', '.join(tiny.classes)}; metrics {tiny.metrics})")


def _print_summary(summary: RunSummary) -> None:
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
        run = ctx.session.get(AutoLabelRun, run_id)
        assert run is not None
        done, total = run.items_done, run.items_total
    engine = open_engine(settings)
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

            def progress(p: RunProgress) -> None:
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
    version: Annotated[str, typer.Argument(help="DATASET@VERSION to label")],
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
            run = api.model(RunPublic, "POST", f"/projects/{api.project_id(project)}/autolabel-runs", json=body)
        else:
            with local() as ctx:
                queued = actions.queue_run(
                    ctx,
                    find_project(ctx, project),
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
                run = RunPublic.model_validate(queued)
    finished = run.state == RunState.succeeded
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
    """Auto-label runs of the project, newest first (the latest 100)."""
    with remote() as api:
        if api is not None:
            params = {"state": state.value} if state else {}
            found = api.get(f"/projects/{api.project_id(project)}/autolabel-runs", params=params)
            rows = [RunPublic.model_validate(r) for r in found]
        else:
            with local() as ctx:
                rows = [
                    RunPublic.model_validate(r) for r in actions.runs_of(ctx, find_project(ctx, project), state=state)
                ]
    if as_json:
        _dump([r.model_dump(mode="json") for r in rows])
        return
    for r in rows:
        rate = f"{r.images_per_s:.1f}/s" if r.images_per_s else "-"
        out.print(
            f"{r.id:>5} {r.state:<9} {r.items_done}/{r.items_total} thr {r.threshold:g} {r.device} {rate}"
            + (f"  error: {r.error}" if r.error else ""),
        )


@runs_app.command("show")
@exits_cleanly
def runs_show(run_id: int, project: ProjectOpt = None) -> None:
    """One run as JSON (the API's run), with its per-class thresholds."""
    with remote() as api:
        if api is not None:
            run = api.model(RunPublic, "GET", f"/projects/{api.project_id(project)}/autolabel-runs/{run_id}")
        else:
            with local() as ctx:
                run = RunPublic.model_validate(actions.run_of(ctx, find_project(ctx, project), run_id))
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
        actions.run_of(ctx, find_project(ctx, project), run_id)
    _execute(run_id, executor=executor, workers=workers, ray_address=ray_address)


@runs_app.command("cancel")
@exits_cleanly
def runs_cancel(run_id: int, reason: str = "", project: ProjectOpt = None) -> None:
    """Cancel a run (a runner executing it stops before its next batch)."""
    with remote() as api:
        if api is not None:
            path = f"/projects/{api.project_id(project)}/autolabel-runs/{run_id}/cancel"
            api.model(RunPublic, "POST", path, json={"reason": reason})
        else:
            with local() as ctx:
                actions.cancel_run(ctx, find_project(ctx, project), run_id, reason=reason)
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
            get_settings(),
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
