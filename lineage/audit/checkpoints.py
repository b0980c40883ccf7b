"""Signed checkpoints of the audit chain, witnessed outside the database (think RFC 6962 signed tree heads).

A checkpoint is the chain head ``(seq, hash)`` at a moment, signed with the workspace's Ed25519 key:

    signature = Ed25519( "labelgate.checkpoint.v1\\0" || canonical_json({seq, hash, ts, key_id}) )

The service takes one on every release (it travels inside the evidence bundle) and periodically (every
``every_events`` events or ``every_seconds`` seconds, whichever comes first), and commits each to the
workspace's git repository under ``audit/checkpoints/``, where a database writer cannot reach it.
``audit verify`` compares the chain with every checkpoint it finds (git history and working tree,
release bundles, files given on the command line): a chain whose hash at a checkpointed seq differs was
rewritten; a chain that ends before a checkpointed seq was truncated. Events after the newest checkpoint
are proven only by the hash chain (a database writer could append or delete there): that window is what
the interval bounds.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlmodel import Session, select

from lineage.audit.chain import ChainHead, chain_head
from lineage.datasets.dvcrepo import git, repo_lock
from lineage.errors import InvalidInput
from lineage.hashing import message
from lineage.models import AuditEvent
from lineage.models._base import utcnow
from lineage.release.bundle import key_id

__all__ = [
    "CHECKPOINT_DIR",
    "Checkpoint",
    "anchors_of",
    "checkpoint_due",
    "load_repo_checkpoints",
    "parse_checkpoint",
    "sign_checkpoint",
    "take_checkpoint",
    "verify_checkpoint",
    "write_checkpoint",
]

CHECKPOINT_DIR = "audit/checkpoints"
CHECKPOINT_FORMAT = "labelgate.checkpoint.v1"
_DOMAIN = b"labelgate.checkpoint.v1\x00"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed chain head. ``source`` says where it was found (not signed, not serialised)."""

    seq: int
    hash: str
    ts: str
    key_id: str
    signature: str  # base64 Ed25519
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("source")
        return {"format": CHECKPOINT_FORMAT, **d}


def _message(seq: int, head_hash: str, ts: str, kid: str) -> bytes:
    return message(_DOMAIN, {"seq": seq, "hash": head_hash, "ts": ts, "key_id": kid})


def sign_checkpoint(head: ChainHead, key: Ed25519PrivateKey, *, now: datetime | None = None) -> Checkpoint:
    ts = (now or utcnow()).isoformat(timespec="seconds")
    kid = key_id(key.public_key())
    sig = key.sign(_message(head.seq, head.hash, ts, kid))
    return Checkpoint(seq=head.seq, hash=head.hash, ts=ts, key_id=kid, signature=base64.b64encode(sig).decode())


def verify_checkpoint(cp: Checkpoint, public_key: Ed25519PublicKey) -> bool:
    """True when ``cp`` was signed by ``public_key`` exactly as it reads."""
    try:
        public_key.verify(base64.b64decode(cp.signature, validate=True), _message(cp.seq, cp.hash, cp.ts, cp.key_id))
    except (InvalidSignature, ValueError):
        return False
    return cp.key_id == key_id(public_key)


def parse_checkpoint(value: Any, *, source: str) -> Checkpoint:
    """A checkpoint from its JSON form; a malformed one is an input error naming ``source``."""
    if not isinstance(value, dict) or value.get("format") != CHECKPOINT_FORMAT:
        raise InvalidInput(f"not a labelgate checkpoint (expected format {CHECKPOINT_FORMAT!r})", field=source)
    try:
        seq = value["seq"]
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise ValueError("seq must be a positive integer")
        fields = {k: value[k] for k in ("hash", "ts", "key_id", "signature")}
        if not all(isinstance(v, str) for v in fields.values()):
            raise ValueError("hash, ts, key_id and signature must be strings")
        if len(fields["hash"]) != 64:
            raise ValueError("hash must be 64 hex digits")
    except (KeyError, ValueError) as exc:
        raise InvalidInput(f"malformed checkpoint: {exc}", field=source) from None
    return Checkpoint(seq=seq, source=source, **fields)


def _file_name(cp: Checkpoint) -> str:
    return f"{cp.seq:012d}-{cp.hash[:16]}.json"


def write_checkpoint(repo_dir: Path, cp: Checkpoint) -> Path:
    """Write ``cp`` under ``audit/checkpoints/`` and commit it (that file only) to the workspace's git."""
    folder = repo_dir / CHECKPOINT_DIR
    path = folder / _file_name(cp)
    with repo_lock(repo_dir):
        folder.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text(json.dumps(cp.to_dict(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
        rel = f"{CHECKPOINT_DIR}/{path.name}"
        git(repo_dir, "add", "--", rel)
        if git(repo_dir, "status", "--porcelain", "--", rel).strip():
            git(repo_dir, "commit", "-q", "-m", f"labelgate: audit checkpoint at seq {cp.seq}", "--", rel)
    return path


def load_repo_checkpoints(repo_dir: Path) -> tuple[list[Checkpoint], list[str]]:
    """Every checkpoint in the repository: files ever committed under ``audit/checkpoints`` (from git's
    history, so deleting a file does not hide it) and files in the working tree. Returns the checkpoints
    and the problems met (an unreadable file is a problem to report, not a reason to stop)."""
    found: dict[tuple[str, str], Any] = {}
    problems: list[str] = []
    folder = repo_dir / CHECKPOINT_DIR
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            found[(path.name, f"{CHECKPOINT_DIR}/{path.name}")] = path.read_bytes()
    if (repo_dir / ".git").exists():
        for name, blob in _history_blobs(repo_dir):
            found.setdefault((Path(name).name, f"git:{name}"), blob)
    out: list[Checkpoint] = []
    seen: set[tuple[int, str, str]] = set()
    for (_, source), raw in sorted(found.items()):
        try:
            cp = parse_checkpoint(json.loads(raw), source=source)
        except (ValueError, InvalidInput) as exc:
            problems.append(f"{source}: {exc}")
            continue
        if (cp.seq, cp.hash, cp.signature) not in seen:
            seen.add((cp.seq, cp.hash, cp.signature))
            out.append(cp)
    return out, problems


def _history_blobs(repo_dir: Path) -> list[tuple[str, bytes]]:
    """``(path, bytes)`` of every version of every file ever added under the checkpoint folder."""
    try:
        listing = git(repo_dir, "log", "--all", "--format=%H", "--name-only", "--diff-filter=AM", "--", CHECKPOINT_DIR)
    except Exception:  # a repository without commits yet
        return []
    objects: list[tuple[str, str]] = []
    commit = ""
    for line in listing.splitlines():
        line = line.strip()
        if len(line) == 40 and "/" not in line:
            commit = line
        elif line.endswith(".json") and commit:
            objects.append((line, f"{commit}:{line}"))
    if not objects:
        return []
    proc = subprocess.run(
        ["git", "-C", str(repo_dir), "cat-file", "--batch"],
        input="\n".join(o for _, o in objects).encode() + b"\n",
        capture_output=True,
        check=False,
    )
    data, out, pos = proc.stdout, [], 0
    for path, _ in objects:
        header_end = data.index(b"\n", pos)
        header = data[pos:header_end].split()
        pos = header_end + 1
        if len(header) < 3 or header[1] == b"missing":
            continue
        size = int(header[2])
        out.append((path, data[pos : pos + size]))
        pos += size + 1
    return out


class _Anchor(Protocol):
    @property
    def seq(self) -> int: ...
    @property
    def hash(self) -> str: ...
    @property
    def source(self) -> str: ...


def anchors_of(checkpoints: Iterable[_Anchor]) -> tuple[dict[int, str], list[str]]:
    """seq → hash over checkpoints (or any witnesses); two naming different hashes for one seq is a problem."""
    anchors: dict[int, str] = {}
    conflicts: list[str] = []
    for cp in checkpoints:
        if anchors.setdefault(cp.seq, cp.hash) != cp.hash:
            conflicts.append(f"two signed checkpoints disagree about seq {cp.seq} ({cp.source})")
    return anchors, conflicts


def _latest_file(repo_dir: Path) -> tuple[int, float] | None:
    folder = repo_dir / CHECKPOINT_DIR
    if not folder.is_dir():
        return None
    names = sorted(p.name for p in folder.glob("*.json"))
    if not names:
        return None
    last = folder / names[-1]
    try:
        return int(names[-1].split("-", 1)[0]), last.stat().st_mtime
    except (ValueError, OSError):
        return None


def checkpoint_due(session: Session, repo_dir: Path, *, every_events: int, every_seconds: float) -> ChainHead | None:
    """The head to checkpoint now, or ``None``: due when ``every_events`` events or ``every_seconds``
    seconds have passed since the newest checkpoint in the repository (and the chain moved)."""
    head = chain_head(session)
    if head is None:
        return None
    latest = _latest_file(repo_dir)
    if latest is None:
        return head
    last_seq, last_time = latest
    if head.seq <= last_seq:
        return None
    if head.seq - last_seq >= every_events or time.time() - last_time >= every_seconds:
        return head
    # Every release is witnessed at once, whatever the interval.
    released = session.exec(
        select(AuditEvent.seq).where(AuditEvent.seq > last_seq, AuditEvent.action == "release.create").limit(1)
    ).first()
    return head if released is not None else None


def take_checkpoint(session: Session, *, repo_dir: Path, key: Ed25519PrivateKey) -> Checkpoint | None:
    """Sign and commit the current (committed) head now; ``None`` on an empty chain."""
    head = chain_head(session)
    if head is None:
        return None
    cp = sign_checkpoint(head, key)
    write_checkpoint(repo_dir, cp)
    return cp
