"""The one permission table: every action (a verb of ``service.actions``, named as the API route that
serves it) maps to the rule that decides who may take it, whatever the door: the API, the CLI (local or
remote), the demo or the worker.

``admin`` is global and passes every rule. Project rules need the project; a caller who is not a member
of it gets 404 (not 403), so the project's existence does not leak. A test walks ``app.routes`` and fails
on any route missing from ``ACTIONS``; the dashboard asks ``GET /projects/{id}/capabilities`` which actions
the caller may take instead of keeping its own copy of the role sets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from lineage.models import Role

__all__ = ["ACTIONS", "ALL_PROJECT_ROLES", "LOCAL_ACTIONS", "Rule"]

RuleKind = Literal["public", "authenticated", "admin", "self_or_admin", "project", "any_project_role"]

ALL_PROJECT_ROLES = frozenset(r for r in Role if r is not Role.admin)


@dataclass(frozen=True, slots=True)
class Rule:
    """``kind`` says what is checked; ``roles`` are the project roles allowed (for project rules)."""

    kind: RuleKind
    roles: frozenset[Role] = field(default_factory=frozenset)


PUBLIC = Rule("public")
AUTHENTICATED = Rule("authenticated")
ADMIN = Rule("admin")
SELF_OR_ADMIN = Rule("self_or_admin")


def project(*roles: Role) -> Rule:
    return Rule("project", frozenset(roles) if roles else ALL_PROJECT_ROLES)


def any_project_role(*roles: Role) -> Rule:
    return Rule("any_project_role", frozenset(roles))


_AUDIT_READERS = (Role.compliance_officer, Role.ml_engineer, Role.reviewer)

ACTIONS: dict[str, Rule] = {
    "health": PUBLIC,
    # Label Studio posts it with the shared secret (checked in constant time before anything is read), as the
    # configured webhook user, who must pass "import_annotations" in the project: service.actions.connectors
    "receive_labelstudio_webhook": PUBLIC,
    "whoami": AUTHENTICATED,
    "my_capabilities": AUTHENTICATED,
    "project_capabilities": project(),
    "my_memberships": AUTHENTICATED,
    # users and tokens
    "list_users": ADMIN,
    "create_user": ADMIN,
    "list_tokens": SELF_OR_ADMIN,
    "issue_token": SELF_OR_ADMIN,
    "revoke_token": SELF_OR_ADMIN,
    "issue_signing_enrolment": ADMIN,
    # projects
    "list_projects": AUTHENTICATED,
    "create_project": ADMIN,
    "get_project": project(),
    "list_members": project(Role.ml_engineer, Role.compliance_officer, Role.reviewer),
    "add_member": ADMIN,
    # audit
    "list_audit_events": ADMIN,
    "list_project_audit_events": project(*_AUDIT_READERS),
    "export_audit_events": ADMIN,
    "export_project_audit_events": project(*_AUDIT_READERS),
    "verify_audit_chain": any_project_role(Role.compliance_officer),
    # lineage
    "list_schemas": project(),
    "get_schema": project(),
    "get_schema_version": project(),
    "diff_schema_versions": project(),
    "create_schema": project(Role.ml_engineer),
    "publish_schema_version": project(Role.ml_engineer),
    "list_datasets": project(),
    "get_dataset": project(),
    "create_dataset": project(Role.ml_engineer),
    "list_dataset_versions": project(),
    "get_dataset_version": project(),
    "create_dataset_version": project(Role.ml_engineer),
    "change_version_state": project(Role.ml_engineer),
    "import_annotations": project(Role.ml_engineer),
    "export_annotations": project(),
    "list_version_annotations": project(),
    "get_item_image": project(),
    "bulk_create_annotations": project(Role.ml_engineer, Role.annotator),
    "correct_annotation": project(Role.ml_engineer, Role.annotator),
    "review_annotation": project(Role.reviewer),
    "annotation_lineage": project(),
    "version_lineage": project(),
    "list_version_items": project(),  # an annotator sees no golden item: service.actions.labels.version_items
    "item_lineage": project(),
    "diff_dataset_versions": project(),
    # inference
    "list_models": project(Role.ml_engineer),
    "register_model": project(Role.ml_engineer),
    "get_model": project(Role.ml_engineer),
    "download_model_weights": project(Role.ml_engineer),
    "model_lineage": project(Role.ml_engineer),
    # The governance report links a released version's model cards: its readers may read them.
    "get_model_card": project(Role.ml_engineer, Role.compliance_officer, Role.reviewer, Role.ci),
    "queue_autolabel_run": project(Role.ml_engineer),
    "list_autolabel_runs": project(Role.ml_engineer),
    "get_autolabel_run": project(Role.ml_engineer),
    "cancel_autolabel_run": project(Role.ml_engineer),
    "set_run_thresholds": project(Role.ml_engineer),
    "get_calibration_record": project(Role.ml_engineer),
    "calibrate": project(Role.ml_engineer),  # local only (runs the model here): see LOCAL_ACTIONS
    "select_active_learning_batch": project(Role.ml_engineer),
    "list_review_queue": project(Role.reviewer, Role.ml_engineer),
    "get_review_queue_item": project(Role.reviewer, Role.ml_engineer),
    "decide_review_queue_item": project(Role.reviewer),
    "add_review_queue_label": project(Role.reviewer),
    "resolve_review_queue_item": project(Role.reviewer),
    # gates and releases
    "store_policy": project(Role.ml_engineer, Role.compliance_officer),
    "list_policies": project(),
    "register_golden_set": project(Role.ml_engineer),
    "seed_golden_set": project(Role.ml_engineer),
    "list_golden_sets": project(Role.ml_engineer, Role.compliance_officer, Role.reviewer, Role.ci),
    "evaluate_version": project(Role.ml_engineer, Role.compliance_officer, Role.ci),
    "list_version_evaluations": project(),
    "confusion_cell_items": project(),  # annotators: 404 (golden labels), service.actions.evaluation_items
    "get_version_evidence": project(),
    "get_evaluation": project(),
    "list_project_evaluations": project(),
    "set_signing_secret": AUTHENTICATED,
    "list_approvals": project(),
    "sign_version": project(Role.compliance_officer, Role.reviewer, Role.ml_engineer),
    "signable_version": project(),
    "project_overview": project(),  # service.actions.overview
    "version_signoff": project(),
    "release_version": project(Role.ml_engineer),
    "reject_version": project(Role.ml_engineer, Role.compliance_officer, Role.reviewer),
    "get_evidence_bundle": project(Role.ml_engineer, Role.compliance_officer, Role.reviewer, Role.ci),
    "get_version_report": project(Role.ml_engineer, Role.compliance_officer, Role.reviewer, Role.ci),
    "annotator_kpis": project(),  # an annotator sees only their own row (service.actions.kpis)
    "get_audit_trail_report": project(*_AUDIT_READERS),
    "get_signing_public_key": AUTHENTICATED,
    "verify_release": project(Role.ml_engineer, Role.compliance_officer, Role.reviewer, Role.ci),
}

#: Actions without an API route: they run on the workspace's machine (a model over images), through the
#: CLI in local mode, as the token's user or the operator, checked against the same table.
LOCAL_ACTIONS = frozenset({"calibrate"})
