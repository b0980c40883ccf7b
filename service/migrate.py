"""Run the Alembic migrations programmatically (``labelgate init``, ``labelgate migrate``, the demo, the
tests), and tell a database that a previous release made (an older revision) from a current one."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

import migrations

__all__ = [
    "alembic_config",
    "current_revision",
    "head_revision",
    "pending_revisions",
    "upgrade_database",
    "upgrade_in_place",
]


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrations.__file__).parent))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # configparser interpolation
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade_database(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


@cache
def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def current_revision(url: str) -> str | None:
    """The database's revision (``None``: no labelgate schema yet)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def pending_revisions(url: str) -> list[str]:
    """Revisions between the database's and the code's head, oldest first (empty: up to date)."""
    script = ScriptDirectory.from_config(alembic_config(url))
    current = current_revision(url)
    steps = [rev.revision for rev in script.iterate_revisions("head", current or "base")]
    return list(reversed(steps))


def upgrade_in_place(url: str) -> tuple[str, list[str]]:
    """``labelgate migrate``: upgrade the database an earlier release made to this release's schema;
    ``(revision before, revisions applied)`` (none applied: already current). ``InvalidInput`` when there
    is no labelgate database at ``url`` (its password never shown)."""
    from sqlalchemy.engine import make_url

    from lineage.errors import InvalidInput

    before, steps = current_revision(url), pending_revisions(url)
    if before is None:
        shown = make_url(url).render_as_string(hide_password=True)
        raise InvalidInput(f"no labelgate database at {shown}: run `labelgate init` first", field="database_url")
    if steps:
        upgrade_database(url)
    return before, steps
