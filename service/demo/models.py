"""The demo's chapter on models on the record: the tiny detector's stored weights and training lineage, its
card, and the leakage gate: it passes against the shapes golden set, then blocks once the golden set is
"topped up" with images the detector was trained on (a realistic mistake: golden items sampled from data a
model already saw make its golden-set error flattering).

Data is written by the builders (``service.demo.shapes``); everything a person does is a verb.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from inference.tiny import ShapesSpec, TinyTrainConfig, generator_config_hash, write_shapes
from service import actions
from service.demo.shapes import add_labelled_version

if TYPE_CHECKING:
    from service.demo.story import DemoState

__all__ = ["LEAKED_ITEMS", "models_chapter"]

#: How many training images the demo's golden set is topped up with.
LEAKED_ITEMS = 12
_GOLDEN_ITEMS, _GOLDEN_SEED = 150, 2000  # as the auto-labelling chapter built shapes-golden@1


def models_chapter(
    state: DemoState, say: Callable[[str], None], check: Callable[..., None], *, golden_items: int = _GOLDEN_ITEMS
) -> None:
    """Narrate the tiny detector on the record, then check ``shapes-pool@v1`` with ``policies/shapes-models.yaml``
    against ``shapes-golden@1`` (passes) and against a ``shapes-golden@2`` holding training images (blocks)."""
    pid, settings = state.project_id, state.settings
    with state.as_("mia") as ctx:
        tiny = next((m for m in actions.models_of(ctx, pid) if m.name == "tiny-shapes"), None)
        if tiny is None:
            say("skipped: no tiny detector was registered (the auto-labelling chapter did not run)")
            return
        ref = f"{tiny.name}@{tiny.version}"
        detail = actions.model_detail(ctx, pid, ref)
        card_path = settings.workspace / "reports" / f"model-card-{tiny.name}.html"
        written = actions.export_model(ctx, pid, ref, settings.workspace / "reports", overwrite=True)
    data = ", ".join(f"{d['version']} ({d['role']}, {d['item_count']} items)" for d in detail["training_data"])
    say(f"labelgate model show {ref}: weights {tiny.weights_uri} (git {str(tiny.weights_rev)[:12]}), {data}")
    say(f"labelgate model export {ref} {written.parent}/ → {written.name}, the registered bytes (SHA-256 re-checked)")
    _write_card(state, ref, card_path, say)
    check(state, "shapes-pool@v1", "policies/shapes-models.yaml", golden="shapes-golden@1")
    with state.as_("mia") as ctx:
        leaked = _top_up_golden(ctx, settings.workspace / "generated", pid, settings.repo_dir, golden_items)
    say(f"mia tops the golden set up with {LEAKED_ITEMS} images taken from shapes-train@v1 → {leaked}")
    check(state, "shapes-pool@v1", "policies/shapes-models.yaml", golden=leaked)


def _write_card(state: DemoState, ref: str, path: Path, say: Callable[[str], None]) -> None:
    """The model card, as ``labelgate model card REF --format html`` writes it."""
    from service.actions.model_cards import model_card_html

    with state.as_("mia") as ctx:
        html = model_card_html(ctx, state.project_id, ref)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    say(f"labelgate model card {ref} --format html → {path.name} (intended use, training data, metrics, caveats)")


def _top_up_golden(ctx: actions.Context, scratch: Path, project_id: int, repo_dir: Path, golden_items: int) -> str:
    """``shapes-golden@v2`` = ``@v1``'s images plus the first :data:`LEAKED_ITEMS` training images (renamed),
    with their generated boxes, registered as the golden set's next version; returns ``NAME@VERSION``."""
    spec, config = ShapesSpec(), TinyTrainConfig()
    folder = scratch / "shapes-golden-v2"
    if folder.exists():
        shutil.rmtree(folder)
    golden = write_shapes(folder, spec, count=golden_items, seed=_GOLDEN_SEED)
    source = scratch / "shapes-train-copy"
    train = write_shapes(source, spec, count=config.train_images, seed=config.seed)
    truth = dict(golden)
    for name in sorted(train)[:LEAKED_ITEMS]:
        renamed = f"topup-{name}"
        shutil.copyfile(source / name, folder / renamed)
        truth[renamed] = train[name]
    shutil.rmtree(source)
    add_labelled_version(
        ctx.session,
        actor=ctx.actor,
        project_id=project_id,
        repo_dir=repo_dir,
        dataset="shapes-golden",
        version="v2",
        source_dir=folder,
        truth=truth,
        schema_version_id=_shapes_schema(ctx, project_id),
        generator_hash=generator_config_hash(spec, count=golden_items + LEAKED_ITEMS, seed=_GOLDEN_SEED),
        golden=True,
    )
    ctx.session.flush()
    golden_set = actions.register_golden(ctx, project_id, name="shapes-golden", dataset="shapes-golden", version="v2")
    return f"{golden_set.name}@{golden_set.version}"


def _shapes_schema(ctx: actions.Context, project_id: int) -> int:
    from lineage.schemas import resolve_schema_ref

    return resolve_schema_ref(ctx.session, project_id=project_id, ref="shapes").id or 0
