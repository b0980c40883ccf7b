"""Shared plumbing of the CLI commands: settings, a store session, error exits.

Output is printed verbatim: ``out`` and ``err`` interpret no Rich markup and highlight nothing, because the
text carries names, paths and messages from users and data (``[x, y, width, height]`` is not a style).
Where styling is wanted, pass a ``rich.text.Text`` (see ``fail``).

Exit codes, the same for every command (``classify`` is the one place that maps an exception to one):

- 0 ``EXIT_OK``: done, or every gate passed.
- 1 ``EXIT_BLOCKED``: blocked or refused by policy. A gate blocks (the commands say so themselves), or the
  record refuses a valid request: ``Conflict`` (release rules not met, a released or frozen version refusing
  writes, a state change the flow does not allow, a name taken) and ``PermissionDenied`` (a role that may
  not, four-eyes). One line ``refused: ...`` on stderr.
- 2 ``EXIT_USAGE``: bad input: any other ``LabelgateError`` (``InvalidInput``, ``NotFound``, and
  ``CredentialRejected``, a wrong signing secret), a ``quality_gates`` ``GateError`` (a file or policy that
  does not parse), an ``OSError`` (a file that cannot be read or written), and typer's usage errors.
  One line ``error: ...`` on stderr naming the file, flag or field.
- 3 ``EXIT_INTERNAL``: anything else is a bug, one line ``internal error: <type>: <message>``.

No command ends in a traceback (``exits_cleanly``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from typing import TYPE_CHECKING, Literal, NoReturn, ParamSpec, TypeVar

import click
import typer
from rich.console import Console
from rich.text import Text

from lineage.errors import Conflict, CredentialRejected, InvalidInput, LabelgateError, NotFound, PermissionDenied

if TYPE_CHECKING:  # the database side loads when a command opens the store, not for the offline CI gate
    from sqlalchemy import Engine
    from sqlmodel import Session

    from service.settings import Settings

__all__ = [
    "EXIT_BLOCKED",
    "EXIT_INTERNAL",
    "EXIT_OK",
    "EXIT_USAGE",
    "Outcome",
    "classify",
    "err",
    "exits_cleanly",
    "fail",
    "out",
    "store",
]

EXIT_OK, EXIT_BLOCKED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3

out = Console(soft_wrap=True, markup=False, highlight=False)
err = Console(stderr=True, soft_wrap=True, markup=False, highlight=False)

P = ParamSpec("P")
R = TypeVar("R")

# What typer (which vendors its click) and click raise to end a command themselves: exits, aborts, usage errors.
_THEIR_OWN = (typer.Exit, typer.Abort, typer.TyperException, click.exceptions.Exit, click.Abort, click.ClickException)


def fail(label: str, message: object, code: int) -> NoReturn:
    """Print ``label: message`` on stderr (the label in bold red, the message verbatim) and exit ``code``."""
    err.print(Text.assemble((f"{label}:", "bold red"), " ", str(message)))
    raise typer.Exit(code)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a command ends on an exception: exit ``code``, the stderr ``label`` and a one-line ``message``;
    ``kind`` (``refused``, ``bad_input`` or ``internal``) and ``field`` (the file, flag or field named, or
    None) for machine-readable reports."""

    code: int
    label: str
    kind: Literal["refused", "bad_input", "internal"]
    message: str
    field: str | None = None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def classify(exc: BaseException) -> Outcome:
    """The exit code and message of an exception (see the module doc): the one mapping every command uses."""
    from quality_gates.errors import GateError  # here, not at the top: the package loads numpy

    if isinstance(exc, (Conflict, PermissionDenied)) and not isinstance(exc, CredentialRejected):
        return Outcome(EXIT_BLOCKED, "refused", "refused", str(exc), exc.field)
    if isinstance(exc, LabelgateError):
        return Outcome(EXIT_USAGE, "error", "bad_input", str(exc), exc.field)
    if isinstance(exc, GateError):
        return Outcome(EXIT_USAGE, "error", "bad_input", str(exc))
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        filename = str(exc.filename) if exc.filename else None
        return Outcome(EXIT_USAGE, "error", "bad_input", f"{where}{exc.strerror or exc}", filename)
    message = _one_line(str(exc)) or "(no message)"
    return Outcome(EXIT_INTERNAL, "internal error", "internal", f"{type(exc).__name__}: {message}")


def exits_cleanly(fn: Callable[P, R]) -> Callable[P, R]:
    """Make any exception of ``fn`` one line on stderr and its exit code (``classify``), never a traceback.
    Exits and usage errors that typer and click raise themselves pass through."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except _THEIR_OWN:
            raise
        except Exception as exc:  # a bug too ends in one line, not a traceback
            outcome = classify(exc)
            fail(outcome.label, outcome.message, outcome.code)

    return wrapper


@contextmanager
def store(settings: Settings | None = None) -> Iterator[Session]:
    """A transaction on the workspace's database; says how to create it when it does not exist."""
    from lineage.audit.chain import appended
    from lineage.db import make_engine, session_scope
    from service.checkpointing import after_commit
    from service.settings import get_settings

    settings = settings or get_settings()
    if settings.database_url.startswith("sqlite:///"):
        path = settings.database_url.removeprefix("sqlite:///")
        from pathlib import Path

        if not Path(path).exists():
            raise NotFound(f"no labelgate database at {path}; run `labelgate init` (workspace: {settings.workspace})")
    engine = make_engine(settings.database_url)
    try:
        _require_current_schema(engine)
        with session_scope(engine) as session:
            yield session
        if appended(session):  # reads never move the head: no checkpoint work on them
            after_commit(settings, engine)
    finally:
        engine.dispose()


def _require_current_schema(engine: Engine) -> None:
    """A database an earlier release made is upgraded on purpose (``labelgate migrate``), not half-read."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from service.migrate import head_revision

    try:
        with engine.connect() as conn:
            found = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:
        found = None
    head = head_revision()
    if found != head:
        raise InvalidInput(
            f"the database is at schema revision {found or 'none'}, this release needs {head}: "
            "run `labelgate migrate` (then `labelgate audit verify`)",
            field="database_url",
        )
