"""The demo's last chapter: what the record proves. A signed checkpoint, the chain verified with every
column against every checkpoint, a deep verify of every domain row, the release re-verified against the
live record and DVC, the export verified offline; then a database writer's edit, made on a copy, named."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlmodel import Session, select

from lineage.audit.chain import export_events
from lineage.audit.deep import deep_verify
from lineage.audit.verify import verify_file
from lineage.audit.whole import verify_chain
from lineage.db import make_engine, session_scope
from lineage.models import DatasetVersion
from lineage.release.check import reverify_release
from service.checkpointing import checkpoint_now, require_public_key

if TYPE_CHECKING:
    from service.demo import DemoState

__all__ = ["integrity_chapter"]

Say = Callable[[str], None]


def integrity_chapter(state: DemoState, say: Say) -> None:
    """Run the chapter, printing through ``say`` (the demo's line printer)."""
    settings = state.settings
    key = require_public_key(settings)
    with session_scope(state.engine) as s:
        cp = checkpoint_now(settings, s)
    if cp is not None:
        say(f"signed checkpoint: seq {cp.seq}, hash {cp.hash[:16]}…, key {cp.key_id}; committed to the workspace git")
    export = settings.workspace / "audit-export.jsonl"
    with session_scope(state.engine) as s:
        report = verify_chain(s, public_key=key, repo_dir=settings.repo_dir)
        rows = deep_verify(s)
        released = _released_version(s)
        check = reverify_release(s, version=released, repo_dir=settings.repo_dir, public_key=key) if released else None
        with export.open("w", encoding="utf-8") as fh:
            n = export_events(s, fh)
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
        _tamper_a_copy(state, released.id or 0, say)


def _released_version(session: Session) -> DatasetVersion | None:
    return session.exec(select(DatasetVersion).where(DatasetVersion.state == "released")).first()


def _tamper_a_copy(state: DemoState, version_id: int, say: Say) -> None:
    """Edit one released label's class in a copy of the database, as a writer with the triggers dropped
    would, and show what deep verify and the release re-verification name."""
    settings = state.settings
    original = settings.database_url.removeprefix("sqlite:///")
    copy = settings.workspace / "tampered-copy.db"
    shutil.copy(original, copy)
    engine = make_engine(f"sqlite:///{copy}")
    try:
        with engine.begin() as conn:
            for (name,) in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).all():
                conn.execute(text(f"DROP TRIGGER {name}"))
            target = conn.execute(
                text("SELECT id, category FROM annotations WHERE dataset_version_id = :v ORDER BY id LIMIT 1"),
                {"v": version_id},
            ).one()
            other = "person" if target[1] != "person" else "car"
            conn.execute(text("UPDATE annotations SET category = :c WHERE id = :i"), {"c": other, "i": target[0]})
        say(
            f"on a copy ({copy.name}), a database writer drops the triggers and changes released label "
            f"#{target[0]} from {target[1]!r} to {other!r}:"
        )
        with Session(engine) as s:
            rows = deep_verify(s)
            version = s.get(DatasetVersion, version_id)
            assert version is not None
            check = reverify_release(
                s, version=version, repo_dir=settings.repo_dir, public_key=require_public_key(settings), content=False
            )
        for p in rows.problems[:2]:
            say(f"  deep verify names it: {p.line()}")
        for line in check.differences[:2]:
            say(f"  verify-release names it: {line}")
    finally:
        engine.dispose()
        copy.unlink(missing_ok=True)
