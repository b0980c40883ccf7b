"""The states of a dataset version and the guard that keeps a frozen version unchanged.

States: ``draft → candidate → released | rejected`` and ``released → deprecated`` (``ALLOWED_TRANSITIONS``;
a version moves along them with ``lineage.datasets.versions.change_state``). Labels may change only in
``WRITABLE_STATES``; a write to any other version raises ``Conflict`` and the refusal itself is committed to
the audit log (see ``refuse_write``).
"""

from __future__ import annotations

from typing import NoReturn

from sqlmodel import Session

from lineage.audit.chain import record_event
from lineage.context import Actor
from lineage.errors import Conflict
from lineage.models import Dataset, DatasetVersion, VersionState

__all__ = ["ALLOWED_TRANSITIONS", "WRITABLE_STATES", "ensure_writable", "refuse_write"]

ALLOWED_TRANSITIONS: dict[VersionState, frozenset[VersionState]] = {
    VersionState.draft: frozenset({VersionState.candidate}),
    VersionState.candidate: frozenset({VersionState.released, VersionState.rejected}),
    VersionState.released: frozenset({VersionState.deprecated}),
    VersionState.rejected: frozenset(),
    VersionState.deprecated: frozenset(),
}
WRITABLE_STATES = frozenset({VersionState.draft, VersionState.candidate})


def refuse_write(session: Session, *, actor: Actor, version: DatasetVersion, attempted: str) -> NoReturn:
    """Refuse a write to a frozen version: roll back the caller's transaction, commit an audit event of
    the refusal on its own, then raise ``Conflict``.

    The refused write and anything else the transaction held are discarded as a whole; the refusal must
    survive, and a second connection cannot be used for it (SQLite's writer lock is held by this one).
    """
    dataset = session.get(Dataset, version.dataset_id)
    ref = f"{dataset.name if dataset else version.dataset_id}@{version.version}"
    state = str(version.state)
    version_id, project_id = version.id, dataset.project_id if dataset else None
    session.rollback()
    record_event(
        session,
        actor,
        "dataset_version.write_refused",
        ("dataset_version", str(version_id)),
        project_id=project_id,
        payload={"version": ref, "state": state, "attempted": attempted},
    )
    session.commit()
    raise Conflict(
        f"{ref} is {state} and immutable: {attempted} refused (the refusal is recorded in the audit log)",
        field="state",
    )


def ensure_writable(session: Session, *, actor: Actor, version: DatasetVersion, attempted: str) -> None:
    """Pass for ``draft``/``candidate`` versions; otherwise ``refuse_write`` (audited ``Conflict``)."""
    if VersionState(version.state) not in WRITABLE_STATES:
        refuse_write(session, actor=actor, version=version, attempted=attempted)
