"""``gate check`` through typer's CliRunner on files written by the synthetic generator:
0 when every gate passes, 1 when one blocks (with the reason), 2 for every kind of bad input (naming the file
and the field, never a traceback)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.gate_cli import gate_app, set_service_check

runner = CliRunner()


def args(d: Path, pred: str = "good.json", *extra: str) -> list[str]:
    return [
        "check", "--policy", str(d / "policy.yaml"), "--gt", str(d / "golden.json"), "--pred", str(d / pred),
        "--annotations", f"alice={d / 'alice.json'}", "--annotations", f"bob={d / 'bob.json'}",
        "--annotations", f"carol={d / 'carol.json'}", "--parent", str(d / "parent.json"), *extra,
    ]  # fmt: skip


def test_pass_exits_0(demo_dir: Path) -> None:
    res = runner.invoke(gate_app, args(demo_dir))
    assert res.exit_code == 0, res.output
    assert "gate check PASSED" in res.output and "policy hash:" in res.output
    assert "Calculating Metrics" not in res.output  # Great Expectations' progress bars are off


def test_block_exits_1_with_the_reason(demo_dir: Path) -> None:
    res = runner.invoke(gate_app, args(demo_dir, "bad.json"))
    assert res.exit_code == 1, res.output
    assert "gate check BLOCKED" in res.output
    assert "BLOCK recall: recall" in res.output and "most missed objects in class" in res.output


def test_json_report(demo_dir: Path) -> None:
    res = runner.invoke(gate_app, args(demo_dir, "bad.json", "--format", "json"))
    assert res.exit_code == 1
    d = json.loads(res.stdout)
    assert d["passed"] is False and len(d["policy_hash"]) == 64
    gate = next(g for g in d["gates"] if g["name"] == "precision")
    assert {"name", "metric", "value", "threshold", "op", "passed"} <= set(gate)
    for key in ("precision", "recall", "f1", "ap50", "map", "golden_error", "krippendorff_alpha"):
        assert isinstance(d["metrics"][key], float)
    assert set(d["data_hashes"]) >= {"gt", "pred", "parent", "annotations:alice", "policy_file"}


def test_junit_report_to_file(demo_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "gates.xml"
    res = runner.invoke(gate_app, args(demo_dir, "bad.json", "--format", "junit", "--output", str(out)))
    assert res.exit_code == 1 and f"report written to {out}" in res.output
    suite = ET.parse(out).getroot().find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    failed = {c.get("name") for c in cases if c.find("failure") is not None}
    assert len(cases) == 11 and "recall" in failed and "krippendorff_alpha" not in failed
    assert suite.get("failures") == str(len(failed))


@pytest.fixture
def no_service_hook() -> Iterator[None]:
    """Importing ``service.cli`` registers the real hook; these tests need it absent, then put it back."""
    import service.gate_cli as gc

    saved = gc._service_check
    set_service_check(None)
    yield
    set_service_check(saved)


def test_service_form_is_not_available_offline(demo_dir: Path, no_service_hook: None) -> None:
    res = runner.invoke(gate_app, ["check", "cats@v3"])
    assert res.exit_code == 2
    assert "cats@v3: service form not available offline; pass --gt/--pred" in res.output


def test_service_hook_is_used_when_registered(demo_dir: Path, no_service_hook: None) -> None:
    from quality_gates.verdict import GateReport
    from service.gate_report import ReportHeader

    seen: list[tuple[str, str | None]] = []

    def fake(target: str, policy: Path | None, golden: str | None) -> tuple[GateReport, ReportHeader]:
        seen.append((target, golden))
        golden_info = {"name": "cats-golden", "version": 2, "items": 7, "labels": 9}
        return GateReport(True, "p", "0" * 64, (), {}, {}, {}), ReportHeader(target=target, golden=golden_info)

    set_service_check(fake)
    res = runner.invoke(gate_app, ["check", "cats@v3"])
    assert res.exit_code == 0 and seen == [("cats@v3", None)]
    res = runner.invoke(gate_app, ["check", "cats@v3", "--golden", "cats-golden@2"])
    assert res.exit_code == 0 and seen[-1] == ("cats@v3", "cats-golden@2")
    assert "golden set cats-golden@2: 7 items, 9 labels" in res.output


def test_offline_headlines_name_the_policy_file_and_the_gt_file(demo_dir: Path, tmp_path: Path) -> None:
    """Offline the policy has no stored version (its file is named) and the golden set is the --gt file."""
    gt = json.loads((demo_dir / "golden.json").read_text())
    size = f"golden set golden.json: {len(gt['images'])} items, {len(gt['annotations'])} labels"
    res = runner.invoke(gate_app, args(demo_dir))
    head = res.output.splitlines()[0]
    assert f"from {demo_dir / 'policy.yaml'}, hash " in head and size in head, head
    d = json.loads(runner.invoke(gate_app, args(demo_dir, "good.json", "--format", "json")).stdout)
    assert d["headline"] == head and d["policy"]["hash"] == d["policy_hash"] and d["policy"]["version"] is None
    assert (d["golden_set"]["items"], d["golden_set"]["labels"]) == (len(gt["images"]), len(gt["annotations"]))
    junit = runner.invoke(gate_app, args(demo_dir, "good.json", "--format", "junit")).stdout
    suite = ET.fromstring(junit.split("\n", 1)[1]).find("testsuite")
    assert suite is not None and suite.findtext("system-out", "").startswith(head)
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["golden_set_name"] == "golden.json" and props["golden_set_items"] == str(len(gt["images"]))


def test_golden_names_a_set_on_the_record_only(demo_dir: Path) -> None:
    res = runner.invoke(gate_app, [*args(demo_dir), "--golden", "street-golden@1"])
    assert res.exit_code == 2 and "--golden: names a golden set on the record" in res.output


def test_bad_input_still_writes_the_machine_readable_report(demo_dir: Path, tmp_path: Path) -> None:
    """Exit 2 with --format json|junit: an error report, so a CI job's artefact step finds one."""
    missing = [a if a != str(demo_dir / "good.json") else str(tmp_path / "nope.json") for a in args(demo_dir)]
    res = runner.invoke(gate_app, [*missing, "--format", "json"])
    assert res.exit_code == 2
    body = json.loads(res.stdout)
    assert body["passed"] is False and body["exit_code"] == 2 and "nope.json" in body["error"]["message"]
    out = tmp_path / "gates.xml"
    res = runner.invoke(gate_app, [*missing, "--format", "junit", "--output", str(out)])
    suite = ET.parse(out).getroot().find("testsuite")
    assert res.exit_code == 2 and suite is not None and suite.get("errors") == "1"
    res = runner.invoke(gate_app, missing)
    assert res.exit_code == 2 and res.stdout == ""  # text: the one error line, on stderr


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _bad_case(tmp: Path, demo_dir: Path, case: str) -> tuple[list[str], str]:
    """Arguments for one bad-input case, and the text the error must contain."""
    base = args(demo_dir)
    golden = json.loads((demo_dir / "golden.json").read_text())
    preds = json.loads((demo_dir / "good.json").read_text())

    def swap(flag_value: str, new: Path) -> list[str]:
        return [str(new) if a == flag_value else a for a in base]

    if case == "invalid yaml":
        p = _write(tmp / "p.yaml", "name: [\n")
        return swap(str(demo_dir / "policy.yaml"), p), "p.yaml: policy (line 2): invalid YAML"
    if case == "unknown gate":
        p = _write(tmp / "p.yaml", "name: x\ngates:\n  precison: {min: 0.9}\n")
        return swap(str(demo_dir / "policy.yaml"), p), "gates.precison (line 3): unknown gate 'precison'"
    if case == "missing policy file":
        return swap(str(demo_dir / "policy.yaml"), tmp / "nope.yaml"), "nope.yaml: cannot read file"
    if case == "unreadable gt":
        return swap(str(demo_dir / "golden.json"), tmp / "missing.json"), "missing.json: cannot read file"
    if case == "invalid json":
        p = _write(tmp / "g.json", '{"images": [1, 2,]}')
        return swap(str(demo_dir / "golden.json"), p), "g.json: line 1 column 18: invalid JSON"
    if case == "empty file":
        p = _write(tmp / "pred.json", "")
        return swap(str(demo_dir / "good.json"), p), "pred.json: is empty"
    if case == "empty results":
        p = _write(tmp / "pred.json", "[]")
        return swap(str(demo_dir / "good.json"), p), "pred.json: is empty; expected at least one detection"
    if case == "disagreeing categories":
        ann = json.loads((demo_dir / "bob.json").read_text())
        ann["categories"][0]["name"] = "wolf"
        p = _write(tmp / "bob.json", json.dumps(ann))
        return swap(f"bob={demo_dir / 'bob.json'}", Path(f"bob={p}")), "bob.json: categories (id 1): disagrees"
    if case == "unknown image":
        preds[3]["image_id"] = 999999
        p = _write(tmp / "pred.json", json.dumps(preds))
        return swap(str(demo_dir / "good.json"), p), "pred.json: [3].image_id: unknown image id 999999"
    if case == "nan score":
        preds[5]["score"] = float("nan")
        p = _write(tmp / "pred.json", json.dumps(preds))
        return swap(str(demo_dir / "good.json"), p), "pred.json: [5].score: must be a finite number >= 0, got nan"
    if case == "negative score":
        preds[0]["score"] = -0.5
        p = _write(tmp / "pred.json", json.dumps(preds))
        return swap(str(demo_dir / "good.json"), p), "pred.json: [0].score: must be a finite number >= 0"
    if case == "negative size":
        golden["annotations"][2]["bbox"][3] = -4
        p = _write(tmp / "g.json", json.dumps(golden))
        return swap(str(demo_dir / "golden.json"), p), "g.json: annotations[2] (id 3).bbox: invalid box"
    if case == "bad annotations flag":
        return [*base, "--annotations", "nobody"], "--annotations: expected NAME=coco.json"
    if case == "missing input":
        p = _write(tmp / "p.yaml", "name: x\ngates:\n  review_coverage: {min: 0.1}\n")
        preds_plain = [{k: v for k, v in r.items() if k not in ("reviewed", "routed")} for r in preds]
        q = _write(tmp / "pred.json", json.dumps(preds_plain))
        a = swap(str(demo_dir / "policy.yaml"), p)
        a = [str(q) if x == str(demo_dir / "good.json") else x for x in a]
        return a, "gate 'review_coverage' is configured but its input is missing: review statistics"
    raise AssertionError(case)


BAD_CASES = [
    "invalid yaml", "unknown gate", "missing policy file", "unreadable gt", "invalid json", "empty file",
    "empty results", "disagreeing categories", "unknown image", "nan score", "negative score", "negative size",
    "bad annotations flag", "missing input",
]  # fmt: skip


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_exits_2_naming_file_and_field(case: str, demo_dir: Path, tmp_path: Path) -> None:
    argv, expected = _bad_case(tmp_path, demo_dir, case)
    res = runner.invoke(gate_app, argv)
    assert res.exit_code == 2, res.output
    assert expected in res.output, res.output
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)


def test_missing_required_options_exit_2(demo_dir: Path) -> None:
    res = runner.invoke(gate_app, ["check", "--gt", str(demo_dir / "golden.json")])
    assert res.exit_code == 2 and "--policy: missing" in res.output
    res = runner.invoke(gate_app, ["check", "--format", "yaml"])
    assert res.exit_code == 2
