"""The record's digests: canonical JSON and domain-separated SHA-256, defined once.

A digest the record stores or signs is SHA-256 over a domain tag followed by bytes, the tag naming what the
bytes are (``b"labelgate.row.v1\\0"``, ``b"labelgate.audit.v1\\0"``...), so equal bytes of two kinds never
share a digest (the few digests published before tags existed use ``NO_DOMAIN``):

    digest(domain, value) = SHA-256( domain || canonical_json(value) )       (hex)
    message(domain, value) = domain || canonical_json(value)                 (what a signature covers)

``canonical_json`` is :func:`quality_gates.canonical.canonical_json` (re-exported here: ``quality_gates``
may not import ``lineage``). Three variants exist because values already on record were hashed with them
and are hashed again at verify time; each says why:

* ``canonical_json_nonfinite``: NaN and ±Infinity written, not refused (policies, schemas, manifests, JSON
  columns);
* ``canonical_json_ascii``: non-ASCII escaped as ``\\uXXXX`` (e-signatures);
* ``row_json``: orjson's spelling, for row digests (a million rows per verify).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import orjson

from quality_gates.canonical import canonical_json, canonical_json_nonfinite

__all__ = [
    "NO_DOMAIN",
    "canonical_json",
    "canonical_json_ascii",
    "canonical_json_nonfinite",
    "digest",
    "digest_bytes",
    "message",
    "row_digester",
    "row_json",
]

# Digests first published without a domain tag: an evidence bundle's field digests and its sha256, a
# schema version's content hash, an e-signature's hash. Adding a tag now would change every recorded value.
NO_DOMAIN = b""

_ASCII = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS


def message(domain: bytes, value: Any) -> bytes:
    """``domain || canonical_json(value)``: the bytes a digest or a signature covers."""
    return domain + canonical_json(value)


def digest(domain: bytes, value: Any) -> str:
    """SHA-256 hex of ``domain || canonical_json(value)`` (refusals as :func:`canonical_json`)."""
    return hashlib.sha256(domain + canonical_json(value)).hexdigest()


def digest_bytes(domain: bytes, data: bytes) -> str:
    """SHA-256 hex of ``domain || data``, for bytes already in their canonical form."""
    return hashlib.sha256(domain + data).hexdigest()


def canonical_json_ascii(value: Any) -> bytes:
    """As :func:`canonical_json`, but every non-ASCII character is escaped (``"é"`` → ``"\\u00e9"``).

    Why it exists: an approval's ``signature_hash`` has been taken over its fields in this form since the
    first release (a signer's printed name is often not ASCII); the fields are integers and strings only.
    """
    return _ASCII.encode(value).encode()


def row_json(values: Any) -> bytes:
    """The serialisation inside a row digest (``lineage.audit.rowdigest``): orjson, keys sorted, falling back
    to :func:`canonical_json_nonfinite` for what orjson refuses (integers beyond 64 bits, non-string keys).

    Why it differs from :func:`canonical_json`: row digests were first taken with orjson, the only encoder
    fast enough for a million rows per verify, and orjson spells some values otherwise: a float's exponent
    without padding (``1e-7``, not ``1e-07``) and NaN and ±Infinity as ``null``. Both encoders are C; which
    one serialises a row depends on its values only, so the writer and a verifier always agree.
    """
    try:
        return orjson.dumps(values, option=_ORJSON_OPTIONS)
    except TypeError:
        return canonical_json_nonfinite(values)


def row_digester(domain: bytes) -> Callable[[Any], str]:
    """``values → digest_bytes(domain, row_json(values))``, with :func:`row_json` inlined: the digester of the
    loops that digest a million rows (an import, a deep verify), where every call per row counts."""
    sha256, dumps, options = hashlib.sha256, orjson.dumps, _ORJSON_OPTIONS

    def digest_row(values: Any) -> str:
        try:
            data = dumps(values, option=options)
        except TypeError:
            data = canonical_json_nonfinite(values)
        return sha256(domain + data).hexdigest()

    return digest_row
