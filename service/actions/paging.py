"""Keyset page cursors: where a list stopped, handed to the client opaque and checked when it comes back.

A cursor names the list it belongs to (``kind``) and the last row's sort key, so the next page is read with
``WHERE key > last ORDER BY key LIMIT n``: an index seek, the same cost at the millionth row as at the first
(an ``OFFSET`` page reads and throws away every row before it). A cursor that does not decode, belongs to
another list or carries a key of the wrong type is refused with ``InvalidInput`` (422), never an error of the
database: a well-formed cursor only ever says where to start, so a forged one shows nothing the caller could
not page to anyway.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any

from lineage.errors import InvalidInput

__all__ = ["CURSOR_MAX_LENGTH", "ID_MAX", "decode_cursor", "encode_cursor"]

#: The longest cursor accepted (an item's path, up to 1,000 characters, is the longest key).
CURSOR_MAX_LENGTH = 2048
#: The largest row id: ids are 32-bit ``INTEGER`` columns (a larger key would be a database error on PostgreSQL).
ID_MAX = 2**31 - 1
_VERSION = 1
_FIELD = "query.cursor"
_PASS_BACK = "pass a page's next_cursor back as it came"

Key = int | str


def encode_cursor(kind: str, *key: Key) -> str:
    """An opaque cursor for the rows after ``key`` in the list ``kind`` (URL-safe base64 of a JSON array)."""
    raw = json.dumps([_VERSION, kind, *key], separators=(",", ":"), ensure_ascii=True)
    return base64.urlsafe_b64encode(raw.encode("ascii")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, kind: str, types: Sequence[type[int] | type[str]]) -> tuple[Any, ...]:
    """The key of a cursor :func:`encode_cursor` made for ``kind``, each part of the type ``types`` names
    (``int``: 0 to :data:`ID_MAX`; ``str``: at most 1,000 characters, storable text). ``InvalidInput`` otherwise."""
    if len(cursor) > CURSOR_MAX_LENGTH:
        raise InvalidInput(f"cursor longer than {CURSOR_MAX_LENGTH} characters: {_PASS_BACK}", field=_FIELD)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parsed = json.loads(raw.decode("ascii"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidInput(f"not a page cursor: {_PASS_BACK}", field=_FIELD) from None
    if not isinstance(parsed, list) or len(parsed) != 2 + len(types) or parsed[0] != _VERSION:
        raise InvalidInput(f"not a page cursor: {_PASS_BACK}", field=_FIELD)
    if parsed[1] != kind:
        raise InvalidInput(f"this cursor pages another list, not this one: {_PASS_BACK}", field=_FIELD)
    key = tuple(parsed[2:])
    for part, wanted in zip(key, types, strict=True):
        if not _fits(part, wanted):
            raise InvalidInput(f"not a page cursor (its key is out of range): {_PASS_BACK}", field=_FIELD)
    return key


def _fits(part: object, wanted: type[int] | type[str]) -> bool:
    if wanted is int:
        return isinstance(part, int) and not isinstance(part, bool) and 0 <= part <= ID_MAX
    if not isinstance(part, str) or len(part) > 1000 or "\x00" in part:
        return False
    try:
        part.encode("utf-8")  # a lone surrogate cannot be stored, nor compared, on PostgreSQL
    except UnicodeEncodeError:
        return False
    return True
