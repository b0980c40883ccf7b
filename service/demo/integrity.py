"""The demo's last chapter: what the record proves. A signed checkpoint, the chain verified with every
column against every checkpoint, a deep verify of every domain row, the release re-verified against the
live record and DVC, the export verified offline (the verbs, as the compliance officer); then a database
writer's edit, made on a copy with the triggers dropped (the attacker writes SQL, not verbs), named."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from lineage.audit.verify import verify_file
from service import actions
from service.checkpointing import checkpoint_now, require_public_key
from service.demo.tamper import tamper_a_copy

if TYPE_CHECKING:
    from service.demo.story import DemoState

__all__ = ["integrity_chapter"]

Say = Callable[[str], None]


def integrity_chapter(state: DemoState, say: Say) -> None:
    """Run the chapter, printing through ``say`` (the demo's line printer)."""
    settings = state.settings
    key = require_public_key(settings)
    with state.as_("admin") as ctx:
        cp = checkpoint_now(settings, ctx.session)
    if cp is not None:
        say(f"signed checkpoint: seq {cp.seq}, hash {cp.hash[:16]}…, key {cp.key_id}; committed to the workspace git")
    export = settings.workspace / "audit-export.jsonl"
    with state.as_("cora") as ctx:
        audit = actions.verify_audit(ctx, deep=True, public_key=key)
        report, rows = audit.chain, audit.rows
        assert rows is not None
        released = state.scenario.passing if state.scenario is not None and state.bundle_path else None
        check = (
            actions.verify_release(ctx, state.project_id, "street", released.version) if released is not None else None
        )
    with state.as_("admin") as ctx, export.open("w", encoding="utf-8") as fh:
        n = actions.export_audit(ctx, fh)
    result = report.result
    newest = report.latest_witness.seq if report.latest_witness else "-"
    say(
        f"chain: {'OK' if report.ok else 'BROKEN'}, {result.events} events, every column checked against its "
        f"hashed bytes; {len(report.witnesses)} signed checkpoint(s) agree (newest at seq {newest})"
    )
    checked = ", ".join(f"{k} {v}" for k, v in rows.rows.items() if v)
    say(f"deep verify: {'OK' if rows.ok else 'BROKEN'}, every domain row matches its recorded digest ({checked})")
    if check is not None:
        say(
            f"release of {check.version} re-derived from the live record and DVC: "
            f"{'agrees' if check.ok else 'DIFFERS'} ({len(check.checked)} checks)"
        )
    offline = verify_file(export)
    say(f"exported {n} events to {export}; offline verification: {'OK' if offline.ok else 'BROKEN'}")
    if released is not None and settings.database_url.startswith("sqlite:///"):
        tamper_a_copy(state, released.id or 0, released.version, say)
