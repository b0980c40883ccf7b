"""Who sees what in the dashboard: the signed-in caller, their roles per project, and the pages and actions
those roles allow.

These sets mirror ``service.permissions`` (the server's one permission table, which the dashboard may not
import). Hiding a page or a button is for clarity only: the API refuses the call anyway.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dashboard.client import Api, Forbidden, NotAvailable

__all__ = [
    "APPROVERS",
    "AUDIT_READERS",
    "PAGES",
    "QUEUE_READERS",
    "REPORT_READERS",
    "RUN_READERS",
    "UNDISCLOSED",
    "VERIFIERS",
    "Viewer",
    "load_viewer",
    "probe_roles",
]

AUDIT_READERS = frozenset({"compliance_officer", "ml_engineer", "reviewer"})
"""May read a project's audit trail (and its members); admin reads every project's."""
VERIFIERS = frozenset({"compliance_officer"})
"""May verify the audit hash chain (in any project); admin too."""
APPROVERS = frozenset({"compliance_officer", "reviewer", "ml_engineer"})
"""May sign a candidate dataset version (``sign_version``) or reject a version (``reject_version``); admin too.
Which roles a signature with the meaning "approval" needs is the gate policy's ``release.approver_roles``
(and its four-eyes rule): the server decides, the page shows its refusal."""
REPORT_READERS = frozenset({"compliance_officer", "ml_engineer", "reviewer", "ci"})
"""May download a version's evidence bundle and reports; the project's audit trail report needs
:data:`AUDIT_READERS`."""
RUN_READERS = frozenset({"ml_engineer"})
"""May list auto-label runs (and registered models)."""
QUEUE_READERS = frozenset({"reviewer", "ml_engineer"})
"""May read the review queue."""
UNDISCLOSED = "member"
"""A membership whose role the server did not disclose (the caller may not list members: annotator or ci)."""

#: page id → title, in navigation order.
PAGES: dict[str, str] = {
    "overview": "Overview",
    "audit_trail": "Audit trail",
    "dataset_version": "Dataset version",
    "lineage": "Lineage explorer",
    "autolabel": "Auto-label runs",
    "reports": "Reports",
}


@dataclass(frozen=True)
class Viewer:
    """The signed-in caller: their ``/me`` record, visible projects and roles per project id."""

    user: Mapping[str, Any]
    projects: Sequence[Mapping[str, Any]] = ()
    roles: Mapping[int, frozenset[str]] = field(default_factory=dict)

    @property
    def username(self) -> str:
        return str(self.user.get("username", "?"))

    @property
    def is_admin(self) -> bool:
        return bool(self.user.get("is_admin"))

    def roles_in(self, project_id: int) -> frozenset[str]:
        return frozenset({"admin"}) if self.is_admin else self.roles.get(project_id, frozenset())

    def _has(self, allowed: frozenset[str], project_id: int | None) -> bool:
        if self.is_admin:
            return True
        if project_id is not None:
            return bool(self.roles_in(project_id) & allowed)
        return any(r & allowed for r in self.roles.values())

    def can_read_audit(self, project_id: int | None = None) -> bool:
        """``project_id`` None: in any project."""
        return self._has(AUDIT_READERS, project_id)

    def can_verify_chain(self) -> bool:
        return self._has(VERIFIERS, None)

    def can_approve(self, project_id: int) -> bool:
        return self._has(APPROVERS, project_id)

    def can_read_reports(self, project_id: int | None = None) -> bool:
        return self._has(REPORT_READERS, project_id)

    def can_read_runs(self, project_id: int | None = None) -> bool:
        return self._has(RUN_READERS, project_id)

    def can_read_queue(self, project_id: int | None = None) -> bool:
        return self._has(QUEUE_READERS, project_id)

    def projects_where(self, allowed: frozenset[str]) -> list[Mapping[str, Any]]:
        """The visible projects in which the caller holds one of ``allowed`` (all of them for admin)."""
        return [p for p in self.projects if self.is_admin or self.roles_in(int(p["id"])) & allowed]

    def pages(self) -> list[str]:
        """Page ids this caller is offered, in :data:`PAGES` order."""
        shown = {
            "overview": True,
            "audit_trail": self.can_read_audit(),
            "dataset_version": True,
            "lineage": True,
            "autolabel": self.can_read_runs() or self.can_read_queue(),
            "reports": self.can_read_reports(),
        }
        return [page for page in PAGES if shown[page]]

    def role_label(self, project_id: int) -> str:
        roles = sorted(self.roles_in(project_id))
        if roles == [UNDISCLOSED]:
            return "member (annotator or ci)"
        return ", ".join(roles) or "none"


def probe_roles(api: Api, *, me: Mapping[str, Any], projects: Sequence[Mapping[str, Any]]) -> dict[int, frozenset[str]]:
    """The caller's roles per visible project.

    Uses ``GET /me/memberships`` when the server has it; otherwise reads each project's member list, where
    a 403 means the caller holds only roles that may not list members (:data:`UNDISCLOSED`).
    """
    if me.get("is_admin"):
        return {int(p["id"]): frozenset({"admin"}) for p in projects}
    try:
        found: dict[int, set[str]] = {}
        for m in api.my_memberships():
            found.setdefault(int(m["project_id"]), set()).add(str(m["role"]))
        return {pid: frozenset(r) for pid, r in found.items()}
    except NotAvailable:
        pass
    roles: dict[int, frozenset[str]] = {}
    for p in projects:
        pid = int(p["id"])
        try:
            held = {str(m["role"]) for m in api.members(pid) if m.get("user_id") == me.get("id")}
        except Forbidden:
            held = {UNDISCLOSED}
        roles[pid] = frozenset(held or {UNDISCLOSED})
    return roles


def load_viewer(api: Api) -> Viewer:
    """Sign-in: ``/me`` (raises ``Unauthorized`` for a bad token), the visible projects, the roles in each."""
    me = api.me()
    projects = api.projects()
    return Viewer(user=me, projects=tuple(projects), roles=probe_roles(api, me=me, projects=projects))
