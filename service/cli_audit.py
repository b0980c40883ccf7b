"""``labelgate audit verify|log|export``."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from lineage.audit.chain import append_event, export_events
from lineage.audit.checkpoints import parse_checkpoint
from lineage.audit.deep import DeepReport, deep_verify, legacy_seal
from lineage.audit.query import AuditFilter, list_events
from lineage.audit.verify import AuditFileError
from lineage.audit.whole import ChainReport, parse_anchor, verify_chain
from lineage.errors import InvalidInput
from lineage.release.bundle import load_public_key
from service.checkpointing import checkpoint_now, workspace_public_key
from service.cli_common import EXIT_BLOCKED, err, exits_cleanly, local_actor, out, store
from service.settings import get_settings

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


def _report(report: ChainReport, source: str) -> None:
    result = report.result
    for problem in report.problems:
        err.print(f"PROBLEM: {problem}")
    if not result.ok:
        err.print(
            f"BROKEN at seq {result.broken_seq} ({result.kind}): {result.reason}; "
            f"{result.events} events before it verify",
        )
        raise typer.Exit(EXIT_BLOCKED)
    head = f"head seq {result.head.seq} hash {result.head.hash}" if result.head else "empty chain"
    out.print(f"OK: {result.events} events verified in {source}, every column included ({head})")
    latest = report.latest_witness
    if latest is None:
        out.print("no signed checkpoint found: the chain is proven only by itself")
    else:
        out.print(
            f"{len(report.witnesses)} signed checkpoint(s) agree with the chain; the newest covers seq "
            f"{latest.seq} ({latest.source})",
        )
    gap = report.unwitnessed
    if gap is not None:
        out.print(f"events {gap[0]}..{gap[1]} come after the newest checkpoint (proven by the hash chain alone)")
    if report.problems:
        raise typer.Exit(EXIT_BLOCKED)


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}", field=str(path))
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"not JSON: {exc}", field=str(path)) from None


@audit_app.command("verify")
@exits_cleanly
def verify(
    file: Annotated[
        Path | None, typer.Option("--file", help="an export to check offline, without the database")
    ] = None,
    expect_head: Annotated[
        list[str] | None,
        typer.Option(help="SEQ:HASH the chain must hold at SEQ (e.g. from an evidence bundle); repeatable"),
    ] = None,
    checkpoint: Annotated[
        list[Path] | None, typer.Option("--checkpoint", help="a signed checkpoint file to compare with; repeatable")
    ] = None,
    bundle: Annotated[
        list[Path] | None, typer.Option("--bundle", help="an evidence bundle whose signed audit head to compare with")
    ] = None,
    public_key: Annotated[
        Path | None, typer.Option("--public-key", help="PEM public key (default: the workspace's)")
    ] = None,
    deep: Annotated[
        bool,
        typer.Option("--deep", help="also check every append-only domain row against the digest its event recorded"),
    ] = False,
) -> None:
    """Re-hash the whole chain, check every readable column against its hashed event, and compare the
    chain with every signed checkpoint found (workspace git, release bundles, the files given).
    Exit 0 when intact, 1 naming the first broken seq and why, 2 on bad input."""
    settings = get_settings()
    key = load_public_key(public_key) if public_key else workspace_public_key(settings)
    anchors = [parse_anchor(a) for a in expect_head or []]
    checkpoints = [parse_checkpoint(_read_json(p), source=str(p)) for p in checkpoint or []]
    bundles = [(_read_json(p), str(p)) for p in bundle or []]
    repo = settings.repo_dir if (settings.repo_dir / ".git").exists() else None
    if file is not None:
        if not file.is_file():
            raise InvalidInput(f"no such file: {file}", field="--file")
        try:
            report = verify_chain(
                None,
                public_key=key,
                repo_dir=repo,
                export=file,
                checkpoints=checkpoints,
                bundles=bundles,
                anchors=anchors,
            )
        except AuditFileError as exc:
            raise InvalidInput(str(exc), field=str(file)) from None
        _report(report, str(file))
        return
    with store() as session:
        report = verify_chain(
            session,
            public_key=key,
            repo_dir=repo,
            checkpoints=checkpoints,
            bundles=bundles,
            anchors=anchors,
            workers=os.cpu_count() or 1,
        )
        rows = deep_verify(session, workers=os.cpu_count() or 1) if deep else None
    if rows is None:
        _report(report, "the database")
        return
    try:
        _report(report, "the database")
    except typer.Exit:
        _report_rows(rows)
        raise
    _report_rows(rows)
    if not rows.ok:
        raise typer.Exit(EXIT_BLOCKED)


def _report_rows(rows: DeepReport) -> None:
    checked = ", ".join(f"{n} {table}" for table, n in rows.rows.items())
    if rows.ok:
        out.print(f"OK: deep verify: every domain row matches its recorded digest ({checked})")
        return
    for problem in rows.problems:
        err.print(f"ROW {problem.line()}")
    for table, n in rows.more.items():
        err.print(f"ROW {table}: {n} more problem(s) not listed")
    err.print(f"BROKEN: deep verify found {len(rows.problems) + sum(rows.more.values())} row problem(s)")


@audit_app.command("seal-legacy")
@exits_cleanly
def seal_legacy() -> None:
    """Once, after upgrading a workspace made before row sealing: record the digests of the rows that no
    event records yet (one audited event), so that deep verify can prove them from now on."""
    with store() as session:
        seal = legacy_seal(session)
        if seal is None:
            out.print("every domain row is already recorded: nothing to seal")
            return
        actor = local_actor(session)
        event = append_event(
            session,
            actor=actor.username,
            request_id=actor.request_id,
            action="record.seal_legacy",
            object_type="workspace",
            object_id="record",
            payload=seal,
        )
    out.print(
        f"sealed {seal['annotations']['count']} annotation(s) and {len(seal['legacy_records'])} other row(s) "
        f"written before row sealing (event {event.seq})",
    )


@audit_app.command("checkpoint")
@exits_cleanly
def checkpoint_cmd() -> None:
    """Sign the chain's current head with the workspace key and commit it to the workspace's git now."""
    settings = get_settings()
    with store() as session:
        cp = checkpoint_now(settings, session)
    if cp is None:
        out.print("the audit chain is empty: nothing to checkpoint")
        return
    out.print(f"checkpoint: seq {cp.seq} hash {cp.hash} signed by key {cp.key_id}")


@audit_app.command("log")
@exits_cleanly
def log(
    actor: Annotated[str | None, typer.Option()] = None,
    action: Annotated[str | None, typer.Option(help="exact action or a prefix ending with '.'")] = None,
    object_type: Annotated[str | None, typer.Option("--object-type")] = None,
    object_id: Annotated[str | None, typer.Option("--object-id")] = None,
    since: Annotated[datetime | None, typer.Option(help="UTC, inclusive")] = None,
    until: Annotated[datetime | None, typer.Option(help="UTC, exclusive")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
) -> None:
    """List audit events, oldest first."""
    from datetime import UTC

    f = AuditFilter(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        since=since.replace(tzinfo=UTC) if since and since.tzinfo is None else since,
        until=until.replace(tzinfo=UTC) if until and until.tzinfo is None else until,
    )
    with store() as session:
        for e in list_events(session, f, limit=limit):
            out.print(
                f"{e.seq:>6}  {e.ts.isoformat(timespec='seconds')}  {e.actor:<16} {e.action:<28} "
                f"{e.object_type}:{e.object_id}",
            )


@audit_app.command("export")
@exits_cleanly
def export(
    output: Annotated[Path, typer.Option("--output", "-o", help="JSON Lines file to write")],
) -> None:
    """Write every event, with its hashed bytes, as JSON Lines for offline verification."""
    tmp = output.with_name(output.name + ".partial")
    with store() as session, tmp.open("w", encoding="utf-8") as fh:
        n = export_events(session, fh)
    tmp.replace(output)  # never leave a half-written export under the final name
    out.print(f"exported {n} events to {output}")
