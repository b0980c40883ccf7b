"""``labelgate model|autolabel|runs|calibrate|review|worker``: thin doors onto ``inference`` functions.

``--project`` takes a project name or id; it may be left out when the workspace has one project.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from inference import registry, review, runs
from inference.runner import RunProgress, RunSummary
from lineage.errors import InvalidInput
from lineage.models import AutoLabelRun, RunState
from lineage.schemas import resolve_schema_ref
from service.cli_common import exits_cleanly, local_actor, out, store
from service.cli_lineage import AsUser, JsonOpt, ProjectOpt, _project_id
from service.settings import get_settings

__all__ = [
    "autolabel_command",
    "calibrate_command",
    "model_app",
    "review_app",
    "runs_app",
    "worker_command",
]

model_app = typer.Typer(help="Registered models (local weights, hashed, class-mapped).", no_args_is_help=True)
runs_app = typer.Typer(help="Auto-label runs: list, show, resume, cancel.", no_args_is_help=True)
review_app = typer.Typer(help="The review queue and active-learning selection.", no_args_is_help=True)


def _dump(value: Any) -> None:
    out.print(json.dumps(value, indent=2, default=str))


def _run_dict(run: AutoLabelRun) -> dict[str, Any]:
    return run.model_dump(mode="json", warnings=False)


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
    as_user: AsUser = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a model version from local weights: SHA-256, class map onto a schema version."""
    name, sep, version = ref.partition("@")
    if not sep:
        raise InvalidInput(f"expected NAME@VERSION, got {ref!r}", field="ref")
    with store() as session:
        pid = _project_id(session, project)
        sv = resolve_schema_ref(session, project_id=pid, ref=schema)
        row = registry.register_model(
            session,
            actor=local_actor(session, as_user),
            project_id=pid,
            name=name,
            version=version,
            weights=weights,
            schema_version_id=sv.id or 0,
            overrides=_parse_map(class_map or []),
        )
        if as_json:
            _dump(row.model_dump(mode="json"))
            return
        classes = ", ".join(f"{k}→{v}" for k, v in row.class_map.items())
        out.print(f"registered {row.name}@{row.version} (id {row.id}) sha256 {row.weights_sha256}")
        out.print(f"classes: {classes}")


@model_app.command("list")
@exits_cleanly
def model_list(project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """Registered model versions of the project."""
    with store() as session:
        rows = registry.list_models(session, project_id=_project_id(session, project))
        if as_json:
            _dump([r.model_dump(mode="json") for r in rows])
            return
        for r in rows:
            out.print(f"{r.name}@{r.version}  {r.framework}  {r.weights_sha256[:16]}…  {r.weights_uri}")


@model_app.command("tiny")
@exits_cleanly
def model_tiny(
    cache: Annotated[Path | None, typer.Option("--cache", help="cache folder (default ~/.cache/labelgate)")] = None,
) -> None:
    """Train (or load from the cache) the tiny shapes detector used by tests and the demo; print its path."""
    from inference.tiny import ensure_tiny_model

    tiny = ensure_tiny_model(cache)
    state = "cached" if tiny.cached else f"trained in {tiny.train_seconds:.0f} s"
    out.print(f"{tiny.weights} ({state}; classes {', '.join(tiny.classes)}; metrics {tiny.metrics})")


def _print_summary(summary: RunSummary) -> None:
    rate = f"{summary.images_per_s:.1f} images/s" if summary.images_per_s else "-"
    out.print(
        f"run {summary.run_id} {summary.state}: {summary.items_done}/{summary.items_total} items "
        f"({summary.processed} now), {summary.labels} labels, {summary.routed} routed to review, "
        f"{summary.errors} unreadable; {rate} on {summary.device}",
    )


def _execute(run_id: int, *, as_user: str | None, executor: str, workers: int, ray_address: str | None) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from lineage.db import make_engine
    from service.worker import execute_in_process

    settings = get_settings()
    with store(settings) as session:
        actor = local_actor(session, as_user)
        run = session.get(AutoLabelRun, run_id)
        assert run is not None
        done, total = run.items_done, run.items_total
    engine = make_engine(settings.database_url)
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
    as_user: AsUser = None,
) -> None:
    """Auto-label a dataset version; rerunning the same command resumes an interrupted run."""
    with store() as session:
        pid = _project_id(session, project)
        actor = local_actor(session, as_user)
        per_class = None
        evidence = None
        if calibration_id is not None:
            from inference.calibrate import get_calibration

            record = get_calibration(session, project_id=pid, calibration_id=calibration_id)
            if strategy not in record["report"]["thresholds"]:
                raise InvalidInput(f"unknown strategy {strategy!r} (tbal or f1)", field="--strategy")
            per_class = record["report"]["thresholds"][strategy]
            evidence = {"calibration_id": calibration_id, "strategy": strategy, "golden": record["golden"]}
        run, created = runs.queue_run(
            session,
            actor=actor,
            project_id=pid,
            version=version,
            model=model,
            threshold=threshold,
            review_band=review_band,
            nms_iou=nms_iou,
            device=device,
            batch_size=batch,
            class_thresholds=per_class,
            evidence=evidence,
            reuse=not new,
        )
        run_id = run.id or 0
        finished = run.state == RunState.succeeded.value
        verb = "queued" if created else f"resuming ({run.state}, {run.items_done}/{run.items_total} done)"
        if finished:
            verb = "already succeeded with these parameters; nothing to do (--new runs it again)"
    out.print(f"run {run_id} {verb}")
    if not queue_only and not finished:
        _execute(run_id, as_user=as_user, executor=executor, workers=workers, ray_address=ray_address)


@runs_app.command("list")
@exits_cleanly
def runs_list(
    state: Annotated[RunState | None, typer.Option(help="only runs in this state")] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Auto-label runs of the project, newest first."""
    with store() as session:
        rows = runs.list_runs(session, project_id=_project_id(session, project), state=state)
        if as_json:
            _dump([_run_dict(r) for r in rows])
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
    """One run as JSON, with its thresholds."""
    with store() as session:
        run = runs.get_run(session, project_id=_project_id(session, project), run_id=run_id)
        _dump({**_run_dict(run), "thresholds": runs.run_thresholds(session, run).as_dict()})


@runs_app.command("resume")
@exits_cleanly
def runs_resume(
    run_id: int,
    executor: ExecutorOpt = "local",
    workers: WorkersOpt = 1,
    ray_address: RayAddressOpt = None,
    project: ProjectOpt = None,
    as_user: AsUser = None,
) -> None:
    """Execute a queued, interrupted or failed run here, from where it stopped."""
    with store() as session:
        runs.get_run(session, project_id=_project_id(session, project), run_id=run_id)
    _execute(run_id, as_user=as_user, executor=executor, workers=workers, ray_address=ray_address)


@runs_app.command("cancel")
@exits_cleanly
def runs_cancel(run_id: int, reason: str = "", project: ProjectOpt = None, as_user: AsUser = None) -> None:
    """Cancel a run (a runner executing it stops before its next batch)."""
    with store() as session:
        run = runs.get_run(session, project_id=_project_id(session, project), run_id=run_id)
        runs.cancel_run(session, actor=local_actor(session, as_user), run=run, reason=reason)
    out.print(f"run {run_id} cancelled")


@exits_cleanly
def calibrate_command(
    model: Annotated[str, typer.Option("--model", help="registered model NAME@VERSION")],
    golden: Annotated[str, typer.Option("--golden", help="golden-set name or DATASET@VERSION")],
    iou: Annotated[float, typer.Option(min=0.01, max=1.0, help="IoU to match golden boxes")] = 0.5,
    target_error: Annotated[float, typer.Option(min=0.0001, max=0.9999, help="TBAL: error bound")] = 0.05,
    level: Annotated[float, typer.Option(min=0.5001, max=0.9999, help="TBAL: one-sided confidence")] = 0.95,
    band: Annotated[float, typer.Option(min=0.0, max=1.0, help="review band when counting coverage")] = 0.1,
    apply_to: Annotated[int | None, typer.Option("--apply-to", help="write thresholds into this queued run")] = None,
    strategy: Annotated[str, typer.Option(help="thresholds applied: tbal or f1")] = "tbal",
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N")] = "auto",
    batch: Annotated[int, typer.Option(min=1, max=1024)] = 32,
    output: Annotated[Path | None, typer.Option("--out", help="also write the evidence JSON here")] = None,
    project: ProjectOpt = None,
    as_user: AsUser = None,
    as_json: JsonOpt = False,
) -> None:
    """F1-optimal and TBAL thresholds per class against a golden set; the evidence is recorded."""
    from inference.calibrate import calibrate
    from lineage.db import make_engine

    settings = get_settings()
    with store(settings) as session:
        pid = _project_id(session, project)
        actor = local_actor(session, as_user)
    engine = make_engine(settings.database_url)
    try:
        result = calibrate(
            engine,
            actor=actor,
            project_id=pid,
            model=model,
            golden=golden,
            repo_dir=settings.repo_dir,
            iou=iou,
            target_error=target_error,
            level=level,
            band=band,
            device=device,
            batch_size=batch,
            apply_to_run=apply_to,
            strategy=strategy,
        )
    finally:
        engine.dispose()
    body = {"calibration_id": result.calibration_id, "model": result.model, "golden": result.golden}
    body |= {"items": result.items, "applied_to_run": result.applied_to_run, **result.report.to_dict()}
    if output is not None:
        output.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    if as_json:
        _dump(body)
        return
    out.print(f"calibration {result.calibration_id}: {result.model} on {result.golden} ({result.items} items)")
    for c in result.report.classes:
        f1 = f"{c.f1_threshold:.3f} (F1 {c.f1:.3f})" if c.f1_threshold is not None and c.f1 is not None else "-"
        tbal = f"{c.tbal.threshold:.3f} (n {c.tbal.n}, fp {c.tbal.fp}, bound {c.tbal.upper:.3f})" if c.tbal else "none"
        out.print(f"  {c.name:<20} gt {c.n_gt:>5}  F1-optimal {f1}  TBAL {tbal}")
    for name, cov in (("f1", result.report.coverage_f1), ("tbal", result.report.coverage_tbal)):
        out.print(
            f"  {name}: auto-labels {cov.auto_labelled}/{cov.items} items, {cov.to_humans} to people, "
            f"{cov.wrong_labels}/{cov.labels} labels wrong",
        )
    if result.applied_to_run is not None:
        out.print(f"  {strategy} thresholds written into run {result.applied_to_run}")


@review_app.command("list")
@exits_cleanly
def review_list(
    run: Annotated[int | None, typer.Option(help="only rows of this run")] = None,
    reason: Annotated[str | None, typer.Option(help="no_label, uncertain, unreadable, active_learning")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Open review-queue rows, least confident first."""
    with store() as session:
        rows = review.list_queue(
            session, project_id=_project_id(session, project), run_id=run, reason=reason, limit=limit
        )
        if as_json:
            _dump(
                [{**e.row.model_dump(mode="json"), "uri": e.item.uri, "labels": [a.id for a in e.labels]} for e in rows]
            )
            return
        for e in rows:
            out.print(f"{e.row.id:>6} {e.row.reason:<16} {e.row.priority:.3f} {e.item.uri} ({len(e.labels)} labels)")


@review_app.command("select")
@exits_cleanly
def review_select(
    run_id: int,
    fraction: Annotated[float, typer.Option(min=0.0001, max=1.0, help="share of the pool")] = 0.03,
    uncertainty: Annotated[str, typer.Option(help="entropy or margin")] = "entropy",
    diversity: Annotated[str, typer.Option(help="kcenter, kmeans or none")] = "kcenter",
    seed: int = 0,
    project: ProjectOpt = None,
    as_user: AsUser = None,
) -> None:
    """Active learning: queue the next human batch from a run's pool (uncertainty, thinned for diversity)."""
    from service.worker import signals_dir

    settings = get_settings()
    with store(settings) as session:
        picked = review.select_next_batch(
            session,
            actor=local_actor(session, as_user),
            project_id=_project_id(session, project),
            run_id=run_id,
            signals_dir=signals_dir(settings),
            fraction=fraction,
            uncertainty=uncertainty,  # type: ignore[arg-type]
            diversity=diversity,  # type: ignore[arg-type]
            seed=seed,
        )
        out.print(f"queued {len(picked)} items for people: {', '.join(str(r.item_id) for r in picked)}")


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
