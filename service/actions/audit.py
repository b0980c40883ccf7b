"""Verbs of the audit record: verify the chain (and, deep, every append-only row against the digest its event
recorded), list and export its events, re-verify a release against the live record, and seal the rows of a
workspace made before row sealing (the operator alone)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import IO, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlmodel import Session

from lineage.audit.chain import append_event, export_events
from lineage.audit.checkpoints import Checkpoint
from lineage.audit.deep import DeepReport, deep_verify, legacy_seal
from lineage.audit.query import AuditFilter, Order, count_events, decode_cursor, page_events
from lineage.audit.whole import ChainReport, Witness, verify_chain
from lineage.errors import InvalidInput, PermissionDenied
from lineage.models import AuditEvent
from lineage.naming import display_names, project_names
from lineage.release.check import ReleaseCheck, reverify_release
from service.actions.context import Context, authorize
from service.actions.versions import find_version
from service.checkpointing import require_public_key, workspace_public_key

__all__ = [
    "AuditCheck",
    "audit_events",
    "export_audit",
    "named_events",
    "seal_legacy_as_operator",
    "verify_audit",
    "verify_release",
]


@dataclass(frozen=True, slots=True)
class AuditCheck:
    """The record verified: the chain against every witness found and, with ``deep``, every append-only
    domain row against its recorded digest. Read as the API's ``AuditVerifyPublic`` (same attribute names)."""

    chain: ChainReport
    rows: DeepReport | None = None

    @property
    def ok(self) -> bool:
        return self.chain.ok and (self.rows is None or self.rows.ok)

    @property
    def events(self) -> int:
        return self.chain.result.events

    @property
    def head_seq(self) -> int | None:
        head = self.chain.result.head
        return head.seq if head else None

    @property
    def head_hash(self) -> str | None:
        head = self.chain.result.head
        return head.hash if head else None

    @property
    def broken_seq(self) -> int | None:
        return self.chain.result.broken_seq

    @property
    def kind(self) -> str | None:
        return self.chain.result.kind

    @property
    def reason(self) -> str:
        return self.chain.result.reason or "; ".join(self.chain.problems)

    @property
    def checkpoints(self) -> int:
        return len(self.chain.witnesses)

    @property
    def latest_checkpoint_seq(self) -> int | None:
        latest = self.chain.latest_witness
        return latest.seq if latest else None

    @property
    def latest_checkpoint_source(self) -> str | None:
        latest = self.chain.latest_witness
        return latest.source if latest else None

    @property
    def problems(self) -> list[str]:
        return self.chain.problems

    @property
    def deep(self) -> bool:
        return self.rows is not None

    @property
    def rows_checked(self) -> dict[str, int]:
        return dict(self.rows.rows) if self.rows else {}

    @property
    def row_problems(self) -> list[str]:
        return [p.line() for p in self.rows.problems] if self.rows else []

    @property
    def row_problems_unlisted(self) -> dict[str, int]:
        return dict(self.rows.more) if self.rows else {}


def verify_audit(
    ctx: Context,
    *,
    deep: bool = False,
    public_key: Ed25519PublicKey | None = None,
    checkpoints: Sequence[Checkpoint] = (),
    bundles: Sequence[tuple[Any, str]] = (),
    anchors: Sequence[Witness] = (),
    workers: int = 1,
) -> AuditCheck:
    """Re-hash the whole chain (every readable column included) and compare it with every signed checkpoint
    found (the workspace's git, release bundles) and those given; ``deep`` also checks every append-only
    domain row. ``public_key`` (the workspace's): the key checkpoints and bundles must be signed with;
    ``workers`` (1): processes that share the hashing."""
    authorize(ctx, "verify_audit_chain")
    settings = ctx.settings
    repo = settings.repo_dir if (settings.repo_dir / ".git").exists() else None
    chain = verify_chain(
        ctx.session,
        public_key=public_key if public_key is not None else workspace_public_key(settings),
        repo_dir=repo,
        checkpoints=list(checkpoints),
        bundles=list(bundles),
        anchors=list(anchors),
        workers=workers,
    )
    return AuditCheck(chain=chain, rows=deep_verify(ctx.session, workers=workers) if deep else None)


def audit_events(
    ctx: Context,
    f: AuditFilter,
    *,
    project_id: int | None = None,
    offset: int = 0,
    limit: int = 100,
    order: Order = "asc",
    after_seq: int | None = None,
    before_seq: int | None = None,
    cursor: str | None = None,
    with_total: bool | None = None,
) -> dict[str, Any]:
    """A page of the events ``f`` selects: the whole workspace's (admins), or with ``project_id`` that project's.

    ``{items, total, offset, limit, order, next_cursor, prev_cursor}``; each item is the event with the display
    names of its object and project (``object_name``, ``project_name``; see ``lineage.naming``). ``order``:
    ``asc`` (oldest first, the default) or ``desc``. Keyset paging: ``cursor`` (a page's ``next_cursor`` or
    ``prev_cursor``) or ``after_seq``/``before_seq``; ``offset`` still skips rows. ``total`` is counted when
    ``with_total`` is true, or, left ``None``, when the request pages by offset (old clients read it); keyset
    pages leave it ``None`` unless asked: a filtered count reads every matching row."""
    if project_id is None:
        authorize(ctx, "list_audit_events")
    else:
        authorize(ctx, "list_project_audit_events", project_id=project_id)
        f = replace(f, project_id=project_id)
    if cursor:
        try:
            side, seq = decode_cursor(cursor)
        except ValueError as exc:
            raise InvalidInput(str(exc), field="query.cursor") from None
        if side == "after":
            after_seq = seq if after_seq is None else max(after_seq, seq)
        else:
            before_seq = seq if before_seq is None else min(before_seq, seq)
    session = ctx.session
    page = page_events(session, f, order=order, after_seq=after_seq, before_seq=before_seq, offset=offset, limit=limit)
    keyset = after_seq is not None or before_seq is not None
    count = with_total if with_total is not None else not keyset
    return {
        "items": named_events(session, page.events),
        "total": count_events(session, f) if count else None,
        "offset": offset,
        "limit": limit,
        "order": order,
        "next_cursor": page.next_cursor,
        "prev_cursor": page.prev_cursor,
    }


def named_events(session: Session, events: Sequence[AuditEvent]) -> list[dict[str, Any]]:
    """Events as the API shows them: their columns (not the hashed bytes) and the display names of their
    object and project, all read in a few queries for the whole list."""
    names = display_names(session, [(e.object_type, e.object_id) for e in events])
    projects = project_names(session, {e.project_id for e in events})
    return [
        {
            **e.model_dump(exclude={"canonical"}),
            "object_name": names[(e.object_type, e.object_id)],
            "project_name": projects.get(e.project_id) if e.project_id is not None else None,
        }
        for e in events
    ]


def export_audit(ctx: Context, out: IO[str]) -> int:
    """Write every event with its hashed bytes as JSON Lines (for offline verification); the count."""
    authorize(ctx, "list_audit_events")
    return export_events(ctx.session, out)


def verify_release(ctx: Context, project_id: int, dataset: str, version: str, *, content: bool = True) -> ReleaseCheck:
    """Re-derive the version's release from the live record and compare it with its signed bundle;
    ``content`` (True): also re-hash every item's bytes from DVC. ``NotFound`` when it has no release."""
    authorize(ctx, "verify_release", project_id=project_id)
    _, v = find_version(ctx, project_id, dataset, version)
    settings = ctx.settings
    return reverify_release(
        ctx.session, version=v, repo_dir=settings.repo_dir, public_key=require_public_key(settings), content=content
    )


def seal_legacy_as_operator(ctx: Context) -> tuple[dict[str, Any], AuditEvent] | None:
    """Record, in one audited event, the digests of the domain rows no event records yet (a workspace made
    before row sealing), so that deep verify proves them from now on; ``None`` when there are none. Only
    the workspace's operator may: it vouches for rows nobody recorded."""
    if not ctx.principal.is_operator:
        raise PermissionDenied("only the workspace's operator (the CLI on the workspace, without a token) may do this")
    seal = legacy_seal(ctx.session)
    if seal is None:
        return None
    event = append_event(
        ctx.session,
        actor=ctx.actor.username,
        request_id=ctx.actor.request_id,
        action="record.seal_legacy",
        object_type="workspace",
        object_id="record",
        payload=seal,
    )
    return seal, event
