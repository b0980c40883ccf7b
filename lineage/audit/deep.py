"""Deep verify: every append-only domain row against the digest its audit event recorded.

Run after the chain itself verifies (``lineage.audit.whole``): the events read here are the hashed ones
(their canonical bytes), so what they record is what was recorded when the rows were written.

- **Annotations** carry ``row_digest`` and ``audit_seq``. Each row's content is re-digested and compared
  with its ``row_digest`` (an edit names the row); the rows of each ``audit_seq`` are counted and their
  digests aggregated, and compared with what that event sealed (``payload.sealed``): fewer rows name a
  deletion, more (or rows pointing at no sealing event) an insertion without an event, the same count with
  another aggregate an edit whose digest was rewritten too.
- **One-event rows** (approvals, reviews, gate evaluations, releases, memberships, tokens, golden sets,
  label imports, calibrations, run thresholds, model versions and their training data, the pins of versions
  at state changes) are recorded as ``payload.records``; a row without a record was inserted without an
  event, a record without its row names a deletion, a digest mismatch an edit.
- Rows written before records existed (revision 0003) are covered once by a ``record.seal_legacy`` event
  (``labelgate audit seal-legacy``); until then they are reported as unsealed. Revision 0005 appends
  one for the calibrations and run thresholds it moves out of their events.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any, Literal

from sqlalchemy import text
from sqlmodel import Session

from lineage.audit.rowdigest import AGGREGATE_DOMAIN, DIGEST_COLUMNS, aggregate, row_reader
from lineage.hashing import digest_bytes

__all__ = ["DeepReport", "RowProblem", "deep_verify", "legacy_seal"]

ProblemKind = Literal["edited", "inserted", "deleted", "unsealed"]
# Per-row tables with one recording event per row; dataset_versions is checked by its own rule.
RECORDED_TABLES = (
    "approvals",
    "reviews",
    "gate_evaluations",
    "releases",
    "memberships",
    "api_tokens",
    "golden_sets",
    "label_imports",
    "calibrations",
    "run_thresholds",
    "model_versions",
    "model_training_data",
)
_MAX_NAMED = 50  # problems named one by one per table; the rest are counted


@dataclass(frozen=True, slots=True)
class RowProblem:
    table: str
    kind: ProblemKind
    detail: str
    row_id: int | None = None
    seq: int | None = None

    def line(self) -> str:
        where = f"{self.table} #{self.row_id}" if self.row_id is not None else self.table
        event = f" (event {self.seq})" if self.seq is not None else ""
        return f"{where}{event}: {self.kind}: {self.detail}"


@dataclass
class DeepReport:
    """Rows checked per table and every problem found (``ok`` when none)."""

    rows: dict[str, int] = field(default_factory=dict)
    problems: list[RowProblem] = field(default_factory=list)
    more: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    legacy_rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, problem: RowProblem) -> None:
        if sum(1 for p in self.problems if p.table == problem.table) < _MAX_NAMED:
            self.problems.append(problem)
        else:
            self.more[problem.table] += 1


def _events(session: Session) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """``(seq, action, payload)`` of the events that record rows, read from their hashed bytes."""
    conn = session.connection()
    cast = "CAST(payload AS TEXT)" if conn.dialect.name == "postgresql" else "payload"
    rows = conn.execute(
        text(
            f"SELECT seq, canonical FROM audit_events WHERE {cast} LIKE '%\"records\":%'"
            f" OR {cast} LIKE '%\"sealed\":%' OR action = 'record.seal_legacy' ORDER BY seq"
        )
    )
    for seq, canonical in rows:
        event = json.loads(bytes(canonical) if not isinstance(canonical, str) else canonical)
        yield int(seq), str(event["action"]), event["payload"]


@dataclass
class _Expected:
    sealed: dict[int, tuple[int, str]] = field(default_factory=dict)  # seq → (count, aggregate)
    records: dict[str, dict[int, tuple[str, int]]] = field(default_factory=lambda: defaultdict(dict))
    legacy_annotations: tuple[int, str, int] | None = None  # (count, aggregate, seq)
    legacy_records: dict[str, dict[int, tuple[str, int]]] = field(default_factory=lambda: defaultdict(dict))


def _expected(session: Session) -> _Expected:
    exp = _Expected()
    for seq, action, payload in _events(session):
        sealed = payload.get("sealed")
        if isinstance(sealed, dict) and "count" in sealed:
            exp.sealed[seq] = (int(sealed["count"]), str(sealed["digest"]))
        for rec in payload.get("records") or []:
            # The latest record of a row is the one its current content must match.
            exp.records[rec["table"]][int(rec["id"])] = (rec["digest"], seq)
        if action == "record.seal_legacy":
            ann = payload.get("annotations") or {}
            if ann.get("count"):
                exp.legacy_annotations = (int(ann["count"]), str(ann["digest"]), seq)
            for rec in payload.get("legacy_records") or []:
                exp.legacy_records[rec["table"]][int(rec["id"])] = (rec["digest"], seq)
    return exp


def _stream(
    raw: Any, table: str, extra: tuple[str, ...] = (), id_range: tuple[int, int] | None = None
) -> Iterator[tuple[Any, ...]]:
    names = [name for name, _ in DIGEST_COLUMNS[table]]
    cols = ", ".join(("id", *extra, *[n for n in names if n != "id"]))
    where = f" WHERE id BETWEEN {int(id_range[0])} AND {int(id_range[1])}" if id_range else ""
    cur = raw.cursor()
    try:
        cur.execute(f"SELECT {cols} FROM {table}{where} ORDER BY id")
        while batch := cur.fetchmany(20_000):
            yield from batch
    finally:
        cur.close()


def _raw(session: Session) -> Any:
    raw = session.connection().connection.dbapi_connection
    assert raw is not None
    return raw


@dataclass
class _Scan:
    """One range of annotations scanned: rows, per-row problems, and per audit seq the count, the first id
    and the sorted concatenation of the stored digests (so ranges can be merged exactly)."""

    rows: int = 0
    edited: list[tuple[int, int | None]] = field(default_factory=list)
    by_seq: dict[int, tuple[int, int, bytes]] = field(default_factory=dict)
    legacy: list[str] = field(default_factory=list)


def _scan_annotations(raw: Any, id_range: tuple[int, int] | None) -> _Scan:
    digest_of = row_reader("annotations")
    scan = _Scan()
    groups: dict[int, list[str]] = defaultdict(list)
    first_id: dict[int, int] = {}
    n = 0
    for row in _stream(raw, "annotations", ("audit_seq", "row_digest"), id_range):
        n += 1
        row_id, seq, stored = row[0], row[1], row[2]
        digest = digest_of(row[3:])
        if seq is None and stored is None:
            scan.legacy.append(digest)
            continue
        if digest != stored and len(scan.edited) < _MAX_NAMED * 10:
            scan.edited.append((row_id, seq))
        groups[seq].append(stored if isinstance(stored, str) and len(stored) == 64 else "0" * 64)
        first_id.setdefault(seq, row_id)
    scan.rows = n
    for seq, digests in groups.items():
        digests.sort()
        scan.by_seq[seq] = (len(digests), first_id[seq], bytes.fromhex("".join(digests)))
    return scan


def _scan_worker(url: str, lo: int, hi: int) -> _Scan:
    from lineage.db import make_engine

    engine = make_engine(url)
    raw = engine.raw_connection()
    try:
        return _scan_annotations(raw, (lo, hi))
    finally:
        raw.close()
        engine.dispose()


# Below this many annotations a second process costs more than it saves.
_PARALLEL_MIN_ROWS = 200_000


def _scan_all(session: Session, workers: int) -> _Scan:
    conn = session.connection()
    lo, hi = conn.execute(text("SELECT min(id), max(id) FROM annotations")).one()
    workers = max(1, workers)
    if lo is None or workers == 1 or hi - lo < _PARALLEL_MIN_ROWS:
        return _scan_annotations(_raw(session), None)
    url = session.get_bind().engine.url.render_as_string(hide_password=False)
    bounds = [(lo + i * (hi - lo + 1) // workers, lo + (i + 1) * (hi - lo + 1) // workers - 1) for i in range(workers)]
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
        scans = list(pool.map(_scan_worker, [url] * workers, *zip(*bounds, strict=True)))
    merged = _Scan()
    for scan in scans:
        merged.rows += scan.rows
        merged.edited.extend(scan.edited)
        merged.legacy.extend(scan.legacy)
        for seq, (count, first, blob) in scan.by_seq.items():
            if seq in merged.by_seq:  # a batch whose ids straddle two ranges: merge the sorted digests
                c0, f0, b0 = merged.by_seq[seq]
                parts = sorted(
                    [b0[i : i + 32] for i in range(0, len(b0), 32)]
                    + [blob[i : i + 32] for i in range(0, len(blob), 32)]
                )
                merged.by_seq[seq] = (c0 + count, min(f0, first), b"".join(parts))
            else:
                merged.by_seq[seq] = (count, first, blob)
    return merged


def _check_annotations(session: Session, exp: _Expected, report: DeepReport, workers: int) -> None:
    scan = _scan_all(session, workers)
    report.rows["annotations"] = scan.rows
    for row_id, seq in scan.edited:
        report.add(RowProblem("annotations", "edited", "its content does not match its recorded digest", row_id, seq))
    for seq, (n, first, blob) in sorted(scan.by_seq.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
        want = exp.sealed.get(seq) if seq is not None else None
        if want is None:
            report.add(
                RowProblem(
                    "annotations",
                    "inserted",
                    f"{n} row(s) claim event {seq}, which sealed no annotations (first id {first})",
                    first,
                    seq,
                )
            )
            continue
        count, agg = want
        if n < count:
            report.add(RowProblem("annotations", "deleted", f"{count - n} of {count} row(s) missing", None, seq))
        elif n > count:
            report.add(
                RowProblem("annotations", "inserted", f"{n - count} row(s) more than the {count} sealed", None, seq)
            )
        elif digest_bytes(AGGREGATE_DOMAIN, blob) != agg:
            report.add(
                RowProblem(
                    "annotations", "edited", "rows differ from what the event sealed (digests rewritten)", None, seq
                )
            )
    for seq, (count, _) in exp.sealed.items():
        if seq not in scan.by_seq and count:
            report.add(
                RowProblem("annotations", "deleted", f"all {count} row(s) sealed by this event are gone", None, seq)
            )
    _check_legacy(scan.legacy, exp, report)


def _check_legacy(legacy: list[str], exp: _Expected, report: DeepReport) -> None:
    report.legacy_rows += len(legacy)
    if exp.legacy_annotations is None:
        if legacy:
            report.add(
                RowProblem(
                    "annotations",
                    "unsealed",
                    f"{len(legacy)} row(s) carry no digest and no event (written before sealing, or inserted "
                    "behind the service's back); run `labelgate audit seal-legacy` once after upgrading",
                )
            )
        return
    count, agg, seq = exp.legacy_annotations
    if len(legacy) != count or aggregate(legacy) != agg:
        report.add(
            RowProblem(
                "annotations",
                "edited" if len(legacy) == count else ("deleted" if len(legacy) < count else "inserted"),
                f"rows without a digest ({len(legacy)}) differ from the {count} sealed as legacy",
                None,
                seq,
            )
        )


def _check_recorded(session: Session, table: str, exp: _Expected, report: DeepReport) -> None:
    digest_of = row_reader(table)
    recorded = exp.records.get(table, {})
    legacy = exp.legacy_records.get(table, {})
    seen: set[int] = set()
    n = 0
    for row in _stream(_raw(session), table):
        n += 1
        row_id = int(row[0])
        seen.add(row_id)
        digest = digest_of(row)
        want = recorded.get(row_id) or legacy.get(row_id)
        if want is None:
            report.add(RowProblem(table, "inserted", "no audit event records this row", row_id))
        elif want[0] != digest:
            report.add(RowProblem(table, "edited", "its content differs from what its event recorded", row_id, want[1]))
    report.rows[table] = n
    for row_id, (_, seq) in {**legacy, **recorded}.items():
        if row_id not in seen:
            report.add(RowProblem(table, "deleted", "an event recorded this row but it is gone", row_id, seq))


def _check_versions(session: Session, exp: _Expected, report: DeepReport) -> None:
    """A version's pins must equal what its latest state change recorded; a version with no recorded
    state change is a draft."""
    digest_of = row_reader("dataset_versions")
    recorded = exp.records.get("dataset_versions", {})
    n = 0
    state_at = [name for name, _ in DIGEST_COLUMNS["dataset_versions"]].index("state")
    for row in _stream(_raw(session), "dataset_versions"):
        n += 1
        row_id = int(row[0])
        want = recorded.get(row_id)
        if want is None:
            if row[state_at] != "draft":
                report.add(
                    RowProblem(
                        "dataset_versions",
                        "edited",
                        f"state {row[state_at]!r} without any recorded state change",
                        row_id,
                    )
                )
            continue
        if digest_of(row) != want[0] and row[state_at] != "draft":
            report.add(
                RowProblem(
                    "dataset_versions",
                    "edited",
                    "its state or pinned hashes differ from its last recorded state change",
                    row_id,
                    want[1],
                )
            )
        elif row[state_at] == "draft":
            report.add(
                RowProblem("dataset_versions", "edited", "a draft, but its last state change left it pinned", row_id)
            )
    report.rows["dataset_versions"] = n


def deep_verify(session: Session, *, workers: int = 1) -> DeepReport:
    """Check every append-only domain row against its recorded digest (see the module doc). ``workers``
    > 1 splits the annotations across processes (fork): from a command line, not a threaded server."""
    exp = _expected(session)
    report = DeepReport()
    _check_annotations(session, exp, report, workers)
    for table in RECORDED_TABLES:
        _check_recorded(session, table, exp, report)
    _check_versions(session, exp, report)
    _check_revocations(session, report)
    return report


def _check_revocations(session: Session, report: DeepReport) -> None:
    """A token revoked by an event stays revoked: its ``revoked_at`` (outside its digest, since it is set
    after issue) must not have been cleared."""
    conn = session.connection()
    revoked = {
        int(object_id): int(seq)
        for seq, object_id in conn.execute(
            text("SELECT seq, object_id FROM audit_events WHERE action = 'token.revoke' ORDER BY seq")
        )
        if str(object_id).isdigit()
    }
    if not revoked:
        return
    active = conn.execute(text("SELECT id FROM api_tokens WHERE revoked_at IS NULL")).scalars()
    for token_id in active:
        if int(token_id) in revoked:
            report.add(
                RowProblem(
                    "api_tokens",
                    "edited",
                    "revoked by an event, but the row says active",
                    int(token_id),
                    revoked[token_id],
                )
            )


def legacy_seal(session: Session) -> dict[str, Any] | None:
    """What a ``record.seal_legacy`` event records: the rows written before row sealing existed
    (annotations without a digest; rows of recorded tables that no event records). ``None`` when every
    row is already recorded."""
    exp = _expected(session)
    digest_of = row_reader("annotations")
    legacy_ann = [
        digest_of(row[3:])
        for row in _stream(_raw(session), "annotations", ("audit_seq", "row_digest"))
        if row[1] is None and row[2] is None
    ]
    records: list[dict[str, Any]] = []
    for table in RECORDED_TABLES:
        table_digest = row_reader(table)
        recorded = exp.records.get(table, {})
        for row in _stream(_raw(session), table):
            if int(row[0]) not in recorded and int(row[0]) not in exp.legacy_records.get(table, {}):
                records.append({"table": table, "id": int(row[0]), "digest": table_digest(row)})
    if not legacy_ann and not records:
        return None
    return {
        "annotations": {"count": len(legacy_ann), "digest": aggregate(legacy_ann)},
        "legacy_records": records,
    }
