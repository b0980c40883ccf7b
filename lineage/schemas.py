"""Label schemas: classes, their canonical hash, versions with a parent, and the diff between versions.

A schema version's ``classes`` is an ordered list of ``{name, description, attributes, geometry}``;
the order matters (it gives YOLO class indices and COCO category ids), so it is part of the hash:

    content_hash = SHA-256( canonical_json_nonfinite(classes) )

with ``canonical_json_nonfinite`` (``lineage.hashing``) = compact, key-sorted, UTF-8 JSON that writes NaN
and ±Infinity rather than refusing them (a class's attribute specs may come from YAML, where ``.inf`` is a
number), and no domain tag (the hash predates them). Each published version is also written to
the workspace repository as ``schemas/p<project_id>/<schema>/v<N>.json`` and committed; the commit is
recorded as ``git_revision``, so any later dataset revision of the repository pins its schemas too.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import Session, col, select

from lineage.audit.chain import record_event
from lineage.context import Actor
from lineage.datasets import dvcrepo
from lineage.errors import Conflict, InvalidInput, NotFound
from lineage.hashing import NO_DOMAIN, canonical_json_nonfinite, digest_bytes
from lineage.models import LabelSchema, LabelSchemaVersion

__all__ = [
    "GeometryType",
    "LabelClass",
    "SchemaDiff",
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
    "publish_schema_version",
    "resolve_schema_ref",
    "version_classes",
]

GeometryType = Literal["box", "polygon", "mask", "keypoints", "point"]
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class LabelClass(BaseModel):
    """One class. ``attributes`` maps an attribute name to its spec (free-form JSON, e.g. ``{"type": "bool"}``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=2000)
    attributes: dict[str, Any] = Field(default_factory=dict)
    geometry: GeometryType = "box"

    def definition(self) -> dict[str, Any]:
        """Everything but the name: two classes with equal definitions and different names are a rename."""
        return {"description": self.description, "attributes": self.attributes, "geometry": self.geometry}


def classes_hash(classes: list[LabelClass]) -> str:
    """A schema version's content hash (see the module doc)."""
    return digest_bytes(NO_DOMAIN, canonical_json_nonfinite([c.model_dump() for c in classes]))


def parse_classes(raw: Any, *, source: str = "classes") -> list[LabelClass]:
    """Validate a list of class dicts (or ``{"classes": [...]}``); errors name ``source[i].field``."""
    if isinstance(raw, dict) and set(raw) == {"classes"}:
        raw = raw["classes"]
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("expected a non-empty list of classes", field=source)
    classes: list[LabelClass] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        where = f"{source}[{i}]"
        try:
            cls = LabelClass.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise InvalidInput(f"{first['msg']}", field=f"{where}.{loc}" if loc else where) from None
        if cls.name != cls.name.strip():
            raise InvalidInput("class names may not start or end with spaces", field=f"{where}.name")
        if cls.name in seen:
            raise InvalidInput(
                f"duplicate class name {cls.name!r} (also {source}[{seen[cls.name]}])", field=f"{where}.name"
            )
        seen[cls.name] = i
        classes.append(cls)
    return classes


@dataclass(frozen=True, slots=True)
class SchemaDiff:
    """What changed from ``old`` to ``new``.

    ``renamed``: a class of ``old`` missing by name from ``new`` whose definition (description, attributes,
    geometry) equals a new name's; a bare definition (no description, no attributes) identifies nothing,
    so such a pair counts as a rename only when it keeps its position in the list;
    ``redefined``: same name, different definition (``fields`` says which);
    ``reordered``: the names both versions keep appear in another order (YOLO indices change).
    """

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    renamed: list[dict[str, str]] = field(default_factory=list)
    redefined: list[dict[str, Any]] = field(default_factory=list)
    reordered: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.renamed or self.redefined or self.reordered)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "changed": self.changed}


def diff_classes(old: list[LabelClass], new: list[LabelClass]) -> SchemaDiff:
    old_by = {c.name: c for c in old}
    new_by = {c.name: c for c in new}
    gone = [c for c in old if c.name not in new_by]
    fresh = [c for c in new if c.name not in old_by]
    renamed: list[dict[str, str]] = []
    unmatched_fresh = list(fresh)
    old_pos = {c.name: i for i, c in enumerate(old)}
    new_pos = {c.name: i for i, c in enumerate(new)}
    for c in gone:
        match = next(
            (
                f
                for f in unmatched_fresh
                if canonical_json_nonfinite(f.definition()) == canonical_json_nonfinite(c.definition())
                and (c.description or c.attributes or old_pos[c.name] == new_pos[f.name])
            ),
            None,
        )
        if match is not None:
            renamed.append({"from": c.name, "to": match.name})
            unmatched_fresh.remove(match)
    renamed_from = {r["from"] for r in renamed}
    redefined = []
    for name, before in old_by.items():
        after = new_by.get(name)
        if after is None or before == after:
            continue
        fields = [k for k in ("description", "attributes", "geometry") if getattr(before, k) != getattr(after, k)]
        redefined.append({"name": name, "fields": fields, "before": before.definition(), "after": after.definition()})
    kept_old = [c.name for c in old if c.name in new_by]
    kept_new = [c.name for c in new if c.name in old_by]
    return SchemaDiff(
        added=[c.name for c in unmatched_fresh],
        removed=[c.name for c in gone if c.name not in renamed_from],
        renamed=renamed,
        redefined=redefined,
        reordered=kept_old != kept_new,
    )


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


def create_schema(
    session: Session,
    *,
    actor: Actor,
    project_id: int,
    name: str,
    classes: list[LabelClass],
    repo_dir: Path,
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
    return _publish(session, actor=actor, schema=schema, parent=None, classes=classes, repo_dir=repo_dir)


def publish_schema_version(
    session: Session,
    *,
    actor: Actor,
    project_id: int,
    name: str,
    classes: list[LabelClass],
    repo_dir: Path,
) -> LabelSchemaVersion:
    """Publish the next version of schema ``name``, its parent being the latest; identical content is refused."""
    schema = get_schema(session, project_id=project_id, name=name)
    parent = get_schema_version(session, project_id=project_id, name=name)
    if parent.content_hash == classes_hash(classes):
        raise Conflict(f"version {parent.version} of {name!r} already has exactly these classes", field="classes")
    return _publish(session, actor=actor, schema=schema, parent=parent, classes=classes, repo_dir=repo_dir)


def _publish(
    session: Session,
    *,
    actor: Actor,
    schema: LabelSchema,
    parent: LabelSchemaVersion | None,
    classes: list[LabelClass],
    repo_dir: Path,
) -> LabelSchemaVersion:
    number = 1 if parent is None else parent.version + 1
    diff = diff_classes([] if parent is None else version_classes(parent), classes)
    content_hash = classes_hash(classes)
    body = {
        "schema": schema.name,
        "version": number,
        "parent_version": None if parent is None else parent.version,
        "content_hash": content_hash,
        "classes": [c.model_dump() for c in classes],
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
        classes=[c.model_dump() for c in classes],
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
    return diff_classes(version_classes(a), version_classes(b))


def diff_versions_by_id(session: Session, old_id: int | None, new_id: int | None) -> SchemaDiff | None:
    """The diff between two schema versions by id (any schemas); ``None`` when they are the same or absent."""
    if old_id == new_id or old_id is None or new_id is None:
        return None
    old = session.get(LabelSchemaVersion, old_id)
    new = session.get(LabelSchemaVersion, new_id)
    if old is None or new is None:
        return None
    return diff_classes(version_classes(old), version_classes(new))
