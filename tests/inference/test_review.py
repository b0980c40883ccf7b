"""The review queue (list, accept, reject, correct, add, resolve) and the active-learning selection."""

from __future__ import annotations

import math

import pytest
from sqlmodel import Session, col, select

from inference.review import REASON_ACTIVE, add_label, decide, get_entry, list_queue, resolve, select_next_batch
from lineage.datasets import resolve_version
from lineage.db import session_scope
from lineage.errors import Conflict, InvalidInput, NotFound
from lineage.labels import BoxChange, NewLabel, Provenance, add_annotations, list_live
from lineage.models import Annotation, AuditEvent, ProvenanceKind, ReviewDecision, ReviewQueueItem
from tests.inference.conftest import Env


def _labelled_entries(env: Env, run_id: int) -> list[tuple[int, int, int]]:
    """(queue id, item id, model annotation id) of open rows that carry a model label."""
    with Session(env.engine) as s:
        return [
            (e.row.id or 0, e.row.item_id, e.labels[0].id or 0)
            for e in list_queue(s, project_id=env.project_id, run_id=run_id, limit=500)
            if e.labels and e.labels[0].kind == "model"
        ]


def test_queue_lists_least_confident_first_with_the_runs_labels(env: Env) -> None:
    run_id = env.queue(threshold=0.3, review_band=0.29)
    env.execute(run_id)
    with Session(env.engine) as s:
        entries = list_queue(s, project_id=env.project_id, run_id=run_id, limit=500)
        assert entries and [e.row.priority for e in entries] == sorted(e.row.priority for e in entries)
        assert all(a.autolabel_run_id == run_id for e in entries for a in e.labels)
        assert all(e.item.id == e.row.item_id for e in entries)
        assert list_queue(s, project_id=env.world.other_project.id or 0) == []
        with pytest.raises(NotFound):
            get_entry(s, project_id=env.world.other_project.id or 0, queue_id=entries[0].row.id or 0)
        assert len(list_queue(s, project_id=env.project_id, run_id=run_id, limit=2, offset=1)) <= 2


def test_accept_reject_correct_add_and_resolve(env: Env) -> None:
    run_id = env.queue(threshold=0.3, review_band=0.29)
    env.execute(run_id)
    rows = _labelled_entries(env, run_id)
    assert len(rows) >= 3, "a wide band keeps labelled items in the queue"
    (q1, _, a1), (q2, _, a2), (q3, item3, a3) = rows[:3]
    rev, pid = env.reviewer, env.project_id
    with session_scope(env.engine) as s:
        accepted = decide(s, actor=rev, project_id=pid, queue_id=q1, annotation_id=a1, decision=ReviewDecision.accept)
        assert accepted.correction_id is None
        rejected = decide(s, actor=rev, project_id=pid, queue_id=q2, annotation_id=a2, decision=ReviewDecision.reject)
        fixed = decide(
            s,
            actor=rev,
            project_id=pid,
            queue_id=q3,
            annotation_id=a3,
            decision=ReviewDecision.correct,
            change=BoxChange(category="triangle", w=5.0, h=5.0),
            comment="it is a small triangle",
            resolve_row=True,
        )
        new_id = add_label(s, actor=rev, project_id=pid, queue_id=q1, category="circle", x=1, y=1, w=4, h=4)
        resolve(s, actor=rev, project_id=pid, queue_id=q1, note="added the missed circle")
    with Session(env.engine) as s:
        correction = s.get(Annotation, fixed.correction_id)
        assert correction is not None and correction.supersedes_id == a3 and correction.kind == "human"
        assert correction.category == "triangle" and correction.annotator_id == rev.user_id
        assert s.get(Annotation, rejected.correction_id).geometry_type == "deleted"  # type: ignore[union-attr]
        live = {a.id for a in list_live(s, version_id=correction.dataset_version_id, limit=10_000)}
        assert a3 not in live and a2 not in live and a1 in live and correction.id in live and new_id in live
        row3 = s.get(ReviewQueueItem, q3)
        assert row3 is not None and row3.resolved_at is not None and row3.item_id == item3
        assert len(list(s.exec(select(AuditEvent).where(AuditEvent.action == "review_queue.resolve")))) == 2
        open_ids = {e.row.id for e in list_queue(s, project_id=pid, run_id=run_id, limit=500)}
        assert q1 not in open_ids and q3 not in open_ids and q2 in open_ids
    with session_scope(env.engine) as s, pytest.raises(Conflict, match="already resolved"):
        decide(s, actor=rev, project_id=pid, queue_id=q3, annotation_id=a3, decision=ReviewDecision.accept)
    with session_scope(env.engine) as s, pytest.raises(InvalidInput, match="not a label of this queue item"):
        decide(s, actor=rev, project_id=pid, queue_id=q2, annotation_id=a1, decision=ReviewDecision.accept)
    with session_scope(env.engine) as s, pytest.raises(Conflict, match="superseded"):
        decide(s, actor=rev, project_id=pid, queue_id=q2, annotation_id=a2, decision=ReviewDecision.accept)


def test_active_learning_picks_a_share_of_the_pool_by_uncertainty(env: Env) -> None:
    run_id = env.queue(threshold=0.3, review_band=0.0)
    env.execute(run_id)
    with Session(env.engine) as s:
        queued = {q.item_id for q in s.exec(select(ReviewQueueItem).where(ReviewQueueItem.autolabel_run_id == run_id))}
        labelled = sorted({a.item_id for a in s.exec(select(Annotation).where(Annotation.autolabel_run_id == run_id))})
    human_item = next(i for i in labelled if i not in queued)
    with session_scope(env.engine) as s:  # a person already labelled this one: it leaves the pool
        _, version = resolve_version(s, project_id=env.project_id, ref=env.shapes.pool)
        add_annotations(
            s,
            actor=env.reviewer,
            version=version,
            labels=[NewLabel(item_id=human_item, category="square", x=0, y=0, w=3, h=3)],
            provenance=Provenance(kind=ProvenanceKind.human, annotator_id=env.reviewer.user_id),
        )
    pool = 24 - len(queued) - 1
    with session_scope(env.engine) as s:
        first = select_next_batch(
            s, actor=env.ml, project_id=env.project_id, run_id=run_id, signals_dir=env.signals, fraction=0.1
        )
    assert len(first) == math.ceil(0.1 * pool)
    picked = {r.item_id for r in first}
    assert not picked & (queued | {human_item})
    assert all(r.reason == REASON_ACTIVE and r.autolabel_run_id is None and 0 <= r.priority <= 1 for r in first)
    assert [r.priority for r in first] == sorted(r.priority for r in first)
    with session_scope(env.engine) as s:
        second = select_next_batch(
            s,
            actor=env.ml,
            project_id=env.project_id,
            run_id=run_id,
            signals_dir=env.signals,
            fraction=0.1,
            uncertainty="margin",
            diversity="kmeans",
        )
        event = s.exec(
            select(AuditEvent).where(AuditEvent.action == "review_queue.select").order_by(col(AuditEvent.seq))
        ).first()
    assert not {r.item_id for r in second} & picked  # the first batch is queued now
    assert event is not None and event.payload["pool"] == pool and event.payload["items"] == [r.item_id for r in first]
    with session_scope(env.engine) as s, pytest.raises(InvalidInput, match="fraction"):
        select_next_batch(
            s, actor=env.ml, project_id=env.project_id, run_id=run_id, signals_dir=env.signals, fraction=2
        )
