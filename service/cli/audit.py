"""``labelgate audit verify|log|export|checkpoint|seal-legacy``.

``verify`` and ``log`` run locally on the workspace's database or remotely against a labelgate server
(``--server``), rendered from the API's response models in both modes: the same output, the same exit
codes. ``verify --file`` checks an export offline in either mode. ``export``, ``checkpoint`` and
``seal-legacy`` need the workspace's own machine (its hashed bytes, its signing key, its operator).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lineage.errors import InvalidInput
from service.cli.common import EXIT_BLOCKED, err, exits_cleanly, out
from service.cli.door import Remote, local, remote, require_local
from service.cli.lazy import lazy_module
from service.cli.table import print_table

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from lineage.audit import checkpoints as checkpoint_io
    from lineage.audit import query as audit_query
    from lineage.audit import verify as audit_verify
    from lineage.audit import whole
    from lineage.release import bundle as bundle_io
    from service import actions, checkpointing
    from service import settings as app_settings
    from service.actions import audit as audit_actions
    from service.api.schemas import common as pub
else:
    app_settings = lazy_module("service.settings")
    checkpointing = lazy_module("service.checkpointing")
    pub = lazy_module("service.api.schemas.common")
    audit_actions = lazy_module("service.actions.audit")
    actions = lazy_module("service.actions")
    bundle_io = lazy_module("lineage.release.bundle")
    whole = lazy_module("lineage.audit.whole")
    audit_verify = lazy_module("lineage.audit.verify")
    audit_query = lazy_module("lineage.audit.query")
    checkpoint_io = lazy_module("lineage.audit.checkpoints")


__all__ = ["audit_app"]

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)

#: The largest page the API serves; a longer ``audit log`` is read page by page.
_API_PAGE = 500


def _report_chain(v: pub.AuditVerifyPublic, source: str) -> bool:
    """Print the chain's verdict; ``False`` when it is broken or a witness could not be used."""
    for problem in v.problems:
        err.print(f"PROBLEM: {problem}")
    if v.kind is not None:
        err.print(f"BROKEN at seq {v.broken_seq} ({v.kind}): {v.reason}; {v.events} events before it verify")
        return False
    head = f"head seq {v.head_seq} hash {v.head_hash}" if v.head_seq is not None else "empty chain"
    out.print(f"OK: {v.events} events verified in {source}, every column included ({head})")
    if v.latest_checkpoint_seq is None:
        out.print("no signed checkpoint found: the chain is proven only by itself")
    else:
        out.print(
            f"{v.checkpoints} signed checkpoint(s) agree with the chain; the newest covers seq "
            f"{v.latest_checkpoint_seq} ({v.latest_checkpoint_source})",
        )
    first = (v.latest_checkpoint_seq or 0) + 1
    if v.head_seq is not None and v.head_seq >= first:
        out.print(f"events {first}..{v.head_seq} come after the newest checkpoint (proven by the hash chain alone)")
    return not v.problems


def _report_rows(v: pub.AuditVerifyPublic) -> bool:
    """Print deep verify's verdict; ``False`` when a row contradicts its recorded digest."""
    unlisted = v.row_problems_unlisted
    if not v.row_problems and not unlisted:
        checked = ", ".join(f"{n} {table}" for table, n in v.rows_checked.items())
        out.print(f"OK: deep verify: every domain row matches its recorded digest ({checked})")
        return True
    for line in v.row_problems:
        err.print(f"ROW {line}")
    for table, n in unlisted.items():
        err.print(f"ROW {table}: {n} more problem(s) not listed")
    err.print(f"BROKEN: deep verify found {len(v.row_problems) + sum(unlisted.values())} row problem(s)")
    return False


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
    key = bundle_io.load_public_key(public_key) if public_key else None
    anchors = [whole.parse_anchor(a) for a in expect_head or []]
    checkpoints = [checkpoint_io.parse_checkpoint(_read_json(p), source=str(p)) for p in checkpoint or []]
    bundles = [(_read_json(p), str(p)) for p in bundle or []]
    if file is not None:
        ok = _verify_file(file, key=key, checkpoints=checkpoints, bundles=bundles, anchors=anchors)
        if not ok:
            raise typer.Exit(EXIT_BLOCKED)
        return
    with remote() as api:
        if api is not None:
            if key or anchors or checkpoints or bundles:
                raise InvalidInput(
                    "the server compares its chain with the checkpoints it holds; to compare with your own "
                    "(--checkpoint, --bundle, --expect-head, --public-key), verify an export offline with --file",
                    field="--server",
                )
            report = api.model(pub.AuditVerifyPublic, "GET", "/audit/verify", params={"deep": deep})
        else:
            with local() as ctx:
                check = actions.verify_audit(
                    ctx,
                    deep=deep,
                    public_key=key,
                    checkpoints=checkpoints,
                    bundles=bundles,
                    anchors=anchors,
                    workers=os.cpu_count() or 1,
                )
                report = pub.AuditVerifyPublic.model_validate(check)
    ok = _report_chain(report, "the database")
    if deep:
        ok = _report_rows(report) and ok
    if not ok:
        raise typer.Exit(EXIT_BLOCKED)


def _verify_file(
    file: Path,
    *,
    key: Ed25519PublicKey | None,
    checkpoints: list[checkpoint_io.Checkpoint],
    bundles: list[tuple[Any, str]],
    anchors: list[whole.Witness],
) -> bool:
    """An export checked offline (no database, no server), against the workspace's key unless one is given."""
    if not file.is_file():
        raise InvalidInput(f"no such file: {file}", field="--file")
    settings = app_settings.get_settings()
    repo = settings.repo_dir if (settings.repo_dir / ".git").exists() else None
    try:
        chain = whole.verify_chain(
            None,
            public_key=key if key is not None else checkpointing.workspace_public_key(settings),
            repo_dir=repo,
            export=file,
            checkpoints=checkpoints,
            bundles=bundles,
            anchors=anchors,
        )
    except audit_verify.AuditFileError as exc:
        raise InvalidInput(str(exc), field=str(file)) from None
    return _report_chain(pub.AuditVerifyPublic.model_validate(audit_actions.AuditCheck(chain=chain)), str(file))


@audit_app.command("seal-legacy")
@exits_cleanly
def seal_legacy() -> None:
    """Once, after upgrading a workspace made before row sealing: record the digests of the rows that no
    event records yet (one audited event), so that deep verify can prove them from now on."""
    require_local("audit seal-legacy", "the workspace's operator vouches for rows nobody recorded")
    with local() as ctx:
        sealed = actions.seal_legacy_as_operator(ctx)
    if sealed is None:
        out.print("every domain row is already recorded: nothing to seal")
        return
    seal, event = sealed
    out.print(
        f"sealed {seal['annotations']['count']} annotation(s) and {len(seal['legacy_records'])} other row(s) "
        f"written before row sealing (event {event.seq})",
    )


@audit_app.command("checkpoint")
@exits_cleanly
def checkpoint_cmd() -> None:
    """Sign the chain's current head with the workspace key and commit it to the workspace's git now."""
    require_local("audit checkpoint", "it signs with the workspace's key and commits to the workspace's git")
    with local() as ctx:
        cp = checkpointing.checkpoint_now(ctx.settings, ctx.session)
    if cp is None:
        out.print("the audit chain is empty: nothing to checkpoint")
        return
    out.print(f"checkpoint: seq {cp.seq} hash {cp.hash} signed by key {cp.key_id}")


def _remote_events(
    api: Remote, f: audit_query.AuditFilter, project: str | None, limit: int
) -> list[pub.AuditEventPublic]:
    """Up to ``limit`` events from the server, read a page (at most 500) at a time."""
    path = f"/projects/{api.project_id(project)}/audit/events" if project else "/audit/events"
    query = {
        "actor": f.actor,
        "action": f.action,
        "object_type": f.object_type,
        "object_id": f.object_id,
        "object": f.object,
        "q": f.q,
        "since": f.since.isoformat() if f.since else None,
        "until": f.until.isoformat() if f.until else None,
    }
    found: list[pub.AuditEventPublic] = []
    cursor: str | None = None
    while len(found) < limit:
        params = {k: v for k, v in query.items() if v is not None}
        if cursor is not None:
            params["cursor"] = cursor
        # Keyset pages (the cursor the server hands back): no count of the filtered events on every page.
        page = api.get(path, params={**params, "limit": min(_API_PAGE, limit - len(found)), "with_total": "false"})
        found.extend(pub.AuditEventPublic.model_validate(e) for e in page["items"])
        cursor = page.get("next_cursor")
        if cursor is None:
            break
    return found


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value and value.tzinfo is None else value


@audit_app.command("log")
@exits_cleanly
def log(
    actor: Annotated[str | None, typer.Option()] = None,
    action: Annotated[
        str | None,
        typer.Option(
            help="part of the action (`gate` finds gate.evaluate), or a comma-separated list of exact actions"
        ),
    ] = None,
    object_type: Annotated[str | None, typer.Option("--object-type")] = None,
    object_id: Annotated[str | None, typer.Option("--object-id")] = None,
    obj: Annotated[
        str | None, typer.Option("--object", help="an object by name (`street@v2`), type, id or type:id")
    ] = None,
    q: Annotated[str | None, typer.Option("--q", help="free text: action, actor, object name or payload")] = None,
    since: Annotated[datetime | None, typer.Option(help="UTC, inclusive")] = None,
    until: Annotated[datetime | None, typer.Option(help="UTC, exclusive")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="only this project's events (default: the workspace's)")
    ] = None,
) -> None:
    """List audit events, oldest first: the whole workspace's (admins), or one project's (``--project``)."""
    f = audit_query.AuditFilter(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        object=obj,
        q=q,
        since=_utc(since),
        until=_utc(until),
    )
    with remote() as api:
        if api is not None:
            events = _remote_events(api, f, project, limit)
        else:
            with local() as ctx:
                pid = actions.find_project(ctx, project) if project else None
                page = actions.audit_events(ctx, f, project_id=pid, limit=limit)
                events = [pub.AuditEventPublic.model_validate(e) for e in page["items"]]
    print_table(
        ("SEQ", "TIME (UTC)", "ACTOR", "ACTION", "OBJECT"),
        [
            (
                e.seq,
                e.ts.isoformat(timespec="seconds"),
                e.actor,
                e.action,
                e.object_name or f"{e.object_type}:{e.object_id}",
            )
            for e in events
        ],
        empty="no audit events",
    )


@audit_app.command("export")
@exits_cleanly
def export(
    output: Annotated[Path, typer.Option("--output", "-o", help="JSON Lines file to write")],
) -> None:
    """Write every event, with its hashed bytes, as JSON Lines for offline verification."""
    require_local("audit export", "the API serves events, not the hashed bytes an offline verification needs")
    tmp = output.with_name(output.name + ".partial")
    with local() as ctx, tmp.open("w", encoding="utf-8") as fh:
        n = actions.export_audit(ctx, fh)
    tmp.replace(output)  # never leave a half-written export under the final name
    out.print(f"exported {n} events to {output}")
