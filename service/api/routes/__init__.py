"""API routers; each is mounted under ``/api/v1`` with the permission check applied."""

from fastapi import APIRouter

from service.api.routes import annotations as lineage_annotations
from service.api.routes import (
    audit,
    audit_export,
    capabilities,
    gates,
    health,
    kpis,
    model_lineage,
    overview,
    projects,
    releases,
    users,
    webhooks,
)
from service.api.routes import datasets as lineage_datasets
from service.api.routes import diff as label_diff
from service.api.routes import evaluation_items as evaluation_cells
from service.api.routes import inference as autolabel
from service.api.routes import lineage as lineage_queries
from service.api.routes import models as model_cards
from service.api.routes import schemas as lineage_schemas

ROUTERS: list[APIRouter] = [health.router, users.router, projects.router, audit.router, audit_export.router]
ROUTERS += [lineage_schemas.router, lineage_datasets.router, lineage_annotations.router, lineage_queries.router]
ROUTERS += [autolabel.router]
ROUTERS += [gates.router, releases.router, capabilities.router]
ROUTERS += [kpis.router, label_diff.router, webhooks.router]
ROUTERS += [overview.router]
ROUTERS += [evaluation_cells.router]
ROUTERS += [model_lineage.router, model_cards.router]

__all__ = ["ROUTERS"]
