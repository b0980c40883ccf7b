"""Label schemas on the record: a named schema per project and its versions, each with a parent, a content hash,
the diff to its parent and the git revision that pins it.

What a version says (classes, geometry, options, the task, the hash, the diff) is :mod:`lineage.schema_classes`;
this module stores it. Each published version is also written to the workspace repository as
``schemas/p<project_id>/<schema>/v<N>.json`` and committed; the commit is recorded as ``git_revision``, so any
later dataset revision of the repository pins its schemas too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlmodel import Session, col, select

from lineage.audit.chain import record_event
from lineage.context import Actor
from lineage.datasets import dvcrepo
from lineage.errors import Conflict, InvalidInput, NotFound
from lineage.models import LabelSchema, LabelSchemaVersion
from lineage.schema_classes import (
    GeometryType,
    KeypointSpec,
    LabelClass,
    SchemaDiff,
    SchemaOptions,
    Task,
    classes_hash,
    diff_classes,
    parse_classes,
    parse_schema,
    schema_hash,
    schema_task,
)

__all__ = [
    "GeometryType",
    "KeypointSpec",
    "LabelClass",
    "SchemaDiff",
    "SchemaOptions",
    "Task",
    "classes_hash",
    "create_schema",
    "diff_classes",
    "diff_schema_versions",
    "diff_versions_by_id",
    "get_schema",
    "get_schema_version",
    "list_schema_versions",
    "list_schemas",
    "parse_classes",
    "parse_schema",
    "publish_schema_version",
    "resolve_schema_ref",
    "schema_hash",
    "schema_task",
    "version_classes",
    "version_options",
    "version_task",
]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def _check_name(name: str, what: str) -> None:
    if not NAME_PATTERN.match(name):
        raise InvalidInput(
            f"{what} names are 1-100 characters of letters, digits, '_', '.', '-', starting with a letter or digit",
            field="name",
        )


def get_schema(session: Session, *, project_id: int, name: str) -> LabelSchema:
    schema = session.exec(
        select(LabelSchema).where(LabelSchema.project_id == project_id, LabelSchema.name == name)
    ).first()
    if schema is None:
        raise NotFound(f"no label schema named {name!r} in this project", field="schema")
    return schema


def list_schemas(session: Session, *, project_id: int) -> list[LabelSchema]:
    stmt = select(LabelSchema).where(LabelSchema.project_id == project_id).order_by(col(LabelSchema.name))
    return list(session.exec(stmt))


def list_schema_versions(session: Session, *, schema: LabelSchema) -> list[LabelSchemaVersion]:
    stmt = (
        select(LabelSchemaVersion)
        .where(LabelSchemaVersion.schema_id == schema.id)
        .order_by(col(LabelSchemaVersion.version))
    )
    return list(session.exec(stmt))


def get_schema_version(
    session: Session, *, project_id: int, name: str, version: int | None = None
) -> LabelSchemaVersion:
    """Version ``version`` of schema ``name`` (the latest when ``None``)."""
    schema = get_schema(session, project_id=project_id, name=name)
    stmt = select(LabelSchemaVersion).where(LabelSchemaVersion.schema_id == schema.id)
    if version is None:
        stmt = stmt.order_by(col(LabelSchemaVersion.version).desc())
    else:
        stmt = stmt.where(LabelSchemaVersion.version == version)
    found = session.exec(stmt).first()
    if found is None:
        raise NotFound(f"label schema {name!r} has no version {version}", field="version")
    return found


def resolve_schema_ref(session: Session, *, project_id: int, ref: str) -> LabelSchemaVersion:
    """``NAME@N`` (version N) or ``NAME`` (latest)."""
    name, sep, num = ref.partition("@")
    if sep and not num.isdigit():
        raise InvalidInput(f"expected NAME or NAME@VERSION (a number), got {ref!r}", field="schema")
    return get_schema_version(session, project_id=project_id, name=name, version=int(num) if sep else None)


def version_classes(version: LabelSchemaVersion) -> list[LabelClass]:
    return [LabelClass.model_validate(c) for c in version.classes]


def version_options(version: LabelSchemaVersion) -> SchemaOptions:
    """A version's options (defaults for versions published before options existed)."""
    return SchemaOptions.model_validate(version.options or {})


def version_task(version: LabelSchemaVersion) -> Task:
    """The task of a version's classes (:func:`lineage.schema_classes.schema_task`)."""
    return schema_task(version_classes(version))


def create_schema(
    session: Session,
    *,
    actor: Actor,
    project_id: int,
    name: str,
    classes: list[LabelClass],
    repo_dir: Path,
    options: SchemaOptions | None = None,
) -> LabelSchemaVersion:
    """Create schema ``name`` with its version 1."""
    _check_name(name, "schema")
    if session.exec(select(LabelSchema).where(LabelSchema.project_id == project_id, LabelSchema.name == name)).first():
        raise Conflict(f"a label schema named {name!r} already exists in this project", field="name")
    schema = LabelSchema(project_id=project_id, name=name)
    session.add(schema)
    session.flush()
    record_event(
        session, actor, "schema.create", ("label_schema", str(schema.id)), project_id=project_id, payload={"name": name}
    )
    return _publish(
        session, actor=actor, schema=schema, parent=None, classes=classes, options=options, repo_dir=repo_dir
    )


def publish_schema_version(
    session: Session,
    *,
    actor: Actor,
    project_id: int,
    name: str,
    classes: list[LabelClass],
    repo_dir: Path,
    options: SchemaOptions | None = None,
) -> LabelSchemaVersion:
    """Publish the next version of schema ``name``, its parent being the latest; identical content is refused.

    ``options`` (None): the new version's options; None keeps the parent's."""
    schema = get_schema(session, project_id=project_id, name=name)
    parent = get_schema_version(session, project_id=project_id, name=name)
    opts = version_options(parent) if options is None else options
    if parent.content_hash == schema_hash(classes, opts):
        raise Conflict(f"version {parent.version} of {name!r} already has exactly these classes", field="classes")
    return _publish(
        session, actor=actor, schema=schema, parent=parent, classes=classes, options=opts, repo_dir=repo_dir
    )


def _publish(
    session: Session,
    *,
    actor: Actor,
    schema: LabelSchema,
    parent: LabelSchemaVersion | None,
    classes: list[LabelClass],
    options: SchemaOptions | None,
    repo_dir: Path,
) -> LabelSchemaVersion:
    number = 1 if parent is None else parent.version + 1
    opts = options or SchemaOptions()
    if opts.multi_label and schema_task(classes) != "classify":
        raise InvalidInput("multi_label is for classification schemas (every class a 'tag')", field="multi_label")
    diff = diff_classes(
        [] if parent is None else version_classes(parent),
        classes,
        old_options=None if parent is None else version_options(parent),
        new_options=opts,
    )
    content_hash = schema_hash(classes, opts)
    stored = [c.stored() for c in classes]
    body = {
        "schema": schema.name,
        "version": number,
        "parent_version": None if parent is None else parent.version,
        "content_hash": content_hash,
        "classes": stored,
        **({"options": opts.stored()} if opts.stored() else {}),
    }
    relpath = f"schemas/p{schema.project_id}/{schema.name}/v{number}.json"
    dvcrepo.require_repo(repo_dir)
    # A crash after this commit and before the database commits leaves an unreferenced file in git,
    # which is harmless: the database is the record, the file only pins content to revisions.
    with dvcrepo.repo_lock(repo_dir):
        dvcrepo.write_text(repo_dir, relpath, json.dumps(body, indent=2, ensure_ascii=False) + "\n")
        revision = dvcrepo.commit_all(repo_dir, f"labelgate: schema {schema.name} v{number}")
    version = LabelSchemaVersion(
        schema_id=schema.id or 0,
        version=number,
        parent_id=None if parent is None else parent.id,
        classes=stored,
        options=opts.stored(),
        content_hash=content_hash,
        diff=diff.as_dict(),
        git_revision=revision,
        created_by=actor.user_id,
    )
    session.add(version)
    session.flush()
    record_event(
        session,
        actor,
        "schema.publish",
        ("label_schema_version", str(version.id)),
        project_id=schema.project_id,
        payload={
            "schema": schema.name,
            "version": number,
            "parent_version": None if parent is None else parent.version,
            "content_hash": content_hash,
            "git_revision": revision,
            "path": relpath,
            "diff": diff.as_dict(),
        },
    )
    return version


def diff_schema_versions(
    session: Session, *, project_id: int, name: str, from_version: int, to_version: int
) -> SchemaDiff:
    a = get_schema_version(session, project_id=project_id, name=name, version=from_version)
    b = get_schema_version(session, project_id=project_id, name=name, version=to_version)
    return _diff(a, b)


def _diff(old: LabelSchemaVersion, new: LabelSchemaVersion) -> SchemaDiff:
    return diff_classes(
        version_classes(old),
        version_classes(new),
        old_options=version_options(old),
        new_options=version_options(new),
    )


def diff_versions_by_id(session: Session, old_id: int | None, new_id: int | None) -> SchemaDiff | None:
    """The diff between two schema versions by id (any schemas); ``None`` when they are the same or absent."""
    if old_id == new_id or old_id is None or new_id is None:
        return None
    old = session.get(LabelSchemaVersion, old_id)
    new = session.get(LabelSchemaVersion, new_id)
    if old is None or new is None:
        return None
    return _diff(old, new)
