"""``labelgate schema|dataset|lineage``: each command calls its verb of ``service.actions``
on the local workspace, or the API with ``--server`` (``service.cli.door``), and prints from the API's
response models, so both print the same.

``--project`` takes a project name or id; it may be left out when the caller sees one project.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from urllib.parse import quote

import typer

from lineage.errors import InvalidInput
from service.cli.common import exits_cleanly, out
from service.cli.door import local, remote
from service.cli.lazy import lazy_module
from service.cli.refs import new_version_ref, parent_version
from service.cli.table import print_table

if TYPE_CHECKING:
    from pydantic import TypeAdapter

    from lineage import models, provenance
    from lineage import schemas as label_schemas
    from service import actions
    from service.api.schemas import lineage as pub
else:
    actions = lazy_module("service.actions")
    models = lazy_module("lineage.models")
    provenance = lazy_module("lineage.provenance")
    label_schemas = lazy_module("lineage.schemas")
    pub = lazy_module("service.api.schemas.lineage")


__all__ = ["JsonOpt", "ProjectOpt", "dataset_app", "lineage_app", "schema_app"]

schema_app = typer.Typer(help="Label schemas and their versions.", no_args_is_help=True)
dataset_app = typer.Typer(help="Datasets and their DVC-versioned versions.", no_args_is_help=True)
lineage_app = typer.Typer(help="Where a label or a dataset version came from.", no_args_is_help=True)

ProjectOpt = Annotated[str | None, typer.Option("--project", "-p", help="project name or id")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of text")]
DOOR_STATES = ("candidate", "rejected", "deprecated")
T = TypeVar("T")


def _adapter(of: type[T]) -> TypeAdapter[T]:
    """The API's model of a lineage answer (pydantic loads when a command runs, not for ``--help``)."""
    from pydantic import TypeAdapter

    return TypeAdapter(of)


def _read_schema(path: Path) -> tuple[list[label_schemas.LabelClass], label_schemas.SchemaOptions | None]:
    import yaml

    if not path.is_file():
        raise InvalidInput(f"no such file: {path}", field="--classes")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))  # YAML is a superset of JSON
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise InvalidInput(f"malformed YAML/JSON ({getattr(exc, 'problem', exc)})", field=where) from None
    classes, options = label_schemas.parse_schema(raw, source=str(path))
    return classes, options if isinstance(raw, dict) and "multi_label" in raw else None


def _dump(value: Any) -> None:
    out.print(json.dumps(value, indent=2, default=str))


def _schemas_path(project_id: int) -> str:
    return f"/projects/{project_id}/schemas"


def _datasets_path(project_id: int) -> str:
    return f"/projects/{project_id}/datasets"


@schema_app.command("create")
@exits_cleanly
def schema_create(
    name: str,
    classes: Annotated[
        Path,
        typer.Option(
            "--classes",
            help="YAML/JSON list of {name, description, attributes, geometry[, keypoints]}, or "
            "{classes: [...], multi_label: true} for a multi-label classification schema",
        ),
    ],
    project: ProjectOpt = None,
) -> None:
    """Create a label schema with its version 1."""
    parsed, options = _read_schema(classes)
    with remote() as api:
        if api is not None:
            body: dict[str, Any] = {"name": name, "classes": [c.model_dump(mode="json") for c in parsed]}
            if options is not None:
                body["multi_label"] = options.multi_label
            v = api.model(pub.SchemaVersionPublic, "POST", _schemas_path(api.project_id(project)), json=body)
        else:
            with local() as ctx:
                created = actions.create_schema(
                    ctx, actions.find_project(ctx, project), name=name, classes=parsed, options=options
                )
                v = pub.SchemaVersionPublic.model_validate(created)
    out.print(f"schema {name} v{v.version}  hash {v.content_hash}  git {v.git_revision}")


@schema_app.command("publish")
@exits_cleanly
def schema_publish(
    name: str,
    classes: Annotated[Path, typer.Option("--classes", help="YAML/JSON list of classes")],
    project: ProjectOpt = None,
) -> None:
    """Publish the next version of a schema; prints its diff to the previous one."""
    parsed, options = _read_schema(classes)
    with remote() as api:
        if api is not None:
            path = f"{_schemas_path(api.project_id(project))}/{quote(name, safe='')}/versions"
            body: dict[str, Any] = {"classes": [c.model_dump(mode="json") for c in parsed]}
            if options is not None:
                body["multi_label"] = options.multi_label
            v = api.model(pub.SchemaVersionPublic, "POST", path, json=body)
        else:
            with local() as ctx:
                published = actions.publish_schema(
                    ctx, actions.find_project(ctx, project), name, classes=parsed, options=options
                )
                v = pub.SchemaVersionPublic.model_validate(published)
    out.print(f"schema {name} v{v.version}  hash {v.content_hash}  git {v.git_revision}")
    _print_diff(v.diff)


def _print_diff(diff: dict[str, Any]) -> None:
    for key in ("added", "removed"):
        for name in diff.get(key, []):
            out.print(f"  {key:<9} {name}")
    for r in diff.get("renamed", []):
        out.print(f"  renamed   {r['from']} -> {r['to']}")
    for r in diff.get("redefined", []):
        out.print(f"  redefined {r['name']} ({', '.join(r['fields'])})")
    if diff.get("reordered"):
        out.print("  reordered (class indices change)")
    for key, change in (diff.get("options") or {}).items():
        out.print(f"  option    {key}: {change['before']} -> {change['after']}")
    if not diff.get("changed", True):
        out.print("  no change")


@schema_app.command("diff")
@exits_cleanly
def schema_diff(
    name: str,
    from_version: Annotated[int, typer.Option("--from", min=1)],
    to_version: Annotated[int, typer.Option("--to", min=1)],
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The difference between two versions of a schema."""
    with remote() as api:
        if api is not None:
            path = f"{_schemas_path(api.project_id(project))}/{quote(name, safe='')}/diff"
            found = api.model(pub.SchemaDiffPublic, "GET", path, params={"from": from_version, "to": to_version})
        else:
            with local() as ctx:
                pid = actions.find_project(ctx, project)
                diff = actions.schema_diff(ctx, pid, name, from_version=from_version, to_version=to_version)
                found = pub.SchemaDiffPublic(from_version=from_version, to_version=to_version, **diff.as_dict())
    changes = found.model_dump(exclude={"from_version", "to_version"})
    if as_json:
        _dump(changes)
        return
    out.print(f"schema {name}: v{from_version} -> v{to_version}")
    _print_diff(changes)


@dataset_app.command("create")
@exits_cleanly
def dataset_create(
    name: str,
    description: Annotated[str, typer.Option()] = "",
    golden: Annotated[bool, typer.Option("--golden", help="a golden set (hidden from annotators)")] = False,
    project: ProjectOpt = None,
) -> None:
    """Create a dataset."""
    with remote() as api:
        if api is not None:
            body = {"name": name, "description": description, "is_golden": golden}
            d = api.model(pub.DatasetPublic, "POST", _datasets_path(api.project_id(project)), json=body)
        else:
            with local() as ctx:
                pid = actions.find_project(ctx, project)
                created = actions.create_dataset(ctx, pid, name=name, description=description, is_golden=golden)
                d = pub.DatasetPublic.model_validate(created)
    out.print(f"created dataset {d.name} (id {d.id})")


@dataset_app.command("version")
@exits_cleanly
def dataset_version(
    ref: Annotated[str, typer.Argument(metavar="DATASET@VERSION", help="the new version")],
    from_dir: Annotated[Path | None, typer.Option("--from-dir", help="folder of images (default: parent's)")] = None,
    parent: Annotated[
        str | None, typer.Option(metavar="VERSION", help="parent version: VERSION or DATASET@VERSION")
    ] = None,
    schema: Annotated[str | None, typer.Option(help="NAME or NAME@VERSION (default: parent's)")] = None,
    no_inherit: Annotated[bool, typer.Option("--no-inherit", help="do not copy the parent's labels")] = False,
    copy: Annotated[
        bool,
        typer.Option(
            "--copy",
            help="copy the images into the DVC cache instead of hard-linking them (linked, the files of "
            "--from-dir become read-only cache objects; copied, the workspace grows by their size)",
        ),
    ] = False,
    project: ProjectOpt = None,
    old_version: Annotated[
        str | None, typer.Option("--version", "-v", hidden=True, help="deprecated: write DATASET@VERSION")
    ] = None,
) -> None:
    """Create a version from a folder of images (on the workspace's machine) or from its parent's: the
    images hard-linked into the DVC cache (``--copy`` copies them), committed and pushed; only the images
    that changed since the latest version are read and stored."""
    dataset, version = new_version_ref(ref, old_version)
    if parent is not None:
        parent = parent_version(dataset, parent)
    with remote() as api:
        if api is not None:
            if from_dir is not None:
                raise InvalidInput(
                    "--from-dir reads a folder on this machine, which a server cannot; a server takes new images "
                    "only from its workspace's incoming/ folder: run this on the workspace's machine without "
                    "--server, or version from a parent (--parent)",
                    field="--server",
                )
            body = {"version": version, "parent": parent, "schema": schema, "inherit_labels": not no_inherit}
            path = f"{_datasets_path(api.project_id(project))}/{quote(dataset, safe='')}/versions"
            v = api.model(pub.VersionPublic, "POST", path, json=body)
        else:
            with local() as ctx:
                created = actions.create_version(
                    ctx,
                    actions.find_project(ctx, project),
                    dataset,
                    version=version,
                    parent=parent,
                    schema=schema,
                    source_dir=from_dir,
                    inherit_labels=not no_inherit,
                    link_source=not copy,
                )
                v = pub.VersionPublic.model_validate(created)
    out.print(f"{dataset}@{v.version}: {v.item_count} items  git {v.git_revision}  dvc {v.dvc_hash}")


@dataset_app.command("state")
@exits_cleanly
def dataset_state(
    ref: Annotated[str, typer.Argument(metavar="DATASET@VERSION")],
    state: Annotated[str, typer.Argument(help=" | ".join(DOOR_STATES))],
    reason: Annotated[str, typer.Option()] = "",
    project: ProjectOpt = None,
) -> None:
    """Move a version to candidate, rejected or deprecated (releases go through `labelgate release`)."""
    if state not in DOOR_STATES:
        raise InvalidInput(
            f"expected one of {', '.join(DOOR_STATES)}; a release goes through the release flow", field="state"
        )
    dataset, version = actions.split_ref(ref)
    with remote() as api:
        if api is not None:
            path = api.version_path(api.project_id(project), dataset, version) + "/state"
            v = api.model(pub.VersionPublic, "POST", path, json={"state": state, "reason": reason})
        else:
            with local() as ctx:
                pid = actions.find_project(ctx, project)
                moved = actions.change_state(
                    ctx, pid, dataset, version, state=models.VersionState(state), reason=reason
                )
                v = pub.VersionPublic.model_validate(moved)
    out.print(f"{ref} is now {state}  manifest {v.manifest_hash}")


@dataset_app.command("list")
@exits_cleanly
def dataset_list(project: ProjectOpt = None) -> None:
    """Datasets and their versions."""
    found: list[tuple[pub.DatasetPublic, list[pub.VersionPublic]]] = []
    with remote() as api:
        if api is not None:
            base = _datasets_path(api.project_id(project))
            for d in (pub.DatasetPublic.model_validate(d) for d in api.get(base)):
                versions = api.get(f"{base}/{quote(d.name, safe='')}/versions")
                found.append((d, [pub.VersionPublic.model_validate(v) for v in versions]))
        else:
            with local() as ctx:
                pid = actions.find_project(ctx, project)
                for row in actions.datasets_of(ctx, pid):
                    versions = [pub.VersionPublic.model_validate(v) for v in actions.versions_of(ctx, pid, row.name)]
                    found.append((pub.DatasetPublic.model_validate(row), versions))
    rows: list[tuple[object, ...]] = []
    for d, versions in found:
        name = f"{d.name} (golden)" if d.is_golden else d.name
        rows.extend((name, v.version, v.state, v.item_count, (v.git_revision or "")[:12]) for v in versions)
        if not versions:
            rows.append((name, "-", "", "", ""))
    print_table(("DATASET", "VERSION", "STATE", "ITEMS", "GIT"), rows, empty="no datasets")


@lineage_app.command("annotation")
@exits_cleanly
def lineage_annotation(annotation_id: int, project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """The whole chain of a label: history, provenance, schema version, every version containing it."""
    with remote() as api:
        if api is not None:
            answer = api.get(f"/projects/{api.project_id(project)}/annotations/{annotation_id}/lineage")
        else:
            with local() as ctx:
                answer = asdict(actions.annotation_lineage(ctx, actions.find_project(ctx, project), annotation_id))
    # Both doors print the API's model of the answer: its floats, its ISO date-times.
    adapter = _adapter(provenance.AnnotationLineage)
    result = adapter.validate_python(answer)
    if as_json:
        _dump(adapter.dump_python(result, mode="json"))
        return
    state = "live" if result.live else "superseded"
    out.print(f"annotation {result.annotation_id} in {result.version} ({state})")
    if result.schema:
        s = result.schema
        out.print(f"schema   {s.name} v{s.version}  hash {s.content_hash[:16]}  git {s.git_revision}")
    out.print("history (oldest first):")
    for step in [*result.history, *result.superseded_by]:
        marker = "*" if step.id == result.annotation_id else " "
        prov = " ".join(f"{k}={v}" for k, v in step.provenance.items() if v is not None)
        link = f" supersedes {step.supersedes_id}" if step.supersedes_id else ""
        link += f" copied from {step.origin_id}" if step.origin_id else ""
        out.print(
            f" {marker} #{step.id:<8} {step.version:<24} {step.category:<16} {step.geometry_type:<8} "
            f"{step.bbox}  {step.kind}: {prov}{link}",
        )
        for r in step.reviews:
            out.print(f"      review {r['decision']} by {r['reviewer']} {r['comment']}")
    out.print("dataset versions containing it:")
    for h in result.versions:
        out.print(f"   {h.version:<24} {h.state:<10} as #{h.annotation_id} {'live' if h.live else 'superseded'}")


@lineage_app.command("version")
@exits_cleanly
def lineage_version(
    ref: Annotated[str, typer.Argument(metavar="DATASET@VERSION")], project: ProjectOpt = None, as_json: JsonOpt = False
) -> None:
    """A version's ancestry, label share by provenance, and DVC identity."""
    dataset, version = actions.split_ref(ref)
    with remote() as api:
        if api is not None:
            answer = api.get(api.version_path(api.project_id(project), dataset, version) + "/lineage")
        else:
            with local() as ctx:
                answer = asdict(actions.version_lineage(ctx, actions.find_project(ctx, project), dataset, version))
    adapter = _adapter(provenance.VersionLineage)
    result = adapter.validate_python(answer)
    if as_json:
        _dump(adapter.dump_python(result, mode="json"))
        return
    out.print(f"{result.version} ({result.state})")
    dvc = result.dvc
    out.print(
        f"dvc      git {dvc['git_revision']}  hash {dvc['dvc_hash']}  path {dvc['data_path']}  items {dvc['items']}"
        + (f"  tag {dvc['git_tag']}" if dvc["git_tag"] else ""),
    )
    out.print(f"manifest {result.manifest_hash}  ({result.labels} live labels)")
    for kind, share in result.by_kind.items():
        out.print(f"  {kind:<10} {int(share['count']):>8}  {share['share']:.1%}")
    for m in result.by_model:
        out.print(f"    model {m['model']} @ threshold {m['threshold']}: {m['count']} ({m['share']:.1%})")
    for i in result.by_import:
        out.print(f"    import {i['format']} {i['source_sha256'][:16]}: {i['count']} ({i['share']:.1%})")
    for a in result.by_annotator:
        out.print(f"    human {a['annotator']}: {a['count']} ({a['share']:.1%})")
    out.print("ancestry:")
    for node in result.ancestry:
        schema = f"{node.schema.name} v{node.schema.version}" if node.schema else "no schema"
        flag = "  SCHEMA CHANGED vs parent" if node.schema_changed else ""
        out.print(f"  {node.version:<24} {node.state:<10} git {(node.git_revision or '')[:12]}  {schema}{flag}")
        if node.schema_diff:
            _print_diff(node.schema_diff)
