"""``labelgate audit verify|log|export``."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from lineage.audit import export_events
from lineage.audit_query import AuditFilter, list_events
from lineage.audit_verify import AuditFileError, VerifyResult, verify_database, verify_file
from lineage.errors import InvalidInput
from service.cli_common import EXIT_BLOCKED, err, exits_cleanly, out, store

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


def _report(result: VerifyResult, source: str) -> None:
    if result.ok:
        head = f"head seq {result.head.seq} hash {result.head.hash}" if result.head else "empty chain"
        out.print(f"OK: {result.events} events verified in {source} ({head})", highlight=False)
        return
    err.print(
        f"BROKEN at seq {result.broken_seq} ({result.kind}): {result.reason}; {result.events} events before it verify",
        highlight=False,
    )
    raise typer.Exit(EXIT_BLOCKED)


@audit_app.command("verify")
@exits_cleanly
def verify(
    file: Annotated[
        Path | None, typer.Option("--file", help="an export to check offline, without the database")
    ] = None,
    expect_head: Annotated[
        str | None, typer.Option(help="SEQ:HASH the chain must contain (e.g. from an evidence bundle)")
    ] = None,
) -> None:
    """Re-hash the whole chain; exit 0 when intact, 1 with the first broken sequence number."""
    if file is not None:
        if not file.is_file():
            raise InvalidInput(f"no such file: {file}", field="--file")
        try:
            result = verify_file(file)
        except AuditFileError as exc:
            raise InvalidInput(str(exc), field=str(file)) from None
        source = str(file)
    else:
        with store() as session:
            result = verify_database(session, workers=os.cpu_count() or 1)
        source = "the database"
    if expect_head and result.ok:
        _check_anchor(result, expect_head)
    _report(result, source)


def _check_anchor(result: VerifyResult, expect_head: str) -> None:
    seq_s, _, want = expect_head.partition(":")
    if not seq_s.isdigit() or len(want) != 64:
        raise InvalidInput("expected SEQ:HASH with a 64-hex-digit hash", field="--expect-head")
    if result.head is None or result.head.seq < int(seq_s):
        err.print(f"BROKEN: the chain ends before the anchored event {seq_s}", highlight=False)
        raise typer.Exit(EXIT_BLOCKED)
    if int(seq_s) == result.head.seq and result.head.hash != want:
        err.print(f"BROKEN at seq {seq_s}: its hash differs from the anchor", highlight=False)
        raise typer.Exit(EXIT_BLOCKED)


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
                highlight=False,
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
    out.print(f"exported {n} events to {output}", highlight=False)
