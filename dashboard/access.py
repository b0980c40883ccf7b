"""Who sees what in the dashboard: the signed-in caller, their roles per project (shown), and the actions
the server says they may take (``GET /me/capabilities``, ``GET /projects/{id}/capabilities``, answered from
the server's one permission table), which decide the pages and buttons offered.

The dashboard keeps no copy of the rules. Hiding a page or a button is for clarity only: the API refuses the
call anyway.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dashboard.client import Api, ApiError, Forbidden, NotAvailable

__all__ = [
    "PAGES",
    "UNDISCLOSED",
    "Viewer",
    "load_viewer",
    "probe_capabilities",
    "probe_roles",
]

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
    "annotators": "Annotators",
}


@dataclass(frozen=True)
class Viewer:
    """The signed-in caller: their ``/me`` record, visible projects, roles per project id (for display), and
    the actions they may take: ``capabilities`` per project id, ``anywhere`` outside projects."""

    user: Mapping[str, Any]
    projects: Sequence[Mapping[str, Any]] = ()
    roles: Mapping[int, frozenset[str]] = field(default_factory=dict)
    capabilities: Mapping[int, frozenset[str]] = field(default_factory=dict)
    anywhere: frozenset[str] = frozenset()

    @property
    def username(self) -> str:
        return str(self.user.get("username", "?"))

    @property
    def is_admin(self) -> bool:
        return bool(self.user.get("is_admin"))

    def roles_in(self, project_id: int) -> frozenset[str]:
        return frozenset({"admin"}) if self.is_admin else self.roles.get(project_id, frozenset())

    def may(self, action: str, project_id: int | None = None) -> bool:
        """Whether the server lets the caller take ``action`` in ``project_id`` (None: in any project, or
        outside projects)."""
        if action in self.anywhere:
            return True
        if project_id is not None:
            return action in self.capabilities.get(project_id, frozenset())
        return any(action in caps for caps in self.capabilities.values())

    def can_read_audit(self, project_id: int | None = None) -> bool:
        """``project_id`` None: in any project."""
        return self.may("list_audit_events") or self.may("list_project_audit_events", project_id)

    def can_verify_chain(self) -> bool:
        return self.may("verify_audit_chain")

    def can_approve(self, project_id: int) -> bool:
        return self.may("sign_version", project_id)

    def can_read_reports(self, project_id: int | None = None) -> bool:
        return self.may("get_version_report", project_id)

    def can_read_runs(self, project_id: int | None = None) -> bool:
        return self.may("list_autolabel_runs", project_id)

    def can_read_queue(self, project_id: int | None = None) -> bool:
        return self.may("list_review_queue", project_id)

    def projects_where(self, *actions: str) -> list[Mapping[str, Any]]:
        """The visible projects in which the caller may take one of ``actions``."""
        return [p for p in self.projects if any(self.may(a, int(p["id"])) for a in actions)]

    def pages(self) -> list[str]:
        """Page ids this caller is offered, in :data:`PAGES` order."""
        shown = {
            "overview": True,
            "audit_trail": self.can_read_audit(),
            "dataset_version": True,
            "lineage": True,
            "autolabel": self.can_read_runs() or self.can_read_queue(),
            "reports": self.can_read_reports(),
            "annotators": self.may("annotator_kpis"),
        }
        return [page for page in PAGES if shown[page]]

    def role_label(self, project_id: int) -> str:
        roles = sorted(self.roles_in(project_id))
        if roles == [UNDISCLOSED]:
            return "member (annotator or ci)"
        return ", ".join(roles) or "none"


def probe_capabilities(
    api: Api, *, projects: Sequence[Mapping[str, Any]]
) -> tuple[frozenset[str], dict[int, frozenset[str]]]:
    """What the server lets the caller do: outside projects, and in each visible project. A server without
    the capabilities routes (older) grants nothing here: every page stays read-only."""
    try:
        anywhere = api.capabilities()
    except NotAvailable:
        return frozenset(), {}
    per_project: dict[int, frozenset[str]] = {}
    for p in projects:
        try:
            per_project[int(p["id"])] = api.capabilities(int(p["id"]))
        except ApiError:
            per_project[int(p["id"])] = frozenset()
    return anywhere, per_project


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
    """Sign-in: ``/me`` (raises ``Unauthorized`` for a bad token), the visible projects, the roles in each,
    and the actions the caller may take."""
    me = api.me()
    projects = api.projects()
    anywhere, per_project = probe_capabilities(api, projects=projects)
    return Viewer(
        user=me,
        projects=tuple(projects),
        roles=probe_roles(api, me=me, projects=projects),
        capabilities=per_project,
        anywhere=anywhere,
    )
