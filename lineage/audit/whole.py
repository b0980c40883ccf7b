"""``audit verify`` as a whole: the hash chain with every column, against every signed checkpoint found.

Checkpoints come from the workspace's git repository (``lineage.audit.checkpoints``), from the signed evidence
bundle of every release (its ``audit_head`` is signed with the bundle), and from the caller (checkpoint
or bundle files, a ``SEQ:HASH`` anchor). A checkpoint whose signature does not hold under the workspace
key is itself reported (a forgery, or another workspace's key), never used.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlmodel import Session, col, select

from lineage.audit.checkpoints import Checkpoint, anchors_of, load_repo_checkpoints, verify_checkpoint
from lineage.audit.verify import VerifyResult, verify_database, verify_file
from lineage.errors import InvalidInput
from lineage.models import Release
from lineage.release.bundle import verify_bundle

__all__ = ["ChainReport", "Witness", "bundle_witness", "parse_anchor", "verify_chain"]


@dataclass(frozen=True, slots=True)
class Witness:
    """One anchor of the chain found outside it: ``seq`` must hold ``hash``."""

    seq: int
    hash: str
    source: str


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The chain's verdict, the witnesses it was compared with, and what could not be used."""

    result: VerifyResult
    witnesses: list[Witness] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.result.ok and not self.problems

    @property
    def latest_witness(self) -> Witness | None:
        return max(self.witnesses, key=lambda w: w.seq, default=None)

    @property
    def unwitnessed(self) -> tuple[int, int] | None:
        """Events after the newest witness (proven by the chain alone), as ``(first, last)``."""
        head = self.result.head
        latest = self.latest_witness
        start = (latest.seq if latest else 0) + 1
        if head is None or head.seq < start:
            return None
        return start, head.seq


def parse_anchor(text: str, *, source: str = "--expect-head") -> Witness:
    seq_s, _, want = text.partition(":")
    if not seq_s.isdigit() or int(seq_s) < 1 or len(want) != 64 or any(c not in "0123456789abcdef" for c in want):
        raise InvalidInput("expected SEQ:HASH with a positive seq and a 64-hex-digit hash", field=source)
    return Witness(seq=int(seq_s), hash=want, source=source)


def bundle_witness(bundle: Any, public_key: Ed25519PublicKey, *, source: str) -> tuple[Witness | None, str | None]:
    """The signed ``audit_head`` of an evidence bundle, or why it cannot serve as a witness."""
    check = verify_bundle(bundle, public_key=public_key)
    if not check.ok:
        return None, f"{source}: its signature does not hold under the workspace key; not used as a checkpoint"
    head = (bundle.get("content") or {}).get("audit_head") if isinstance(bundle, dict) else None
    if not isinstance(head, dict) or not isinstance(head.get("seq"), int) or not isinstance(head.get("hash"), str):
        return None, None
    return Witness(seq=head["seq"], hash=head["hash"], source=source), None


def _checkpoint_witnesses(
    checkpoints: list[Checkpoint], public_key: Ed25519PublicKey
) -> tuple[list[Witness], list[str]]:
    witnesses, problems = [], []
    for cp in checkpoints:
        if verify_checkpoint(cp, public_key):
            witnesses.append(Witness(seq=cp.seq, hash=cp.hash, source=cp.source))
        else:
            problems.append(f"{cp.source}: checkpoint of seq {cp.seq} has a signature that does not hold (forged?)")
    return witnesses, problems


def collect_witnesses(
    session: Session | None,
    *,
    repo_dir: Path | None,
    public_key: Ed25519PublicKey | None,
    checkpoints: list[Checkpoint] = (),  # type: ignore[assignment]
    bundles: list[tuple[Any, str]] = (),  # type: ignore[assignment]
    anchors: list[Witness] = (),  # type: ignore[assignment]
) -> tuple[list[Witness], list[str]]:
    """Every witness available, each checked; and the problems met on the way. Without a public key
    nothing signed can be trusted: only the caller's anchors are used."""
    if public_key is None:
        found_any = bool(checkpoints or bundles) or (repo_dir is not None and bool(load_repo_checkpoints(repo_dir)[0]))
        unchecked = ["no public key: signed checkpoints and bundles were not checked"] if found_any else []
        return list(anchors), unchecked
    found = list(checkpoints)
    problems: list[str] = []
    if repo_dir is not None:
        repo_found, repo_problems = load_repo_checkpoints(repo_dir)
        found.extend(repo_found)
        problems.extend(repo_problems)
    witnesses, bad = _checkpoint_witnesses(found, public_key)
    problems.extend(bad)
    all_bundles = list(bundles)
    if session is not None:
        for rid, bundle in session.exec(select(Release.id, Release.bundle).order_by(col(Release.id))):
            if bundle is not None:
                all_bundles.append((bundle, f"release #{rid} bundle"))
    for bundle, source in all_bundles:
        witness, problem = bundle_witness(bundle, public_key, source=source)
        if witness:
            witnesses.append(witness)
        if problem:
            problems.append(problem)
    witnesses.extend(anchors)
    return witnesses, problems


def verify_chain(
    session: Session | None,
    *,
    public_key: Ed25519PublicKey | None,
    repo_dir: Path | None = None,
    export: Path | None = None,
    checkpoints: list[Checkpoint] = (),  # type: ignore[assignment]
    bundles: list[tuple[Any, str]] = (),  # type: ignore[assignment]
    anchors: list[Witness] = (),  # type: ignore[assignment]
    workers: int = 1,
) -> ChainReport:
    """Verify the database's chain (or ``export``, offline) against every witness found.

    A witness that disagrees with the chain breaks it (``rewritten`` at its seq, or ``truncated`` when
    the chain ends before it); witnesses that cannot be trusted are listed in ``problems``."""
    witnesses, problems = collect_witnesses(
        session if export is None else None,
        repo_dir=repo_dir,
        public_key=public_key,
        checkpoints=list(checkpoints),
        bundles=list(bundles),
        anchors=list(anchors),
    )
    anchor_map, conflicts = anchors_of(witnesses)
    problems.extend(conflicts)
    if export is not None:
        result = verify_file(export, anchors=anchor_map)
    else:
        assert session is not None
        result = verify_database(session, workers=workers, anchors=anchor_map)
    if result.kind in ("rewritten", "truncated"):
        at = result.broken_seq if result.kind == "rewritten" else max(w.seq for w in witnesses)
        sources = ", ".join(sorted({w.source for w in witnesses if w.seq == at}))
        result = replace(result, reason=f"{result.reason} (witness: {sources})")
    return ChainReport(result=result, witnesses=witnesses, problems=problems)
