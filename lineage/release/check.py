"""Re-verify a release against the live record, not only its bundle offline.

``verify-bundle`` proves a bundle is what the service signed. This proves the record still says what the
bundle says: the version's manifest re-derived from its live labels, its DVC content (the ``.dvc`` file
at the release's git revision, and every item's bytes re-hashed from DVC), its approvals, the evaluation
it rests on, the release row, and the audit head it recorded. Every difference is named by the bundle
field it contradicts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import text
from sqlmodel import Session, select

from lineage.datasets import dvcrepo
from lineage.datasets.catalog import version_ref
from lineage.errors import NotFound
from lineage.hashing import NO_DOMAIN, digest
from lineage.hashing import canonical_json as canonical
from lineage.labels.labelset import manifest_hash
from lineage.models import Dataset, DatasetVersion, GateEvaluation, Item, Release
from lineage.release.bundle import verify_bundle
from lineage.release.four_eyes import approvals_for, version_content_hash
from lineage.release.releases import approval_entry

__all__ = ["ReleaseCheck", "reverify_release"]


@dataclass
class ReleaseCheck:
    """``differences``: ``field: what the bundle says vs what the record says``; ``checked``: what was
    compared."""

    version: str
    release_id: int
    differences: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def compare(self, name: str, bundle_value: Any, record_value: Any) -> None:
        self.checked.append(name)
        if canonical(bundle_value) != canonical(record_value):
            self.differences.append(
                f"{name}: the bundle says {_short(bundle_value)}, the record {_short(record_value)}"
            )


def _short(value: Any) -> str:
    text_ = canonical(value).decode()
    return text_ if len(text_) <= 80 else text_[:77] + "..."


def _dvc_out_hash(repo_dir: Path, version: DatasetVersion) -> str | None:
    if not version.git_revision or not version.data_path:
        return None
    raw = dvcrepo.git(repo_dir, "show", f"{version.git_revision}:{version.data_path}.dvc")
    outs = (yaml.safe_load(raw) or {}).get("outs") or [{}]
    value = outs[0].get("md5")
    return str(value) if value is not None else None


def _rehash_items(session: Session, repo_dir: Path, version: DatasetVersion) -> list[str]:
    """Items whose bytes in DVC (at the version's revision) differ from the recorded SHA-256, or are gone."""
    import dvc.api

    if not version.git_revision or not version.data_path:
        return ["the version has no committed content"]
    dvcrepo.prepare_dvc_env(repo_dir)
    fs = dvc.api.DVCFileSystem(str(repo_dir), rev=version.git_revision)
    problems = []
    for item in session.exec(select(Item).where(Item.dataset_version_id == version.id).order_by(Item.uri)):
        try:
            data = dvcrepo.cached_bytes(repo_dir, version.data_path, item.uri, rev=version.git_revision)
            if data is None:  # not in the local cache: DVC fetches it from the remote
                with fs.open(f"{version.data_path}/{item.uri}", "rb") as fh:
                    data = fh.read()
            digest = hashlib.sha256(data).hexdigest()
        except Exception as exc:
            problems.append(f"item {item.uri}: cannot be read from DVC ({type(exc).__name__})")
            continue
        if digest != item.sha256:
            problems.append(
                f"item {item.uri}: its bytes in DVC hash to {digest[:16]}…, the record says {item.sha256[:16]}…"
            )
    return problems


def reverify_release(
    session: Session, *, version: DatasetVersion, repo_dir: Path, public_key: Ed25519PublicKey, content: bool = True
) -> ReleaseCheck:
    """Compare the release of ``version`` with the live record (see the module doc). ``content``: also
    re-hash every item's bytes from DVC (the slow part)."""
    dataset = session.get(Dataset, version.dataset_id)
    record = session.exec(select(Release).where(Release.dataset_version_id == version.id)).first()
    if dataset is None or record is None:
        raise NotFound("this version has no release", field="version")
    check = ReleaseCheck(version=version_ref(dataset, version), release_id=record.id or 0)
    bundle = record.bundle or {}
    sig = verify_bundle(bundle, public_key=public_key)
    check.checked.append("signature")
    if not sig.ok:
        changed = ", ".join(sig.changed + sig.added + sig.removed + sig.problems) or "signature"
        check.differences.append(f"signature: the stored bundle does not verify under the workspace key ({changed})")
    body = bundle.get("content") or {}
    ds = body.get("dataset") or {}
    check.compare("dataset.version_id", ds.get("version_id"), version.id)
    check.compare("dataset.git_revision", ds.get("git_revision"), version.git_revision)
    check.compare("dataset.dvc_hash", ds.get("dvc_hash"), version.dvc_hash)
    check.compare("dataset.item_count", ds.get("item_count"), version.item_count)
    live_manifest = manifest_hash(session, version_id=version.id or 0)
    check.compare("dataset.manifest_hash", ds.get("manifest_hash"), live_manifest)
    check.compare(
        "dataset.content_hash", ds.get("content_hash"), version_content_hash(session, version, manifest=live_manifest)
    )
    check.compare("state", "released", str(version.state))
    check.compare(
        "dataset.dvc_hash (the .dvc file at the release revision)", ds.get("dvc_hash"), _dvc_out_hash(repo_dir, version)
    )
    if content:
        check.checked.append("item bytes")
        check.differences.extend(_rehash_items(session, repo_dir, version))
    evaluation = session.get(GateEvaluation, record.evaluation_id)
    ev = body.get("evaluation") or {}
    check.compare("evaluation.id", ev.get("id"), record.evaluation_id)
    if evaluation is None:
        check.differences.append(f"evaluation: #{record.evaluation_id}, which the release rests on, is gone")
    else:
        check.compare("evaluation.passed", ev.get("passed"), evaluation.passed)
        check.compare("evaluation.gates", ev.get("gates"), evaluation.gates)
        check.compare("evaluation.metrics", ev.get("metrics"), evaluation.metrics)
        check.compare("evaluation.data_hashes", ev.get("data_hashes"), evaluation.data_hashes)
        if "golden_set" in ev:
            check.compare("evaluation.golden_set", ev.get("golden_set"), (evaluation.evidence or {}).get("golden_set"))
    live = [approval_entry(a) for a in approvals_for(session, version)]
    check.compare("approvals", body.get("approvals"), live)
    check.compare("bundle_sha256", record.bundle_sha256, digest(NO_DOMAIN, bundle))
    head = body.get("audit_head") or {}
    if head:
        stored = session.execute(
            text("SELECT hash FROM audit_events WHERE seq = :s"), {"s": int(head.get("seq") or 0)}
        ).scalar()
        check.compare("audit_head.hash (the chain at that seq)", head.get("hash"), stored)
    return check
