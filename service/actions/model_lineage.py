"""Verbs of the model loop's lineage: a model version's loop graph (``lineage.model_lineage``), and whether a
caller's lineage answers leave golden datasets out."""

from __future__ import annotations

from inference.registry import resolve_model_ref
from lineage.model_lineage import LoopGraph, model_loop
from lineage.models import Role
from service.actions.context import Context, authorize

__all__ = ["hides_golden", "model_lineage"]


def hides_golden(ctx: Context, project_id: int) -> bool:
    """True when golden datasets are hidden from the caller in the project (annotators; see
    ``lineage.datasets.catalog.hidden_from``), so lineage graphs leave their versions out."""
    return Role.annotator in ctx.roles_in(project_id) and not ctx.user.is_admin


def model_lineage(ctx: Context, project_id: int, ref: str, *, rounds: int = 2) -> LoopGraph:
    """The loop of model ``ref`` (``NAME@VERSION``) of the project: the dataset versions it was trained and
    validated on (through its training node), its auto-label runs, their labels, the versions holding them,
    their releases and the models trained on those; ``rounds`` (2, at most 4) bounds the reach."""
    authorize(ctx, "model_lineage", project_id=project_id)
    model = resolve_model_ref(ctx.session, project_id=project_id, ref=ref)
    return model_loop(
        ctx.session, model_version_id=model.id or 0, rounds=rounds, hide_golden=hides_golden(ctx, project_id)
    )
