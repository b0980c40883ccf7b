"""Fixtures of the inference tests: the real tiny detector (trained once, cached), a real workspace (git + DVC)
with a shapes schema, an unlabelled pool, a golden set, the registered model, and actors per role.

The tiny models are cached under ``~/.cache/labelgate/test-models-<pyproject hash>`` (:func:`model_cache`),
keyed by their parameters, so only the first run on a machine trains them (about a minute each on two cores).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from inference.runner import RunnerOptions, RunSummary, execute_run
from inference.runs import queue_run
from inference.tiny import TinyModel, ensure_tiny_model
from inference.tiny_tasks import ensure_tiny_task_model
from lineage.context import Actor
from lineage.datasets.dvcrepo import init_repo
from lineage.db import session_scope
from lineage.models import Annotation, AuditEvent, ReviewQueueItem
from service.demo.shapes import ShapesWorld, build_shapes_world, register_tiny
from service.settings import Settings
from tests.factories import World, actor_for, make_world

POOL_ITEMS = 24
GOLDEN_ITEMS = 40


def model_cache(request: pytest.FixtureRequest) -> Path:
    """Where trained tiny models are kept between test runs: ``~/.cache/labelgate/test-models-<pyproject
    hash>`` (``LABELGATE_TEST_MODEL_CACHE`` overrides it). The folder is keyed by ``pyproject.toml``'s SHA-256,
    as CI allows for caches, and inside it each model by its own key (its generator's and training's
    parameters, its network and the Ultralytics version), so a clean checkout trains each once per key."""
    override = os.environ.get("LABELGATE_TEST_MODEL_CACHE")
    if override:
        return Path(override)
    digest = hashlib.sha256((Path(__file__).resolve().parents[2] / "pyproject.toml").read_bytes()).hexdigest()
    return Path.home() / ".cache" / "labelgate" / f"test-models-{digest[:16]}"


@pytest.fixture(scope="session")
def tiny(request: pytest.FixtureRequest) -> TinyModel:
    """The trained tiny shapes detector (square, circle, triangle)."""
    return ensure_tiny_model(model_cache(request))


@pytest.fixture(scope="session")
def tiny_task(request: pytest.FixtureRequest) -> Callable[[str], TinyModel]:
    """``tiny_task("segment" | "pose" | "classify")``: the trained tiny model of that task (cached like the
    detector; the first call on a machine trains it, under a minute each on two cores)."""
    made: dict[str, TinyModel] = {}

    def get(task: str) -> TinyModel:
        if task not in made:
            made[task] = ensure_tiny_task_model(task, model_cache(request))  # type: ignore[arg-type]
        return made[task]

    return get


@dataclass
class Env:
    """A workspace with a project, its people, the shapes data and the registered tiny model."""

    settings: Settings
    engine: Engine
    world: World
    shapes: ShapesWorld
    model_ref: str
    model_id: int
    tiny: TinyModel

    @property
    def project_id(self) -> int:
        return self.world.project.id or 0

    @property
    def ml(self) -> Actor:
        return actor_for(self.world.users["ml_engineer"], request_id="req-ml")

    @property
    def reviewer(self) -> Actor:
        return actor_for(self.world.users["reviewer"], request_id="req-rev")

    @property
    def signals(self) -> Path:
        return self.settings.workspace / "signals"

    def queue(self, **overrides: object) -> int:
        args: dict[str, object] = {
            "version": self.shapes.pool,
            "model": self.model_ref,
            "threshold": 0.3,
            "review_band": 0.1,
            "batch_size": 8,
            "device": "cpu",
        }
        args.update(overrides)
        with session_scope(self.engine) as s:
            run, _ = queue_run(s, actor=self.ml, project_id=self.project_id, **args)  # type: ignore[arg-type]
            return run.id or 0

    def execute(self, run_id: int, **options: object) -> RunSummary:
        opts = RunnerOptions(signals_dir=self.signals, **options)  # type: ignore[arg-type]
        return execute_run(self.engine, run_id=run_id, actor=self.ml, repo_dir=self.settings.repo_dir, options=opts)

    def counts(self, run_id: int) -> tuple[int, int]:
        """(annotations, queue rows) of a run."""
        with Session(self.engine) as s:
            anns = s.exec(select(func.count()).where(Annotation.autolabel_run_id == run_id)).one()
            rows = s.exec(select(func.count()).where(ReviewQueueItem.autolabel_run_id == run_id)).one()
            return int(anns), int(rows)

    def actions(self, prefix: str) -> list[str]:
        with Session(self.engine) as s:
            stmt = select(AuditEvent.action).where(col(AuditEvent.action).startswith(prefix))
            return list(s.exec(stmt.order_by(col(AuditEvent.seq))))


@pytest.fixture
def env(settings: Settings, engine: Engine, tiny: TinyModel, tmp_path: Path) -> Iterator[Env]:
    settings.workspace.mkdir(parents=True, exist_ok=True)
    init_repo(settings.repo_dir, remote=settings.dvc_remote)
    with Session(engine, expire_on_commit=False) as s:
        world = make_world(s)
    ml = actor_for(world.users["ml_engineer"])
    with session_scope(engine) as s:
        shapes = build_shapes_world(
            s,
            actor=ml,
            project_id=world.project.id or 0,
            repo_dir=settings.repo_dir,
            scratch=tmp_path / "generated",
            pool_items=POOL_ITEMS,
            golden_items=GOLDEN_ITEMS,
        )
        model = register_tiny(
            s,
            actor=ml,
            project_id=world.project.id or 0,
            schema_version_id=shapes.schema_version_id,
            tiny=tiny,
            repo_dir=settings.repo_dir,
        )
        ref, model_id = f"{model.name}@{model.version}", model.id or 0
    yield Env(settings, engine, world, shapes, ref, model_id, tiny)
