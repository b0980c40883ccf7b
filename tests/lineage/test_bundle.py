"""Evidence bundles: signatures verify offline, and every mutation is caught and named."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lineage.hashing import canonical_json as canonical
from lineage.release.bundle import field_digests, sign_bundle, verify_bundle

CONTENT: dict[str, Any] = {
    "dataset": {"name": "signs", "version": "v2", "git_revision": "a" * 40, "item_count": 40},
    "evaluation": {"passed": True, "gates": [{"name": "recall", "value": 0.91}, {"name": "precision", "value": 0.95}]},
    "approvals": [{"printed_name": "Cora Compliance", "meaning": "approval"}],
    "audit_head": {"seq": 120, "hash": "b" * 64},
    "empty": {},
}


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def test_canonical_is_sorted_and_compact() -> None:
    assert canonical({"b": 1, "a": [1, {"d": 2, "c": 3}]}) == b'{"a":[1,{"c":3,"d":2}],"b":1}'
    with pytest.raises(ValueError):
        canonical({"x": float("nan")})


def test_field_digests_name_every_leaf() -> None:
    paths = set(field_digests(CONTENT))
    assert {"dataset.git_revision", "evaluation.gates[1].value", "approvals[0].meaning", "empty"} <= paths


def test_round_trip_through_json(key: Ed25519PrivateKey) -> None:
    bundle = json.loads(json.dumps(sign_bundle(CONTENT, key)))
    check = verify_bundle(bundle, public_key=key.public_key())
    assert check.ok and check.trusted_key and check.problems == []
    untrusted = verify_bundle(bundle)
    assert untrusted.ok and not untrusted.trusted_key


@pytest.mark.parametrize(
    ("mutate", "named"),
    [
        (lambda c: c["dataset"].__setitem__("item_count", 41), "content.dataset.item_count was changed"),
        (lambda c: c["evaluation"]["gates"][0].__setitem__("value", 0.99), "content.evaluation.gates[0].value"),
        (lambda c: c["approvals"].append({"printed_name": "Mallory"}), "content.approvals[1].printed_name was added"),
        (lambda c: c["audit_head"].pop("hash"), "content.audit_head.hash was removed"),
        (lambda c: c["evaluation"].__setitem__("passed", False), "content.evaluation.passed was changed"),
    ],
)
def test_content_mutations_are_named(key: Ed25519PrivateKey, mutate: Any, named: str) -> None:
    bundle = sign_bundle(copy.deepcopy(CONTENT), key)
    mutate(bundle["content"])
    check = verify_bundle(bundle, public_key=key.public_key())
    assert not check.ok
    assert any(named in p for p in check.problems), check.problems


def test_re_digesting_the_manifest_breaks_the_signature(key: Ed25519PrivateKey) -> None:
    bundle = sign_bundle(copy.deepcopy(CONTENT), key)
    bundle["content"]["dataset"]["item_count"] = 1
    bundle["field_digests"] = field_digests(bundle["content"])  # a forger recomputes the digests
    check = verify_bundle(bundle, public_key=key.public_key())
    assert not check.ok and any("signature.value does not match" in p for p in check.problems)


def test_a_bundle_re_signed_with_another_key_fails_against_the_trusted_key(key: Ed25519PrivateKey) -> None:
    forged = sign_bundle({**CONTENT, "audit_head": {"seq": 1, "hash": "c" * 64}}, Ed25519PrivateKey.generate())
    check = verify_bundle(forged, public_key=key.public_key())
    assert not check.ok and any("not the trusted key" in p for p in check.problems)
    assert verify_bundle(forged).ok  # self-consistent: which is why auditors must pin the key


def test_every_signature_byte_matters(key: Ed25519PrivateKey) -> None:
    import base64

    bundle = sign_bundle(CONTENT, key)
    raw = bytearray(base64.b64decode(bundle["signature"]["value"]))
    for i in range(0, len(raw), 5):
        mutated = copy.deepcopy(bundle)
        flipped = bytearray(raw)
        flipped[i] ^= 0x01
        mutated["signature"]["value"] = base64.b64encode(bytes(flipped)).decode()
        assert not verify_bundle(mutated, public_key=key.public_key()).ok, f"byte {i}"


@pytest.mark.parametrize("bad", [None, [], {"bundle_format": "other"}, {"bundle_format": "labelgate.evidence.v1"}])
def test_malformed_bundles_are_refused_with_a_reason(bad: Any) -> None:
    check = verify_bundle(bad)
    assert not check.ok and check.problems
