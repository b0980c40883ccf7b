"""Signed evidence bundles: a release's facts, signed with the workspace's Ed25519 key, verifiable offline.

The signature covers a manifest of per-field digests (``field_digests``: dotted path of every leaf →
SHA-256 of its ``canonical_json``, ``lineage.hashing``, with no domain tag, as first published), so
verification can name each field that was changed, added or removed, not only say "invalid". Content must be
JSON (no NaN or ±Infinity, no dates). Layout::

    {"bundle_format": "labelgate.evidence.v1", "content": {...}, "field_digests": {...},
     "signature": {"algorithm": "Ed25519", "key_id": ..., "public_key": <base64 raw>, "value": <base64>}}
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from lineage.errors import InvalidInput
from lineage.hashing import NO_DOMAIN, digest, digest_bytes, message

__all__ = [
    "BUNDLE_FORMAT",
    "BundleCheck",
    "field_digests",
    "key_id",
    "load_private_key",
    "load_public_key",
    "sign_bundle",
    "verify_bundle",
]

BUNDLE_FORMAT = "labelgate.evidence.v1"
_SIGNING_DOMAIN = b"labelgate.evidence.v1\x00"


def _leaves(value: Any, path: str) -> list[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        out: list[tuple[str, Any]] = []
        for k in sorted(value):
            out.extend(_leaves(value[k], f"{path}.{k}" if path else str(k)))
        return out
    if isinstance(value, list) and value:
        out = []
        for i, v in enumerate(value):
            out.extend(_leaves(v, f"{path}[{i}]"))
        return out
    return [(path, value)]


def field_digests(content: dict[str, Any]) -> dict[str, str]:
    """Dotted path of every leaf (``evaluation.gates[0].value``) → SHA-256 hex of its canonical JSON."""
    return {p: digest(NO_DOMAIN, v) for p, v in _leaves(content, "")}


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """First 16 hex digits of SHA-256 of the raw public key."""
    return digest_bytes(NO_DOMAIN, _raw_public(key))[:16]


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read the signing key: {exc}", field=str(path)) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInput("the signing key is not an Ed25519 key", field=str(path))
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read the public key: {exc}", field=str(path)) from None
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInput("the public key is not an Ed25519 key", field=str(path))
    return key


def _signed_message(digests: dict[str, str]) -> bytes:
    return message(_SIGNING_DOMAIN, {"bundle_format": BUNDLE_FORMAT, "field_digests": digests})


def sign_bundle(content: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """The complete bundle for ``content`` (which must be JSON: no NaN, no non-string keys)."""
    digests = field_digests(content)
    public = key.public_key()
    return {
        "bundle_format": BUNDLE_FORMAT,
        "content": content,
        "field_digests": digests,
        "signature": {
            "algorithm": "Ed25519",
            "key_id": key_id(public),
            "public_key": base64.b64encode(_raw_public(public)).decode(),
            "value": base64.b64encode(key.sign(_signed_message(digests))).decode(),
        },
    }


@dataclass(frozen=True, slots=True)
class BundleCheck:
    """``ok`` when the signature holds under the trusted key and every field matches its digest."""

    ok: bool
    key_id: str | None
    trusted_key: bool
    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def verify_bundle(bundle: Any, *, public_key: Ed25519PublicKey | None = None) -> BundleCheck:
    """Check a parsed bundle. Without ``public_key`` the embedded key is used: that proves integrity,
    not origin, and ``trusted_key`` is False — auditors should pass the workspace's exported key."""
    problems: list[str] = []
    if not isinstance(bundle, dict) or bundle.get("bundle_format") != BUNDLE_FORMAT:
        return BundleCheck(False, None, False, problems=[f"not a {BUNDLE_FORMAT} bundle (bundle_format)"])
    content, digests, sig = bundle.get("content"), bundle.get("field_digests"), bundle.get("signature")
    if not isinstance(content, dict) or not isinstance(digests, dict) or not isinstance(sig, dict):
        return BundleCheck(False, None, False, problems=["missing content, field_digests or signature"])
    try:
        embedded = Ed25519PublicKey.from_public_bytes(base64.b64decode(sig.get("public_key", ""), validate=True))
        signature = base64.b64decode(sig.get("value", ""), validate=True)
    except (ValueError, TypeError):
        return BundleCheck(False, None, False, problems=["signature.public_key or signature.value is not valid"])
    key = public_key or embedded
    kid = key_id(key)
    if public_key is not None and _raw_public(public_key) != _raw_public(embedded):
        problems.append(f"signature.public_key is not the trusted key {kid} (the bundle names {key_id(embedded)})")
    try:
        key.verify(signature, _signed_message(digests))
    except InvalidSignature:
        problems.append("signature.value does not match field_digests under the key (the manifest was altered)")
    actual = field_digests(content)
    changed = sorted(p for p in actual.keys() & digests.keys() if actual[p] != digests[p])
    added = sorted(actual.keys() - digests.keys())
    removed = sorted(digests.keys() - actual.keys())
    for p in changed:
        problems.append(f"content.{p} was changed")
    for p in added:
        problems.append(f"content.{p} was added")
    for p in removed:
        problems.append(f"content.{p} was removed")
    return BundleCheck(
        ok=not problems,
        key_id=kid,
        trusted_key=public_key is not None,
        changed=changed,
        added=added,
        removed=removed,
        problems=problems,
    )
