"""``gate check`` through typer's CliRunner on files written by the synthetic generator:
0 when every gate passes, 1 when one blocks (with the reason), 2 for every kind of bad input (naming the file
and the field, never a traceback), 3 for a bug; a report (JSON or JUnit XML) for every one of those outcomes;
hints that name the flag supplying a missing input; progress lines on stderr only."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from quality_gates.errors import MissingInputError
from quality_gates.evaluate import PHASES, missing_inputs
from quality_gates.gates import GATE_FUNCTIONS
from quality_gates.policy import parse_policy
from service.cli.gate import MISSING_INPUT_HINTS, gate_app, missing_input_hint, offline_inputs, set_service_check
from tests.service.test_ci_contract import assert_junit_shape, junit_properties

from .helpers import DEMO_POLICY

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
    """Importing ``service.cli.main`` registers the real hook; these tests need it absent, then put it back."""
    import service.cli.gate as gc

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


# ---- the CI contract: a report for every outcome ------------------------------------------------------------------


def _outcome_args(outcome: str, d: Path, tmp: Path, fmt: str, out: Path) -> tuple[list[str], int, str]:
    """Arguments of one outcome of an offline check, its exit code, and text its message must hold."""
    report = ["--format", fmt, "--output", str(out)]
    swap = {"missing file": (str(d / "good.json"), str(tmp / "nope.json"))}
    if outcome == "passed":
        return [*args(d), *report], 0, "gate check PASSED"
    if outcome == "blocked":
        return [*args(d, "bad.json"), *report], 1, "BLOCK recall"
    if outcome == "missing file":
        old, new = swap[outcome]
        return [new if a == old else a for a in args(d)] + report, 2, "nope.json: cannot read file"
    if outcome == "invalid json":
        _write(tmp / "g.json", '{"images": [1, 2,]}')
        argv = [str(tmp / "g.json") if a == str(d / "golden.json") else a for a in args(d)]
        return [*argv, *report], 2, "g.json: line 1 column 18: invalid JSON"
    if outcome == "invalid policy":
        _write(tmp / "p.yaml", "name: x\ngates:\n  precison: {min: 0.9}\n")
        argv = [str(tmp / "p.yaml") if a == str(d / "policy.yaml") else a for a in args(d)]
        return [*argv, *report], 2, "gates.precison (line 3): unknown gate 'precison'"
    if outcome == "missing input":
        argv = args(d)[: args(d).index("--parent")]
        return [*argv, *report], 2, "its input is missing: the parent version's class distribution"
    if outcome == "unknown flag":
        return [*args(d), "--bogus", *report], 2, "No such option: --bogus"
    if outcome == "bad flag value":  # the format is then read from --output's suffix
        return [*args(d), "--format", "yaml", "--output", str(out)], 2, "Invalid value for '--format'"
    if outcome == "internal error":
        return [*args(d), *report], 3, "KeyError: 'boom'"
    raise AssertionError(outcome)


OUTCOMES = [
    ("passed", 0), ("blocked", 1), ("missing file", 2), ("invalid json", 2), ("invalid policy", 2),
    ("missing input", 2), ("unknown flag", 2), ("bad flag value", 2), ("internal error", 3),
]  # fmt: skip


def _explode(*args: object, **kwargs: object) -> None:
    raise KeyError("boom")


@pytest.mark.parametrize("fmt", ["json", "junit"])
@pytest.mark.parametrize(("outcome", "code"), OUTCOMES)
def test_every_outcome_writes_its_report(
    outcome: str, code: int, fmt: str, demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit 0, 1, 2 or 3, a report in --output all the same, for a CI job to upload."""
    if outcome == "internal error":
        monkeypatch.setattr("service.cli.gate._offline_check", _explode)
    out = tmp_path / ("gates.xml" if fmt == "junit" else "gates.json")
    argv, expected_code, text = _outcome_args(outcome, demo_dir, tmp_path, fmt, out)
    res = runner.invoke(gate_app, argv)
    assert res.exit_code == code == expected_code, res.output
    assert text in res.output and "Traceback" not in res.output, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert out.is_file(), f"no report for {outcome}: {res.output}"
    if code == 2 and outcome not in ("unknown flag", "bad flag value"):
        assert res.stderr.startswith("error: ") and text in res.stderr.splitlines()[0], res.stderr
    if code == 3:
        assert res.stderr == "internal error: KeyError: 'boom'\n", res.stderr
    if fmt == "json":
        body = json.loads(out.read_text(encoding="utf-8"))
        status = {0: "passed", 1: "blocked"}.get(code, "error")
        assert (body["status"], body["exit_code"], body["passed"]) == (status, code, code == 0), body
        if code >= 2:
            assert text in body["error"]["message"], body
            assert body["error"]["kind"] == ("internal" if code == 3 else "bad_input"), body
            assert text in body["headline"] and body["headline"].startswith(f"gate check ERROR (exit {code}")
        return
    suite = assert_junit_shape(out.read_bytes())
    props = junit_properties(suite)
    assert props["exit_code"] == str(code) and props["status"] == {0: "passed", 1: "blocked"}.get(code, "error")
    if code < 2:
        failed = [c.get("name") for c in suite.findall("testcase") if c.find("failure") is not None]
        assert len(suite.findall("testcase")) == 11 and bool(failed) is (code == 1), failed
        return
    (case,) = suite.findall("testcase")
    error = case.find("error")
    assert error is not None and text in error.get("message", "") and text in (error.text or "")
    assert error.get("type") == ("InternalError" if code == 3 else "InputError")
    assert case.get("name") == "gate check" and suite.findtext("system-out", "").startswith("gate check ERROR")


def test_error_fields_name_the_file_or_flag(demo_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "gates.xml"
    argv, _, _ = _outcome_args("missing file", demo_dir, tmp_path, "junit", out)
    runner.invoke(gate_app, argv)
    assert junit_properties(assert_junit_shape(out.read_bytes()))["error_field"] == str(tmp_path / "nope.json")
    argv, _, _ = _outcome_args("unknown flag", demo_dir, tmp_path, "json", tmp_path / "gates.json")
    runner.invoke(gate_app, argv)
    assert json.loads((tmp_path / "gates.json").read_text())["error"]["field"] == "--bogus"
    res = runner.invoke(gate_app, ["check", "--gt", str(demo_dir / "golden.json"), "--format", "json"])
    assert res.exit_code == 2 and json.loads(res.stdout)["error"]["field"] == "--policy"


@pytest.mark.parametrize("outcome", ["missing file", "internal error"])
def test_error_report_on_stdout_without_output(
    outcome: str, demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --output, json and junit go to stdout (parseable as they are), the one line to stderr."""
    if outcome == "internal error":
        monkeypatch.setattr("service.cli.gate._offline_check", _explode)
    argv, code, text = _outcome_args(outcome, demo_dir, tmp_path, "json", tmp_path / "unused")
    argv = argv[: argv.index("--format")]
    res = runner.invoke(gate_app, [*argv, "--format", "json"])
    assert res.exit_code == code and json.loads(res.stdout)["exit_code"] == code
    assert text in res.stderr and res.stderr.count("\n") == 1
    res = runner.invoke(gate_app, [*argv, "--format", "junit"])
    assert res.exit_code == code and assert_junit_shape(res.stdout).get("errors") == "1"
    res = runner.invoke(gate_app, argv)
    assert res.exit_code == code and res.stdout == "" and text in res.stderr  # text: the line only


def test_text_report_file_is_written_for_errors_too(demo_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "gates.txt"
    argv, code, text = _outcome_args("missing file", demo_dir, tmp_path, "text", out)
    assert runner.invoke(gate_app, argv).exit_code == code
    assert out.read_text().startswith("error: ") and text in out.read_text()


@pytest.mark.parametrize("outcome", ["passed", "missing file"])
def test_the_output_folder_is_created(outcome: str, demo_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports" / "ci" / "gates.xml"
    argv, code, _ = _outcome_args(outcome, demo_dir, tmp_path, "junit", out)
    res = runner.invoke(gate_app, argv)
    assert res.exit_code == code and assert_junit_shape(out.read_bytes()) is not None, res.output
    assert f"report written to {out}" in res.stdout


def test_an_unwritable_output_is_bad_input(demo_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    res = runner.invoke(gate_app, [*args(demo_dir), "--format", "junit", "--output", str(tmp_path / "taken")])
    assert res.exit_code == 2 and f"{tmp_path / 'taken'}: cannot write report" in res.stderr, res.output
    assert list(tmp_path.glob(".taken*")) == []  # no temporary file left behind


# ---- hints name the flag that supplies a missing input ------------------------------------------------------------

CHECK_FLAGS = {opt for param in typer.main.get_command(gate_app).commands["check"].params for opt in param.opts}  # type: ignore[attr-defined]
#: One policy line per gate, from the demo policy (which configures every gate).
GATE_LINES = {line.split(":")[0].strip(): line for line in DEMO_POLICY.split("release:")[0].splitlines()[2:]}


def _flags(text: str) -> list[str]:
    return re.findall(r"--[a-z]+", text)


def test_every_hint_names_flags_of_gate_check() -> None:
    assert set(GATE_LINES) == set(GATE_FUNCTIONS)
    for start, hint in MISSING_INPUT_HINTS:
        assert _flags(hint) and set(_flags(hint)) <= CHECK_FLAGS, (start, hint)


@pytest.mark.parametrize("gate", sorted(GATE_FUNCTIONS))
def test_every_missing_input_of_every_gate_has_a_hint(gate: str, demo_dir: Path) -> None:
    policy = parse_policy(f"name: one\ngates:\n{GATE_LINES[gate]}\n")
    policy_with_baseline = parse_policy("name: one\ngates:\n  precision: {min: 0.5, baseline: other}\n")
    d = demo_dir
    some_inputs: list[dict[str, Any]] = [
        {},
        {"pred_path": d / "good.json"},
        {"annotation_paths": {"alice": d / "alice.json"}},
        {"parent_path": d / "parent.json"},
    ]
    seen: list[MissingInputError] = []
    for given in some_inputs:
        for pol in (policy, policy_with_baseline):
            seen += missing_inputs(pol, offline_inputs(pol, gt_path=d / "golden.json", **given))
    assert seen  # each gate lacks something in one of these
    for error in seen:
        hint = missing_input_hint(error)
        assert hint and set(_flags(hint)) <= CHECK_FLAGS, (error, hint)


DEMO_FILES = {"--pred": ["good.json"], "--parent": ["parent.json"],
              "--annotations": ["alice=alice.json", "bob=bob.json", "carol=carol.json"]}  # fmt: skip


@pytest.mark.parametrize("gate", sorted(GATE_FUNCTIONS))
def test_following_the_hints_gives_each_gate_its_input(gate: str, demo_dir: Path, tmp_path: Path) -> None:
    """From ``--policy --gt`` alone, adding what each error names leads to a verdict (0 or 1)."""
    policy = _write(tmp_path / "one.yaml", f"name: one\ngates:\n{GATE_LINES[gate]}\n")
    argv = ["check", "--policy", str(policy), "--gt", str(demo_dir / "golden.json")]
    for _ in range(4):
        res = runner.invoke(gate_app, argv)
        if res.exit_code in (0, 1):
            return
        assert res.exit_code == 2 and "is configured but its input is missing" in res.stderr, res.output
        named = [f for f in dict.fromkeys(_flags(res.stderr)) if f in DEMO_FILES and f not in argv]
        assert named, f"the hint names no flag not yet given: {res.stderr}"
        for flag in named:
            for value in DEMO_FILES[flag]:
                name, _, file = value.rpartition("=")
                argv += [flag, f"{name}={demo_dir / file}" if name else str(demo_dir / file)]
    raise AssertionError(f"the hints never led to a verdict: {argv}")


def _segment(message: str, gate: str) -> str:
    return next(part for part in message.split("; ") if gate in part)


def test_drift_hint_names_parent_not_annotations(demo_dir: Path) -> None:
    """The finding: with annotators and the parent both missing, the drift gates were told to pass
    --annotations (the hint of the first missing gate); each missing input now names its own flag."""
    d = demo_dir
    argv = ["check", "--policy", str(d / "policy.yaml"), "--gt", str(d / "golden.json"), "--pred", str(d / "good.json")]
    res = runner.invoke(gate_app, argv)
    assert res.exit_code == 2
    assert "--annotations" in _segment(res.stderr, "krippendorff_alpha")
    drift = _segment(res.stderr, "class_drift_psi")
    assert "--parent" in drift and "--annotations" not in drift, res.stderr
    # with the parent given but no labels of this version, the hint names the labels, not --parent again
    drift_only = _write(d.parent / "drift-only.yaml", "name: d\ngates:\n  class_drift_psi: {max: 0.2}\n")
    argv = ["check", "--policy", str(drift_only), "--gt", str(d / "golden.json"), "--parent", str(d / "parent.json")]
    res = runner.invoke(gate_app, argv)
    assert res.exit_code == 2 and "the class distribution of this version" in res.stderr
    assert "--pred" in res.stderr and "--parent" not in res.stderr.split("(", 1)[1], res.stderr


# ---- progress: stderr only, on a terminal or with --progress, never with --quiet -----------------------------------

PROGRESS_LINE = re.compile(r"^gate check \[ *[0-9]+\.[0-9] s\] \S")


def _progress_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("gate check [")]


def test_progress_lines_go_to_stderr_only(demo_dir: Path, tmp_path: Path) -> None:
    res = runner.invoke(gate_app, [*args(demo_dir), "--progress", "--format", "json"])
    assert res.exit_code == 0
    json.loads(res.stdout)  # stdout holds the report and nothing else
    lines = _progress_lines(res.stderr)
    assert lines and all(PROGRESS_LINE.match(line) for line in lines), lines
    assert lines == res.stderr.splitlines()
    text = res.stderr
    for phase in ("reading golden set golden.json…", "golden set golden.json: 60 images,", "reading predictions",
                  "matching predictions to the golden set…", "COCO evaluation…", "Great Expectations…",
                  "class drift…", "Krippendorff's alpha"):  # fmt: skip
        assert phase in text, (phase, text)
    out = tmp_path / "gates.xml"
    res = runner.invoke(gate_app, [*args(demo_dir), "--progress", "--format", "junit", "--output", str(out)])
    assert res.exit_code == 0 and "gate check [" not in out.read_text() and "gate check [" not in res.stdout
    assert _progress_lines(res.stderr)[-1].endswith("evaluated; writing the report")


def test_progress_only_on_a_terminal_or_asked_and_never_when_quiet(
    demo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(gate_app, args(demo_dir)).stderr == ""  # not a terminal, not asked
    assert runner.invoke(gate_app, [*args(demo_dir), "--progress", "--quiet"]).stderr == ""
    monkeypatch.setattr("service.cli.gate._stderr_is_terminal", lambda: True)
    assert _progress_lines(runner.invoke(gate_app, args(demo_dir)).stderr)
    assert runner.invoke(gate_app, [*args(demo_dir), "-q"]).stderr == ""


def test_every_gate_has_a_progress_phase() -> None:
    assert set(PHASES) == set(GATE_FUNCTIONS)


# ---- the README's GitHub Actions example stays true ----------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]


def test_the_readme_ci_example_runs_and_uploads_its_report(demo_dir: Path, tmp_path: Path) -> None:
    """The job in README's "The CI gate": its gate step runs here on the demo files (every flag exists, a
    verdict comes out) and its upload step, run whatever the exit code, names the report the step writes."""
    import shlex

    import yaml

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The CI gate\n", 1)[1].split("\n## ", 1)[0]
    job = yaml.safe_load(section.split("```yaml\n", 1)[1].split("```", 1)[0])
    steps = job["jobs"]["label-gate"]["steps"]
    (command,) = [s["run"] for s in steps if "run" in s and "gate check" in s["run"]]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    argv = shlex.split(command)
    assert argv[:3] == ["labelgate", "gate", "check"]
    files = {"default.yaml": REPO / "policies" / "default.yaml", "golden.json": demo_dir / "golden.json",
             "predictions.json": demo_dir / "good.json", "alice.json": demo_dir / "alice.json",
             "bob.json": demo_dir / "bob.json", "parent.json": demo_dir / "parent.json"}  # fmt: skip

    def local(value: str) -> str:
        name, sep, path = value.rpartition("=")
        if Path(path).name in files:
            return f"{name}{sep}{files[Path(path).name]}"
        return str(tmp_path / path) if path.endswith(".xml") else value

    res = runner.invoke(gate_app, ["check", *(local(a) for a in argv[3:])])
    assert res.exit_code in (0, 1), res.output
    report = argv[argv.index("--output") + 1]
    assert upload["if"] == "always()" and upload["with"]["path"] == report
    assert_junit_shape((tmp_path / report).read_bytes())
    assert _progress_lines(res.stderr) and "gate check [" not in (tmp_path / report).read_text()
