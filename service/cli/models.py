"""``labelgate model register|list|tiny``: the registered models of a project (``service.cli.inference`` runs
them). ``model list`` runs locally or with ``--server``; ``model register`` hashes and loads a local weights
file, so it runs on the workspace's machine only (the API registers weights already under the server's
``<workspace>/models/``).
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

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


@model_app.command("register")
@exits_cleanly
def model_register(
    ref: Annotated[str, typer.Argument(metavar="NAME@VERSION")],
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
            actions.find_project(ctx, project),
            name=name,
            version=version,
            weights=weights,
            schema_ref=schema,
            class_map=mapped,
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
        [(f"{r.name}@{r.version}", r.framework, r.task, f"{r.weights_sha256[:16]}…", r.weights_uri) for r in rows],
        empty="no registered models",
    )


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
