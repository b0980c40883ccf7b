"""``labelgate calibrate``: F1-optimal and TBAL thresholds per class against a golden set. It runs the model
over the golden images, so it runs on the workspace's machine only (as LABELGATE_TOKEN's user or the
operator, checked as action ``calibrate``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from service.cli.common import exits_cleanly, out
from service.cli.door import local, require_local
from service.cli.lazy import lazy_module
from service.cli.lineage import JsonOpt, ProjectOpt

if TYPE_CHECKING:
    from service import actions, workspace
else:
    actions = lazy_module("service.actions")
    workspace = lazy_module("service.workspace")


__all__ = ["calibrate_command"]


def _dump(value: object) -> None:
    out.print(json.dumps(value, indent=2, default=str))


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
    as_json: JsonOpt = False,
) -> None:
    """F1-optimal and TBAL thresholds per class against a golden set; the evidence is recorded."""
    require_local("calibrate", "it runs the model over the golden set's images here")
    with local() as ctx:
        settings, principal = ctx.settings, ctx.principal
        pid = actions.find_project(ctx, project)
    engine = workspace.open_engine(settings)
    try:
        result = actions.calibrate(
            engine,
            settings,
            principal,
            project_id=pid,
            model=model,
            golden=golden,
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
