"""``labelgate review list|select``: the review queue and active-learning selection, on the local workspace
or with ``--server`` against the API (``service.cli.door``), printed from the API's response models in
both modes."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, cast

import typer

from service.cli.common import exits_cleanly, out
from service.cli.door import Remote, local, remote
from service.cli.lazy import lazy_module
from service.cli.lineage import JsonOpt, ProjectOpt
from service.cli.table import print_table

if TYPE_CHECKING:
    from inference import active
    from service import actions
    from service.api.schemas import inference as pub
else:
    actions = lazy_module("service.actions")
    active = lazy_module("inference.active")
    pub = lazy_module("service.api.schemas.inference")


__all__ = ["review_app"]

review_app = typer.Typer(help="The review queue and active-learning selection.", no_args_is_help=True)

#: The largest page the API serves; a longer ``review list`` is read page by page.
_API_PAGE = 500


def _remote_queue(
    api: Remote, project: str | None, *, run: int | None, reason: str | None, limit: int
) -> list[pub.QueuePublic]:
    """Up to ``limit`` open review-queue rows from the server, read a page (at most 500) at a time."""
    path = f"/projects/{api.project_id(project)}/review-queue"
    query = {k: v for k, v in {"run_id": run, "reason": reason}.items() if v is not None}
    found: list[pub.QueuePublic] = []
    while len(found) < limit:
        size = min(_API_PAGE, limit - len(found))
        page = api.get(path, params={**query, "offset": len(found), "limit": size})
        found.extend(pub.QueuePublic.model_validate(q) for q in page)
        if len(page) < size:
            break
    return found


@review_app.command("list")
@exits_cleanly
def review_list(
    run: Annotated[int | None, typer.Option(help="only rows of this run")] = None,
    reason: Annotated[str | None, typer.Option(help="no_label, uncertain, unreadable, active_learning")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Open review-queue rows, least confident first."""
    with remote() as api:
        if api is not None:
            rows = _remote_queue(api, project, run=run, reason=reason, limit=limit)
        else:
            with local() as ctx:
                entries = actions.review_queue(
                    ctx, actions.find_project(ctx, project), run_id=run, reason=reason, limit=limit
                )
                rows = [pub.queue_public(e) for e in entries]
    if as_json:
        out.print(json.dumps([r.model_dump(mode="json") for r in rows], indent=2, default=str))
        return
    print_table(
        ("ID", "REASON", "PRIORITY", "RUN", "LABELS", "ITEM"),
        [(r.id, r.reason, f"{r.priority:.3f}", r.autolabel_run_id or "-", len(r.labels), r.uri) for r in rows],
        empty="the review queue is empty",
    )


@review_app.command("select")
@exits_cleanly
def review_select(
    run_id: int,
    fraction: Annotated[float, typer.Option(min=0.0001, max=1.0, help="share of the pool")] = 0.03,
    uncertainty: Annotated[str, typer.Option(help="entropy or margin")] = "entropy",
    diversity: Annotated[str, typer.Option(help="kcenter, kmeans or none")] = "kcenter",
    seed: int = 0,
    project: ProjectOpt = None,
) -> None:
    """Active learning: queue the next human batch from a run's pool (uncertainty, thinned for diversity)."""
    with remote() as api:
        if api is not None:
            path = f"/projects/{api.project_id(project)}/autolabel-runs/{run_id}/active-learning"
            body = {"fraction": fraction, "uncertainty": uncertainty, "diversity": diversity, "seed": seed}
            picked = [pub.QueuePublic.model_validate(q) for q in api.post(path, json=body)]
        else:
            with local() as ctx:
                entries = actions.select_batch(
                    ctx,
                    actions.find_project(ctx, project),
                    run_id,
                    fraction=fraction,
                    uncertainty=cast(active.Uncertainty, uncertainty),  # checked by the verb
                    diversity=cast(active.Diversity, diversity),
                    seed=seed,
                )
                picked = [pub.queue_public(e) for e in entries]
    out.print(f"queued {len(picked)} items for people: {', '.join(str(r.item_id) for r in picked)}")
