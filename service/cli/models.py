"""``labelgate model register|list|show|export|tiny``: the registered models of a project
(``service.cli.inference`` runs them). ``model list``, ``show`` and ``export`` run locally or with
``--server``; ``model register`` stores, hashes and loads a local weights file, so it runs on the workspace's
machine only (the API registers weights already under the server's ``<workspace>/models/``).
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast
from urllib.parse import quote

import typer

from lineage.errors import InvalidInput
from service.cli.common import exits_cleanly, out
from service.cli.door import local, remote, require_local
from service.cli.lazy import lazy_module
from service.cli.lineage import JsonOpt, ProjectOpt
from service.cli.table import print_table

if TYPE_CHECKING:
    from inference.tiny_tasks import TinyTask
    from service import actions
    from service.api.schemas import inference as pub
else:
    actions = lazy_module("service.actions")
    pub = lazy_module("service.api.schemas.inference")

__all__ = ["model_app"]

model_app = typer.Typer(help="Registered models (local weights, hashed, class-mapped).", no_args_is_help=True)


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


def _parse_values(pairs: list[str], what: str) -> dict[str, Any]:
    """``KEY=VALUE`` pairs, each value read as JSON when it parses (``epochs=20`` → 20) and as text otherwise."""
    result: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"expected KEY=VALUE, got {pair!r}", field=what)
        try:
            result[key] = json.loads(raw)
        except ValueError:
            result[key] = raw
    return result


def _metrics(pairs: list[str]) -> dict[str, float]:
    values = _parse_values(pairs, "--metric")
    bad = [k for k, v in values.items() if not isinstance(v, int | float) or isinstance(v, bool)]
    if bad:
        raise InvalidInput(f"metrics are numbers; not: {', '.join(sorted(bad))}", field="--metric")
    return {k: float(v) for k, v in values.items()}


class TaskName(StrEnum):
    detect = "detect"
    segment = "segment"
    pose = "pose"
    classify = "classify"


@model_app.command("register")
@exits_cleanly
def model_register(
    ref: Annotated[str, typer.Argument(metavar="NAME@VERSION")],
    weights: Annotated[Path, typer.Option("--weights", help="local .pt file (nothing is downloaded)")],
    schema: Annotated[str, typer.Option("--schema", help="label schema NAME or NAME@N the classes map onto")],
    class_map: Annotated[
        list[str] | None, typer.Option("--map", help="MODEL_CLASS=SCHEMA_CLASS for differently named classes")
    ] = None,
    task: Annotated[
        TaskName | None, typer.Option("--task", help="the task the weights must be (refused if they are another)")
    ] = None,
    trained_on: Annotated[
        list[str] | None, typer.Option("--trained-on", metavar="DATASET@VERSION", help="training data (repeatable)")
    ] = None,
    validated_on: Annotated[
        list[str] | None,
        typer.Option("--validated-on", metavar="DATASET@VERSION", help="validation data (repeatable)"),
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", metavar="KEY=VALUE", help="a training hyper-parameter")
    ] = None,
    metric: Annotated[
        list[str] | None, typer.Option("--metric", metavar="NAME=NUMBER", help="a validation metric of the model")
    ] = None,
    intended_use: Annotated[str, typer.Option("--intended-use", help="for the model card: what it is for")] = "",
    caveat: Annotated[list[str] | None, typer.Option("--caveat", help="for the model card (repeatable)")] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a model version from local weights: stored in the workspace's DVC, SHA-256, class map onto a
    schema version, and the dataset versions it was trained and validated on."""
    from inference.registry import CardWords, TrainingRecord

    name, sep, version = ref.partition("@")
    if not sep:
        raise InvalidInput(f"expected NAME@VERSION, got {ref!r}", field="ref")
    mapped = _parse_map(class_map or [])
    hyper, metrics = _parse_values(param or [], "--param"), _metrics(metric or [])
    training = (
        TrainingRecord(
            train=tuple(trained_on or ()), val=tuple(validated_on or ()), hyperparameters=hyper, metrics=metrics
        )
        if trained_on or validated_on or hyper or metrics
        else None
    )
    require_local(
        "model register",
        "it hashes and loads a local weights file; the API registers only weights an operator placed under the "
        "server's <workspace>/models/ (POST /projects/{id}/models)",
    )
    with local() as ctx:
        row = actions.register_model(
            ctx,
            actions.find_project(ctx, project),
            name=name,
            version=version,
            weights=weights,
            schema_ref=schema,
            class_map=mapped,
            task=None if task is None else task.value,
            training=training,
            card=CardWords(intended_use=intended_use, caveats=tuple(caveat or ())),
        )
        registered = pub.ModelPublic.model_validate(row)
    if as_json:
        _dump(registered.model_dump(mode="json"))
        return
    classes = ", ".join(f"{k}→{v}" for k, v in registered.classes().items())
    out.print(
        f"registered {registered.name}@{registered.version} (id {registered.id}, {registered.task}) "
        f"sha256 {registered.weights_sha256}"
    )
    out.print(f"classes: {classes}")
    out.print(f"stored: {registered.weights_uri} ({registered.weights_bytes} bytes, git {registered.weights_rev})")
    if training is not None:
        out.print(f"trained on: {', '.join(training.train) or '—'}; validated on: {', '.join(training.val) or '—'}")


@model_app.command("show")
@exits_cleanly
def model_show(
    ref: Annotated[str, typer.Argument(metavar="NAME@VERSION")], project: ProjectOpt = None, as_json: JsonOpt = False
) -> None:
    """One model version: where its weights are stored, its versions and input size, and the dataset
    versions it was trained and validated on."""
    with remote() as api:
        if api is not None:
            detail = api.model(pub.ModelDetail, "GET", f"/projects/{api.project_id(project)}/models/{quote(ref)}")
        else:
            with local() as ctx:
                detail = pub.ModelDetail.model_validate(
                    actions.model_detail(ctx, actions.find_project(ctx, project), ref)
                )
    if as_json:
        _dump(detail.model_dump(mode="json"))
        return
    training = detail.training or {}
    rows = [
        ("model", f"{detail.name}@{detail.version} ({detail.framework}, {detail.task})"),
        ("classes", ", ".join(f"{k}→{v}" for k, v in detail.classes().items())),
        ("weights", f"{detail.weights_uri} ({'in the workspace DVC' if detail.stored else 'outside the workspace'})"),
        ("sha256", detail.weights_sha256),
        ("size", "—" if detail.weights_bytes is None else f"{detail.weights_bytes} bytes"),
        ("versions", f"ultralytics {detail.ultralytics_version or '—'}, torch {detail.torch_version or '—'}"),
        ("input size", str(detail.imgsz or "—")),
        ("trainer", str(training.get("trainer") or "— (not recorded)")),
    ]
    for link in detail.training_data:
        role = "trained on" if link.role == "train" else "validated on"
        rows.append((role, f"{link.version} ({link.item_count} items, manifest {(link.manifest_hash or '—')[:12]})"))
    for key, value in sorted((training.get("metrics") or {}).items()):
        rows.append((f"metric {key}", f"{value:.4g}"))
    for key, value in sorted((training.get("hyperparameters") or {}).items()):
        rows.append((f"param {key}", str(value)))
    print_table(("FIELD", "VALUE"), rows, empty="")


@model_app.command("export")
@exits_cleanly
def model_export(
    ref: Annotated[str, typer.Argument(metavar="NAME@VERSION")],
    path: Annotated[Path, typer.Argument(help="file to write, or a folder for NAME-VERSION.pt")],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace an existing file")] = False,
    project: ProjectOpt = None,
) -> None:
    """Write a model version's exact registered weights to PATH (SHA-256 checked before and after)."""
    with remote() as api:
        if api is not None:
            dest = _download(api, project, ref, path, overwrite=overwrite)
        else:
            with local() as ctx:
                dest = actions.export_model(ctx, actions.find_project(ctx, project), ref, path, overwrite=overwrite)
    out.print(f"wrote {dest} ({dest.stat().st_size} bytes, SHA-256 verified)")


def _download(api: Any, project: str | None, ref: str, path: Path, *, overwrite: bool) -> Path:
    """Fetch the weights from the server into ``path``, checking the bytes against the server's SHA-256."""
    import hashlib
    import os
    import tempfile

    from lineage.errors import Conflict

    name, _, version = ref.partition("@")
    dest = path / f"{name}-{version}.pt" if path.is_dir() else path
    if dest.exists() and not overwrite:
        raise InvalidInput(f"{dest} exists; choose another path or overwrite it (--overwrite)", field="path")
    if not dest.parent.is_dir():
        raise InvalidInput(f"no folder {dest.parent} to write {dest.name} into", field="path")
    response = api.request("GET", f"/projects/{api.project_id(project)}/models/{quote(ref)}/weights")
    expected = response.headers.get("X-Labelgate-SHA256", "")
    if hashlib.sha256(response.content).hexdigest() != expected:
        raise Conflict(f"the weights of {ref} did not arrive intact (SHA-256 differs from the server's)")
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    with os.fdopen(fd, "wb") as fh:
        fh.write(response.content)
    os.replace(tmp, dest)
    return dest


@model_app.command("list")
@exits_cleanly
def model_list(project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """Registered model versions of the project."""
    with remote() as api:
        if api is not None:
            rows = [pub.ModelPublic.model_validate(m) for m in api.get(f"/projects/{api.project_id(project)}/models")]
        else:
            with local() as ctx:
                rows = [
                    pub.ModelPublic.model_validate(m)
                    for m in actions.models_of(ctx, actions.find_project(ctx, project))
                ]
    if as_json:
        _dump([r.model_dump(mode="json") for r in rows])
        return
    print_table(
        ("MODEL", "FRAMEWORK", "TASK", "SHA-256", "WEIGHTS"),
        [
            (
                f"{r.name}@{r.version}",
                r.framework,
                r.task,
                f"{r.weights_sha256[:16]}…",
                f"{r.weights_uri}" + ("" if r.stored else " (outside the workspace)"),
            )
            for r in rows
        ],
        empty="no registered models",
    )


@model_app.command("tiny")
@exits_cleanly
def model_tiny(
    cache: Annotated[Path | None, typer.Option("--cache", help="cache folder (default ~/.cache/labelgate)")] = None,
    task: Annotated[
        TaskName, typer.Option("--task", help="detect (the default), segment, pose or classify")
    ] = TaskName.detect,
) -> None:
    """Train (or load from the cache) a tiny shapes model used by tests and the demo (a detector, or a
    segment, pose or classify model); print its path."""
    from inference.tiny import ensure_tiny_model
    from inference.tiny_tasks import ensure_tiny_task_model

    if task is TaskName.detect:
        tiny = ensure_tiny_model(cache)
    else:
        tiny = ensure_tiny_task_model(cast("TinyTask", task.value), cache)
    state = "cached" if tiny.cached else f"trained in {tiny.train_seconds:.0f} s"
    out.print(f"{tiny.weights} ({state}; classes {', '.join(tiny.classes)}; metrics {tiny.metrics})")
