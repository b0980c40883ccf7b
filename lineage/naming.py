"""Display names of the objects audit events (and other records) point at, in batch.

An audit event names its object as ``(object_type, object_id)`` (``dataset_version``, ``"3"``); a person reads
``street@v2``. :func:`display_names` turns the refs of a whole page of events into names with a fixed number of
queries (one or two per object type present, never one per event); :func:`find_refs` goes the other way, from a
name a person typed to the refs it names, so the audit filter can search by name.

Names (a ref whose row is gone, or whose type is unknown, reads ``type:id``):

============================  ====================================================
``project``                   its name (``street-scenes``)
``dataset``                   its name (``street``)
``dataset_version``           ``street@v2``
``label_schema``              its name; ``label_schema_version``: ``shapes@2``
``model_version``             ``tiny-shapes@2``
``golden_set``, ``gate_policy``  ``NAME@VERSION``
``user``                      the username; ``api_token``: ``token ci (lg_ab12) of alice``
``gate_evaluation``           ``evaluation 12 of street@v2`` (also ``release``)
``annotation``                ``annotation 812 on street@v2``
``autolabel_run``             ``run 4 (tiny-shapes@2 on street@v3)``
``calibration``               ``calibration 5 of tiny-shapes@2``
``review_queue_item``         ``review item 7 on street@v3``
============================  ====================================================
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import ColumnElement, String, cast, func, or_
from sqlmodel import Session, col, select

from lineage.models import (
    Annotation,
    ApiToken,
    AutoLabelRun,
    Calibration,
    Dataset,
    DatasetVersion,
    GateEvaluation,
    GatePolicy,
    GoldenSet,
    LabelSchema,
    LabelSchemaVersion,
    ModelVersion,
    Project,
    Release,
    ReviewQueueItem,
    User,
)

__all__ = ["Ref", "display_names", "fallback_name", "find_refs", "group_ids", "project_names"]

#: An object as audit events name it: ``(object_type, object_id)``.
Ref = tuple[str, str]

# IN lists are cut into chunks: SQLite allows 32,766 bound parameters, and long lists plan badly everywhere.
_CHUNK = 500


def fallback_name(ref: Ref) -> str:
    return f"{ref[0]}:{ref[1]}"


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    ordered = sorted(set(ids))
    for i in range(0, len(ordered), _CHUNK):
        yield ordered[i : i + _CHUNK]


def _rows(session: Session, stmt_of: Callable[[list[int]], Any], ids: Iterable[int]) -> list[Any]:
    out: list[Any] = []
    for chunk in _chunks(ids):
        out.extend(session.exec(stmt_of(chunk)))
    return out


# -- plain names: one query per type ------------------------------------------------------------------------


def _at(name: str, version: object) -> str:
    return f"{name}@{version}"


def _projects(session: Session, ids: Iterable[int]) -> dict[int, str]:
    rows = _rows(session, lambda c: select(Project.id, Project.name).where(col(Project.id).in_(c)), ids)
    return {i: n for i, n in rows}


def _datasets(session: Session, ids: Iterable[int]) -> dict[int, str]:
    rows = _rows(session, lambda c: select(Dataset.id, Dataset.name).where(col(Dataset.id).in_(c)), ids)
    return {i: n for i, n in rows}


def _versions(session: Session, ids: Iterable[int]) -> dict[int, str]:
    def stmt(c: list[int]) -> Any:
        return (
            select(DatasetVersion.id, Dataset.name, DatasetVersion.version)
            .join(Dataset, col(Dataset.id) == col(DatasetVersion.dataset_id))
            .where(col(DatasetVersion.id).in_(c))
        )

    return {i: _at(n, v) for i, n, v in _rows(session, stmt, ids)}


def _schemas(session: Session, ids: Iterable[int]) -> dict[int, str]:
    rows = _rows(session, lambda c: select(LabelSchema.id, LabelSchema.name).where(col(LabelSchema.id).in_(c)), ids)
    return {i: n for i, n in rows}


def _schema_versions(session: Session, ids: Iterable[int]) -> dict[int, str]:
    def stmt(c: list[int]) -> Any:
        return (
            select(LabelSchemaVersion.id, LabelSchema.name, LabelSchemaVersion.version)
            .join(LabelSchema, col(LabelSchema.id) == col(LabelSchemaVersion.schema_id))
            .where(col(LabelSchemaVersion.id).in_(c))
        )

    return {i: _at(n, v) for i, n, v in _rows(session, stmt, ids)}


def _named_versions(table: Any) -> Callable[[Session, Iterable[int]], dict[int, str]]:
    """Rows named ``NAME@VERSION`` by their own columns (models, golden sets, policies)."""

    def names(session: Session, ids: Iterable[int]) -> dict[int, str]:
        rows = _rows(session, lambda c: select(table.id, table.name, table.version).where(col(table.id).in_(c)), ids)
        return {i: _at(n, v) for i, n, v in rows}

    return names


def _users(session: Session, ids: Iterable[int]) -> dict[int, str]:
    rows = _rows(session, lambda c: select(User.id, User.username).where(col(User.id).in_(c)), ids)
    return {i: n for i, n in rows}


def _tokens(session: Session, ids: Iterable[int]) -> dict[int, str]:
    def stmt(c: list[int]) -> Any:
        return (
            select(ApiToken.id, ApiToken.name, ApiToken.prefix, User.username)
            .join(User, col(User.id) == col(ApiToken.user_id))
            .where(col(ApiToken.id).in_(c))
        )

    return {i: f"token {n} ({p}) of {u}" for i, n, p, u in _rows(session, stmt, ids)}


_PLAIN: dict[str, Callable[[Session, Iterable[int]], dict[int, str]]] = {
    "project": _projects,
    "dataset": _datasets,
    "dataset_version": _versions,
    "label_schema": _schemas,
    "label_schema_version": _schema_versions,
    "model_version": _named_versions(ModelVersion),
    "golden_set": _named_versions(GoldenSet),
    "gate_policy": _named_versions(GatePolicy),
    "user": _users,
    "api_token": _tokens,
}

# -- names built on other names: read the rows' keys first, then name the versions and models together -------

#: type → (table, the foreign keys read, the name made from the row id and the names of those keys)
_Composite = tuple[Any, tuple[str, ...], Callable[[int, list[str]], str]]
_COMPOSITE: dict[str, _Composite] = {
    "annotation": (Annotation, ("dataset_version_id",), lambda i, n: f"annotation {i} on {n[0]}"),
    "gate_evaluation": (GateEvaluation, ("dataset_version_id",), lambda i, n: f"evaluation {i} of {n[0]}"),
    "release": (Release, ("dataset_version_id",), lambda i, n: f"release {i} of {n[0]}"),
    "review_queue_item": (ReviewQueueItem, ("dataset_version_id",), lambda i, n: f"review item {i} on {n[0]}"),
    "calibration": (Calibration, ("model_version_id",), lambda i, n: f"calibration {i} of {n[0]}"),
    "autolabel_run": (
        AutoLabelRun,
        ("model_version_id", "dataset_version_id"),
        lambda i, n: f"run {i} ({n[0]} on {n[1]})",
    ),
}
# Which plain type names each foreign key.
_KEY_TYPE = {"dataset_version_id": "dataset_version", "model_version_id": "model_version"}


def _row_id(object_id: str) -> int | None:
    """The row id an audit object id names (decimal digits, in the 64-bit range), else ``None``."""
    text = str(object_id)
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def _int_ids(refs: Iterable[Ref]) -> dict[str, set[int]]:
    by_type: dict[str, set[int]] = defaultdict(set)
    for object_type, object_id in refs:
        row_id = _row_id(object_id)
        if row_id is not None:
            by_type[object_type].add(row_id)
    return by_type


def _keys_stmt(table: Any, keys: tuple[str, ...]) -> Callable[[list[int]], Any]:
    columns = [table.id, *(getattr(table, k) for k in keys)]
    return lambda chunk: select(*columns).where(col(table.id).in_(chunk))


def display_names(session: Session, refs: Iterable[Ref]) -> dict[Ref, str]:
    """The display name of every ref (see the module's table), with one or two queries per object type present.

    Every ref given is a key of the answer; a ref whose row is gone, whose id is not a row id, or whose type
    has no name reads ``type:id``."""
    wanted = {(str(t), str(i)) for t, i in refs}
    by_type = _int_ids(wanted)
    # The keys composite rows point at; their names are read with the plain ones, in the same queries.
    keys_of: dict[str, dict[int, tuple[int, ...]]] = {}
    need: dict[str, set[int]] = {t: set(ids) for t, ids in by_type.items() if t in _PLAIN}
    for object_type, (table, keys, _) in _COMPOSITE.items():
        ids = by_type.get(object_type)
        if not ids:
            continue
        rows = _rows(session, _keys_stmt(table, keys), ids)
        keys_of[object_type] = {int(r[0]): tuple(r[1:]) for r in rows}
        for r in rows:
            for key, value in zip(keys, r[1:], strict=True):
                if value is not None:
                    need.setdefault(_KEY_TYPE[key], set()).add(int(value))
    plain = {t: _PLAIN[t](session, ids) for t, ids in need.items() if ids}
    out: dict[Ref, str] = {}
    for ref in wanted:
        object_type, object_id = ref
        name: str | None = None
        row_id = _row_id(object_id)
        if row_id is not None and object_type in _PLAIN:
            name = plain.get(object_type, {}).get(row_id)
        elif row_id is not None and object_type in _COMPOSITE:
            _, keys, make = _COMPOSITE[object_type]
            row = keys_of.get(object_type, {}).get(row_id)
            if row is not None:
                parts = [
                    plain.get(_KEY_TYPE[k], {}).get(v, f"{_KEY_TYPE[k]}:{v}") if v is not None else "?"
                    for k, v in zip(keys, row, strict=True)
                ]
                name = make(row_id, parts)
        out[ref] = name if name is not None else fallback_name(ref)
    return out


def project_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """``{project id: name}`` of the projects given (one query); ids without a row are left out."""
    return _projects(session, (i for i in ids if i is not None))


# -- from a typed name back to refs ---------------------------------------------------------------------------


def _name_columns() -> list[tuple[str, Any, ColumnElement[Any], tuple[Any, ...]]]:
    """(type, id column, name expression, joins) of every plain type a person may search by name."""
    return [
        ("project", Project.id, col(Project.name), ()),
        ("dataset", Dataset.id, col(Dataset.name), ()),
        (
            "dataset_version",
            DatasetVersion.id,
            col(Dataset.name) + "@" + col(DatasetVersion.version),
            ((Dataset, col(Dataset.id) == col(DatasetVersion.dataset_id)),),
        ),
        ("label_schema", LabelSchema.id, col(LabelSchema.name), ()),
        (
            "label_schema_version",
            LabelSchemaVersion.id,
            col(LabelSchema.name) + "@" + _txt(col(LabelSchemaVersion.version)),
            ((LabelSchema, col(LabelSchema.id) == col(LabelSchemaVersion.schema_id)),),
        ),
        ("model_version", ModelVersion.id, col(ModelVersion.name) + "@" + col(ModelVersion.version), ()),
        ("golden_set", GoldenSet.id, col(GoldenSet.name) + "@" + _txt(col(GoldenSet.version)), ()),
        ("gate_policy", GatePolicy.id, col(GatePolicy.name) + "@" + _txt(col(GatePolicy.version)), ()),
        ("user", User.id, col(User.username), ()),
    ]


def _txt(column: Any) -> Any:
    return cast(column, String)


def find_refs(session: Session, text: str, *, limit: int = 2000) -> list[Ref]:
    """The refs whose display name contains ``text`` (case-insensitive, ``%`` and ``_`` literal); when some
    name equals it exactly, only those and their versions (``street`` finds the dataset and ``street@v1``,
    ``street@v2``; ``street@v2`` does not also find ``street@v20``, nor ``street`` the project
    ``street-scenes``). The auto-label
    runs on a found dataset version or model version come with it (their names contain it). At most ``limit``
    refs per type: a name typed to narrow a search, not to list a table."""
    needle = text.strip().lower()
    if not needle:
        return []
    exact: list[Ref] = []
    family: list[Ref] = []  # NAME@... when NAME is the text: the versions of the thing named
    partial: list[Ref] = []
    for object_type, id_col, name, joins in _name_columns():
        stmt = select(id_col, name)
        for table, on in joins:
            stmt = stmt.join(table, on)
        stmt = stmt.where(func.lower(name).contains(needle, autoescape=True)).limit(limit)
        for row_id, row_name in session.exec(stmt):
            low = str(row_name).lower()
            bucket = exact if low == needle else family if low.startswith(needle + "@") else partial
            bucket.append((object_type, str(row_id)))
    found = exact + family if exact else family + partial
    return found + _runs_of(session, found, limit=limit)


def _runs_of(session: Session, refs: list[Ref], *, limit: int) -> list[Ref]:
    by_type = _int_ids(refs)
    clauses = []
    if by_type.get("dataset_version"):
        clauses.append(col(AutoLabelRun.dataset_version_id).in_(sorted(by_type["dataset_version"])[:_CHUNK]))
    if by_type.get("model_version"):
        clauses.append(col(AutoLabelRun.model_version_id).in_(sorted(by_type["model_version"])[:_CHUNK]))
    if not clauses:
        return []
    stmt = select(AutoLabelRun.id).where(or_(*clauses)).limit(limit)
    return [("autolabel_run", str(i)) for i in session.exec(stmt)]


def group_ids(refs: Iterable[Ref]) -> Mapping[str, list[str]]:
    """``{object_type: [object_id, ...]}`` of ``refs`` (for an ``IN`` per type)."""
    out: dict[str, list[str]] = defaultdict(list)
    for object_type, object_id in refs:
        out[object_type].append(object_id)
    return out
