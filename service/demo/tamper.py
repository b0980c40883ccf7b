"""The attacker of the demo's integrity chapter: a database writer who drops the triggers and edits a
released label, on a copy of the demo's SQLite file. It writes SQL, not verbs, on purpose; the workspace's
operator then verifies the copy through the verbs and the record names the edit."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlmodel import Session

from lineage.db import make_engine
from service import actions

if TYPE_CHECKING:
    from service.demo.story import DemoState

__all__ = ["tamper_a_copy"]


def tamper_a_copy(state: DemoState, version_id: int, released_version: str, say: Callable[[str], None]) -> None:
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
        with Session(engine) as s:  # the workspace's operator verifies the copy, through the same verbs
            ctx = actions.Context(session=s, principal=actions.operator(s, request="demo"), settings=settings)
            rows = actions.verify_audit(ctx, deep=True).rows
            assert rows is not None
            check = actions.verify_release(ctx, state.project_id, "street", released_version, content=False)
        for p in rows.problems[:2]:
            say(f"  deep verify names it: {p.line()}")
        for line in check.differences[:2]:
            say(f"  verify-release names it: {line}")
    finally:
        engine.dispose()
        copy.unlink(missing_ok=True)
