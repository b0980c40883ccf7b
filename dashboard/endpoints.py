"""Where each API answer lives: every path the dashboard calls (:data:`ENDPOINTS`, one line each) and the
report kinds a version or project offers. :mod:`dashboard.client` builds its calls from these."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

__all__ = [
    "ENDPOINTS",
    "GATE_REPORT_KINDS",
    "PROJECT_REPORT_KINDS",
    "REPORT_KINDS",
    "SIGNATURE_MEANINGS",
    "path_of",
    "shape",
]

#: name → path template. ``{dataset}``/``{version}`` are names (``train``, ``v2``), ``{project_id}`` an id.
ENDPOINTS: dict[str, str] = {
    "openapi": "/openapi.json",
    "health": "/api/v1/health",
    "me": "/api/v1/me",
    "my_memberships": "/api/v1/me/memberships",
    "my_capabilities": "/api/v1/me/capabilities",
    "project_capabilities": "/api/v1/projects/{project_id}/capabilities",
    "users": "/api/v1/users",
    "tokens": "/api/v1/users/{user_id}/tokens",
    "projects": "/api/v1/projects",
    "project": "/api/v1/projects/{project_id}",
    "members": "/api/v1/projects/{project_id}/members",
    "audit_events": "/api/v1/audit/events",
    "project_audit_events": "/api/v1/projects/{project_id}/audit/events",
    "audit_verify": "/api/v1/audit/verify",
    "datasets": "/api/v1/projects/{project_id}/datasets",
    "versions": "/api/v1/projects/{project_id}/datasets/{dataset}/versions",
    "version": "/api/v1/projects/{project_id}/datasets/{dataset}/versions/{version}",
    "version_lineage": "/api/v1/projects/{project_id}/datasets/{dataset}/versions/{version}/lineage",
    "version_state": "/api/v1/projects/{project_id}/datasets/{dataset}/versions/{version}/state",
    "annotation_lineage": "/api/v1/projects/{project_id}/annotations/{annotation_id}/lineage",
    "version_annotations": "/api/v1/projects/{project_id}/datasets/{dataset}/versions/{version}/annotations",
    "schema_version": "/api/v1/projects/{project_id}/schemas/{name}/versions/{version}",
    "item_image": "/api/v1/projects/{project_id}/items/{item_id}/image",
    "version_items": "/api/v1/projects/{project_id}/datasets/{dataset}/versions/{version}/items",
    "item_lineage": "/api/v1/projects/{project_id}/items/{item_id}/lineage",
    # gates, signatures, releases, reports (service/api/routes/gates.py, releases.py)
    "version_evaluations": "/api/v1/projects/{project_id}/datasets/{dataset}/versions/{version}/evaluations",
    "version_evidence": "/api/v1/projects/{project_id}/datasets/{dataset}/versions/{version}/evidence",
    "project_evaluations": "/api/v1/projects/{project_id}/evaluations",
    "evaluation": "/api/v1/projects/{project_id}/evaluations/{evaluation_id}",
    "confusion_cell": "/api/v1/projects/{project_id}/evaluations/{evaluation_id}/confusion-cell",
    "approvals": "/api/v1/projects/{project_id}/datasets/{dataset}/versions/{version}/approvals",
    "signable": "/api/v1/projects/{project_id}/datasets/{dataset}/versions/{version}/signable",
    # overview and four-eyes (service/api/routes/overview.py), setting one's signing secret (users.py)
    "project_overview": "/api/v1/projects/{project_id}/overview",
    "version_signoff": "/api/v1/projects/{project_id}/datasets/{dataset}/versions/{version}/signoff",
    "my_signing_secret": "/api/v1/me/signing-secret",
    "reject": "/api/v1/projects/{project_id}/datasets/{dataset}/versions/{version}/reject",
    "evidence_bundle": "/api/v1/projects/{project_id}/datasets/{dataset}/versions/{version}/bundle",
    "report": "/api/v1/projects/{project_id}/datasets/{dataset}/versions/{version}/reports/{kind}",
    "project_report": "/api/v1/projects/{project_id}/reports/{kind}",
    # auto-labelling (service/api/routes/inference.py)
    "models": "/api/v1/projects/{project_id}/models",
    "model": "/api/v1/projects/{project_id}/models/{ref}",
    "model_lineage": "/api/v1/projects/{project_id}/models/{ref}/lineage",
    "autolabel_runs": "/api/v1/projects/{project_id}/autolabel-runs",
    "review_queue": "/api/v1/projects/{project_id}/review-queue",
}

#: Signature meanings an approver chooses from (21 CFR Part 11 style: what the signature attests).
SIGNATURE_MEANINGS: tuple[str, ...] = ("review", "approval", "responsibility")

#: A dataset version's report kinds (``GET .../versions/{v}/reports/{kind}``) → (title, MIME type). The
#: gate reports render the version's latest evaluation; ``governance.html`` is the EU AI Act Art. 10 report.
REPORT_KINDS: dict[str, tuple[str, str]] = {
    "governance.html": ("Data governance (EU AI Act Art. 10, HTML)", "text/html"),
    "gate-report.json": ("Gate report (JSON)", "application/json"),
    "gate-report.txt": ("Gate report (text)", "text/plain"),
    "gate-report.junit.xml": ("Gate report (JUnit XML)", "application/xml"),
}
#: The version report kinds that need a gate evaluation of the version.
GATE_REPORT_KINDS: frozenset[str] = frozenset({"gate-report.json", "gate-report.txt", "gate-report.junit.xml"})
#: A project's report kinds (``GET /projects/{id}/reports/{kind}``, with ``since``/``until``) → (title, MIME type).
PROJECT_REPORT_KINDS: dict[str, tuple[str, str]] = {
    "audit-trail.html": ("Audit trail report (21 CFR Part 11, HTML)", "text/html"),
}


def shape(template: str) -> str:
    """A path template with every ``{name}`` made ``{}``: two templates of one route have one shape."""
    return re.sub(r"\{[^}]*\}", "{}", template)


def path_of(endpoint: str, /, **values: Any) -> str:
    """The path of ``endpoint`` (a key of :data:`ENDPOINTS`) with each ``{value}`` URL-quoted."""
    return ENDPOINTS[endpoint].format(**{k: quote(str(v), safe="") for k, v in values.items()})
