"""Canonical JSON: the one serialisation of a value that is hashed or signed.

``canonical_json(value)`` is the UTF-8 of compact (``,`` and ``:``), key-sorted JSON with non-ASCII
characters written as themselves (control characters, quotes and backslashes escaped as JSON requires),
integers of any size, and floats as Python's shortest round-trip repr (``0.1``, ``1e-07``, ``1e+16``).
NaN and ±Infinity are not JSON and are refused (``ValueError``); so is any other value JSON has no form
for (``TypeError``: a caller with dates turns them into strings first), and a string holding a lone
surrogate (``UnicodeEncodeError``, which is a ``ValueError``).

``canonical_json_nonfinite`` is the one variant: the same bytes, except that NaN and ±Infinity are written
``NaN``, ``Infinity`` and ``-Infinity`` (as Python's ``json`` writes them) instead of refused.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["canonical_json", "canonical_json_nonfinite"]

# One encoder per variant (``json.dumps`` with these keywords builds the same encoder on every call).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_NONFINITE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True)


def canonical_json(value: Any) -> bytes:
    """``value`` as canonical JSON bytes (see the module doc).

    Raises:
        ValueError: NaN or ±Infinity inside ``value``, or a lone surrogate in a string.
        TypeError: a value JSON has no form for (a date, a set, bytes, a key of mixed types).
    """
    return _CANONICAL.encode(value).encode()


def canonical_json_nonfinite(value: Any) -> bytes:
    """As :func:`canonical_json`, but NaN and ±Infinity are written (``NaN``, ``Infinity``) rather than refused.

    Why it exists: hashes first taken with Python's default ``allow_nan=True`` over values that can be
    non-finite must stay reproducible: a policy may say ``max: .inf`` (its hash), a schema read from YAML may
    hold ``.nan`` in an attribute spec (its content hash), a label's geometry may hold NaN on SQLite (the
    version manifest), and JSON columns have always been written so.
    """
    return _NONFINITE.encode(value).encode()
