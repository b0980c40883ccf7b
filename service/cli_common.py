"""Shared plumbing of the CLI commands: settings, a store session, the local actor, error exits.

Output is printed verbatim: ``out`` and ``err`` interpret no Rich markup and highlight nothing, because the
text carries names, paths and messages from users and data (``[x, y, width, height]`` is not a style).
Where styling is wanted, pass a ``rich.text.Text`` (see ``fail``).

No command ends in a traceback (``exits_cleanly``): a ``LabelgateError`` or an ``OSError`` is bad input,
one line ``error: ...`` on stderr and exit 2 (``EXIT_USAGE``); any other exception is a bug, one line
``internal error: <type>: <message>`` on stderr and exit 3 (``EXIT_INTERNAL``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import NoReturn, ParamSpec, TypeVar

import click
import typer
from rich.console import Console
from rich.text import Text
from sqlmodel import Session, col, select

from lineage.audit import appended
from lineage.context import Actor
from lineage.db import make_engine, session_scope
from lineage.errors import LabelgateError, NotFound
from lineage.models import User
from service.checkpointing import after_commit
from service.settings import Settings, get_settings

__all__ = [
    "EXIT_BLOCKED",
    "EXIT_INTERNAL",
    "EXIT_OK",
    "EXIT_USAGE",
    "err",
    "exits_cleanly",
    "fail",
    "local_actor",
    "out",
    "store",
]

EXIT_OK, EXIT_BLOCKED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3

out = Console(soft_wrap=True, markup=False, highlight=False)
err = Console(stderr=True, soft_wrap=True, markup=False, highlight=False)

P = ParamSpec("P")
R = TypeVar("R")


def fail(label: str, message: object, code: int) -> NoReturn:
    """Print ``label: message`` on stderr (the label in bold red, the message verbatim) and exit ``code``."""
    err.print(Text.assemble((f"{label}:", "bold red"), " ", str(message)))
    raise typer.Exit(code)


def exits_cleanly(fn: Callable[P, R]) -> Callable[P, R]:
    """Make any exception of ``fn`` one line on stderr, never a traceback: bad input (``LabelgateError``,
    ``OSError``) exits 2, anything else is an internal error and exits 3. Exits and usage errors that typer
    and click raise themselves pass through."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except LabelgateError as exc:
            fail("error", exc, EXIT_USAGE)
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            fail("error", f"{where}{exc.strerror or exc}", EXIT_USAGE)
        except Exception as exc:  # a bug still ends in one line, not a traceback
            message = " ".join(str(exc).split()) or "(no message)"
            fail("internal error", f"{type(exc).__name__}: {message}", EXIT_INTERNAL)

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
        if appended(session):  # reads never move the head: no checkpoint work on them
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
