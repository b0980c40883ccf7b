"""Content digests of append-only domain rows, recorded in the audit events that create them.

A row's digest is ``SHA-256("labelgate.row.v1\\0" || table || "\\0" || row_json(values))`` over its
columns in a fixed order, each normalised to the form every driver reads back (floats as floats, booleans
as booleans, timestamps as ISO-8601 UTC to the microsecond, JSON columns parsed), so the digest computed
when the row is written equals the one a deep verify recomputes from SQLite or PostgreSQL. ``row_json`` is
orjson's key-sorted JSON (``lineage.hashing``), fast enough for the million rows of one verify.

Rows with one event each (approvals, reviews, evaluations, releases, memberships, tokens) are recorded
in that event's payload as ``records: [{table, id, digest}]`` (``append_event(..., rows=[...])``).
Annotations arrive by the million, so each carries its own ``row_digest`` and the ``audit_seq`` of the
event that recorded it; that event records their count and an aggregate digest (``aggregate``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from enum import Enum
from functools import lru_cache
from typing import Any

import orjson

from lineage.hashing import digest_bytes, row_digester, row_json

__all__ = [
    "DIGEST_COLUMNS",
    "aggregate",
    "box_digests",
    "digest_values",
    "loads_exact",
    "normaliser",
    "record_of",
    "row_digest",
    "row_reader",
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
    "golden_sets": (
        ("id", "i"),
        ("project_id", "i"),
        ("name", "s"),
        ("version", "i"),
        ("dataset_version_id", "i"),
        ("manifest_hash", "s"),
        ("created_by", "i"),
        ("created_at", "t"),
    ),
    "label_imports": (
        ("id", "i"),
        ("dataset_version_id", "i"),
        ("source_sha256", "s"),
        ("generation", "i"),
        ("format", "s"),
        ("source", "s"),
        ("kind", "s"),
        ("annotator_id", "i"),
        ("annotations", "i"),
        ("images", "i"),
        ("clipped", "i"),
        ("id_map", "j"),
        ("created_by", "i"),
        ("created_at", "t"),
    ),
    "calibrations": (
        ("id", "i"),
        ("project_id", "i"),
        ("model_version_id", "i"),
        ("weights_sha256", "s"),
        ("dataset_version_id", "i"),
        ("golden_manifest_hash", "s"),
        ("iou", "f"),
        ("target_error", "f"),
        ("level", "f"),
        ("band", "f"),
        ("golden_items", "i"),
        ("golden_boxes", "i"),
        ("predictions", "i"),
        ("ignored_golden_classes", "j"),
        ("classes", "j"),
        ("thresholds", "j"),
        ("coverage", "j"),
        ("created_by", "i"),
        ("created_at", "t"),
        ("audit_seq", "i"),
    ),
    "run_thresholds": (
        ("id", "i"),
        ("autolabel_run_id", "i"),
        ("per_class", "j"),
        ("calibration_id", "i"),
        ("strategy", "s"),
        ("created_by", "i"),
        ("created_at", "t"),
        ("audit_seq", "i"),
    ),
    # A model version and the data it was trained on (revision 0008): what a leakage gate and a card rest on.
    "model_versions": (
        ("id", "i"),
        ("project_id", "i"),
        ("name", "s"),
        ("version", "s"),
        ("framework", "s"),
        ("weights_uri", "s"),
        ("weights_sha256", "s"),
        ("class_map", "j"),
        ("schema_version_id", "i"),
        ("created_by", "i"),
        ("created_at", "t"),
        ("weights_bytes", "i"),
        ("weights_rev", "s"),
        ("ultralytics_version", "s"),
        ("torch_version", "s"),
        ("imgsz", "i"),
        ("training", "j"),
        ("card", "j"),
    ),
    "model_training_data": (
        ("id", "i"),
        ("model_version_id", "i"),
        ("dataset_version_id", "i"),
        ("role", "s"),
        ("manifest_hash", "s"),
        ("dvc_hash", "s"),
        ("item_count", "i"),
        ("created_at", "t"),
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


def digest_values(table: str, values: Iterable[Any], norm: list[Callable[[Any], Any]] | None = None) -> str:
    """Digest of raw column values in ``DIGEST_COLUMNS[table]`` order (as a driver or a writer holds them)."""
    norm = norm or normaliser(table)
    canonical = row_json([f(v) for f, v in zip(norm, values, strict=True)])
    return digest_bytes(ROW_DOMAIN + table.encode() + b"\x00", canonical)


def row_digest(table: str, row: Any) -> str:
    """Digest of a row given as a mapping or an object with the table's attributes."""
    names = [name for name, _ in DIGEST_COLUMNS[table]]
    values = [row.get(n) for n in names] if isinstance(row, Mapping) else [getattr(row, n, None) for n in names]
    return digest_values(table, values)


def record_of(row: Any) -> dict[str, Any]:
    """``{table, id, digest}`` of an ORM row, as an audit event records it."""
    table = str(row.__tablename__)
    return {"table": table, "id": int(row.id), "digest": row_digest(table, row)}


@lru_cache(maxsize=4096)
def _read_ts(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str) and len(v) == 26 and v[10] == " ":
        # SQLAlchemy's SQLite form: naive UTC with microseconds.
        return f"{v[:10]}T{v[11:]}+00:00"
    return _ts(v)


_LONG_NUMBER = re.compile(r"\d{19}")


def loads_exact(text: str | bytes) -> Any:
    """Parse JSON fast (orjson), exactly: orjson reads integers beyond 64 bits as floats, so text holding
    a number of 19 digits or more goes to the standard parser."""
    probe = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    if _LONG_NUMBER.search(probe):
        return json.loads(text)
    return orjson.loads(text)


def _read_json(v: Any) -> Any:
    if v == "null":
        return None
    if isinstance(v, str | bytes):
        return loads_exact(v)
    return v  # PostgreSQL's driver parsed it already


def row_reader(table: str) -> Callable[[Sequence[Any]], str]:
    """A fast digester of rows as a driver returns them (``DIGEST_COLUMNS`` order). Integers, floats and
    strings come back from both drivers in the normalised form already; only timestamps, JSON and
    booleans are converted. Equal to ``digest_values`` on the same row (tested)."""
    spec = DIGEST_COLUMNS[table]
    ts_at = [i for i, (_, k) in enumerate(spec) if k == "t"]
    json_at = [i for i, (_, k) in enumerate(spec) if k == "j"]
    bool_at = [i for i, (_, k) in enumerate(spec) if k == "b"]
    digest_row = row_digester(ROW_DOMAIN + table.encode() + b"\x00")

    def digest(row: Sequence[Any]) -> str:
        values = list(row)
        for i in ts_at:
            values[i] = _read_ts(values[i])
        for i in json_at:
            if values[i] is not None:
                values[i] = _read_json(values[i])
        for i in bool_at:
            if values[i] is not None:
                values[i] = bool(values[i])
        return digest_row(values)

    return digest


def box_digests(
    boxes: Iterable[tuple[int, str, float, float, float, float, str, str]],
    *,
    version_id: int,
    kind: str,
    annotator_id: int | None,
    source_format: str,
    created_at: Any,
    created_by: int,
    parsed: Sequence[Any] | None = None,
) -> list[str]:
    """Digests of imported boxes ``(item_id, category, x, y, w, h, attributes_json, source_sha256)`` as the
    fast import path writes them: equal to ``digest_values("annotations", …)`` on each row (tested), with
    what every row shares normalised once. ``parsed``: each row's attributes already as the value their
    text parses to (a writer that built the text from it), so the text is not parsed again."""
    digest_row = row_digester(ROW_DOMAIN + b"annotations\x00")
    ts = _ts(created_at)
    out = []
    values_of = iter(parsed) if parsed is not None else None
    for item_id, cat, x, y, w, h, attrs, sha in boxes:
        values = [
            version_id,
            item_id,
            cat,
            "box",
            float(x),
            float(y),
            float(w),
            float(h),
            None,
            next(values_of) if values_of is not None else None if attrs == "null" else loads_exact(attrs),
            kind,
            annotator_id,
            None,
            None,
            None,
            None,
            None,
            sha,
            source_format,
            None,
            None,
            None,
            ts,
            created_by,
        ]
        out.append(digest_row(values))
    return out


def aggregate(digests: Iterable[str]) -> str:
    """One digest over many rows' digests, independent of their order (they are sorted)."""
    return digest_bytes(AGGREGATE_DOMAIN, bytes.fromhex("".join(sorted(digests))))
