"""``lineage.db.column_value`` (how JSON columns are read: orjson, the standard library where orjson refuses)
reads every text ``column_json`` writes as the standard library would: equal values of equal types, so the
manifests, digests and gate inputs computed from what is read are unchanged. Values are drawn at random
(seeded) from everything a label's geometry and attributes can hold, the awkward ones included."""

from __future__ import annotations

import json
import math
import random
import sys
from typing import Any

import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, Table, select
from sqlmodel import Session

from lineage.db import column_json, column_value
from lineage.hashing import canonical_json_nonfinite

AWKWARD_FLOATS = [
    0.0, -0.0, 1e-7, 1e-5, 1e-4, 1e16, 1e22, 1.5e300, 5e-324, sys.float_info.max, 0.1 + 0.2,
    123456789.123456789, -2.5, float("nan"), float("inf"), float("-inf"),
]  # fmt: skip
AWKWARD_INTS = [0, -1, 2**53 + 1, 2**63 - 1, -(2**63), 2**64, -(2**64) - 1, 10**30]
AWKWARD_TEXT = ["", "é", "日本", "\u0000", "\U0001f600", '"\\/\b\f\n\r\t', "NaN", "1e5"]


def _value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0:
        return rng.choice(AWKWARD_FLOATS) if rng.random() < 0.5 else rng.uniform(-1e6, 1e6)
    if kind == 1:
        return rng.choice(AWKWARD_INTS) if rng.random() < 0.5 else rng.randrange(-(10**9), 10**9)
    if kind == 2:
        return (
            rng.choice(AWKWARD_TEXT)
            if rng.random() < 0.5
            else "".join(chr(rng.randrange(32, 0x3000)) for _ in range(5))
        )
    if kind == 3:
        return rng.choice([None, True, False])
    if kind == 4:
        return rng.uniform(0, 1000)
    if kind in (5, 6):
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(AWKWARD_TEXT) + str(n): _value(rng, depth + 1) for n in range(rng.randrange(4))}


def _same(a: Any, b: Any) -> bool:
    """Equal values of equal types all the way down (NaN equal to NaN, -0.0 apart from 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def test_column_value_reads_every_written_text_as_the_standard_library_does() -> None:
    rng = random.Random(16)
    for _ in range(20_000):
        value = _value(rng)
        written = column_json(value)
        read = column_value(written)
        assert _same(read, json.loads(written)), written
        assert canonical_json_nonfinite(read) == written.encode(), written


@pytest.mark.parametrize(
    "written",
    [
        '{"a": 1, "a": 2}',  # a duplicate key: the last one wins in both
        " [1 , 2.50 , -0 , 1E400 ] ",  # text another writer left (spaces, exponents, an overflow)
        '{"x": 1e-7, "y": 12.0}',
        '["\\ud800"]',  # an escaped lone surrogate (column_json cannot write one; orjson refuses it)
        "[18446744073709551617, -9223372036854775809, 1234567890123456789012.5]",  # beyond 64 bits
    ],
)
def test_text_written_by_other_writers_reads_the_same(written: str) -> None:
    assert _same(column_value(written), json.loads(written))


def test_a_json_column_reads_back_through_the_engine(session: Session) -> None:
    """The engine reads JSON columns with it, on both databases: values orjson reads and values only the
    standard library reads (an integer beyond 64 bits) come back equal."""
    table = Table("column_json_probe", MetaData(), Column("id", Integer, primary_key=True), Column("v", JSON))
    conn = session.connection()
    table.create(conn)
    values = [{"x": 1e-7, "poly": [[0.5, 2**40]], "t": "日本"}, {"big": 2**64 + 1}, [None, True, -0.0]]
    conn.execute(table.insert(), [{"id": n, "v": v} for n, v in enumerate(values)])
    read = [row.v for row in conn.execute(select(table.c.v).order_by(table.c.id))]
    session.rollback()
    assert all(_same(r, json.loads(column_json(v))) for r, v in zip(read, values, strict=True)), read
