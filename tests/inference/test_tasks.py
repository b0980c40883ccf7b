"""Auto-labelling beyond boxes with real tiny models (segment, pose, classify), a real workspace and SQLite:
labels per the Issue 13 contract with full provenance, calibration per class, review routing, refusals."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from inference.calibrate import calibrate
from inference.registry import register_model
from inference.review import add_label, resolve
from inference.runner import RunnerOptions, RunSummary, execute_run
from inference.runs import queue_run
from inference.signals import load_signals
from inference.tiny import TinyModel
from inference.tiny_tasks import TRIANGLE_POINTS, shape_mask, triangle_keypoints
from lineage.audit.verify import verify_database
from lineage.context import Actor
from lineage.datasets import list_items, resolve_version
from lineage.datasets.dvcrepo import init_repo
from lineage.db import session_scope
from lineage.errors import InvalidInput
from lineage.labels.geometry import check_geometry
from lineage.models import Annotation, Item, ReviewQueueItem
from quality_gates.keypoints import KeypointSet, match_keypoints_by_oks
from quality_gates.masks import MaskSet, match_masks_by_iou
from quality_gates.rle import Rle
from quality_gates.segmentation import rle_from_polygons
from service.settings import Settings
from tests.factories import World, actor_for, make_world
from tests.inference.task_world import TaskWorld, build_task_world, label_class

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

CASES = [("segment", "polygon"), ("segment", "mask"), ("pose", "keypoints"), ("classify", "tag")]


@dataclass
class TaskEnv:
    settings: Settings
    engine: Engine
    world: World
    scratch: Path
    models: Callable[[str], TinyModel]

    @property
    def project_id(self) -> int:
        return self.world.project.id or 0

    @property
    def ml(self) -> Actor:
        return actor_for(self.world.users["ml_engineer"], request_id="req-ml")

    def build(self, task: str, geometry: str | None = None, **kw: object) -> TaskWorld:
        with session_scope(self.engine) as s:
            return build_task_world(
                s, actor=self.ml, project_id=self.project_id, repo_dir=self.settings.repo_dir, scratch=self.scratch,
                task=task, model=self.models(task), geometry=geometry, **kw,  # type: ignore[arg-type]
            )  # fmt: skip

    def queue(self, tw: TaskWorld, **overrides: object) -> int:
        args: dict[str, object] = {"version": tw.pool, "model": tw.model_ref, "threshold": 0.3, "review_band": 0.1}
        args.update({"batch_size": 8, "device": "cpu", **overrides})
        with session_scope(self.engine) as s:
            run, _ = queue_run(s, actor=self.ml, project_id=self.project_id, **args)  # type: ignore[arg-type]
            return run.id or 0

    def execute(self, run_id: int) -> RunSummary:
        opts = RunnerOptions(signals_dir=self.settings.workspace / "signals")
        return execute_run(self.engine, run_id=run_id, actor=self.ml, repo_dir=self.settings.repo_dir, options=opts)

    def rows(self, run_id: int) -> tuple[list[Annotation], list[ReviewQueueItem]]:
        with Session(self.engine) as s:
            anns = s.exec(select(Annotation).where(Annotation.autolabel_run_id == run_id).order_by(col(Annotation.id)))
            queued = s.exec(select(ReviewQueueItem).where(ReviewQueueItem.autolabel_run_id == run_id))
            return list(anns), list(queued)

    def items(self, tw: TaskWorld) -> dict[int, Item]:
        with Session(self.engine) as s:
            _, v = resolve_version(s, project_id=self.project_id, ref=tw.pool)
            return {i.id or 0: i for i in list_items(s, version_id=v.id or 0)}


@pytest.fixture
def tenv(
    settings: Settings, engine: Engine, tmp_path: Path, tiny_task: Callable[[str], TinyModel]
) -> Iterator[TaskEnv]:
    settings.workspace.mkdir(parents=True, exist_ok=True)
    init_repo(settings.repo_dir, remote=settings.dvc_remote)
    with Session(engine, expire_on_commit=False) as s:
        world = make_world(s)
    yield TaskEnv(settings, engine, world, tmp_path / "generated", tiny_task)


def correct(tw: TaskWorld, anns: list[Annotation], items: dict[int, Item]) -> np.ndarray:
    """Whether each model label is right, judged against the generator's exact shapes independently of the
    calibration code: mask IoU >= 0.5 (segment), OKS >= 0.5 (pose), the drawn class (classify)."""
    truth = [(item_id, b) for item_id, it in items.items() for b in tw.truth[it.uri]]
    if not anns:
        return np.zeros(0, dtype=bool)
    if tw.task == "classify":
        drawn = {item_id: b.category for item_id, b in truth}
        return np.array([drawn[a.item_id] == a.category for a in anns])
    names = sorted({b.category for _, b in truth} | {a.category for a in anns})
    ids = np.array([i for i, _ in truth]), np.array([a.item_id for a in anns])
    cls = np.array([names.index(b.category) for _, b in truth]), np.array([names.index(a.category) for a in anns])
    score = np.array([a.confidence for a in anns])
    if tw.task == "segment":
        n = tw.spec.size
        gt = MaskSet.build(ids[0], cls[0], [Rle.from_mask(shape_mask(b, n, n)) for _, b in truth])
        masks = [
            Rle.from_string(a.geometry["rle"]["counts"], n, n)  # type: ignore[index]
            if a.geometry_type == "mask"
            else rle_from_polygons(a.geometry["polygons"], n, n)  # type: ignore[index]
            for a in anns
        ]
        dt_match, _, _ = match_masks_by_iou(gt, MaskSet.build(ids[1], cls[1], masks, score=score), iou_threshold=0.5)
        return np.asarray(dt_match >= 0)
    gtk = KeypointSet.build(
        ids[0], cls[0], [triangle_keypoints(b) for _, b in truth],
        xywh=[[b.x, b.y, b.w, b.h] for _, b in truth], area=[b.w * b.h for _, b in truth],
    )  # fmt: skip
    dtk = KeypointSet.build(ids[1], cls[1], [a.geometry["keypoints"] for a in anns], score=score)  # type: ignore[index]
    dt_match, _, _ = match_keypoints_by_oks(gtk, dtk, sigmas=TRIANGLE_POINTS["sigmas"], oks_threshold=0.5)
    return np.asarray(dt_match >= 0)


@pytest.mark.parametrize(("task", "geometry"), CASES)
def test_a_run_writes_contract_labels_with_full_provenance(tenv: TaskEnv, task: str, geometry: str) -> None:
    tw = tenv.build(task, geometry)
    model = tenv.models(task)
    run_id = tenv.queue(tw)
    summary = tenv.execute(run_id)
    items = tenv.items(tw)
    assert summary.state == "succeeded" and summary.processed == len(items) == 16
    anns, queued = tenv.rows(run_id)
    assert anns, f"the tiny {task} model labels shapes at 0.3"
    k = len(TRIANGLE_POINTS["names"]) if geometry == "keypoints" else None
    for a in anns:
        assert a.kind == "model" and a.model_version_id == tw.model_id and a.weights_sha256 == model.sha256
        assert a.autolabel_run_id == run_id and a.threshold == 0.3 and a.confidence is not None
        assert 0.3 <= a.confidence <= 1 and a.geometry_type == geometry and a.category in model.classes
        it = items[a.item_id]
        image = (it.width, it.height)
        assert (
            check_geometry(a.geometry_type, a.x, a.y, a.w, a.h, a.geometry, image_size=image, keypoint_count=k) is None
        )
    if geometry == "mask":
        assert all(a.geometry["rle"]["size"] == [tw.spec.size, tw.spec.size] for a in anns)  # type: ignore[index]
    if task == "classify":
        assert max(Counter(a.item_id for a in anns).values()) == 1  # single-label: one tag per item at most
        assert all(a.x is None and a.w is None and a.geometry is None for a in anns)
    assert {a.item_id for a in anns} | {q.item_id for q in queued} == set(items)  # every item is done
    assert all(q.reason in ("no_label", "uncertain") and q.priority < 0.3 for q in queued)
    right = correct(tw, anns, items)
    assert right.mean() >= 0.75, (task, right.mean())
    with Session(tenv.engine) as s:
        assert verify_database(s).ok
    signals = load_signals(tenv.settings.workspace / "signals", run_id=run_id)
    assert len(signals) == 16 and np.all((signals.entropy >= 0) & (signals.entropy <= 1))
    assert np.all((signals.margin >= 0) & (signals.margin <= 1))


@pytest.mark.parametrize(("task", "geometry"), [("segment", "polygon"), ("pose", "keypoints"), ("classify", "tag")])
def test_calibrated_thresholds_are_per_class_and_separate_right_from_wrong(
    tenv: TaskEnv, task: str, geometry: str
) -> None:
    tw = tenv.build(task, geometry)
    floor = tenv.queue(tw, threshold=0.05, review_band=0.0)
    calibrated = tenv.queue(tw, threshold=0.05, review_band=0.0, reuse=False)
    outcome = calibrate(
        tenv.engine, actor=tenv.ml, project_id=tenv.project_id, model=tw.model_ref, golden=tw.golden_set,
        repo_dir=tenv.settings.repo_dir, device="cpu", target_error=0.2, apply_to_run=calibrated, strategy="f1",
    )  # fmt: skip
    report = outcome.report
    golden_counts = Counter(b.category for shapes in tw.golden_truth.values() for b in shapes)
    if task == "classify":
        golden_counts = Counter(shapes[0].category for shapes in tw.golden_truth.values())
    assert {c.name: c.n_gt for c in report.classes} == {c: golden_counts.get(c, 0) for c in tenv.models(task).classes}
    assert outcome.items == 30
    f1 = report.thresholds("f1")
    for c in report.classes:
        if c.n_gt:
            assert c.f1_threshold is not None and c.f1 is not None and c.f1 >= 0.6, (task, c)
            assert c.tbal is None or (c.tbal.upper < 0.2 and c.tbal.threshold >= 0.0)
    for run_id in (floor, calibrated):
        tenv.execute(run_id)
    items = tenv.items(tw)
    low, _ = tenv.rows(floor)
    high, _ = tenv.rows(calibrated)
    assert all(a.threshold == f1[a.category] and a.confidence >= a.threshold for a in high)  # type: ignore[operator]
    assert len(high) <= len(low)
    ok_low, ok_high = correct(tw, low, items), correct(tw, high, items)
    assert ok_high.mean() >= ok_low.mean(), (task, ok_high.mean(), ok_low.mean())
    assert ok_high.sum() >= 0.5 * ok_low.sum()  # it drops wrong labels, not most of the right ones


@pytest.mark.parametrize("task", ["segment", "classify"])
def test_low_confidence_items_go_to_review(tenv: TaskEnv, task: str) -> None:
    tw = tenv.build(task)
    run_id = tenv.queue(tw, threshold=0.97, review_band=0.9)
    tenv.execute(run_id)
    anns, queued = tenv.rows(run_id)
    assert queued, "at 0.97 some items are left to people"
    assert all(a.confidence is not None and a.confidence >= 0.97 for a in anns)
    assert all(q.reason in ("no_label", "uncertain") and q.priority < 0.97 for q in queued)
    assert len({q.item_id for q in queued}) == len(queued)
    items = tenv.items(tw)
    assert {a.item_id for a in anns} | {q.item_id for q in queued} == set(items)
    if task == "classify":  # a reviewer tags a routed item by hand: a human tag row, validated like any label
        reviewer = actor_for(tenv.world.users["reviewer"], request_id="req-rev")
        q = queued[0]
        drawn = tw.truth[items[q.item_id].uri][0].category
        with session_scope(tenv.engine) as s:
            ann_id = add_label(
                s, actor=reviewer, project_id=tenv.project_id, queue_id=q.id or 0, category=drawn, geometry_type="tag"
            )
            resolve(s, actor=reviewer, project_id=tenv.project_id, queue_id=q.id or 0)
        with Session(tenv.engine) as s:
            tag = s.get(Annotation, ann_id)
            assert tag is not None and tag.kind == "human" and tag.geometry_type == "tag" and tag.x is None


def test_a_multi_label_schema_gets_every_class_above_its_threshold(tenv: TaskEnv) -> None:
    tw = tenv.build("classify", multi_label=True)
    run_id = tenv.queue(tw, threshold=0.02, review_band=0.0)
    tenv.execute(run_id)
    anns, _ = tenv.rows(run_id)
    per_item = Counter(a.item_id for a in anns)
    assert max(per_item.values()) > 1 and all(a.confidence >= 0.02 for a in anns)  # type: ignore[operator]
    assert len({(a.item_id, a.category) for a in anns}) == len(anns)  # one row per (item, class)


def test_a_model_of_the_wrong_task_is_refused(tenv: TaskEnv) -> None:
    tags = tenv.build("classify")
    with session_scope(tenv.engine) as s, pytest.raises(InvalidInput, match="segment model") as info:
        register_model(
            s, actor=tenv.ml, project_id=tenv.project_id, name="seg-on-tags", version="1",
            weights=tenv.models("segment").weights, schema_version_id=tags.schema_version_id,
            repo_dir=tenv.settings.repo_dir,
        )  # fmt: skip
    assert "classify schema" in info.value.message and info.value.field == "model"
    with pytest.raises(InvalidInput, match=r"classify model .* segment schema"):
        outlines = tenv.build("segment", register=False)
        tenv.queue(tags, version=outlines.pool)
    with session_scope(tenv.engine) as s:
        from lineage.schemas import create_schema

        four = {"names": ("a", "b", "c", "d"), "skeleton": (), "sigmas": (0.1,) * 4}
        sv = create_schema(
            s, actor=tenv.ml, project_id=tenv.project_id, name="four-points",
            classes=[label_class("triangle", "keypoints", points=four)], repo_dir=tenv.settings.repo_dir,
        )  # fmt: skip
        with pytest.raises(InvalidInput, match=r"predicts 3 keypoints per object.*K=4"):
            register_model(
                s, actor=tenv.ml, project_id=tenv.project_id, name="pose-k", version="1",
                weights=tenv.models("pose").weights, schema_version_id=sv.id or 0,
                repo_dir=tenv.settings.repo_dir,
            )  # fmt: skip


def test_boxes_are_unchanged_for_detectors_registered_without_a_task(tenv: TaskEnv) -> None:
    """A detector's class map carries no task (as before tasks existed) and is read as ``detect``."""
    from inference.registry import model_task

    tags = tenv.build("classify", register=False)
    with session_scope(tenv.engine) as s:
        with pytest.raises(InvalidInput, match="detect model"):
            register_model(
                s, actor=tenv.ml, project_id=tenv.project_id, name="det", version="1",
                weights=tenv.models("classify").weights, schema_version_id=tags.schema_version_id,
            repo_dir=tenv.settings.repo_dir,
                model_names={0: "circle"},
            )  # fmt: skip
        row = register_model(
            s, actor=tenv.ml, project_id=tenv.project_id, name="cls", version="1",
            weights=tenv.models("classify").weights, schema_version_id=tags.schema_version_id,
            repo_dir=tenv.settings.repo_dir,
        )  # fmt: skip
        assert model_task(row) == "classify" and row.class_map["task"] == "classify"
