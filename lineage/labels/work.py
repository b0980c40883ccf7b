"""Record work done in a labelling tool (``lineage.formats.work``): Label Studio exports, pulls and webhooks,
CVAT files. Each label keeps its real author and times; a unit already on the record is skipped, a newer
one supersedes, a deleted one leaves tombstones, so the same export, pull or webhook delivered twice writes
nothing the second time.

What happens, in order (nothing is written unless every step before the writes passes):

1. **Authors.** Every author of a ``human`` unit maps to a labelgate user: through ``user_map`` (the
   author's key or email -> a username or an email), else by the author's email (case-insensitive), else
   by username, else through the mapping an earlier import of the same tool and origin recorded (its
   ``label_imports.id_map["authors"]``: a webhook only carries the tool's numeric user id). An author who
   maps to nobody is refused by name, all of them at once. The user must be an annotating member of the
   project and the caller allowed to attribute (``lineage.labels.attribution``).
2. **Labels.** Items (by the uri the reader matched), classes and geometry against the schema, attributes
   within bounds (``lineage.formats.common.attributes_json``); the key ``made`` is reserved.
3. **Units against the record.** A unit is ``(tool, origin, ref)``; the record's newest ``made.updated``
   for it decides: absent -> added; the same or newer on the record -> skipped; older -> every live label
   of the unit is superseded, by the new label of the same ``result`` id or by a tombstone, and its new
   results are added. ``batch.deleted`` refs leave a tombstone on each live label.
4. **Writes.** New units through the fast path (``lineage.formats.rows.RowWriter``), grouped by author;
   superseding rows and tombstones sealed one by one; one ``annotation.import.batch`` event per batch and
   one closing event (``action``) that names the source, the counts and who the authors are.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import bindparam, text
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, col, select

from lineage.audit.chain import next_seq, record_event
from lineage.audit.rowdigest import aggregate
from lineage.context import Actor
from lineage.datasets.catalog import version_ref
from lineage.datasets.states import ensure_writable
from lineage.errors import Conflict, InvalidInput
from lineage.formats.common import (
    MAX_ATTRIBUTE_STRING,
    MAX_ATTRIBUTES_BYTES,
    AttributesRefused,
    Problems,
    SchemaInfo,
    attributes_json,
)
from lineage.formats.rows import RowWriter
from lineage.formats.work import MADE_KEY, TOOLS, ToolLabel, WorkBatch, WorkUnit, made_of
from lineage.labels.attribution import check_attribution
from lineage.labels.geometry import EDGE_EPS, check_box, check_geometry
from lineage.labels.imports import claim, prior_import
from lineage.labels.labelset import DELETED, mark_stale, seal_rows
from lineage.models import Dataset, DatasetVersion, LabelImport, ProvenanceKind, User
from lineage.openlineage import LineageEmitter
from lineage.openlineage_jobs import emit_import

__all__ = ["WorkResult", "known_authors", "record_work", "recorded_units"]

BATCH = 50_000


@dataclass(frozen=True, slots=True)
class WorkResult:
    """What ``record_work`` did; ``authors`` maps each author key to the labelgate username it became."""

    version: str
    tool: str
    origin: str
    units_added: int
    units_updated: int
    units_skipped: int
    units_deleted: int
    labels_written: int
    tombstones: int
    authors: dict[str, str]
    import_id: int | None
    source_sha256: str

    @property
    def changed(self) -> bool:
        return bool(self.labels_written or self.tombstones)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class _Recorded:
    """A unit as the record holds it: its newest ``updated`` and its live labels (row id, result id)."""

    updated: str | None = None
    live: list[tuple[int, str | None, int, str]] | None = None  # (id, result, item_id, category)


def _as_dict(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


#: Up to this many items, only their rows are read (a webhook, a pull of a few tasks); beyond, the version's.
_ITEM_FILTER_MAX = 2000


def recorded_units(
    session: Session, *, version_id: int, tool: str, origin: str, item_ids: Sequence[int] | None = None
) -> dict[str, _Recorded]:
    """The units of ``(tool, origin)`` recorded in the version, by ref (live labels and newest time);
    ``item_ids``: only those on these items (a unit is on one item, and so is whatever supersedes it)."""
    sql = (
        "SELECT id, attributes, geometry_type, supersedes_id, item_id, category FROM annotations"
        " WHERE dataset_version_id = :v AND source_format = :f"
    )
    params: dict[str, Any] = {"v": version_id, "f": tool}
    stmt = text(sql)
    if item_ids is not None:
        stmt = text(sql + " AND item_id IN :items").bindparams(bindparam("items", expanding=True))
        params["items"] = sorted(set(item_ids))
    rows = session.connection().execute(stmt, params)
    superseded: set[int] = set()
    found: list[tuple[int, dict[str, Any], str, int, str]] = []
    for rid, attrs, gtype, sup, item_id, category in rows:
        if sup is not None:
            superseded.add(sup)
        made = made_of(_as_dict(attrs))
        if made is not None and made.get("origin") == origin and isinstance(made.get("ref"), str):
            found.append((rid, made, gtype, item_id, category))
    units: dict[str, _Recorded] = {}
    for rid, made, gtype, item_id, category in found:
        unit = units.setdefault(made["ref"], _Recorded(live=[]))
        updated = made.get("updated")
        if isinstance(updated, str) and (unit.updated is None or updated > unit.updated):
            unit.updated = updated
        if gtype != DELETED and rid not in superseded:
            assert unit.live is not None
            unit.live.append((rid, made.get("result"), item_id, category))
    return units


def known_authors(session: Session, *, project_id: int, tool: str, origin: str) -> dict[str, int]:
    """Author key -> user id, as earlier imports of ``(tool, origin)`` into the project recorded them."""
    stmt = (
        select(LabelImport.id_map, LabelImport.source)
        .join(DatasetVersion, col(DatasetVersion.id) == col(LabelImport.dataset_version_id))
        .join(Dataset, col(Dataset.id) == col(DatasetVersion.dataset_id))
        .where(Dataset.project_id == project_id, LabelImport.format == tool)
        .order_by(col(LabelImport.id))
    )
    known: dict[str, int] = {}
    for id_map, _source in session.exec(stmt):
        if isinstance(id_map, dict) and isinstance(id_map.get("origins"), dict) and origin in id_map["origins"]:
            authors = id_map.get("authors")
            if isinstance(authors, dict):
                known.update({str(k): int(v) for k, v in authors.items()})
    return known


def _resolve_authors(
    session: Session, *, actor: Actor, project_id: int, batch: WorkBatch, user_map: Mapping[str, str] | None
) -> dict[str, User]:
    keys = sorted({u.author for u in batch.units if u.kind == "human" and u.author is not None})
    missing = [u.where or u.ref for u in batch.units if u.kind == "human" and u.author is None]
    if missing:
        raise InvalidInput(f"{len(missing)} human unit(s) name no author, e.g. {missing[0]}", field="author")
    if not keys:
        return {}
    mapping = {k.casefold(): v for k, v in (user_map or {}).items()}
    users = list(session.exec(select(User)))
    by_email = {u.email.casefold(): u for u in users if u.email}
    by_name = {u.username.casefold(): u for u in users}
    by_id = {u.id: u for u in users}
    earlier = known_authors(session, project_id=project_id, tool=batch.tool, origin=batch.origin)
    resolved: dict[str, User] = {}
    unmapped: list[str] = []
    for key in keys:
        author = batch.authors.get(key)
        email = author.email if author is not None else None
        username = author.username if author is not None else None
        target: User | None = None
        for probe in (key, email, username):
            if probe and probe.casefold() in mapping:
                wanted = mapping[probe.casefold()].casefold()
                target = by_name.get(wanted) or by_email.get(wanted)
                if target is None:
                    unmapped.append(f"{_shown(key, email)} (mapped to {mapping[probe.casefold()]!r}, no such user)")
                break
        else:
            target = (by_email.get(email.casefold()) if email else None) or (
                by_name.get(username.casefold()) if username else None
            )
            if target is None and key in earlier:
                target = by_id.get(earlier[key])
            if target is None:
                unmapped.append(_shown(key, email))
        if target is not None:
            resolved[key] = target
    if unmapped:
        raise InvalidInput(
            f"{len(unmapped)} author(s) of {batch.tool} map to no labelgate user: {', '.join(unmapped[:20])}; "
            "give a user map (tool user id or email -> labelgate username) or create the users",
            field="users",
        )
    for user in {u.id: u for u in resolved.values()}.values():
        check_attribution(session, actor=actor, project_id=project_id, annotator=user.id or 0)
    return resolved


def _shown(key: str, email: str | None) -> str:
    return f"{key} <{email}>" if email and email != key else key


def _made(batch: WorkBatch, unit: WorkUnit, label: ToolLabel | None) -> dict[str, Any]:
    made: dict[str, Any] = {"tool": batch.tool, "origin": batch.origin, "ref": unit.ref, "task": unit.task}
    optional = {
        "result": label.result if label is not None else None,
        "by": unit.author,
        "at": unit.created_at,
        "updated": unit.updated_at,
        "lead_time": unit.lead_time,
        "model_version": unit.model_version,
        "score": label.score if label is not None and label.score is not None else unit.score,
        "source": unit.source,
    }
    made.update({k: v for k, v in optional.items() if v is not None})
    made["labels"] = len(unit.labels)
    if unit.ground_truth:
        made["ground_truth"] = True
    if unit.cancelled:
        made["cancelled"] = True
    return made


_Attrs = tuple[str, dict[str, Any]]


class _Checker:
    """Validates labels against the version's items and schema, collecting problems."""

    def __init__(self, session: Session, version: DatasetVersion, schema: SchemaInfo | None) -> None:
        rows = session.connection().execute(
            text("SELECT id, uri, width, height FROM items WHERE dataset_version_id = :v"), {"v": version.id}
        )
        self.items = {uri: (i, w, h) for i, uri, w, h in rows}
        self.schema = schema
        self.problems = Problems()

    def unit(self, unit: WorkUnit, base: dict[str, Any]) -> list[_Attrs | None]:
        """Each label of ``unit`` checked, ``base`` its unit's ``made`` record: a valid label's attributes
        as JSON text and as the value, None (and a problem) for a bad one. The hot loop of an import: a box
        that fits is settled by six comparisons (NaN and infinities fail them too, and ``check_box`` then
        names the fault), and a problem's place is only spelled out when there is one."""
        labels = unit.labels
        problem = _made_problem(base)
        if problem:
            self.problems.add(unit.where or unit.ref, problem)
            return [None] * len(labels)
        item = self.items.get(unit.uri)
        if item is None:
            self.problems.add(unit.where or unit.ref, f"image {unit.uri!r} is not an item of this version")
            return [None] * len(labels)
        _, width, height = item
        known = self.schema.geometry if self.schema is not None else None
        dumps, sort_keys, limit = orjson.dumps, orjson.OPT_SORT_KEYS, MAX_ATTRIBUTES_BYTES
        out: list[_Attrs | None] = []
        for n, lbl in enumerate(labels):
            gtype, x, y, w, h = lbl.geometry_type, lbl.x, lbl.y, lbl.w, lbl.h
            if known is not None and known.get(lbl.category) != gtype:
                out.append(self._refuse(unit, n, self._class_problem(lbl)))
                continue
            if gtype == "box" and lbl.geometry is None and None not in (x, y, w, h):
                fits = width is not None and height is not None and x >= -EDGE_EPS and y >= -EDGE_EPS  # type: ignore[operator]
                if fits and w > 0 and h > 0 and x + w <= width + EDGE_EPS and y + h <= height + EDGE_EPS:  # type: ignore[operator]
                    problem = None
                else:
                    problem = check_box(x, y, w, h, width, height)  # type: ignore[arg-type]
            else:
                count = len(self.schema.keypoints.get(lbl.category, ())) if self.schema is not None else 0
                problem = check_geometry(
                    gtype, x, y, w, h, lbl.geometry, image_size=(width, height), keypoint_count=count or None
                )
            result, score = lbl.result, lbl.score
            if problem is None and (
                lbl.attributes
                or (result is not None and len(result) * 4 > MAX_ATTRIBUTE_STRING)
                or (score is not None and not math.isfinite(score))
            ):
                problem = self._extras(lbl)
            if problem:
                out.append(self._refuse(unit, n, problem))
                continue
            made = base
            if result is not None or score is not None:
                made = dict(base)
                if result is not None:
                    made["result"] = result
                if score is not None:
                    made["score"] = score
            attrs: dict[str, Any] = {**lbl.attributes, MADE_KEY: made} if lbl.attributes else {MADE_KEY: made}
            text = dumps(attrs, option=sort_keys).decode()
            if len(text) > limit:
                out.append(self._refuse(unit, n, f"attributes larger than {limit // 1024} KiB of JSON"))
                continue
            out.append((text, attrs))
        return out

    def _refuse(self, unit: WorkUnit, n: int, problem: str) -> _Attrs | None:
        """Note ``problem`` at label ``n`` of ``unit``; the label's place in the output (None)."""
        self.problems.add(f"{unit.where or unit.ref}, label {n}", problem)
        return None

    def _class_problem(self, lbl: ToolLabel) -> str:
        assert self.schema is not None
        geometry = self.schema.geometry.get(lbl.category)
        if geometry is None:
            return f"unknown class {lbl.category!r} (the schema has {', '.join(sorted(self.schema.geometry))})"
        return f"class {lbl.category!r} expects {geometry}, got {lbl.geometry_type}"

    @staticmethod
    def _extras(lbl: ToolLabel) -> str | None:
        """What is wrong with a label's own attributes, result id or score."""
        if lbl.attributes:
            if MADE_KEY in lbl.attributes:
                return f"the attribute {MADE_KEY!r} is reserved for the tool's record"
            try:
                attributes_json(lbl.attributes)  # the tool's own attributes: bounded like any import's
            except AttributesRefused as exc:
                return str(exc)
        return _made_problem({"result": lbl.result, "score": lbl.score})


def _made_problem(made: dict[str, Any]) -> str | None:
    """What is wrong with a ``made`` record built from a tool's values (long strings, non-finite numbers)."""
    for key, value in made.items():
        if value is None:
            continue
        if isinstance(value, str) and len(value) * 4 > MAX_ATTRIBUTE_STRING:
            if len(value.encode("utf-8", errors="surrogatepass")) > MAX_ATTRIBUTE_STRING:
                return f"the tool's {key} is longer than {MAX_ATTRIBUTE_STRING // 1024} KiB"
        elif isinstance(value, float) and not math.isfinite(value):
            return f"the tool's {key} is not a finite number ({value})"
    return None


def _later(recorded: str, given: str) -> bool:
    """Whether the recorded time is the given one or later (ISO-8601 times; offsets honoured)."""
    try:
        return datetime.fromisoformat(recorded) >= datetime.fromisoformat(given)
    except ValueError:
        return recorded >= given


def _plan(batch: WorkBatch, recorded: dict[str, _Recorded]) -> tuple[list[WorkUnit], list[WorkUnit], int]:
    """(new units, updated units, skipped count); of one ref given twice the newest counts."""
    newest: dict[str, WorkUnit] = {}
    for unit in batch.units:
        seen = newest.get(unit.ref)
        if seen is None or (unit.updated_at or "") >= (seen.updated_at or ""):
            newest[unit.ref] = unit
    new: list[WorkUnit] = []
    updated: list[WorkUnit] = []
    skipped = len(batch.units) - len(newest)
    for ref, unit in newest.items():
        rec = recorded.get(ref)
        if rec is None:
            new.append(unit)
        elif unit.updated_at is None or (rec.updated is not None and _later(rec.updated, unit.updated_at)):
            skipped += 1
        else:
            updated.append(unit)
    return new, updated, skipped


def record_work(
    session: Session,
    *,
    actor: Actor,
    version: DatasetVersion,
    batch: WorkBatch,
    user_map: Mapping[str, str] | None = None,
    action: str = "annotation.import",
    emitter: LineageEmitter | None = None,
) -> WorkResult:
    """Record ``batch`` in ``version`` (module docstring): all or nothing, idempotent per unit."""
    dataset = session.get(Dataset, version.dataset_id)
    assert dataset is not None
    ref = version_ref(dataset, version)
    if batch.tool not in TOOLS:
        raise InvalidInput(f"unknown tool {batch.tool!r} (expected one of {', '.join(TOOLS)})", field="tool")
    if not batch.origin or len(batch.origin) > 200:
        raise InvalidInput("a tool's origin is 1 to 200 characters (e.g. 'project:3')", field="origin")
    ensure_writable(session, actor=actor, version=version, attempted=f"recording {batch.tool} work")
    authors = _resolve_authors(session, actor=actor, project_id=dataset.project_id, batch=batch, user_map=user_map)
    from lineage.formats.exportdata import schema_info

    checker = _Checker(session, version, schema_info(session, version))
    # The record's append lock, taken before the units on the record are read and held to the end of the
    # transaction: two deliveries of the same unit (a webhook and a pull, say) never both find it absent.
    next_seq(session)
    uris = {u.uri for u in batch.units}
    few = not batch.deleted and len(uris) <= _ITEM_FILTER_MAX
    recorded = recorded_units(
        session,
        version_id=version.id or 0,
        tool=batch.tool,
        origin=batch.origin,
        item_ids=[checker.items[u][0] for u in uris if u in checker.items] if few else None,
    )
    new, updated, skipped = _plan(batch, recorded)
    texts: dict[int, list[_Attrs | None]] = {}
    for unit in (*new, *updated):
        texts[id(unit)] = checker.unit(unit, _made(batch, unit, None))
    checker.problems.raise_if_any()
    deleted = [r for r in dict.fromkeys(batch.deleted) if recorded.get(r) is not None and recorded[r].live]
    result_authors = {k: u.username for k, u in authors.items()}
    if not new and not updated and not deleted:
        return WorkResult(
            ref, batch.tool, batch.origin, 0, 0, skipped, 0, 0, 0, result_authors, None, batch.source_sha256
        )
    record = _claim_import(session, actor=actor, version=version, batch=batch, authors=authors, ref=ref)
    writer = _Writer(session, actor=actor, dataset=dataset, version=version, batch=batch, ref=ref)
    written = writer.new_units(new, texts, authors, checker)
    written_u, tombs_u = writer.updates(updated, texts, authors, checker, recorded)
    tombs_d = writer.deletions(deleted, recorded)
    mark_stale(session, version_id=version.id or 0)
    result = WorkResult(
        ref,
        batch.tool,
        batch.origin,
        len(new),
        len(updated),
        skipped,
        len(deleted),
        written + written_u,
        tombs_u + tombs_d,
        result_authors,
        record.id,
        batch.source_sha256,
    )
    event = record_event(
        session,
        actor,
        action,
        ("dataset_version", str(version.id)),
        project_id=dataset.project_id,
        payload={
            "version": ref,
            "format": batch.tool,
            "origin": batch.origin,
            "source": batch.source,
            "source_sha256": batch.source_sha256,
            "units": {"added": len(new), "updated": len(updated), "skipped": skipped, "deleted": len(deleted)},
            "annotations": result.labels_written,
            "tombstones": result.tombstones,
            "authors": result_authors,
            "imported_by": actor.username,
            "batches": writer.batches,
            "import_id": record.id,
            "generation": record.generation,
        },
        rows=[record],
    )
    emit_import(
        session,
        dataset=dataset,
        version=version,
        result={"format": batch.tool, "annotations": result.labels_written, **result.to_dict()},
        source=batch.source,
        actor=actor,
        audit_seq=event.seq,
        emitter=emitter,
    )
    return result


def _claim_import(
    session: Session, *, actor: Actor, version: DatasetVersion, batch: WorkBatch, authors: dict[str, User], ref: str
) -> LabelImport:
    prior = prior_import(session, version_id=version.id or 0, source_sha256=batch.source_sha256)
    human = any(u.kind == "human" for u in batch.units)
    record = LabelImport(
        dataset_version_id=version.id or 0,
        source_sha256=batch.source_sha256,
        generation=prior.generation + 1 if prior is not None else 0,
        format=batch.tool,
        source=batch.source[:1000],
        kind=(ProvenanceKind.human if human else ProvenanceKind.import_).value,
        annotator_id=None,
        annotations=sum(len(u.labels) for u in batch.units),
        images=len({u.uri for u in batch.units}),
        id_map={"authors": {k: u.id or 0 for k, u in authors.items()}, "origins": {batch.origin: 1}},
        created_by=actor.user_id,
    )
    if not claim(session, record):
        raise Conflict(
            f"another import of the same {batch.tool} source into {ref} committed while this one ran; run it again",
            field="source",
        )
    return record


class _Writer:
    """The writes of one ``record_work`` call, each batch sealed and recorded by an audit event."""

    def __init__(
        self, session: Session, *, actor: Actor, dataset: Dataset, version: DatasetVersion, batch: WorkBatch, ref: str
    ) -> None:
        self.session, self.actor, self.dataset, self.version, self.batch, self.ref = (
            session,
            actor,
            dataset,
            version,
            batch,
            ref,
        )
        self.batches = 0
        self.rows = RowWriter(session)

    def _event(self, sealed: dict[str, Any], rows: int, what: str) -> None:
        self.batches += 1
        record_event(
            self.session,
            self.actor,
            "annotation.import.batch",
            ("dataset_version", str(self.version.id)),
            project_id=self.dataset.project_id,
            payload={
                "version": self.ref,
                "batch": self.batches,
                "what": what,
                "rows": rows,
                "source_sha256": self.batch.source_sha256,
                "sealed": sealed,
            },
            expect_seq=sealed["seq"],
        )

    def new_units(
        self,
        units: Sequence[WorkUnit],
        texts: dict[int, list[_Attrs | None]],
        authors: dict[str, User],
        checker: _Checker,
    ) -> int:
        """Labels of units seen for the first time, through the fast path, grouped by kind and author."""
        groups: dict[tuple[bool, int | None], tuple[list[Any], list[Any], list[Any]]] = defaultdict(
            lambda: ([], [], [])
        )
        sha = self.batch.source_sha256
        for unit in units:
            human = unit.kind == "human"
            uid = authors[unit.author].id if human and unit.author is not None else None
            boxes, parsed, shapes = groups[(human, uid)]
            item_id = checker.items[unit.uri][0]
            for lbl, attrs in zip(unit.labels, texts[id(unit)], strict=True):
                assert attrs is not None
                if lbl.geometry_type == "box" and lbl.geometry is None:
                    boxes.append((item_id, lbl.category, lbl.x, lbl.y, lbl.w, lbl.h, attrs[0], sha))
                    parsed.append(attrs[1])
                else:
                    geometry = "null" if lbl.geometry is None else orjson.dumps(lbl.geometry).decode()
                    shapes.append(
                        (item_id, lbl.category, lbl.geometry_type, lbl.x, lbl.y, lbl.w, lbl.h, geometry, attrs[0], sha)
                    )
        total = 0
        for (human, uid), (boxes, parsed, shapes) in groups.items():
            kind = ProvenanceKind.human if human else ProvenanceKind.import_
            common: dict[str, Any] = {
                "version_id": self.version.id or 0,
                "kind": kind,
                "annotator_id": uid,
                "source_format": self.batch.tool,
                "created_by": self.actor.user_id,
            }
            for start in range(0, len(boxes), BATCH):
                seq = next_seq(self.session)
                end = start + BATCH
                digests = self.rows.write_boxes(boxes[start:end], audit_seq=seq, parsed=parsed[start:end], **common)
                self._event({"seq": seq, "count": len(digests), "digest": aggregate(digests)}, len(digests), "added")
                total += len(digests)
            for start in range(0, len(shapes), BATCH):
                seq = next_seq(self.session)
                digests = self.rows.write_shapes(shapes[start : start + BATCH], audit_seq=seq, **common)
                self._event({"seq": seq, "count": len(digests), "digest": aggregate(digests)}, len(digests), "added")
                total += len(digests)
        return total

    def _insert(self, rows: list[dict[str, Any]], what: str) -> None:
        for start in range(0, len(rows), BATCH):
            chunk = rows[start : start + BATCH]
            sealed = seal_rows(self.session, chunk, created_by=self.actor.user_id)
            self.session.connection().execute(SQLModel.metadata.tables["annotations"].insert(), chunk)
            self._event(sealed, len(chunk), what)

    def _base(self, unit_kind: str, author: User | None) -> dict[str, Any]:
        human = unit_kind == "human"
        return {
            "dataset_version_id": self.version.id or 0,
            "kind": (ProvenanceKind.human if human else ProvenanceKind.import_).value,
            "annotator_id": author.id if human and author is not None else None,
            "source_sha256": self.batch.source_sha256,
            "source_format": self.batch.tool,
            "created_at": self.rows.stamp,
        }

    def updates(
        self,
        units: Sequence[WorkUnit],
        texts: dict[int, list[_Attrs | None]],
        authors: dict[str, User],
        checker: _Checker,
        recorded: dict[str, _Recorded],
    ) -> tuple[int, int]:
        """Units changed in the tool: each new label supersedes the live one of the same result id; the
        live labels left over get tombstones."""
        rows: list[dict[str, Any]] = []
        written = tombs = 0
        for unit in units:
            author = authors.get(unit.author) if unit.author is not None else None
            base = self._base(unit.kind, author)
            live = list(recorded[unit.ref].live or [])
            by_result = {res: (rid, item, cat) for rid, res, item, cat in live if res is not None}
            used: set[int] = set()
            for lbl, attrs in zip(unit.labels, texts[id(unit)], strict=True):
                old = by_result.get(lbl.result) if lbl.result is not None else None
                if old is not None and old[0] in used:
                    old = None
                if old is not None:
                    used.add(old[0])
                rows.append(
                    {
                        **base,
                        "item_id": checker.items[unit.uri][0],
                        "category": lbl.category,
                        "geometry_type": lbl.geometry_type,
                        "x": lbl.x,
                        "y": lbl.y,
                        "w": lbl.w,
                        "h": lbl.h,
                        "geometry": lbl.geometry,
                        "attributes": attrs[1] if attrs is not None else None,
                        "supersedes_id": old[0] if old is not None else None,
                    }
                )
                written += 1
            made = _made(self.batch, unit, None)
            for rid, _res, item_id, category in live:
                if rid not in used:
                    rows.append(self._tombstone(base, rid, item_id, category, made))
                    tombs += 1
        self._insert(rows, "updated")
        return written, tombs

    def _tombstone(
        self, base: dict[str, Any], rid: int, item_id: int, category: str, made: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            **base,
            "item_id": item_id,
            "category": category,
            "geometry_type": DELETED,
            "x": None,
            "y": None,
            "w": None,
            "h": None,
            "geometry": None,
            "attributes": {MADE_KEY: made},
            "supersedes_id": rid,
        }

    def deletions(self, refs: Sequence[str], recorded: dict[str, _Recorded]) -> int:
        """Tombstones for every live label of each deleted unit, by the labels' own provenance."""
        rows: list[dict[str, Any]] = []
        ids = [rid for ref in refs for rid, *_ in (recorded[ref].live or [])]
        if not ids:
            return 0
        prov = {
            rid: (kind, annotator, attrs)
            for rid, kind, annotator, attrs in self.session.connection().execute(_select_provenance(ids))
        }
        for ref in refs:
            for rid, _res, item_id, category in recorded[ref].live or []:
                kind, annotator, attrs = prov[rid]
                made = dict(made_of(_as_dict(attrs)) or {})
                made.update({"deleted": True})
                base = {
                    "dataset_version_id": self.version.id or 0,
                    "kind": kind,
                    "annotator_id": annotator,
                    "source_sha256": self.batch.source_sha256,
                    "source_format": self.batch.tool,
                    "created_at": self.rows.stamp,
                }
                rows.append(self._tombstone(base, rid, item_id, category, made))
        self._insert(rows, "deleted")
        return len(rows)


def _select_provenance(ids: list[int]) -> Any:
    table = SQLModel.metadata.tables["annotations"]
    return sa_select(table.c.id, table.c.kind, table.c.annotator_id, table.c.attributes).where(table.c.id.in_(ids))
