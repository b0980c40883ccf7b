"""``labelgate model train``: train a detector with Ultralytics on dataset versions of the record and register
it with its training on the record. It reads the images from the workspace's repository and trains here,
so it runs on the workspace's machine only (as LABELGATE_TOKEN's user or the operator, checked as action
``register_model``). Every reference is checked before the training starts; one line per epoch goes to
stderr."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from service.cli.common import err, exits_cleanly, out
from service.cli.door import local, require_local
from service.cli.lazy import lazy_module
from service.cli.lineage import JsonOpt, ProjectOpt

if TYPE_CHECKING:
    from inference.training import EpochProgress
    from service import actions
    from service.actions import training
    from service.api.schemas import inference as pub
else:
    actions = lazy_module("service.actions")
    training = lazy_module("service.actions.training")
    pub = lazy_module("service.api.schemas.inference")

__all__ = ["model_train_command"]

_SHOWN = ("metrics/mAP50(B)", "metrics/mAP50-95(B)")


def _print_epoch(step: EpochProgress) -> None:
    loss = "" if step.loss is None else f" loss {step.loss:.4f}"
    shown = " ".join(f"{k.split('/')[-1]} {step.metrics[k]:.3f}" for k in _SHOWN if k in step.metrics)
    err.print(f"epoch {step.epoch}/{step.epochs}{loss}{' ' + shown if shown else ''}")


@exits_cleanly
def model_train_command(
    ref: Annotated[str, typer.Argument(metavar="NAME@VERSION", help="the model version to train and register")],
    data: Annotated[list[str], typer.Option("--data", help="training data DATASET@VERSION (repeatable)")],
    schema: Annotated[str, typer.Option("--schema", help="label schema NAME or NAME@N the classes come from")],
    val: Annotated[
        list[str] | None,
        typer.Option("--val", help="validation data DATASET@VERSION (repeatable; default: hold out --val-fraction)"),
    ] = None,
    base: Annotated[
        str, typer.Option("--base", help="tiny, a model .yaml or a local .pt to fine-tune (nothing is downloaded)")
    ] = "tiny",
    epochs: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    imgsz: Annotated[int, typer.Option(min=32, max=8192, help="training image size in pixels")] = 640,
    batch: Annotated[int, typer.Option(min=1, max=1024, help="images per batch")] = 16,
    seed: Annotated[int, typer.Option(help="seeds the training and the held-out split")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N")] = "auto",
    val_fraction: Annotated[
        float, typer.Option("--val-fraction", min=0.01, max=0.99, help="share held out when no --val is given")
    ] = 0.2,
    intended_use: Annotated[
        str | None, typer.Option("--intended-use", help="what the model is for, on its card")
    ] = None,
    caveats: Annotated[list[str] | None, typer.Option("--caveat", help="a caveat for its card (repeatable)")] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Train a detector on dataset versions (Ultralytics, offline) and register it with its training data,
    hyper-parameters and validation metrics on the record."""
    require_local("model train", "it reads the images from the workspace's repository and trains on this machine")
    with local() as ctx:
        row = training.train_and_register(
            ctx,
            actions.find_project(ctx, project),
            ref=ref,
            train=data,
            val=val or [],
            schema_ref=schema,
            base=base,
            epochs=epochs,
            imgsz=imgsz,
            batch=batch,
            seed=seed,
            device=device,
            intended_use=intended_use,
            caveats=caveats or [],
            val_fraction=val_fraction,
            progress=_print_epoch,
        )
        registered = pub.ModelPublic.model_validate(row)
        trained = dict(row.training or {})
    if as_json:
        out.print(json.dumps({**registered.model_dump(mode="json"), "training": trained}, indent=2, default=str))
        return
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in dict(trained.get("metrics") or {}).items())
    out.print(
        f"trained and registered {registered.name}@{registered.version} (id {registered.id}) "
        f"sha256 {registered.weights_sha256}"
    )
    out.print(f"validation: {metrics}")
