"""Who may attribute imported labels to whom (``labelgate import --annotator``, the API import's ``annotator``).

An import that names an annotator records its labels as that person's ``human`` work, so the record (and
four-eyes, which keeps a version's authors from approving it) believes them. Hence two rules:

- **the caller** may attribute only when they hold ``ml_engineer`` in the version's project, or are a
  global ``admin`` (:data:`ATTRIBUTING_ROLES`); otherwise 403;
- **the annotator** must be an active member of that project holding an annotating role: ``annotator``,
  ``reviewer`` or ``ml_engineer`` (:data:`ANNOTATING_ROLES`); otherwise 422. Global ``admin`` is not an
  annotating role: an admin who labels is made a member like anyone else, so labels are never attributed
  to someone the project does not list, nor to a compliance officer or a CI job (who would then be barred
  from approving by labels they never wrote). An unknown user and a non-member get the same answer, so
  the check does not reveal who exists in other projects.

The importer stays an author of the version whoever the labels are attributed to (the row's
``created_by``; see ``lineage.release.four_eyes.version_authors``), and the import's audit event records both
(``imported_by``, ``attributed_to``).
"""

from __future__ import annotations

from sqlmodel import Session, select

from lineage.context import Actor
from lineage.errors import InvalidInput, PermissionDenied
from lineage.identity.users import project_roles
from lineage.models import Project, Role, User

__all__ = ["ANNOTATING_ROLES", "ATTRIBUTING_ROLES", "check_attribution"]

#: Project roles whose holders may be named as the annotator of imported labels.
ANNOTATING_ROLES: frozenset[Role] = frozenset({Role.annotator, Role.reviewer, Role.ml_engineer})
#: Project roles whose holders may attribute imported labels to someone (global admins may too).
ATTRIBUTING_ROLES: frozenset[Role] = frozenset({Role.ml_engineer})


def _names(roles: frozenset[Role]) -> str:
    return ", ".join(sorted(r.value for r in roles)) or "none"


def check_attribution(session: Session, *, actor: Actor, project_id: int, annotator: int | str) -> User:
    """The user ``annotator`` (an id or a username) if ``actor`` may attribute labels of project
    ``project_id`` to them (module doc); raises ``PermissionDenied`` (caller) or ``InvalidInput`` (annotator)."""
    project = session.get(Project, project_id)
    project_name = project.name if project is not None else str(project_id)
    caller = session.get(User, actor.user_id)
    if caller is None or not caller.is_admin:
        held = project_roles(session, user=caller, project_id=project_id) if caller is not None else frozenset()
        if not held & ATTRIBUTING_ROLES:
            raise PermissionDenied(
                f"{actor.username} may not attribute labels to another user in project {project_name!r}: that "
                f"needs the role {_names(ATTRIBUTING_ROLES)} (or admin); {actor.username} holds {_names(held)}",
                field="annotator",
            )
    if isinstance(annotator, int):
        target = session.get(User, annotator)
    else:
        target = session.exec(select(User).where(User.username == annotator)).first()
    shown = target.username if target is not None else str(annotator)
    roles = project_roles(session, user=target, project_id=project_id) if target is not None else frozenset()
    rule = f"labels are attributed only to members holding {_names(ANNOTATING_ROLES)}"
    if target is None or not roles:
        raise InvalidInput(
            f"cannot attribute labels to {shown!r}: not a member of project {project_name!r} ({rule})",
            field="annotator",
        )
    if not target.is_active:
        raise InvalidInput(f"cannot attribute labels to {shown!r}: the account is deactivated", field="annotator")
    if not roles & ANNOTATING_ROLES:
        raise InvalidInput(
            f"cannot attribute labels to {shown!r}: in project {project_name!r} they hold {_names(roles)}, "
            f"not an annotating role ({rule})",
            field="annotator",
        )
    return target
