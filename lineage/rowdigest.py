"""Content digests of append-only domain rows, recorded in the audit events that create them.

A row's digest is ``SHA-256("labelgate.row.v1\\0" || table || "\\0" || canonical(values))`` over its
columns in a fixed order, each normalised to the form every driver reads back (floats as floats, booleans
as booleans, timestamps as ISO-8601 UTC to the microsecond, JSON columns parsed), so the digest computed
when the row is written equals the one a deep verify recomputes from SQLite or PostgreSQL.

Rows with one event each (approvals, reviews, evaluations, releases, memberships, tokens) are recorded
in that event's payload as ``records: [{table, id, digest}]`` (``append_event(..., rows=[...])``).
Annotations arrive by the million, so each carries its own ``row_digest`` and the ``audit_seq`` of the
event that recorded it; that event records their count and an aggregate digest (``aggregate``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import orjson

__all__ = [
    "DIGEST_COLUMNS",
    "aggregate",
    "digest_values",
    "normaliser",
    "record_of",
    "row_digest",
]

ROW_DOMAIN = b"labelgate.row.v1\x00"
AGGREGATE_DOMAIN = b"labelgate.rows.v1\x00"

# Column kinds: i integer, f float, s string, b boolean, t timestamp, j JSON.
Spec = tuple[tuple[str, str], ...]

_ANNOTATION: Spec = (
    ("dataset_version_id", "i"),
    ("item_id", "i"),
    ("category", "s"),
    ("geometry_type", "s"),
    ("x", "f"),
    ("y", "f"),
    ("w", "f"),
    ("h", "f"),
    ("geometry", "j"),
    ("attributes", "j"),
    ("kind", "s"),
    ("annotator_id", "i"),
    ("model_version_id", "i"),
    ("weights_sha256", "s"),
    ("confidence", "f"),
    ("threshold", "f"),
    ("autolabel_run_id", "i"),
    ("source_sha256", "s"),
    ("source_format", "s"),
    ("generator_config_hash", "s"),
    ("supersedes_id", "i"),
    ("origin_id", "i"),
    ("created_at", "t"),
    ("created_by", "i"),
)

# Every column a reader sees; for tokens only what may never change (revocation is checked against its
# own events, last use is operational).
DIGEST_COLUMNS: dict[str, Spec] = {
    "annotations": _ANNOTATION,
    "reviews": (
        ("id", "i"),
        ("annotation_id", "i"),
        ("reviewer_id", "i"),
        ("decision", "s"),
        ("correction_id", "i"),
        ("comment", "s"),
        ("created_at", "t"),
    ),
    "approvals": (
        ("id", "i"),
        ("dataset_version_id", "i"),
        ("content_hash", "s"),
        ("signer_id", "i"),
        ("printed_name", "s"),
        ("role", "s"),
        ("meaning", "s"),
        ("signed_at", "t"),
        ("signature_hash", "s"),
    ),
    "gate_evaluations": (
        ("id", "i"),
        ("dataset_version_id", "i"),
        ("policy_id", "i"),
        ("policy_hash", "s"),
        ("golden_set_id", "i"),
        ("passed", "b"),
        ("gates", "j"),
        ("metrics", "j"),
        ("evidence", "j"),
        ("data_hashes", "j"),
        ("created_by", "i"),
        ("created_at", "t"),
    ),
    "releases": (
        ("id", "i"),
        ("dataset_version_id", "i"),
        ("evaluation_id", "i"),
        ("git_tag", "s"),
        ("bundle_path", "s"),
        ("bundle_sha256", "s"),
        ("audit_head_seq", "i"),
        ("audit_head_hash", "s"),
        ("bundle", "j"),
        ("signing_key_id", "s"),
        ("released_by", "i"),
        ("released_at", "t"),
    ),
    "memberships": (("id", "i"), ("user_id", "i"), ("project_id", "i"), ("role", "s"), ("granted_at", "t")),
    "api_tokens": (
        ("id", "i"),
        ("user_id", "i"),
        ("name", "s"),
        ("prefix", "s"),
        ("token_hash", "s"),
        ("created_at", "t"),
        ("expires_at", "t"),
        ("parent_id", "i"),
    ),
    # The pins of a version at a state change: what a release or an approval rests on.
    "dataset_versions": (
        ("id", "i"),
        ("dataset_id", "i"),
        ("version", "s"),
        ("parent_id", "i"),
        ("schema_version_id", "i"),
        ("state", "s"),
        ("git_revision", "s"),
        ("dvc_hash", "s"),
        ("data_path", "s"),
        ("item_count", "i"),
        ("manifest_hash", "s"),
        ("created_by", "i"),
    ),
}


def _none(f: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: None if v is None else f(v)


def _enum_str(v: Any) -> str:
    return str(v.value) if isinstance(v, Enum) else str(v)


def _ts(v: Any) -> str:
    if isinstance(v, str):
        v = datetime.fromisoformat(v)
    if v.tzinfo is None:
        v = v.replace(tzinfo=UTC)
    return str(v.astimezone(UTC).isoformat(timespec="microseconds"))


def _json(v: Any) -> Any:
    # Drivers give JSON columns back as text (SQLite) or parsed (PostgreSQL); writers hold Python values.
    if isinstance(v, str | bytes):
        return json.loads(v)
    return json.loads(json.dumps(v))


_NORMALISERS: dict[str, Callable[[Any], Any]] = {
    "i": _none(int),
    "f": _none(float),
    "s": _none(_enum_str),
    "b": _none(bool),
    "t": _none(_ts),
    "j": _json,
}


def normaliser(table: str) -> list[Callable[[Any], Any]]:
    """The per-column normalisers of ``table``, in ``DIGEST_COLUMNS`` order."""
    return [_NORMALISERS[kind] for _, kind in DIGEST_COLUMNS[table]]


def _canonical(values: list[Any]) -> bytes:
    try:
        return orjson.dumps(values, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # integers beyond 64 bits: the slower, exact encoder (the same choice on every side)
        return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest_values(table: str, values: Iterable[Any], norm: list[Callable[[Any], Any]] | None = None) -> str:
    """Digest of raw column values in ``DIGEST_COLUMNS[table]`` order (as a driver or a writer holds them)."""
    norm = norm or normaliser(table)
    canonical = _canonical([f(v) for f, v in zip(norm, values, strict=True)])
    return hashlib.sha256(ROW_DOMAIN + table.encode() + b"\x00" + canonical).hexdigest()


def row_digest(table: str, row: Any) -> str:
    """Digest of a row given as a mapping or an object with the table's attributes."""
    names = [name for name, _ in DIGEST_COLUMNS[table]]
    if isinstance(row, Mapping):
        values = [row.get(n) for n in names]
    else:
        values = [getattr(row, n, None) for n in names]
    return digest_values(table, values)


def record_of(row: Any) -> dict[str, Any]:
    """``{table, id, digest}`` of an ORM row, as an audit event records it."""
    table = str(row.__tablename__)
    return {"table": table, "id": int(row.id), "digest": row_digest(table, row)}


def aggregate(digests: Iterable[str]) -> str:
    """One digest over many rows' digests, independent of their order (they are sorted)."""
    h = hashlib.sha256(AGGREGATE_DOMAIN)
    for d in sorted(digests):
        h.update(bytes.fromhex(d))
    return h.hexdigest()
