"""``lineage.hashing``: for every value its callers can pass, the one canonical JSON and its named variants give
exactly the bytes each call site's own encoder gave before (copied below as the reference), and NaN is
refused where it was refused, so every digest and signature already on record verifies unchanged."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import struct
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import Session

from lineage.audit.chain import DOMAIN, GENESIS_HASH, ChainHead, append_event, canonical_bytes, event_hash
from lineage.audit.checkpoints import sign_checkpoint, verify_checkpoint
from lineage.audit.rowdigest import (
    AGGREGATE_DOMAIN,
    DIGEST_COLUMNS,
    ROW_DOMAIN,
    aggregate,
    digest_values,
    normaliser,
    row_reader,
)
from lineage.audit.verify import verify_database
from lineage.db import column_json
from lineage.hashing import (
    NO_DOMAIN,
    canonical_json,
    canonical_json_ascii,
    canonical_json_nonfinite,
    digest,
    digest_bytes,
    message,
    row_digester,
    row_json,
)
from lineage.release.bundle import field_digests, key_id, sign_bundle, verify_bundle
from lineage.schemas import LabelClass, classes_hash
from quality_gates import canonical
from quality_gates.policy import parse_policy, policy_hash

SEP = (",", ":")


# The encoders as each site wrote them before ``lineage.hashing`` (the reference: never "fix" these).
def old_chain(body: Any) -> bytes:  # lineage/audit/chain.py canonical_bytes
    return json.dumps(body, sort_keys=True, separators=SEP, ensure_ascii=False, default=str).encode()


def old_bundle(value: Any) -> bytes:  # lineage/release/bundle.py canonical (bundles, checkpoints, bundle_sha256)
    return json.dumps(value, sort_keys=True, separators=SEP, ensure_ascii=False, allow_nan=False).encode()


def old_schemas(value: Any) -> bytes:  # lineage/schemas.py canonical_json, hashed as .encode()
    return json.dumps(value, sort_keys=True, separators=SEP, ensure_ascii=False).encode()


def old_db(value: Any) -> str:  # lineage/db.py canonical_json, the JSON column serializer
    return json.dumps(value, sort_keys=True, separators=SEP, ensure_ascii=False)


def old_policy(value: Any) -> bytes:  # quality_gates/policy.py policy_hash
    return json.dumps(value, sort_keys=True, separators=SEP, ensure_ascii=False).encode("utf-8")


def old_signature(fields: Any) -> bytes:  # lineage/release/approvals.py _signature_hash
    return json.dumps(fields, sort_keys=True, separators=SEP, default=str).encode()


def old_row(values: Any) -> bytes:  # lineage/audit/rowdigest.py _canonical and its inlined fast paths
    try:
        return orjson.dumps(values, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return json.dumps(values, sort_keys=True, separators=SEP, ensure_ascii=False).encode()


def old_manifest(rows: list[list[Any]]) -> str:  # lineage/labels/annotations.py manifest_hash
    lines = sorted(json.dumps(list(row), sort_keys=True, separators=SEP, ensure_ascii=False) for row in rows)
    return hashlib.sha256(b"labelgate.manifest.v1\x00" + "\n".join(lines).encode()).hexdigest()


# Random values: every JSON type, text from every Unicode range JSON escapes or passes through, integers
# past 64 bits, floats of every exponent, dicts built in a shuffled key order.
CHARS = [
    *"az AZ09-_/.é ü ß ñ ø",
    '"',
    "\\",
    "\x00",
    "\x1f",
    "\x7f",
    "\b\f\n\r\t",
    "\u00a0",
    "\u2028",
    "\u2029",
    "日本",
    "\ufeff",
    "\ue000",
    "\uffff",
    "\U0001f600",
    "\U0010ffff",
]
FLOATS = [0.0, -0.0, 0.1, 1 / 3, 1e-7, 1.5e-5, 1e15, 1e16, 1e22, 1.7976931348623157e308, 5e-324, 2.5, -1e-300]
INTS = [0, 1, -1, 2**53 + 1, 2**63 - 1, -(2**63), 2**63, 2**64 - 1, 2**64, -(2**64) - 1, 10**30, -(10**40)]
NONFINITE = [math.nan, math.inf, -math.inf]


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(CHARS) for _ in range(rng.randint(0, 8)))


def _float(rng: random.Random, nonfinite: bool) -> float:
    kind = rng.randint(0, 4)
    if kind == 0:
        return rng.choice(FLOATS)
    if kind == 1 and nonfinite:
        return rng.choice(NONFINITE)
    if kind == 2:
        bits: float = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        return bits if math.isfinite(bits) else 1.0
    return rng.uniform(-1, 1) * 10.0 ** rng.randint(-12, 20)


def _value(rng: random.Random, depth: int = 0, *, nonfinite: bool = False) -> Any:
    kind = rng.randint(0, 7 if depth < 4 else 4)
    if kind == 0:
        return _text(rng)
    if kind == 1:
        return rng.choice(INTS) if rng.random() < 0.5 else rng.randint(-(10**6), 10**6)
    if kind == 2:
        return _float(rng, nonfinite)
    if kind == 3:
        return rng.choice([True, False])
    if kind == 4:
        return None
    if kind == 5:
        return [_value(rng, depth + 1, nonfinite=nonfinite) for _ in range(rng.randint(0, 5))]
    items = [(_text(rng), _value(rng, depth + 1, nonfinite=nonfinite)) for _ in range(rng.randint(0, 6))]
    rng.shuffle(items)
    return dict(items)


def _reordered(value: Any, rng: random.Random) -> Any:
    """``value`` with every dict rebuilt in another key order."""
    if isinstance(value, dict):
        items = [(k, _reordered(v, rng)) for k, v in value.items()]
        rng.shuffle(items)
        return dict(items)
    if isinstance(value, list):
        return [_reordered(v, rng) for v in value]
    return value


def _values(seed: int, n: int, *, nonfinite: bool = False) -> list[Any]:
    rng = random.Random(seed)
    return [_value(rng, nonfinite=nonfinite) for _ in range(n)]


def test_known_answers() -> None:
    value = {"b": [1, 2.5, 1e-07, "é\n"], "a": None, "c": {"z": True, "y": 10**20}}
    assert (
        canonical_json(value) == b'{"a":null,"b":[1,2.5,1e-07,"\xc3\xa9\\n"],"c":{"y":100000000000000000000,"z":true}}'
    )
    assert (
        digest(b"labelgate.test.v1\x00", value)
        == hashlib.sha256(b"labelgate.test.v1\x00" + canonical_json(value)).hexdigest()
    )
    assert digest(NO_DOMAIN, {"a": 1}) == "015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"
    assert digest_bytes(NO_DOMAIN, b'{"a":1}') == digest(NO_DOMAIN, {"a": 1})
    assert message(b"d\x00", [1]) == b"d\x00[1]"
    # Domain-separated: the same value under another domain (or none) has another digest.
    assert len({digest(NO_DOMAIN, value), digest(b"a\x00", value), digest(b"b\x00", value)}) == 3
    assert canonical.canonical_json is canonical_json  # one definition, re-exported


def test_canonical_json_is_the_strict_encoders_it_replaced() -> None:
    rng = random.Random(1)
    for value in _values(11, 600):
        want = old_bundle(value)
        assert canonical_json(value) == want
        assert canonical_json(_reordered(value, rng)) == want  # key order never matters
        # For finite values the sites that allowed NaN, or had default=str, wrote the same bytes.
        assert old_chain(value) == old_schemas(value) == old_policy(value) == want
        assert canonical_json_nonfinite(value) == want


def test_nonfinite_variant_is_the_allow_nan_encoders_it_replaced() -> None:
    for value in _values(12, 600, nonfinite=True):
        want = old_schemas(value)
        assert canonical_json_nonfinite(value) == want == old_policy(value)
        assert column_json(value) == old_db(value)
    assert canonical_json_nonfinite([math.nan, math.inf, -math.inf]) == b"[NaN,Infinity,-Infinity]"


def test_nan_is_refused_where_it_was_refused() -> None:
    for bad in ({"x": math.nan}, [1, [math.inf]], -math.inf):
        with pytest.raises(ValueError):
            old_bundle(bad)
        with pytest.raises(ValueError):
            canonical_json(bad)
        with pytest.raises(ValueError):
            digest(NO_DOMAIN, bad)
    with pytest.raises(ValueError):
        field_digests({"evaluation": {"value": math.nan}})
    with pytest.raises(ValueError):
        sign_bundle({"evaluation": {"value": math.inf}}, Ed25519PrivateKey.generate())
    # Values JSON has no form for are refused too (the old bundle encoder had no default either) ...
    with pytest.raises(TypeError):
        canonical_json({"when": datetime(2026, 1, 1, tzinfo=UTC)})
    # ... and text that is not Unicode (a lone surrogate) cannot be hashed, as before.
    with pytest.raises(UnicodeEncodeError):
        old_bundle("\ud800")
    with pytest.raises(UnicodeEncodeError):
        canonical_json("\ud800")


def test_audit_events_refuse_nan_now() -> None:
    """Events used to hash NaN on SQLite (a PostgreSQL JSON column always refused it): now both refuse it."""
    ts = datetime(2026, 1, 1, tzinfo=UTC)
    fields: dict[str, Any] = {
        "seq": 1,
        "ts": ts,
        "actor": "a",
        "action": "x",
        "object_type": "t",
        "object_id": "1",
        "project_id": None,
        "request_id": None,
    }
    body = {**fields, "ts": ts.isoformat(timespec="microseconds"), "payload": {"x": 1.5}}
    assert canonical_bytes(**fields, payload={"x": 1.5}) == old_chain(body)
    with pytest.raises(ValueError):
        canonical_bytes(**fields, payload={"x": math.nan})


def test_row_json_is_the_orjson_row_encoder() -> None:
    values = _values(13, 800, nonfinite=True)
    values += [[{1: "int keys"}], [10**30, 1e-7], [{"b": 1, "a": "\U0001f600"}, math.nan, None, True]]
    domain = ROW_DOMAIN + b"annotations\x00"
    digest_row = row_digester(domain)
    for value in values:
        want = old_row(value)
        assert row_json(value) == want
        assert digest_row(value) == hashlib.sha256(domain + want).hexdigest()
    # Why it is a variant: orjson spells these otherwise than canonical JSON does.
    assert row_json([1e-07, math.nan, math.inf]) == b"[1e-7,null,null]"
    assert canonical_json_nonfinite([1e-07, math.nan, math.inf]) == b"[1e-07,NaN,Infinity]"


def test_row_digests_are_unchanged() -> None:
    rng = random.Random(14)
    names = [n for n, _ in DIGEST_COLUMNS["annotations"]]
    norm = normaliser("annotations")
    reader = row_reader("annotations")
    t0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    for _ in range(300):
        row: dict[str, Any] = dict.fromkeys(names)
        row.update(
            dataset_version_id=rng.randint(1, 10**6), item_id=rng.randint(1, 10**9), category=_text(rng) or "c",
            geometry_type="box", x=_float(rng, True), y=_float(rng, False), w=rng.random(), h=1e-7,
            attributes={_text(rng): _value(rng) for _ in range(rng.randint(0, 3))}, kind="import",
            confidence=rng.choice([None, 0.5, 1e-5]), created_at=t0 + timedelta(microseconds=rng.randint(0, 10**9)),
            created_by=rng.choice([1, 2**63 - 1]),
        )  # fmt: skip
        raw = [row[n] for n in names]
        normalised = [f(v) for f, v in zip(norm, raw, strict=True)]
        want = hashlib.sha256(ROW_DOMAIN + b"annotations\x00" + old_row(normalised)).hexdigest()
        assert digest_values("annotations", raw) == want
        sqlite_row = list(raw)
        sqlite_row[names.index("attributes")] = json.dumps(row["attributes"])
        sqlite_row[names.index("created_at")] = row["created_at"].strftime("%Y-%m-%d %H:%M:%S.%f")
        assert reader(sqlite_row) == want
    digests = [f"{rng.getrandbits(256):064x}" for _ in range(50)]
    assert aggregate(digests) == hashlib.sha256(AGGREGATE_DOMAIN + bytes.fromhex("".join(sorted(digests)))).hexdigest()


def test_signature_variant_is_the_e_signature_encoder() -> None:
    rng = random.Random(15)
    for value in _values(15, 400):
        assert canonical_json_ascii(value) == old_signature(value)
    for _ in range(200):  # the fields an approval's signature_hash covers
        fields = {
            "dataset_version_id": rng.choice([1, 2**40, None]),
            "content_hash": f"{rng.getrandbits(256):064x}",
            "signer_id": rng.randint(1, 10**9),
            "printed_name": _text(rng),
            "role": rng.choice(["compliance_officer", "reviewer", "none"]),
            "meaning": rng.choice(["approval", "review", "responsibility"]),
            "signed_at": (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.random() * 1e8)).isoformat(
                timespec="microseconds"
            ),
        }
        assert (
            digest_bytes(NO_DOMAIN, canonical_json_ascii(fields)) == hashlib.sha256(old_signature(fields)).hexdigest()
        )
    assert canonical_json_ascii({"printed_name": "José"}) == b'{"printed_name":"Jos\\u00e9"}'


def test_manifest_lines_in_canonical_form_give_the_same_hash() -> None:
    """A version manifest hashed from rows encoded one by one (``canonical_json_nonfinite``, sorted as bytes:
    UTF-8 keeps code-point order) equals the hash of the lines as text."""
    rng = random.Random(16)
    for _ in range(100):
        rows = [[_text(rng), f"{rng.getrandbits(64):016x}", *_values(rng.randint(0, 10**6), 8, nonfinite=True)]
                for _ in range(rng.randint(0, 12))]  # fmt: skip
        lines = sorted(canonical_json_nonfinite(list(row)) for row in rows)
        assert digest_bytes(b"labelgate.manifest.v1\x00", b"\n".join(lines)) == old_manifest(rows)


def test_bundles_and_checkpoints_sign_and_digest_the_same_bytes() -> None:
    key = Ed25519PrivateKey.generate()
    rng = random.Random(17)
    content = {"dataset": {"name": "straße", "hashes": _values(17, 5)}, "evaluation": _value(rng), "n": 10**25}
    bundle = sign_bundle(content, key)
    assert verify_bundle(bundle, public_key=key.public_key()).ok
    leaves = field_digests(content)
    assert leaves["dataset.name"] == hashlib.sha256(old_bundle("straße")).hexdigest()
    assert leaves["n"] == hashlib.sha256(old_bundle(10**25)).hexdigest()
    # The signature covers the old message: a verifier of the previous release accepts it.
    signed = b"labelgate.evidence.v1\x00" + old_bundle(
        {"bundle_format": "labelgate.evidence.v1", "field_digests": leaves}
    )
    key.public_key().verify(base64.b64decode(bundle["signature"]["value"]), signed)
    assert digest(NO_DOMAIN, bundle) == hashlib.sha256(old_bundle(bundle)).hexdigest()  # a release's bundle_sha256
    assert key_id(key.public_key()) == bundle["signature"]["key_id"]

    cp = sign_checkpoint(ChainHead(seq=42, hash="ab" * 32), key)
    assert verify_checkpoint(cp, key.public_key())
    old_message = b"labelgate.checkpoint.v1\x00" + old_bundle(
        {"seq": 42, "hash": cp.hash, "ts": cp.ts, "key_id": cp.key_id}
    )
    key.public_key().verify(base64.b64decode(cp.signature), old_message)


def test_schema_and_policy_hashes_are_unchanged() -> None:
    rng = random.Random(18)
    for _ in range(100):
        classes = [
            LabelClass(name=f"c{i}{_text(rng).strip()}", description=_text(rng),
                       attributes={_text(rng): _value(rng, nonfinite=True) for _ in range(rng.randint(0, 3))})
            for i in range(rng.randint(1, 4))
        ]  # fmt: skip
        # The fields a class had before keypoint specs existed (an unset spec is left out of the hash).
        before = [c.model_dump(include={"name", "description", "attributes", "geometry"}) for c in classes]
        want = hashlib.sha256(old_schemas(before)).hexdigest()
        assert classes_hash(classes) == want
    for name, bound in (("default", "0.2"), ("Straßen-Politik ✓", ".inf"), ("x", "1.0e-7")):
        policy = parse_policy(f"name: {name}\ngates:\n  class_drift_psi: {{max: {bound}}}\n  recall: {{min: 0.85}}\n")
        want = hashlib.sha256(old_policy(policy.model_dump(mode="json", exclude_none=True))).hexdigest()
        assert policy_hash(policy) == want


def test_audit_events_hash_the_bytes_they_did(session: Session) -> None:
    rng = random.Random(19)
    events = []
    for i in range(25):
        payload = {"value": _value(rng), "when": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=i), "i": i}
        actor = _text(rng).replace("\x00", "") or "a"  # PostgreSQL text holds no NUL
        events.append(
            append_event(session, actor=actor, action="thing.do", object_type="thing", object_id=i,
                         project_id=rng.choice([None, 7]), request_id=rng.choice([None, "req-1"]), payload=payload)
        )  # fmt: skip
    session.commit()
    prev = GENESIS_HASH
    for event in events:
        body = {
            "seq": event.seq,
            "ts": event.ts.isoformat(timespec="microseconds"),
            "actor": event.actor,
            "action": event.action,
            "object_type": event.object_type,
            "object_id": event.object_id,
            "project_id": event.project_id,
            "request_id": event.request_id,
            "payload": event.payload,
        }
        assert event.canonical == old_chain(body)
        assert event.hash == event_hash(prev, event.canonical)
        assert event.hash == hashlib.sha256(DOMAIN + bytes.fromhex(prev) + old_chain(body)).hexdigest()
        prev = event.hash
    assert events[0].payload["when"] == "2026-01-01 00:00:00+00:00"  # dates: str(), as before
    assert verify_database(session).ok  # the payload columns still hold the hashed bytes
