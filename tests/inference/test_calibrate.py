"""``calibrate`` on a real golden set: a calibration row recorded by its event, thresholds applied to a run
(a row citing it) and honoured by the run."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from inference.calibrate import calibrate, calibration_evidence, get_calibration
from inference.runs import get_run, run_thresholds
from lineage.audit.rowdigest import record_of
from lineage.datasets import resolve_version
from lineage.errors import InvalidInput, NotFound
from lineage.labels.labelset import manifest_hash
from lineage.models import Annotation, AuditEvent, RunThresholds
from tests.inference.conftest import GOLDEN_ITEMS, Env


def _calibrate(env: Env, **kw: object) -> object:
    args: dict[str, object] = {
        "actor": env.ml,
        "project_id": env.project_id,
        "model": env.model_ref,
        "golden": env.shapes.golden_set,
        "repo_dir": env.settings.repo_dir,
        "device": "cpu",
        "target_error": 0.15,
        "level": 0.9,
    }
    args.update(kw)
    return calibrate(env.engine, **args)  # type: ignore[arg-type]


def test_calibration_records_evidence_and_writes_thresholds_into_a_run(env: Env) -> None:
    run_id = env.queue(threshold=0.5, review_band=0.05)
    out = _calibrate(env, apply_to_run=run_id, strategy="tbal")
    report = out.report  # type: ignore[attr-defined]
    assert out.items == GOLDEN_ITEMS and out.golden == env.shapes.golden_ref  # type: ignore[attr-defined]
    by_name = {c.name: c for c in report.classes}
    assert set(by_name) == {"square", "circle", "triangle"}
    for c in report.classes:
        assert c.n_gt > 0 and c.f1 is not None and c.f1 >= 0.8, c  # the tiny model is good enough to calibrate
        assert c.tbal is None or (c.tbal.upper < 0.15 and c.tbal.n > 0 and c.tbal.threshold >= 0)
    assert any(c.tbal is not None for c in report.classes)
    cov = report.coverage_tbal
    assert cov.items == GOLDEN_ITEMS and cov.auto_labelled + cov.to_humans == GOLDEN_ITEMS
    with Session(env.engine) as s:
        row = get_calibration(s, project_id=env.project_id, calibration_id=out.calibration_id)  # type: ignore[attr-defined]
        _, golden_v = resolve_version(s, project_id=env.project_id, ref=env.shapes.golden_ref)
        assert row.model_version_id == env.model_id and row.dataset_version_id == golden_v.id
        assert row.golden_manifest_hash == manifest_hash(s, version_id=golden_v.id or 0)
        assert row.weights_sha256 == env.tiny.sha256 and row.created_by == env.ml.user_id
        evidence = calibration_evidence(s, row)
        assert evidence["golden"] == env.shapes.golden_ref and evidence["model"] == env.model_ref
        assert evidence["report"] == report.to_dict() and evidence["golden_items"] == GOLDEN_ITEMS
        # The event points at the row and records its digest; it no longer carries the report.
        event = s.get(AuditEvent, row.audit_seq)
        assert event is not None and event.action == "calibration.record"
        assert (event.object_type, event.object_id) == ("calibration", str(row.id))
        assert event.payload["records"] == [record_of(row)] and "report" not in event.payload
        run = get_run(s, project_id=env.project_id, run_id=run_id)
        assert run_thresholds(s, run).per_class == report.thresholds("tbal")
        setting = s.exec(select(RunThresholds).where(RunThresholds.autolabel_run_id == run_id)).one()
        assert (setting.calibration_id, setting.strategy) == (row.id, "tbal")
        applied = s.exec(select(AuditEvent).where(AuditEvent.action == "autolabel_run.thresholds")).one()
        assert applied.seq == setting.audit_seq and applied.payload["records"] == [record_of(setting)]
        assert applied.payload["evidence"] == {"calibration_id": row.id, "strategy": "tbal"}
        with pytest.raises(NotFound):
            get_calibration(s, project_id=env.world.other_project.id or 0, calibration_id=out.calibration_id)  # type: ignore[attr-defined]
    env.execute(run_id)
    with Session(env.engine) as s:
        anns = list(s.exec(select(Annotation).where(Annotation.autolabel_run_id == run_id)))
    assert anns
    tbal = report.thresholds("tbal")
    assert all(tbal[a.category] is not None and a.threshold == pytest.approx(tbal[a.category]) for a in anns)


def test_calibration_refuses_bad_inputs(env: Env) -> None:
    with pytest.raises(InvalidInput, match="no labels"):
        _calibrate(env, golden=env.shapes.pool)
    with pytest.raises(NotFound, match="golden set"):
        _calibrate(env, golden="nope")
    for bad in ({"strategy": "max"}, {"level": 0.3}, {"target_error": 0.0}, {"iou": 0.0}):
        with pytest.raises(InvalidInput):
            _calibrate(env, **bad)
