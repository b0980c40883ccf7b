"""Shared plumbing of the CLI commands: settings, a store session, the local actor, error exits."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from sqlmodel import Session, col, select

from lineage.context import Actor
from lineage.db import make_engine, session_scope
from lineage.errors import LabelgateError, NotFound
from lineage.models import User
from service.checkpointing import after_commit
from service.settings import Settings, get_settings

__all__ = ["EXIT_BLOCKED", "EXIT_OK", "EXIT_USAGE", "err", "exits_cleanly", "local_actor", "out", "store"]

EXIT_OK, EXIT_BLOCKED, EXIT_USAGE = 0, 1, 2

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

P = ParamSpec("P")
R = TypeVar("R")


def exits_cleanly(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a ``LabelgateError`` into one line on stderr and exit code 2, never a traceback."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except LabelgateError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(EXIT_USAGE) from None

    return wrapper


@contextmanager
def store(settings: Settings | None = None) -> Iterator[Session]:
    """A transaction on the workspace's database; says how to create it when it does not exist."""
    settings = settings or get_settings()
    if settings.database_url.startswith("sqlite:///"):
        path = settings.database_url.removeprefix("sqlite:///")
        from pathlib import Path

        if not Path(path).exists():
            raise NotFound(f"no labelgate database at {path}; run `labelgate init` (workspace: {settings.workspace})")
    engine = make_engine(settings.database_url)
    try:
        with session_scope(engine) as session:
            yield session
        after_commit(settings, engine)
    finally:
        engine.dispose()


def local_actor(session: Session, username: str | None = None) -> Actor:
    """The user a local CLI command acts as: ``--as USER``, else the workspace's first admin."""
    stmt = (
        select(User).where(User.username == username)
        if username
        else select(User)
        .where(
            User.is_admin == True  # noqa: E712
        )
        .order_by(col(User.id))
    )
    user = session.exec(stmt).first()
    if user is None:
        raise NotFound(f"no user {username!r}" if username else "no admin user; run `labelgate init`")
    return Actor(
        user_id=user.id or 0,
        username=user.username,
        request_id=f"cli-{uuid.uuid4().hex[:16]}",
        is_admin=user.is_admin,
    )
