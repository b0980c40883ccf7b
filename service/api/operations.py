"""What the API's reference says about each operation, in one table keyed by route name (the route names are
the actions of ``service.permissions.ACTIONS``), so the route files stay thin and a route added without its
entry fails ``tests/service/test_api_docs.py``. ``service.api.openapi`` applies it to the generated schema.

``description`` may be ``None`` where the route's docstring already says what it does (it is then the
description); the caller's permission is appended to every description from the permission table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["OPERATIONS", "PARAMETERS", "PARAMETER_OVERRIDES", "REQUEST_EXAMPLES", "TAGS", "Doc"]


@dataclass(frozen=True, slots=True)
class Doc:
    """One operation's summary (a short line) and description (``None``: the route's docstring)."""

    summary: str
    description: str | None = None


#: The tags of the routers, in the order the reference shows them.
TAGS: list[dict[str, str]] = [
    {"name": "health", "description": "Is the service up and its database reachable (no token needed)."},
    {"name": "users", "description": "Users, API tokens, signing secrets and what the caller may do."},
    {"name": "projects", "description": "Projects and their members, each with one role per project."},
    {"name": "audit", "description": "The hash-chained audit log: read it, verify it, re-verify a release."},
    {
        "name": "lineage",
        "description": "Label schemas, datasets and their versions, labels (import, export, bulk writes, "
        "corrections, reviews), the history of a label and the diff of two versions.",
    },
    {
        "name": "auto-labelling",
        "description": "Registered models, auto-label runs (queued here, run by `labelgate worker`), "
        "calibration records, active learning and the human review queue.",
    },
    {"name": "gates", "description": "Policies, golden sets and quality-gate evaluations of a version."},
    {
        "name": "releases",
        "description": "Electronic signatures, release and rejection of a version, its signed evidence "
        "bundle and its reports.",
    },
    {"name": "reports", "description": "Annotator KPIs: agreement with the golden set, speed and trend."},
    {
        "name": "overview",
        "description": "What needs attention in a project, and who may sign a version under its release rules.",
    },
    {"name": "webhooks", "description": "Events a labelling tool (Label Studio) posts with a shared secret."},
]

_VERSION = "the dataset version"

OPERATIONS: dict[str, Doc] = {
    "health": Doc("Check the service is up"),
    "whoami": Doc("Who am I", "The user the bearer token belongs to."),
    "my_memberships": Doc("List my project roles"),
    "my_capabilities": Doc("List what I may do outside projects"),
    "project_capabilities": Doc("List what I may do in a project"),
    "list_users": Doc("List users", "Every user of the workspace, a page at a time, in id order."),
    "create_user": Doc(
        "Create a user",
        "A new user (no token, no signing secret yet: issue a token and a signing enrolment code next). "
        "409 when the username is taken.",
    ),
    "list_tokens": Doc(
        "List a user's tokens", "The user's API tokens (never the secrets: only their prefix), revoked ones too."
    ),
    "issue_token": Doc("Issue an API token"),
    "revoke_token": Doc(
        "Revoke an API token",
        "Revoke the token and every token minted with it; a revoked token is refused from then on (401).",
    ),
    "issue_signing_enrolment": Doc("Issue a signing enrolment code"),
    "set_signing_secret": Doc("Set my signing secret"),
    "list_projects": Doc("List my projects", "The projects the caller is a member of (every project, for an admin)."),
    "create_project": Doc("Create a project", "A new, empty project. 409 when the name is taken."),
    "get_project": Doc("Get a project", "One project, by id or by name."),
    "list_members": Doc("List a project's members", "Each member's username and role in the project."),
    "add_member": Doc(
        "Add a member to a project",
        "Give an existing user a role in the project (404 for an unknown username, 409 when the user already "
        "holds that role).",
    ),
    "list_audit_events": Doc(
        "List audit events",
        "The workspace's audit log, oldest first, a page at a time, filtered by actor, action, object and time.",
    ),
    "list_project_audit_events": Doc(
        "List a project's audit events", "The project's part of the audit log, filtered as the workspace's."
    ),
    "export_audit_events": Doc(
        "Export audit events",
        "Every workspace event the filters select, oldest first, streamed as JSON Lines or CSV however many.",
    ),
    "export_project_audit_events": Doc(
        "Export a project's audit events", "The project's events, filtered and streamed as the workspace's."
    ),
    "verify_audit_chain": Doc("Verify the audit chain"),
    "verify_release": Doc("Re-verify a release"),
    "list_schemas": Doc("List label schemas", "The project's label schemas, each with its latest version."),
    "create_schema": Doc(
        "Create a label schema",
        "A new label schema and its version 1 (its classes: name, geometry, attributes, keypoints). 409 when "
        "the name is taken.",
    ),
    "get_schema": Doc("Get a label schema", "One label schema with its latest version."),
    "publish_schema_version": Doc(
        "Publish a label schema version",
        "The next version of the schema, with its diff from the previous one (added, removed, renamed and "
        "redefined classes). Same classes as the latest: that version is returned.",
    ),
    "get_schema_version": Doc("Get a label schema version", "One version of a label schema: its classes and diff."),
    "diff_schema_versions": Doc(
        "Diff two label schema versions", "Classes added, removed, renamed and redefined from `from` to `to`."
    ),
    "list_datasets": Doc("List datasets", "The project's datasets (golden datasets are hidden from annotators)."),
    "create_dataset": Doc(
        "Create a dataset", "A new dataset (``is_golden``: it holds reference labels). 409 when the name is taken."
    ),
    "get_dataset": Doc("Get a dataset", "One dataset by name."),
    "list_dataset_versions": Doc("List a dataset's versions", "Every version of the dataset, oldest first."),
    "create_dataset_version": Doc(
        "Create a dataset version",
        "A new draft version: its images from a folder under the workspace's `incoming/` (committed to DVC), "
        "or its parent's; the parent's labels inherited unless ``inherit_labels`` is false.",
    ),
    "get_dataset_version": Doc("Get a dataset version", "One version: its state, schema, DVC hash and manifest."),
    "change_version_state": Doc(
        "Change a version's state",
        "Move a version along draft → candidate (→ released through the release route) or to rejected or "
        "deprecated; a move the state machine forbids is 409.",
    ),
    "import_annotations": Doc("Import labels into a version"),
    "get_item_image": Doc("Get an item's image"),
    "export_annotations": Doc("Export a version's labels"),
    "list_version_annotations": Doc("List a version's labels"),
    "list_version_items": Doc("List a version's items"),
    "item_lineage": Doc("Get an item's label history"),
    "bulk_create_annotations": Doc("Add labels in bulk"),
    "correct_annotation": Doc("Correct a label"),
    "review_annotation": Doc(
        "Review a label",
        "Accept, reject or correct a label (a correction appends a new label that supersedes it); recorded "
        "and audited.",
    ),
    "annotation_lineage": Doc(
        "Get a label's history", "Every step of a label: created, corrected, reviewed, by whom, when and why."
    ),
    "version_lineage": Doc(
        "Get a version's lineage", "The version's ancestry, schema, data hash and the provenance of its labels."
    ),
    "diff_dataset_versions": Doc("Diff two dataset versions"),
    "list_models": Doc("List registered models", "The project's registered model versions with their class maps."),
    "register_model": Doc(
        "Register a model",
        "Register weights an operator placed under `<workspace>/models/`: they are stored content-addressed in the "
        "workspace's DVC repository, hashed, loaded to read their task and classes, with the dataset versions "
        "the model was trained and validated on.",
    ),
    "get_model": Doc("Get a model version", "Its columns and the dataset versions it was trained and validated on."),
    "get_model_card": Doc(
        "Get a model version's card",
        "Its model card (Mitchell et al. 2019: intended use, training data, metrics, caveats) generated from the "
        "record, as JSON or as one self-contained HTML page.",
    ),
    "model_lineage": Doc(
        "Get a model's lineage",
        "The loop around a model version: the dataset versions it was trained and validated on (through its "
        "training, with hyper-parameters and metrics), its auto-label runs, their labels, the versions holding "
        "them, their releases and the models trained on those.",
    ),
    "download_model_weights": Doc(
        "Download a model's weights", "The exact registered bytes, SHA-256 re-checked first (409 when they changed)."
    ),
    "queue_autolabel_run": Doc("Queue an auto-label run"),
    "list_autolabel_runs": Doc("List auto-label runs", "The project's runs, newest first, optionally by state."),
    "get_autolabel_run": Doc("Get an auto-label run"),
    "cancel_autolabel_run": Doc("Cancel an auto-label run"),
    "set_run_thresholds": Doc("Set a run's class thresholds"),
    "get_calibration_record": Doc("Get a calibration record"),
    "select_active_learning_batch": Doc("Select an active-learning batch"),
    "list_review_queue": Doc("List the review queue"),
    "get_review_queue_item": Doc("Get a review-queue entry", "One queued item with its labels."),
    "decide_review_queue_item": Doc("Decide on a queued label"),
    "add_review_queue_label": Doc("Add a missed label"),
    "resolve_review_queue_item": Doc(
        "Resolve a review-queue entry", "Mark the entry done (with an optional note), whatever remains undecided."
    ),
    "store_policy": Doc("Store a gate policy"),
    "list_policies": Doc("List gate policies", "Every version of every policy of the project, with its YAML."),
    "register_golden_set": Doc("Register a golden set"),
    "seed_golden_set": Doc("Seed a golden set from ground truth"),
    "list_golden_sets": Doc("List golden sets"),
    "evaluate_version": Doc("Evaluate a version's quality gates"),
    "list_version_evaluations": Doc("List a version's evaluations"),
    "confusion_cell_items": Doc("List the items behind a confusion-matrix cell"),
    "get_version_evidence": Doc("Get a version's gate evidence"),
    "get_evaluation": Doc("Get an evaluation"),
    "list_project_evaluations": Doc("List recent evaluations"),
    "list_approvals": Doc(
        "List a version's signatures", "The electronic signatures on the version: who, in which role, meaning, when."
    ),
    "sign_version": Doc("Sign a version"),
    "signable_version": Doc("May I sign this version"),
    "release_version": Doc("Release a version"),
    "reject_version": Doc("Reject a version", "Move a version to rejected, with the reason the audit log records."),
    "get_evidence_bundle": Doc("Get a release's evidence bundle"),
    "get_version_report": Doc("Get a version's report"),
    "get_audit_trail_report": Doc("Get the audit-trail report"),
    "get_signing_public_key": Doc("Get the signing public key"),
    "annotator_kpis": Doc("Get annotator KPIs"),
    "project_overview": Doc("Get a project's overview"),
    "version_signoff": Doc("Get who may sign a version"),
    "receive_labelstudio_webhook": Doc("Receive a Label Studio webhook"),
}

#: Descriptions of parameters by name, for those the route does not describe itself.
PARAMETERS: dict[str, str] = {
    "project_id": "the project's id (digits) or its name, e.g. `street-scenes`",
    "user_id": "a user's id",
    "token_id": "an API token's id (from the token list; not the token itself)",
    "name": "the label schema's name",
    "dataset": "the dataset's name, e.g. `street`",
    "version": f"{_VERSION}'s name, e.g. `v3`",
    "item_id": "an item's (image's) id",
    "annotation_id": "a label's id",
    "run_id": "an auto-label run's id",
    "calibration_id": "a calibration record's id",
    "queue_id": "a review-queue entry's id",
    "evaluation_id": "an evaluation's id",
    "kind": "`governance.html`, `gate-report.json`, `gate-report.txt` or `gate-report.junit.xml`",
    "offset": "rows to skip",
    "limit": "page size: the most rows to return",
    "actor": "only events of this username",
    "object_type": "only events on this kind of object, e.g. `dataset_version`",
    "object_id": "only events on the object of this id (with `object_type`)",
    "state": "only runs in this state",
    "version_id": "only entries of the dataset version of this id",
    "reason": "only entries queued for this reason, e.g. `low_confidence`",
    "resolved": "list resolved entries instead of open ones",
    "format": "`coco` (JSON); `yolo`, `voc`, `classes-csv`, `classes-json`, `cvat`: a zip of label files "
    "(`classes-folder` is refused: that format is the images)",
    "ref": "a model version as `NAME@VERSION`, e.g. `street-detector@2`",
    "rounds": "how many rounds of the loop to follow from the model (each adds the versions, runs and models "
    "one step further)",
    "X-Labelgate-Secret": "the shared webhook secret (`LABELGATE_LABELSTUDIO_WEBHOOK_SECRET`)",
}

#: Where one operation's parameter means something else than ``PARAMETERS`` says.
PARAMETER_OVERRIDES: dict[tuple[str, str], str] = {
    ("get_schema_version", "version"): "the schema version's number (1, 2, ...)",
    ("diff_schema_versions", "from"): "the older schema version's number",
    ("diff_schema_versions", "to"): "the newer schema version's number",
    ("list_review_queue", "run_id"): "only entries of this auto-label run",
    ("list_project_evaluations", "limit"): "how many of the newest evaluations to return",
    ("get_model_card", "format"): "`json` (default) or `html`",
}

#: Request-body examples for bodies whose model carries none (a form, free JSON, models defined elsewhere).
#: ``tests/service/test_api_docs.py`` validates each against its schema.
REQUEST_EXAMPLES: dict[str, Any] = {
    "import_annotations": {"format": "yolo", "path": "street-v3-labels"},
    "receive_labelstudio_webhook": {
        "action": "ANNOTATION_CREATED",
        "project": {"id": 3},
        "task": {"id": 41, "data": {"image": "/data/upload/3/street_0001.png"}},
        "annotation": {
            "id": 97,
            "completed_by": 2,
            "result": [
                {
                    "type": "rectanglelabels",
                    "original_width": 640,
                    "original_height": 480,
                    "value": {"x": 10.0, "y": 20.0, "width": 15.0, "height": 25.0, "rectanglelabels": ["car"]},
                }
            ],
        },
    },
    "create_schema": {
        "name": "street-objects",
        "classes": [
            {"name": "car", "geometry": "box", "attributes": {"occluded": {"type": "bool"}}},
            {"name": "person"},
        ],
    },
    "publish_schema_version": {"classes": [{"name": "car"}, {"name": "person"}, {"name": "bicycle"}]},
    "create_dataset": {"name": "street", "description": "dash-cam frames, city centre", "is_golden": False},
    "create_dataset_version": {"version": "v3", "parent": "v2", "schema": "street-objects@2", "source_dir": "batch-3"},
    "change_version_state": {"state": "candidate", "reason": "labelling finished"},
    "bulk_create_annotations": {
        "provenance": {"kind": "human"},
        "annotations": [
            {"item_uri": "street_0001.png", "category": "car", "bbox": [10, 20, 120, 80]},
            {
                "item_id": 7,
                "category": "person",
                "geometry_type": "polygon",
                "geometry": {"polygons": [[0, 0, 9, 0, 9, 9]]},
            },
        ],
    },
    "correct_annotation": {"bbox": [12, 20, 118, 80], "reason": "box was too wide"},
    "review_annotation": {"decision": "accept", "comment": "matches the image"},
}
