"""``labelgate schema|dataset|import|export|lineage``: thin doors onto ``lineage`` functions.

``--project`` takes a project name or id; it may be left out when the workspace has one project.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlmodel import Session, col, select

from lineage import datasets, schemas
from lineage.errors import InvalidInput, NotFound
from lineage.formats import FORMATS, export_version, import_annotations
from lineage.labels.attribution import check_attribution
from lineage.models import Project, VersionState
from lineage.openlineage import workspace_emitter
from lineage.provenance import annotation_lineage, version_lineage
from service.cli_common import exits_cleanly, local_actor, out, store
from service.settings import get_settings

__all__ = ["dataset_app", "export_command", "import_command", "lineage_app", "schema_app"]

schema_app = typer.Typer(help="Label schemas and their versions.", no_args_is_help=True)
dataset_app = typer.Typer(help="Datasets and their DVC-versioned versions.", no_args_is_help=True)
lineage_app = typer.Typer(help="Where a label or a dataset version came from.", no_args_is_help=True)

ProjectOpt = Annotated[str | None, typer.Option("--project", "-p", help="project name or id")]
AsUser = Annotated[str | None, typer.Option("--as", help="act as this user (default: the first admin)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of text")]
DOOR_STATES = ("candidate", "rejected", "deprecated")


def _project_id(session: Session, project: str | None) -> int:
    if project is None:
        found = list(session.exec(select(Project).order_by(col(Project.id)).limit(2)))
        if len(found) != 1:
            raise InvalidInput("several projects (or none) exist; name one with --project", field="--project")
        return found[0].id or 0
    where = Project.id == int(project) if project.isdigit() else Project.name == project
    match = session.exec(select(Project).where(where)).first()
    if match is None:
        raise NotFound(f"no project {project!r}", field="--project")
    return match.id or 0


def _read_classes(path: Path) -> list[schemas.LabelClass]:
    import yaml

    if not path.is_file():
        raise InvalidInput(f"no such file: {path}", field="--classes")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))  # YAML is a superset of JSON
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise InvalidInput(f"malformed YAML/JSON ({getattr(exc, 'problem', exc)})", field=where) from None
    return schemas.parse_classes(raw, source=str(path))


def _dump(value: Any) -> None:
    out.print(json.dumps(value, indent=2, default=str))


@schema_app.command("create")
@exits_cleanly
def schema_create(
    name: str,
    classes: Annotated[
        Path, typer.Option("--classes", help="YAML/JSON list of {name, description, attributes, geometry}")
    ],
    project: ProjectOpt = None,
    as_user: AsUser = None,
) -> None:
    """Create a label schema with its version 1."""
    parsed = _read_classes(classes)
    with store() as session:
        v = schemas.create_schema(
            session,
            actor=local_actor(session, as_user),
            project_id=_project_id(session, project),
            name=name,
            classes=parsed,
            repo_dir=get_settings().repo_dir,
        )
        out.print(f"schema {name} v{v.version}  hash {v.content_hash}  git {v.git_revision}")


@schema_app.command("publish")
@exits_cleanly
def schema_publish(
    name: str,
    classes: Annotated[Path, typer.Option("--classes", help="YAML/JSON list of classes")],
    project: ProjectOpt = None,
    as_user: AsUser = None,
) -> None:
    """Publish the next version of a schema; prints its diff to the previous one."""
    parsed = _read_classes(classes)
    with store() as session:
        v = schemas.publish_schema_version(
            session,
            actor=local_actor(session, as_user),
            project_id=_project_id(session, project),
            name=name,
            classes=parsed,
            repo_dir=get_settings().repo_dir,
        )
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
    with store() as session:
        diff = schemas.diff_schema_versions(
            session,
            project_id=_project_id(session, project),
            name=name,
            from_version=from_version,
            to_version=to_version,
        ).as_dict()
    if as_json:
        _dump(diff)
        return
    out.print(f"schema {name}: v{from_version} -> v{to_version}")
    _print_diff(diff)


@dataset_app.command("create")
@exits_cleanly
def dataset_create(
    name: str,
    description: Annotated[str, typer.Option()] = "",
    golden: Annotated[bool, typer.Option("--golden", help="a golden set (hidden from annotators)")] = False,
    project: ProjectOpt = None,
    as_user: AsUser = None,
) -> None:
    """Create a dataset."""
    with store() as session:
        d = datasets.create_dataset(
            session,
            actor=local_actor(session, as_user),
            project_id=_project_id(session, project),
            name=name,
            description=description,
            is_golden=golden,
        )
        out.print(f"created dataset {d.name} (id {d.id})")


@dataset_app.command("version")
@exits_cleanly
def dataset_version(
    dataset: str,
    version: Annotated[str, typer.Option("--version", "-v", help="the new version's name")],
    from_dir: Annotated[Path | None, typer.Option("--from-dir", help="folder of images (default: parent's)")] = None,
    parent: Annotated[str | None, typer.Option(help="parent version name")] = None,
    schema: Annotated[str | None, typer.Option(help="NAME or NAME@VERSION (default: parent's)")] = None,
    no_inherit: Annotated[bool, typer.Option("--no-inherit", help="do not copy the parent's labels")] = False,
    project: ProjectOpt = None,
    as_user: AsUser = None,
) -> None:
    """Create a version from a folder of images: copy, dvc add, commit, push."""
    settings = get_settings()
    with store() as session:
        pid = _project_id(session, project)
        ds = datasets.get_dataset(session, project_id=pid, name=dataset)
        v = datasets.create_version(
            session,
            actor=local_actor(session, as_user),
            dataset=ds,
            version=version,
            repo_dir=settings.repo_dir,
            source_dir=from_dir,
            parent=datasets.get_version(session, dataset=ds, version=parent) if parent else None,
            schema_version_id=schemas.resolve_schema_ref(session, project_id=pid, ref=schema).id if schema else None,
            inherit_labels=not no_inherit,
        )
        out.print(f"{ds.name}@{v.version}: {v.item_count} items  git {v.git_revision}  dvc {v.dvc_hash}")


@dataset_app.command("state")
@exits_cleanly
def dataset_state(
    ref: Annotated[str, typer.Argument(help="DATASET@VERSION")],
    state: Annotated[str, typer.Argument(help=" | ".join(DOOR_STATES))],
    reason: Annotated[str, typer.Option()] = "",
    project: ProjectOpt = None,
    as_user: AsUser = None,
) -> None:
    """Move a version to candidate, rejected or deprecated (releases go through `labelgate release`)."""
    if state not in DOOR_STATES:
        raise InvalidInput(
            f"expected one of {', '.join(DOOR_STATES)}; a release goes through the release flow", field="state"
        )
    with store() as session:
        _, v = datasets.resolve_version(session, project_id=_project_id(session, project), ref=ref)
        datasets.change_state(
            session,
            actor=local_actor(session, as_user),
            version=v,
            to=VersionState(state),
            repo_dir=get_settings().repo_dir,
            reason=reason,
        )
        out.print(f"{ref} is now {state}  manifest {v.manifest_hash}")


@dataset_app.command("list")
@exits_cleanly
def dataset_list(project: ProjectOpt = None) -> None:
    """Datasets and their versions."""
    with store() as session:
        for d in datasets.list_datasets(session, project_id=_project_id(session, project)):
            out.print(f"{d.name}{'  (golden)' if d.is_golden else ''}")
            for v in datasets.list_versions(session, dataset=d):
                out.print(f"  {v.version:<16} {v.state:<10} items {v.item_count:<7} git {(v.git_revision or '')[:12]}")


@exits_cleanly
def import_command(
    ref: Annotated[str, typer.Argument(help="DATASET@VERSION")],
    source: Annotated[Path, typer.Argument(help="COCO JSON file, YOLO folder or VOC folder")],
    format: Annotated[str, typer.Option("--format", "-f", help=" | ".join(FORMATS))] = "coco",
    annotator: Annotated[
        str | None,
        typer.Option(
            help="record the labels as this user's human work (default: import); USER must hold annotator, "
            "reviewer or ml_engineer in the project, and you ml_engineer or admin"
        ),
    ] = None,
    openlineage_console: Annotated[
        bool, typer.Option("--openlineage-console", help="also print the OpenLineage event")
    ] = False,
    reimport: Annotated[
        bool,
        typer.Option("--reimport", help="import again a source (same SHA-256) this version already holds"),
    ] = False,
    project: ProjectOpt = None,
    as_user: AsUser = None,
) -> None:
    """Import labels into a version, all or nothing; a source the version already holds (same SHA-256) is
    a no-op that says so, unless --reimport. Exit 1 when refused (a released or frozen version refuses
    writes; --annotator beyond your role), 2 on bad input naming the file and line or record."""
    settings = get_settings()
    with store() as session:
        pid = _project_id(session, project)
        _, v = datasets.resolve_version(session, project_id=pid, ref=ref)
        actor = local_actor(session, as_user)
        attributed = check_attribution(session, actor=actor, project_id=pid, annotator=annotator) if annotator else None
        result = import_annotations(
            session,
            actor=actor,
            version=v,
            fmt=format,
            path=source,
            annotator_id=attributed.id if attributed is not None else None,
            emitter=workspace_emitter(settings.workspace, console=openlineage_console),
            reimport=reimport,
        )
    if result.status == "already_imported":
        out.print(
            f"already imported: {result.version} holds this source (sha256 {result.source_sha256}) as "
            f"{result.duplicate_of}; nothing written (--reimport imports it again)"
        )
        return
    again = f", re-import #{result.generation}" if result.generation else ""
    clipped = f"; {result.clipped} box(es) past an edge by rounding moved onto it" if result.clipped else ""
    out.print(
        f"imported {result.annotations} {result.kind} annotations on {result.images} images into {result.version} "
        f"({result.format}, source sha256 {result.source_sha256}{again}){clipped}",
    )


@exits_cleanly
def export_command(
    ref: Annotated[str, typer.Argument(help="DATASET@VERSION")],
    output: Annotated[Path, typer.Argument(help="a .json file (COCO) or a folder")],
    format: Annotated[str, typer.Option("--format", "-f", help=" | ".join(FORMATS))] = "coco",
    images: Annotated[bool, typer.Option("--images", help="also write the images, read from DVC")] = False,
    project: ProjectOpt = None,
) -> None:
    """Export a version's live labels."""
    settings = get_settings()
    with store() as session:
        ds, v = datasets.resolve_version(session, project_id=_project_id(session, project), ref=ref)
        result = export_version(
            session, dataset=ds, version=v, fmt=format, out=output, repo_dir=settings.repo_dir, include_images=images
        )
    out.print(
        f"exported {result.annotations} annotations on {result.images} images of {result.version} to {result.path}"
    )


@lineage_app.command("annotation")
@exits_cleanly
def lineage_annotation(annotation_id: int, as_json: JsonOpt = False) -> None:
    """The whole chain of a label: history, provenance, schema version, every version containing it."""
    with store() as session:
        result = annotation_lineage(session, annotation_id=annotation_id)
    if as_json:
        _dump(asdict(result))
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
    ref: Annotated[str, typer.Argument(help="DATASET@VERSION")], project: ProjectOpt = None, as_json: JsonOpt = False
) -> None:
    """A version's ancestry, label share by provenance, and DVC identity."""
    with store() as session:
        _, v = datasets.resolve_version(session, project_id=_project_id(session, project), ref=ref)
        result = version_lineage(session, version_id=v.id or 0)
    if as_json:
        _dump(asdict(result))
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
