"""Regulatory reports rendered as self-contained HTML (no external assets, printable to PDF by a browser).

- ``audit_trail_report``: events of a time range in the form 21 CFR Part 11 §11.10(e) asks for.
- ``governance_report``: a dataset version's data governance under the headings of EU AI Act
  Article 10(2)–(3) (see ``lineage.governance_report``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

from jinja2 import Environment, StrictUndefined, select_autoescape
from sqlmodel import Session

from lineage.audit.query import AuditFilter, list_events
from lineage.audit.verify import verify_database
from lineage.models._base import utcnow

__all__ = ["OLD_NEW_KEYS", "audit_trail_report", "governance_report", "old_and_new", "render"]

# Payload keys that carry a change's before/after values, in the order they are looked up.
OLD_NEW_KEYS = (("from", "to"), ("old", "new"), ("before", "after"))


def _env() -> Environment:
    return Environment(autoescape=select_autoescape(default=True), undefined=StrictUndefined, trim_blocks=True)


def render(template: str, **context: Any) -> str:
    text = resources.files("lineage").joinpath("templates", template).read_text(encoding="utf-8")
    return _env().from_string(text).render(**context)


def old_and_new(payload: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """Split a payload into (old value, new value, the rest) for display; '' when not a change."""
    for old_key, new_key in OLD_NEW_KEYS:
        if old_key in payload or new_key in payload:
            rest = {k: v for k, v in payload.items() if k not in (old_key, new_key)}
            return _show(payload.get(old_key)), _show(payload.get(new_key)), rest
    return "", "", payload


def _show(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


@dataclass(frozen=True, slots=True)
class _ChainStatus:
    ok: bool
    events: int
    head_seq: int | None
    head_hash: str | None
    broken_seq: int | None
    kind: str | None
    reason: str


def audit_trail_report(
    session: Session,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    project_id: int | None = None,
    title: str = "whole workspace",
    limit: int = 100_000,
) -> str:
    """HTML of every event in ``[since, until)`` (UTC), optionally one project's, with the chain status."""
    r = verify_database(session)
    chain = _ChainStatus(
        r.ok, r.events, r.head.seq if r.head else None, r.head.hash if r.head else None, r.broken_seq, r.kind, r.reason
    )
    rows = []
    for e in list_events(session, AuditFilter(since=since, until=until, project_id=project_id), limit=limit):
        old, new, rest = old_and_new(e.payload)
        rows.append(
            {
                "seq": e.seq,
                "ts": e.ts.isoformat(timespec="seconds"),
                "actor": e.actor,
                "action": e.action,
                "object_type": e.object_type,
                "object_id": e.object_id,
                "old": old,
                "new": new,
                "details": json.dumps(rest, sort_keys=True) if rest else "",
                "request_id": e.request_id,
                "hash": e.hash,
            }
        )
    return render(
        "audit_trail.html.j2",
        title=title,
        since=since.isoformat() if since else None,
        until=until.isoformat() if until else None,
        generated_at=utcnow().isoformat(timespec="seconds"),
        chain=chain,
        events=rows,
    )


def governance_report(session: Session, *, version_id: int) -> str:
    """HTML of a version's data governance under EU AI Act Article 10(2)–(3) headings, with stated gaps."""
    from dataclasses import asdict

    from lineage.gates.evaluations import evidence_evaluation
    from lineage.gates.inputs import review_coverage_of
    from lineage.models import Dataset, DatasetVersion, GatePolicy, LabelSchema, LabelSchemaVersion, Project
    from lineage.provenance import version_lineage
    from lineage.release.approvals import approvals_for
    from lineage.reports.model_links import model_refs_of_version

    version = session.get(DatasetVersion, version_id)
    if version is None:
        from lineage.errors import NotFound

        raise NotFound(f"no version {version_id}", field="version")
    dataset = session.get(Dataset, version.dataset_id)
    project = session.get(Project, dataset.project_id) if dataset else None
    lineage = asdict(version_lineage(session, version_id=version_id))
    schema = None
    if version.schema_version_id is not None:
        sv = session.get(LabelSchemaVersion, version.schema_version_id)
        ls = session.get(LabelSchema, sv.schema_id) if sv else None
        if sv is not None:
            schema = {
                "name": ls.name if ls else "?",
                "version": sv.version,
                "content_hash": sv.content_hash,
                "classes": sv.classes,
            }
    # A released version's evidence is the evaluation its release rests on, never a later re-check.
    evaluation = evidence_evaluation(session, version)
    policy = session.get(GatePolicy, evaluation.policy_id) if evaluation else None
    review = review_coverage_of(session, version_id)
    gaps = []
    if schema is None:
        gaps.append("No label schema is attached: class definitions are not pinned.")
    if evaluation is None:
        gaps.append("No gate evaluation: quality, agreement and drift are unmeasured.")
    else:
        gaps += [f"Gate {g['name']} blocks: {g.get('explanation', '')}" for g in evaluation.gates if not g["passed"]]
        gaps += [
            f"Metric {k} could not be computed from the record."
            for k in ("golden_error", "krippendorff_alpha")
            if evaluation.metrics.get(k) is None
        ]
    if review.model_labels and review.reviewed == 0:
        gaps.append("No model label was reviewed by a person.")
    return render(
        "governance.html.j2",
        ref=f"{dataset.name if dataset else '?'}@{version.version}",
        project=project.name if project else "?",
        state=version.state,
        generated_at=utcnow().isoformat(timespec="seconds"),
        lineage=lineage,
        schema=schema,
        policy=policy,
        evaluation=evaluation,
        review=review,
        gaps=gaps,
        approvals=approvals_for(session, version),
        models=model_refs_of_version(session, version_id=version_id),
    )
