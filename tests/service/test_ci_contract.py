"""The CI contract of the command line (issue 11, item 7), on SQLite and PostgreSQL.

Exit codes are the same for ``gate check``, ``sign``, ``release`` and ``import``: 0 done or passed, 1 blocked
or refused by policy, 2 bad input, 3 an internal error. ``gate check`` leaves its report (JSON or JUnit XML)
for every one of those outcomes, and the JUnit XML has the shape CI parsers read (``assert_junit_shape``).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from lineage import identity
from lineage.models import AuditEvent, Role
from service.cli.main import app
from service.demo.scenario import DEFAULT_POLICY_PATH
from service.settings import Settings, get_settings
from service.workspace import init_workspace
from tests.factories import World, actor_for, cli_token, make_gate_world

SECRET = "ci contract secret"
OTHER_SECRET = "another signing secret"

# ---- the JUnit XML shape CI parsers read -------------------------------------------------------------------------
# Written from Jenkins' junit-10.xsd (xunit plugin) and what Surefire, GitLab and the GitHub test reporters
# accept: attribute names and integer counts, children in schema order, counts that match the test cases.

_SUITES_ATTRS = {"name", "time", "tests", "failures", "errors", "skipped", "disabled"}
_SUITE_ATTRS = _SUITES_ATTRS | {"hostname", "id", "package", "timestamp", "file"}
_CASE_ATTRS = {"name", "classname", "time", "assertions", "status", "file", "line"}
_CASE_CHILDREN = ("skipped", "error", "failure", "system-out", "system-err")
_COUNT = re.compile(r"^(0|[1-9][0-9]*)$")
_TIME = re.compile(r"^[0-9]+(\.[0-9]+)?$")


def _counts(element: ET.Element) -> dict[str, int]:
    for key in ("tests", "failures", "errors", "skipped"):
        value = element.get(key)
        assert value is not None and _COUNT.match(value), (element.tag, key, value)
    if element.get("time") is not None:
        assert _TIME.match(element.get("time", "")), element.get("time")
    return {key: int(element.get(key, "0")) for key in ("tests", "failures", "errors", "skipped")}


def _check_case(case: ET.Element) -> dict[str, int]:
    assert set(case.attrib) <= _CASE_ATTRS and case.get("name"), case.attrib
    tags = [child.tag for child in case]
    assert all(tag in _CASE_CHILDREN for tag in tags), tags
    assert tags == sorted(tags, key=_CASE_CHILDREN.index), f"children out of schema order: {tags}"
    assert tags.count("failure") + tags.count("error") <= 1, tags
    for problem in case:
        if problem.tag in ("failure", "error"):
            assert problem.get("message") and problem.get("type"), problem.attrib
            assert list(problem) == [], "a failure or error holds text only"
    return {
        "tests": 1,
        "failures": int("failure" in tags),
        "errors": int("error" in tags),
        "skipped": int("skipped" in tags),
    }


def assert_junit_shape(xml: str | bytes) -> ET.Element:
    """Parse ``xml`` and check it against the JUnit XML shape; returns the one ``<testsuite>``."""
    raw = xml.encode() if isinstance(xml, str) else xml
    assert raw.startswith(b'<?xml version="1.0" encoding="utf-8"?>'), raw[:60]
    root = ET.fromstring(raw)
    assert root.tag == "testsuites" and set(root.attrib) <= _SUITES_ATTRS, root.attrib
    suites = list(root)
    assert suites and all(s.tag == "testsuite" for s in suites), [s.tag for s in suites]
    total = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    for suite in suites:
        assert set(suite.attrib) <= _SUITE_ATTRS and suite.get("name"), suite.attrib
        tags = [child.tag for child in suite]
        order = ("properties", "testcase", "system-out", "system-err")
        assert all(tag in order for tag in tags), tags
        assert tags == sorted(tags, key=order.index), f"suite children out of schema order: {tags}"
        assert tags.count("properties") <= 1 and tags.count("system-out") <= 1, tags
        for prop in suite.iter("property"):
            assert set(prop.attrib) == {"name", "value"} and prop.get("name"), prop.attrib
        counted = dict.fromkeys(total, 0)
        for case in suite.findall("testcase"):
            for key, n in _check_case(case).items():
                counted[key] += n
        assert _counts(suite) == counted, (suite.attrib, counted)
        for key in total:
            total[key] += counted[key]
    assert _counts(root) == total, (root.attrib, total)
    return suites[0]


def junit_properties(suite: ET.Element) -> dict[str, str | None]:
    return {p.get("name", ""): p.get("value") for p in suite.iter("property")}


# ---- a workspace holding the gate scenario, and the CLI on it -----------------------------------------------------


@dataclass
class Ws:
    world: World
    settings: Settings
    engine: Engine
    tmp: Path


@pytest.fixture
def ws(settings: Settings, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ws]:
    """The gate scenario (street v1/v2/v3, golden set street-golden@1) in project ``alpha``. Beyond it,
    ``ml_engineer_user`` also holds reviewer (an approver who authored v3: four-eyes refuses) and they and
    ``annotator_user`` have a signing secret (the annotator's role may not approve)."""
    monkeypatch.setenv("LABELGATE_WORKSPACE", str(settings.workspace))
    monkeypatch.setenv("LABELGATE_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    init_workspace(settings)
    with Session(engine, expire_on_commit=False) as s:
        world, _ = make_gate_world(s, repo_dir=settings.repo_dir, work_dir=tmp_path / "work", secret=SECRET)
        admin = actor_for(world.admin)
        ml = world.users["ml_engineer"]
        identity.add_member(s, actor=admin, project=world.project, user=ml, role=Role.reviewer)
        for who in ("ml_engineer", "annotator"):
            identity.set_signing_secret(s, actor=admin, user=world.users[who], secret=OTHER_SECRET, operator=True)
        s.commit()
    yield Ws(world, settings, engine, tmp_path)
    get_settings.cache_clear()


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def everything(self) -> str:
        return self.stdout + self.stderr


def lg(*args: str | Path, stdin: str | None = None, who: str | None = None) -> Run:
    """``labelgate ARGS`` as ``who`` (a fresh token of theirs in LABELGATE_TOKEN), else as the operator."""
    env = {"LABELGATE_TOKEN": cli_token(who) if who else None}
    result = CliRunner().invoke(app, [str(a) for a in args], input=stdin, env=env)  # type: ignore[arg-type]
    # Every ending is a deliberate exit with its one line, never an exception escaping or a traceback.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output, result.output
    return Run(result.exit_code, result.stdout, result.stderr)


def expect(run: Run, code: int, *texts: str) -> None:
    assert run.code == code, f"exit {run.code}, expected {code}:\n{run.everything}"
    for text in texts:
        assert text in run.everything, f"{text!r} not in:\n{run.everything}"
    if code == 1:
        assert run.stderr.startswith("refused: ") or "BLOCK" in run.everything, run.everything
    if code == 2 and run.stderr:
        assert run.stderr.startswith("error: ") or "Usage:" in run.stderr, run.stderr
    if code == 3:
        assert run.stderr.startswith("internal error: ") and run.stderr.count("\n") == 1, run.stderr


def sign(ref: str, who: str, secret: str = SECRET) -> Run:
    return lg("sign", ref, "--secret-stdin", "--project", "alpha", stdin=secret + "\n", who=who)


def boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("boom: a bug, not bad input")


def audit_actions(ws: Ws) -> list[str]:
    with Session(ws.engine) as s:
        return [e.action for e in s.exec(select(AuditEvent))]


# ---- gate check on the record: a report for every outcome --------------------------------------------------------

NO_GOLDEN = DEFAULT_POLICY_PATH.read_text(encoding="utf-8").replace("golden: street-golden@1\n", "")


def _check_target(outcome: str) -> str:
    return {"blocked": "alpha/street@v2", "unknown version": "alpha/street@v9"}.get(outcome, "alpha/street@v3")


def _check(ws: Ws, outcome: str, fmt: str, out: Path) -> Run:
    args: list[str | Path] = ["gate", "check", _check_target(outcome), "--format", fmt, "--output", out]
    if outcome == "invalid policy":
        (ws.tmp / "bad.yaml").write_text("name: x\ngates:\n  precison: {min: 0.9}\n")
        args += ["--policy", ws.tmp / "bad.yaml"]
    elif outcome == "no golden set":
        (ws.tmp / "no-golden.yaml").write_text(NO_GOLDEN)
        args += ["--policy", ws.tmp / "no-golden.yaml"]
    elif outcome == "unknown golden set":
        args += ["--golden", "street-golden@7"]
    return lg(*args)


RECORD_OUTCOMES = [
    ("passed", 0, "gate check PASSED"),
    ("blocked", 1, "BLOCK recall"),
    ("unknown version", 2, "no version 'v9'"),
    ("invalid policy", 2, "unknown gate 'precison'"),
    ("no golden set", 2, "add `golden: NAME@VERSION` to the policy or pass --golden NAME@VERSION"),
    ("unknown golden set", 2, "no golden set 'street-golden@7'"),
    ("internal error", 3, "RuntimeError: boom: a bug, not bad input"),
]


def test_gate_check_on_the_record_writes_its_report_for_every_outcome(ws: Ws, monkeypatch: pytest.MonkeyPatch) -> None:
    for outcome, code, text in RECORD_OUTCOMES:
        if outcome == "internal error":
            monkeypatch.setattr("lineage.gates.evaluate_version", boom)
        for fmt in ("json", "junit"):
            out = ws.tmp / f"{outcome.replace(' ', '-')}.{fmt}"
            run = _check(ws, outcome, fmt, out)
            expect(run, code, text)
            assert out.is_file(), f"{outcome}, {fmt}: no report at {out}\n{run.everything}"
            report = out.read_text(encoding="utf-8")
            assert "gate check [" not in report  # no progress line ever lands in a report
            if fmt == "json":
                body = json.loads(report)
                assert body["exit_code"] == code and body["passed"] is (code == 0), body
                assert body["status"] == {0: "passed", 1: "blocked"}.get(code, "error"), body
                if code >= 2:
                    assert text in body["error"]["message"] and body["target"] == _check_target(outcome)
                    assert body["error"]["kind"] == ("internal" if code == 3 else "bad_input")
                continue
            suite = assert_junit_shape(report)
            props = junit_properties(suite)
            assert props["exit_code"] == str(code), props
            if code < 2:
                assert len(suite.findall("testcase")) == 8 and suite.get("errors") == "0"
                assert (suite.get("failures") == "0") is (code == 0), suite.attrib
                continue
            (case,) = suite.findall("testcase")
            error = case.find("error")
            assert error is not None and text in error.get("message", ""), ET.tostring(case)
            assert error.get("type") == ("InternalError" if code == 3 else "InputError")
            assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("1", "0", "1")


# ---- sign, release, import: 1 refused, 2 bad input, 3 a bug ------------------------------------------------------


def test_sign_exit_codes(ws: Ws, monkeypatch: pytest.MonkeyPatch) -> None:
    expect(sign("street@v9", "compliance_officer_user"), 2, "no version 'v9'")
    expect(sign("street@v3", "nobody"), 2, "invalid token: unknown token")
    expect(sign("street@v3", "compliance_officer_user"), 1, "only a candidate version can be signed")
    expect(lg("dataset", "state", "street@v3", "candidate", "--project", "alpha"), 0)
    expect(lg("gate", "check", "alpha/street@v3"), 0)
    # a wrong secret is bad input the signer can correct (exit 2), though audited as a refusal
    expect(sign("street@v3", "compliance_officer_user", secret="not it"), 2, "re-authentication failed")
    expect(sign("street@v3", "annotator_user", secret=OTHER_SECRET), 1, "needs one of the roles", "you hold annotator")
    expect(sign("street@v3", "ml_engineer_user", secret=OTHER_SECRET), 1, "four-eyes")
    expect(sign("street@v3", "compliance_officer_user"), 0, "signed street@v3")
    expect(sign("street@v3", "compliance_officer_user"), 1, "already signed")
    # the annotator is refused by the action's rule before signing is tried, as the API refuses them: not a
    # signature attempt; the wrong secret, four-eyes and the second signature are (and v3's draft refusal)
    assert audit_actions(ws).count("signature.refused") == 4
    monkeypatch.setattr("lineage.release.approvals.sign_version", boom)
    expect(sign("street@v3", "reviewer_user"), 3, "internal error: RuntimeError: boom")
    expect(lg("sign"), 2, "Missing argument")


def test_release_exit_codes(ws: Ws, monkeypatch: pytest.MonkeyPatch) -> None:
    release = ("release", "--project", "alpha")
    expect(lg(*release, "street@v9"), 2, "no version 'v9'")
    expect(lg(*release, "street@v3"), 1, "only a candidate can be released")
    for version in ("v2", "v3"):
        expect(lg("dataset", "state", f"street@{version}", "candidate", "--project", "alpha"), 0)
    expect(lg("gate", "check", "alpha/street@v2"), 1, "BLOCK recall")
    # the finding: a release refused for its blocked gates exited 2 (bad input)
    expect(lg(*release, "street@v2"), 1, "failed; blocking gates:")
    expect(lg(*release, "street@v3"), 1, "has no gate evaluation")
    expect(lg("gate", "check", "alpha/street@v3"), 0)
    expect(lg(*release, "street@v3"), 1, "needs 1 approval(s)")
    expect(sign("street@v3", "compliance_officer_user"), 0)
    expect(lg(*release, "street@v3", who="nobody"), 2, "invalid token: unknown token")
    expect(lg(*release, "street@v3", "-o", ws.tmp / "bundle.json"), 0, "released street@v3")
    expect(lg(*release, "street@v3"), 1, "already released")
    expect(lg("reject", "street@v1", "--reason", "old", "--project", "alpha"), 1, "cannot move a draft")
    monkeypatch.setattr("lineage.release.releases.release", boom)
    expect(lg(*release, "street@v2"), 3, "internal error: RuntimeError: boom")
    expect(lg("release"), 2, "Missing argument")


def test_import_exit_codes(ws: Ws, monkeypatch: pytest.MonkeyPatch) -> None:
    imp = ("import", "--project", "alpha")
    labels = ws.tmp / "v1.json"
    expect(lg("export", "street@v1", labels, "--project", "alpha"), 0)
    (ws.tmp / "broken.json").write_text('{"images": [')
    expect(lg(*imp, "street@v9", labels), 2, "no version 'v9'")
    expect(lg(*imp, "street@v2", ws.tmp / "missing.json"), 2, "missing.json")
    expect(lg(*imp, "street@v2", ws.tmp / "broken.json"), 2, "broken.json")
    expect(lg(*imp, "street@v2", labels, "--format", "nope"), 2, "unknown format 'nope'")
    attributed = ("--annotator", "alice")
    expect(lg(*imp, "street@v2", labels, *attributed, who="annotator_user"), 1, "needs one of the roles")
    expect(lg(*imp, "street@v2", labels), 0, "imported")
    expect(lg("dataset", "state", "street@v1", "candidate", "--project", "alpha"), 0)
    expect(lg("reject", "street@v1", "--reason", "superseded", "--project", "alpha"), 0)
    expect(lg(*imp, "street@v1", labels), 1, "is rejected and immutable")  # a frozen version
    assert "dataset_version.write_refused" in audit_actions(ws)
    monkeypatch.setattr("service.actions.datasets.import_annotations", boom)
    expect(lg(*imp, "street@v2", labels), 3, "internal error: RuntimeError: boom")
    expect(lg(*imp, "street@v2"), 2, "Missing argument")
