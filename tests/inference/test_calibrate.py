"""``calibrate`` on a real golden set: evidence recorded, thresholds applied to a run and honoured by it."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from inference.calibrate import calibrate, get_calibration
from inference.runs import get_run, run_thresholds
from lineage.datasets.versions import resolve_version
from lineage.errors import InvalidInput, NotFound
from lineage.labels.annotations import manifest_hash
from lineage.models import Annotation, AuditEvent
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
        record = get_calibration(s, project_id=env.project_id, calibration_id=out.calibration_id)  # type: ignore[attr-defined]
        _, golden_v = resolve_version(s, project_id=env.project_id, ref=env.shapes.golden_ref)
        assert record["golden_manifest_hash"] == manifest_hash(s, version_id=golden_v.id or 0)
        assert record["weights_sha256"] == env.tiny.sha256 and record["report"]["thresholds"]["tbal"]
        event = s.get(AuditEvent, out.calibration_id)  # type: ignore[attr-defined]
        assert event is not None and event.action == "calibration.record" and event.object_id == str(env.model_id)
        run = get_run(s, project_id=env.project_id, run_id=run_id)
        assert run_thresholds(s, run).per_class == report.thresholds("tbal")
        applied = s.exec(select(AuditEvent).where(AuditEvent.action == "autolabel_run.thresholds")).one()
        assert applied.payload["evidence"]["calibration_id"] == out.calibration_id  # type: ignore[attr-defined]
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
