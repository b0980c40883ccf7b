"""Evaluation pages people can read, on the real gate scenario: rates as percentages and other values with
three decimals, verdicts coloured, UTC times to the second, data expectations as a Data Docs table with no
internal column names, no raw JSON, a picker over any evaluation filtered by policy, verdict and day, and
readable plots (45° class labels, a confusion matrix sized to its classes with contrasting counts).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from fastapi.testclient import TestClient
from streamlit.testing.v1 import AppTest

from dashboard import readable
from tests.dashboard.conftest import all_text, assert_clean, open_page, signed_in, table_with, texts
from tests.dashboard.test_gate_pages import ALPHA, charts, url, version_page
from tests.factories import World

UTC_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$")


def styles(at: AppTest, column: str) -> str:
    """The CSS of the first table that has ``column`` (Pandas Styler output carried in its Arrow proto)."""
    for frame in at.dataframe:
        if column in frame.value.columns:
            return str(frame.proto.arrow_data.styler.styles)
    raise AssertionError(f"no table with a column {column!r}")


def test_readable_values_know_their_units() -> None:
    assert readable.metric_text("golden_error", 0.09393) == "9.4 %"
    assert readable.bound_text("<=", 0.05, "golden_error") == "≤ 5.0 %"
    assert readable.metric_text("krippendorff_alpha", 0.93841) == "0.938"
    assert readable.bound_text(">=", 0.5, "map") == "≥ 0.500"
    assert readable.metric_text("expectations_failed", 2.0) == "2"
    assert readable.metric_text("recall", None) == "n/a"
    assert readable.utc_text("2026-12-03T14:05:12.123456Z") == "2026-12-03 14:05:12 UTC"
    assert readable.utc_text("2026-12-03T15:05:12+01:00") == "2026-12-03 14:05:12 UTC"
    assert readable.utc_text(None) == "—"
    assert readable.short_hash("2ffd" + "0" * 56 + "91ab") == "2ffd…91ab"
    assert readable.public({"a": 1, "_b": 2, "c": [{"_d": 1, "e": 2}]}) == {"a": 1, "c": [{"e": 2}]}
    assert readable.column_text("_right_margin") == "right margin (derived)"


def test_the_gate_table_shows_percentages_and_coloured_verdicts(gate_http: TestClient, gate_world: World) -> None:
    at = version_page(gate_http, gate_world.tokens["compliance_officer"], "v2")
    gates = {g["gate"]: g for g in table_with(at, "gate")}
    golden = gates["golden_set_error"]
    assert re.fullmatch(r"\d+\.\d %", str(golden["value"])) and golden["bound"] == "≤ 5.0 %", golden
    assert golden["verdict"] == "BLOCK"
    assert re.fullmatch(r"0\.\d{3}", str(gates["krippendorff_alpha"]["value"]))
    assert gates["krippendorff_alpha"]["bound"] == "≥ 0.800"
    assert re.fullmatch(r"0\.\d{3}", str(gates["map"]["value"])) and gates["map"]["bound"] == "≥ 0.500"
    css = styles(at, "gate")
    assert "#ffcdd2" in css and "#c8e6c9" in css  # blocked red, passed green
    assert any(":red-badge[" in m and "BLOCKED" in m for m in texts(at, "markdown"))
    (headline,) = texts(at, "error")[:1]
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC", headline) and "hash `" in headline


def test_evidence_details_are_tables_without_internal_names(gate_http: TestClient, gate_world: World) -> None:
    at = version_page(gate_http, gate_world.tokens["compliance_officer"], "v3")
    assert not at.get("json")  # no raw JSON anywhere
    expectations = table_with(at, "observed value")
    assert set(expectations[0]) == {"expectation", "column", "observed value", "expected", "success"}
    assert {"right margin (derived)", "x", "y"} <= {e["column"] for e in expectations}
    boxes = [e for e in expectations if e["column"] in ("x", "y", "right margin (derived)")]
    assert boxes and all(re.fullmatch(r"\d+ unexpected of \d+ \(\d+\.\d %\)", str(e["observed value"])) for e in boxes)
    everything = all_text(at) + json.dumps([f.value.to_dict("records") for f in at.dataframe], default=str)
    assert "_right_margin" not in everything and "right\\_margin" not in everything
    assert any(m.startswith("**manifest hash**: `") and "…" in m for m in texts(at, "markdown"))
    listed = table_with(at, "field")  # a gate's evidence as field / value rows
    assert listed and all("{" not in str(r["value"]) for r in listed)


def test_any_evaluation_can_be_picked_by_policy_verdict_and_day(gate_http: TestClient, gate_world: World) -> None:
    lenient = "name: lenient\ngolden: street-golden@1\ngates:\n  recall: {min: 0.1, baseline: golden, threshold: 0.5}\n"
    r = gate_http.post(f"/api/v1/projects/{ALPHA}/policies", json={"yaml": lenient},
                       headers=gate_world.headers("ml_engineer"))  # fmt: skip
    assert r.status_code == 201, r.text
    r = gate_http.post(url("v2", "/evaluations"), json={"policy": "lenient"}, headers=gate_world.headers("ci"))
    assert r.status_code == 201, r.text
    newest = r.json()["id"]
    at = version_page(gate_http, gate_world.tokens["compliance_officer"], "v2")
    key = f"{ALPHA}_street_v2"
    picker = at.selectbox(key=f"dv_eval_{key}")
    assert picker.options[0].startswith(f"#{newest} · evaluation · PASS · policy lenient@1 · ")
    assert UTC_TIME.match(picker.options[0].rsplit(" · ", 1)[1])
    at.segmented_control(key=f"dv_eval_verdict_{key}").set_value("BLOCK").run()
    assert_clean(at)
    assert [o.split(" · ")[0] for o in at.selectbox(key=f"dv_eval_{key}").options] == ["#1"]
    at.segmented_control(key=f"dv_eval_verdict_{key}").set_value("all").run()
    at.multiselect(key=f"dv_eval_policy_{key}").set_value(["lenient@1"]).run()
    at.selectbox(key=f"dv_eval_{key}").set_value(newest).run()
    assert_clean(at)
    assert texts(at, "success")[0].startswith(f"Gate check PASSED: evaluation #{newest} of policy lenient@1")
    day = at.selectbox(key=f"dv_eval_day_{key}")
    assert day.options[0] == "any" and all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", d) for d in day.options[1:])
    listed = table_with(at, "evaluation")
    assert all(UTC_TIME.match(str(e["at"])) for e in listed)
    assert "#c8e6c9" in styles(at, "evaluation") and "#ffcdd2" in styles(at, "evaluation")


def test_plots_are_readable(gate_http: TestClient, gate_world: World) -> None:
    at = version_page(gate_http, gate_world.tokens["compliance_officer"], "v3")
    specs = {s.get("title"): s for s in charts(at)}
    cm = specs["Confusion matrix"]
    classes = {r["truth"] for r in cm["rows"] if "truth" in r}
    assert cm["width"] == cm["height"] >= 64 * len(classes)  # sized to the class count
    text_layer = cm["layer"][1]["encoding"]
    assert text_layer["color"]["value"] == "#1b1b1b" and text_layer["color"]["condition"]["value"] == "white"
    assert cm["layer"][0]["encoding"]["x"]["axis"]["labelAngle"] == -45
    alpha = specs["Agreement per class"]
    assert alpha["layer"][0]["encoding"]["x"]["axis"]["labelAngle"] == -45  # class names at 45°, not 90°


# ---- the reports page: one date range for every period report, projects by name ------------------------------


def test_one_date_range_applies_to_every_audit_report_and_projects_are_named(
    gate_http: TestClient, gate_world: World, downloads: dict[str, Callable[[], Any]]
) -> None:
    at = open_page(signed_in(gate_http, gate_world.tokens["compliance_officer"]), "reports")
    assert_clean(at)
    assert "Audit trail of alpha" in texts(at, "subheader") and "Dataset version reports of alpha" in texts(
        at, "subheader"
    )
    assert "project 1" not in all_text(at)
    assert at.selectbox(key=f"rep_v_dataset_{ALPHA}").value == "street"  # not the golden set
    assert downloads["audit-alpha.jsonl"]().strip() and "gate.evaluate" in downloads["audit-alpha.csv"]().decode()
    assert "gate.evaluate" in downloads["alpha-audit-trail.html"]().decode()
    at.date_input(key="rep_since").set_value(date.today() + timedelta(days=2)).run()
    assert_clean(at)
    assert any("(the date range above)" in c for c in texts(at, "caption"))
    assert downloads["audit-alpha.jsonl"]().strip() == b""  # every period report follows the one range
    assert "gate.evaluate" not in downloads["audit-alpha.csv"]().decode()
    assert "gate.evaluate" not in downloads["alpha-audit-trail.html"]().decode()
