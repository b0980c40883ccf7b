"""A gate evaluation on the record: the columns it stores and the report read back from them.

``evaluate_version`` stores the report's columns and its plot data, now computed once by ``quality_gates``,
in the very bytes lineage's own former plot computation wrote next to them (the reference,
``former_lineage_plots``, is in ``tests/quality_gates/helpers.py``): on the gate scenario, on SQLite and
PostgreSQL. :func:`report_of` reads the columns back equal to the report computed; the evaluations a
previous release stored (``tests/fixtures/workspace-rev0003.sql.gz``) read back too; a stored record that
does not parse is refused naming the evaluation and the key.
"""

from __future__ import annotations

import copy
import gzip
import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import Session

from lineage.db import column_json
from lineage.gates import StoredReportError, build_inputs, evaluate_version, report_of, store_policy
from lineage.models import GateEvaluation
from quality_gates import parse_policy
from service.demo.scenario import GateScenario
from service.settings import Settings
from service.workspace import init_workspace
from tests.factories import World, actor_for, make_gate_world
from tests.quality_gates.helpers import former_lineage_plots

PREVIOUS_RELEASE = Path(__file__).parents[1] / "fixtures" / "workspace-rev0003.sql.gz"
COLUMNS = ("gates", "metrics", "evidence", "data_hashes")


@pytest.fixture
def scenario(settings: Settings, session: Session, tmp_path: Path) -> tuple[World, GateScenario]:
    init_workspace(settings)
    world, sc = make_gate_world(session, repo_dir=settings.repo_dir, work_dir=tmp_path / "work", secret="x" * 16)
    session.commit()
    return world, sc


def test_stored_columns_are_the_bytes_the_lineage_plots_wrote_and_read_back_as_the_report(
    session: Session, scenario: tuple[World, GateScenario]
) -> None:
    world, sc = scenario
    ci, ml = actor_for(world.users["ci"]), actor_for(world.users["ml_engineer"])
    no_golden = store_policy(session, actor=ml, project_id=sc.project_id,
                             yaml_text="name: coverage\ngates:\n  review_coverage: {min: 0.0}\n")  # fmt: skip
    for version, policy_record in [(sc.blocked, sc.policy), (sc.passing, sc.policy), (sc.passing, no_golden)]:
        outcome = evaluate_version(session, actor=ci, version=version, policy_record=policy_record)
        session.commit()
        report, as_dict = outcome.report, outcome.report.to_dict()
        inputs = build_inputs(session, version, golden=outcome.golden)
        plots = former_lineage_plots(
            parse_policy(policy_record.yaml_text), inputs, threshold=report.metrics["threshold"]
        )
        assert set(plots) == ({"pr_curves", "confusion_matrix"} if outcome.golden is not None else set())
        expected = {
            "gates": as_dict["gates"],
            "metrics": as_dict["metrics"],
            "evidence": {"per_class": as_dict["per_class"], "golden_set": outcome.golden_info, **plots},
            "data_hashes": as_dict["data_hashes"],
        }
        casts = ", ".join(f"CAST({c} AS TEXT)" for c in COLUMNS)
        raw = session.connection().execute(
            text(f"SELECT {casts} FROM gate_evaluations WHERE id = :id"), {"id": outcome.record.id}
        )
        assert dict(zip(COLUMNS, raw.one(), strict=True)) == {c: column_json(v) for c, v in expected.items()}

        session.expire_all()
        stored = session.get(GateEvaluation, outcome.record.id)
        assert stored is not None and report_of(stored, policy_record.name) == report


def previous_release_records() -> list[GateEvaluation]:
    """The gate evaluations the previous release's demo stored, as rows of this release's model."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(gzip.decompress(PREVIOUS_RELEASE.read_bytes()).decode())
        conn.row_factory = sqlite3.Row
        rows = list(conn.execute("SELECT * FROM gate_evaluations ORDER BY id"))
    finally:
        conn.close()
    out = []
    for r in rows:
        fields = {**dict(r), **{c: json.loads(r[c]) for c in COLUMNS}, "passed": bool(r["passed"])}
        fields["created_at"] = datetime.fromisoformat(r["created_at"]).replace(tzinfo=UTC)
        out.append(GateEvaluation(**fields))
    return out


def test_evaluations_a_previous_release_stored_read_back_unchanged() -> None:
    records = previous_release_records()
    assert len(records) == 4 and any("pr_curves" not in r.evidence for r in records)
    for record in records:
        d = report_of(record, "default").to_dict()
        plots = {k: v for k, v in record.evidence.items() if k not in ("per_class", "golden_set")}
        assert (d["passed"], d["policy_hash"]) == (record.passed, record.policy_hash)
        assert (d["gates"], d["metrics"], d["data_hashes"]) == (record.gates, record.metrics, record.data_hashes)
        assert (d["per_class"], d["evidence"]) == (record.evidence["per_class"], plots)


def _gate(record: GateEvaluation, name: str) -> dict[str, Any]:
    return next(g for g in record.gates if g["name"] == name)


BROKEN: list[tuple[str, Callable[[GateEvaluation], object], str]] = [
    ("a gate's evidence lacks a key", lambda r: r.gates[0]["evidence"].pop("iou"), "gates[0].evidence.iou"),
    ("a verdict the gates contradict", lambda r: setattr(r, "passed", not r.passed), "passed"),
    ("a metric that is not a number", lambda r: r.metrics.update(precision="high"), "metrics['precision']"),
    ("a negative per-class count", lambda r: r.evidence["per_class"]["car"].update(tp=-1),
     "evidence.per_class['car'].tp"),
    ("no per-class metrics", lambda r: r.evidence.pop("per_class"), "evidence.per_class"),
    ("a curve shorter than its thresholds", lambda r: r.evidence["pr_curves"]["car"]["recall"].pop(),
     "evidence.pr_curves['car'].recall"),
    ("plot data of an unknown kind", lambda r: r.evidence.update(heatmap={}), "evidence.heatmap"),
    ("evidence that is not an object", lambda r: setattr(r, "evidence", None), "evidence"),
    ("a gate of an unknown kind", lambda r: _gate(r, "recall").update(name="recal"), "gates[3].evidence"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "damage", "key"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_stored_record_that_does_not_parse_is_refused_naming_the_evaluation_and_key(
    case: str, damage: Callable[[GateEvaluation], object], key: str
) -> None:
    record = copy.deepcopy(previous_release_records()[0])
    report_of(record, "default")  # intact, it parses
    damage(record)
    with pytest.raises(StoredReportError) as info:
        report_of(record, "default")
    assert (info.value.evaluation_id, info.value.key, info.value.field) == (1, key, key)
    assert str(info.value).startswith(f"{key}: evaluation #1 on the record does not read back as a gate report: ")
    assert info.value.status_code == 500
