"""Which model versions a dataset version's live labels come from, and the links to their model cards.

Kept apart from ``lineage.reports.model_card`` so the governance report (``lineage.reports.html``) can link
the cards without importing the card's builder, which renders through ``lineage.reports.html``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from sqlalchemy import ColumnElement, exists, func
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from lineage.labels.labelset import DELETED
from lineage.models import Annotation, ModelVersion, Project

__all__ = ["card_href", "live_model_labels", "model_refs_of_version"]


def live_model_labels() -> ColumnElement[bool]:
    """The condition of a live label (not deleted, superseded by no row), as ``lineage.labels.labelset``
    defines the live set, for queries across versions."""
    newer = aliased(Annotation)
    return (col(Annotation.geometry_type) != DELETED) & ~exists().where(col(newer.supersedes_id) == col(Annotation.id))


def card_href(project: str, name: str, version: str, *, fmt: str = "html") -> str:
    """The API path of a model's card (``/api/v1/projects/{project}/models/{name}@{version}/card``)."""
    ref = quote(f"{name}@{version}", safe="@")
    return f"/api/v1/projects/{quote(project, safe='')}/models/{ref}/card?format={fmt}"


def model_refs_of_version(session: Session, *, version_id: int) -> list[dict[str, Any]]:
    """The model versions whose labels are live in a dataset version, with their live label counts and the
    relative link to each card (for the governance report); one query plus the project's name."""
    stmt = (
        sa_select(
            col(ModelVersion.id),
            col(ModelVersion.name),
            col(ModelVersion.version),
            col(ModelVersion.project_id),
            func.count(),
        )
        .join(Annotation, col(Annotation.model_version_id) == col(ModelVersion.id))
        .where(col(Annotation.dataset_version_id) == version_id, live_model_labels())
        .group_by(col(ModelVersion.id), col(ModelVersion.name), col(ModelVersion.version), col(ModelVersion.project_id))
        .order_by(col(ModelVersion.name), col(ModelVersion.version))
    )
    rows = list(session.execute(stmt).tuples())
    projects = {pid: session.get(Project, pid) for pid in {r[3] for r in rows}}
    out = []
    for mid, name, version, pid, n in rows:
        project = projects.get(pid)
        pname = project.name if project else str(pid)
        out.append(
            {
                "model": f"{name}@{version}",
                "model_version_id": int(mid or 0),
                "live_labels": int(n),
                "card_html": card_href(pname, name, version),
                "card_json": card_href(pname, name, version, fmt="json"),
            }
        )
    return out
