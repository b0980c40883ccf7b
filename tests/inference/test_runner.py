"""The batch runner on a real workspace (git + DVC), the real tiny model, SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import Session, select

from inference.executors import LocalExecutor, WorkerSpec
from inference.images import ImageReadError, VersionImages
from inference.lease import run_lease
from inference.registry import register_model
from inference.runner import RunProgress
from inference.runs import cancel_run, get_run, queue_run, run_thresholds, set_class_thresholds
from inference.signals import load_signals
from inference.types import BatchTask, ItemRef
from inference.ultra import PredictOptions
from lineage.audit.verify import verify_database
from lineage.datasets import change_state, dvcrepo, list_items, resolve_version
from lineage.db import session_scope
from lineage.errors import Conflict, InvalidInput, NotFound
from lineage.models import Annotation, AuditEvent, AutoLabelRun, ReviewQueueItem, RunState, VersionState
from quality_gates import BoxSet, match_detections
from tests.inference.conftest import POOL_ITEMS, Env


def _items(env: Env) -> list[tuple[int, str]]:
    with Session(env.engine) as s:
        _, v = resolve_version(s, project_id=env.project_id, ref=env.shapes.pool)
        return [(i.id or 0, i.uri) for i in list_items(s, version_id=v.id or 0)]


def test_a_run_labels_every_item_once_with_full_provenance(env: Env) -> None:
    run_id = env.queue()
    summary = env.execute(run_id)
    assert summary.state == "succeeded" and summary.processed == POOL_ITEMS and summary.items_done == POOL_ITEMS
    with Session(env.engine) as s:
        run = s.get(AutoLabelRun, run_id)
        assert run is not None and run.state == RunState.succeeded and run.device == "cpu"
        assert run.items_done == run.items_total == POOL_ITEMS and (run.images_per_s or 0) > 0
        assert run.started_at is not None and run.finished_at is not None and run.error is None
        anns = list(s.exec(select(Annotation).where(Annotation.autolabel_run_id == run_id)))
        queued = list(s.exec(select(ReviewQueueItem).where(ReviewQueueItem.autolabel_run_id == run_id)))
    assert anns, "the tiny model finds shapes at 0.3"
    for a in anns:
        assert a.kind == "model" and a.model_version_id == env.model_id and a.weights_sha256 == env.tiny.sha256
        assert a.threshold == 0.3 and a.confidence is not None and a.confidence >= 0.3
        assert a.category in {"square", "circle", "triangle"} and a.w and a.h and a.w > 0
    labelled = {a.item_id for a in anns}
    routed = {q.item_id for q in queued}
    assert labelled | routed == {i for i, _ in _items(env)}  # every item is done
    assert len(routed) == len(queued)  # at most one queue row per item and run
    assert all(q.reason in ("no_label", "uncertain") and 0 <= q.priority < 0.3 for q in queued)
    assert summary.labels == len(anns) and summary.routed == len(queued)
    batches = env.actions("autolabel_run.batch")
    assert len(batches) == POOL_ITEMS // 8
    assert env.actions("autolabel_run.")[:2] == ["autolabel_run.queue", "autolabel_run.start"]
    assert env.actions("autolabel_run.")[-1] == "autolabel_run.finish"
    with Session(env.engine) as s:
        assert verify_database(s).ok
    signals = load_signals(env.signals, run_id=run_id)
    assert len(signals) == POOL_ITEMS and signals.features.shape == (POOL_ITEMS, 192)
    assert np.all((signals.entropy >= 0) & (signals.entropy <= 1))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_auto_labels_agree_with_the_truth(env: Env) -> None:
    run_id = env.queue(threshold=0.3, review_band=0.0)
    env.execute(run_id)
    names = ["square", "circle", "triangle"]
    ids = dict((uri, i) for i, uri in _items(env))
    truth = [(ids[uri], b) for uri, boxes in env.shapes.pool_truth.items() for b in boxes]
    gt = BoxSet(
        np.array([i for i, _ in truth]),
        np.array([names.index(b.category) for _, b in truth]),
        np.array([[b.x, b.y, b.w, b.h] for _, b in truth]),
    )
    with Session(env.engine) as s:
        anns = list(s.exec(select(Annotation).where(Annotation.autolabel_run_id == run_id)))
    dt = BoxSet(
        np.array([a.item_id for a in anns]),
        np.array([names.index(a.category) for a in anns]),
        np.array([[a.x, a.y, a.w, a.h] for a in anns]),
        score=np.array([a.confidence for a in anns]),
    )
    overall = match_detections(gt, dt, num_classes=3, iou=0.5).counts(0.3).overall()
    assert overall["precision"] >= 0.8 and overall["recall"] >= 0.6, overall


def test_rerunning_a_finished_run_changes_nothing_and_identical_commands_reuse_the_run(env: Env) -> None:
    run_id = env.queue()
    env.execute(run_id)
    before = env.counts(run_id)
    again = env.execute(run_id)
    assert again.processed == 0 and again.state == "succeeded" and env.counts(run_id) == before
    assert env.queue() == run_id  # the same command again: the same (finished) run, nothing new
    assert env.counts(run_id) == before
    other = env.queue(threshold=0.25)
    assert other != run_id
    fresh = env.queue(reuse=False)
    assert fresh not in (run_id, other)
    with session_scope(env.engine) as s:
        cancel_run(s, actor=env.ml, run=get_run(s, project_id=env.project_id, run_id=other))
    assert env.queue(threshold=0.25) not in (run_id, other, fresh)  # cancelled runs are not reused


def test_per_class_thresholds_are_honoured_and_recorded_on_each_label(env: Env) -> None:
    run_id = env.queue(class_thresholds={"square": None, "circle": 0.2}, threshold=0.4)
    with Session(env.engine) as s:
        t = run_thresholds(s, s.get(AutoLabelRun, run_id))  # type: ignore[arg-type]
    assert t.per_class == {"circle": 0.2, "square": None} and t.default == 0.4
    env.execute(run_id)
    with Session(env.engine) as s:
        anns = list(s.exec(select(Annotation).where(Annotation.autolabel_run_id == run_id)))
    assert anns and not [a for a in anns if a.category == "square"]
    assert {a.threshold for a in anns if a.category == "circle"} <= {0.2}
    assert {a.threshold for a in anns if a.category == "triangle"} <= {0.4}
    assert all(a.confidence is not None and a.threshold is not None and a.confidence >= a.threshold for a in anns)


def test_thresholds_are_validated_and_frozen_once_a_run_started(env: Env) -> None:
    with session_scope(env.engine) as s, pytest.raises(InvalidInput, match="hexagon"):
        queue_run(
            s,
            actor=env.ml,
            project_id=env.project_id,
            version=env.shapes.pool,
            model=env.model_ref,
            threshold=0.3,
            class_thresholds={"hexagon": 0.5},
        )
    with session_scope(env.engine) as s, pytest.raises(InvalidInput, match="threshold"):
        queue_run(
            s, actor=env.ml, project_id=env.project_id, version=env.shapes.pool, model=env.model_ref, threshold=1.5
        )
    run_id = env.queue()
    env.execute(run_id)
    with session_scope(env.engine) as s, pytest.raises(Conflict, match="before it starts"):
        set_class_thresholds(s, actor=env.ml, run=get_run(s, project_id=env.project_id, run_id=run_id), per_class={})


def test_a_released_version_refuses_runs_and_the_refusal_is_audited(env: Env) -> None:
    run_id = env.queue()
    with session_scope(env.engine) as s:
        _, v = resolve_version(s, project_id=env.project_id, ref=env.shapes.pool)
        change_state(s, actor=env.ml, version=v, to=VersionState.candidate)
        change_state(s, actor=env.ml, version=v, to=VersionState.released, repo_dir=env.settings.repo_dir)
    with pytest.raises(Conflict, match="immutable"):
        env.execute(run_id)
    with Session(env.engine) as s:
        run = s.get(AutoLabelRun, run_id)
        assert run is not None and run.state == RunState.failed and "immutable" in (run.error or "")
    assert env.counts(run_id) == (0, 0)
    assert "autolabel_run.fail" in env.actions("autolabel_run.")
    assert "dataset_version.write_refused" in env.actions("dataset_version.")
    with session_scope(env.engine) as s, pytest.raises(Conflict, match="immutable"):
        queue_run(
            s, actor=env.ml, project_id=env.project_id, version=env.shapes.pool, model=env.model_ref, threshold=0.2
        )


def test_a_failure_is_recorded_and_a_rerun_resumes_after_the_cause_is_fixed(env: Env, tmp_path: Path) -> None:
    copy = tmp_path / "copy.pt"
    shutil.copyfile(env.tiny.weights, copy)
    with session_scope(env.engine) as s:
        model = register_model(
            s,
            actor=env.ml,
            project_id=env.project_id,
            name="copy",
            version="1",
            weights=copy,
            schema_version_id=env.shapes.schema_version_id,
            repo_dir=env.settings.repo_dir,
        )
        stored = env.settings.repo_dir / model.weights_uri
    run_id = env.queue(model="copy@1")
    copy.write_bytes(b"the source may change: the registered bytes are the stored copy")
    original = stored.read_bytes()
    stored.chmod(0o644)
    stored.write_bytes(original + b"tampered")
    with pytest.raises(Conflict, match="changed since registration"):
        env.execute(run_id)
    with Session(env.engine) as s:
        run = s.get(AutoLabelRun, run_id)
        assert run is not None and run.state == RunState.failed and "changed since registration" in (run.error or "")
        fail = s.exec(select(AuditEvent).where(AuditEvent.action == "autolabel_run.fail")).one()
        assert "changed since registration" in fail.payload["error"] and fail.object_id == str(run_id)
    stored.write_bytes(original)
    summary = env.execute(run_id)
    assert summary.state == "succeeded" and summary.processed == POOL_ITEMS
    assert "autolabel_run.resume" in env.actions("autolabel_run.")


def test_cancelled_runs_do_not_execute_and_a_held_lease_refuses_a_second_executor(env: Env) -> None:
    run_id = env.queue()
    with run_lease(env.engine, run_id), pytest.raises(Conflict, match="another process"):
        env.execute(run_id)
    with session_scope(env.engine) as s:
        cancel_run(s, actor=env.ml, run=get_run(s, project_id=env.project_id, run_id=run_id), reason="wrong model")
    with pytest.raises(Conflict, match="cancelled"):
        env.execute(run_id)
    with Session(env.engine) as s:
        assert s.get(AutoLabelRun, run_id).state == RunState.cancelled  # type: ignore[union-attr]
    assert env.counts(run_id) == (0, 0)


def test_images_come_from_the_version_even_when_the_cache_object_is_damaged(env: Env) -> None:
    with Session(env.engine) as s:
        _, v = resolve_version(s, project_id=env.project_id, ref=env.shapes.pool)
        items = list_items(s, version_id=v.id or 0)
        assert v.git_revision and v.data_path
        images = VersionImages(env.settings.repo_dir, git_revision=v.git_revision, data_path=v.data_path)
    first = items[0]
    tree = dvcrepo.version_tree(env.settings.repo_dir, v.data_path, rev=v.git_revision)
    assert tree is not None
    local = dvcrepo.object_path(dvcrepo.objects_dir(env.settings.repo_dir), tree[first.uri])
    original = local.read_bytes()
    local.unlink()  # a new file in its place: the source image it is linked to stays intact
    local.write_bytes(b"not the committed bytes")  # the DVC remote still has the right ones
    ref = ItemRef(first.id or 0, first.uri, first.sha256)
    assert images.read(ref) == original
    with pytest.raises(ImageReadError, match="no_such"):
        images.read(ItemRef(0, "no_such.png", first.sha256))
    with pytest.raises(ImageReadError, match="differs"):
        images.read(ItemRef(0, items[1].uri, first.sha256))
    images.close()


def test_unreadable_items_go_to_review_instead_of_stopping_the_run(env: Env) -> None:
    with Session(env.engine) as s:
        _, v = resolve_version(s, project_id=env.project_id, ref=env.shapes.pool)
        items = list_items(s, version_id=v.id or 0)
    spec = WorkerSpec(
        weights=str(env.tiny.weights),
        weights_sha256=env.tiny.sha256,
        device="cpu",
        repo_dir=str(env.settings.repo_dir),
        git_revision=v.git_revision or "",
        data_path=v.data_path or "",
        options=PredictOptions(conf=0.25),
    )
    executor = LocalExecutor(spec)
    refs = (ItemRef(items[0].id or 0, items[0].uri, items[0].sha256), ItemRef(999, "missing.png", "0" * 64))
    try:
        (result,) = list(executor.run([BatchTask(0, refs)]))
    finally:
        executor.close()
    assert result.items[0].error is None and len(result.items[0].detections) >= 1
    assert result.items[1].error is not None and len(result.items[1].detections) == 0


def test_runs_of_other_projects_do_not_exist(env: Env) -> None:
    run_id = env.queue()
    with Session(env.engine) as s, pytest.raises(NotFound, match="no auto-label run"):
        get_run(s, project_id=env.world.other_project.id or 0, run_id=run_id)


def test_an_unreadable_item_is_routed_to_people_and_named_in_the_audit_event(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = _items(env)[3]
    original = VersionImages.read

    def read(self: VersionImages, ref: ItemRef) -> bytes:
        if ref.item_id == broken[0]:
            raise ImageReadError(f"{ref.uri}: simulated unreadable file")
        return original(self, ref)

    monkeypatch.setattr(VersionImages, "read", read)
    run_id = env.queue()
    summary = env.execute(run_id)
    assert summary.state == "succeeded" and summary.errors == 1
    with Session(env.engine) as s:
        row = s.exec(
            select(ReviewQueueItem).where(
                ReviewQueueItem.autolabel_run_id == run_id, ReviewQueueItem.item_id == broken[0]
            )
        ).one()
        assert row.reason == "unreadable" and row.priority == 0.0
        assert not list(s.exec(select(Annotation).where(Annotation.item_id == broken[0])))
        events = s.exec(select(AuditEvent).where(AuditEvent.action == "autolabel_run.batch")).all()
        errors = [e for ev in events for e in ev.payload["errors"]]
    assert errors == [{"item_id": broken[0], "error": f"{broken[1]}: simulated unreadable file"}]


def test_cancelling_while_it_executes_stops_the_run_before_its_next_batch(env: Env) -> None:
    run_id = env.queue(batch_size=4)

    def cancel_after_first(p: RunProgress) -> None:
        if p.done == 4:
            with session_scope(env.engine) as s:
                cancel_run(s, actor=env.ml, run=get_run(s, project_id=env.project_id, run_id=run_id))

    summary = env.execute(run_id, on_progress=cancel_after_first)
    assert summary.state == "cancelled" and summary.processed == 4
    with Session(env.engine) as s:
        run = s.get(AutoLabelRun, run_id)
        assert run is not None and run.state == RunState.cancelled and run.items_done == 4
    assert sum(env.counts(run_id)) >= 4 and "autolabel_run.finish" not in env.actions("autolabel_run.")


def test_a_stop_request_leaves_the_run_running_for_a_later_resume(env: Env) -> None:
    run_id = env.queue(batch_size=4)
    stop = threading.Event()
    summary = env.execute(run_id, stop=stop, on_progress=lambda p: stop.set())
    assert summary.state == "running" and 4 <= summary.items_done < POOL_ITEMS
    rest = env.execute(run_id)
    assert rest.state == "succeeded" and rest.items_done == POOL_ITEMS
    assert summary.processed + rest.processed == POOL_ITEMS
