"""Render a :class:`~quality_gates.verdict.GateReport` as JSON, plain text or JUnit XML, and the report of a
check that could not be made (:func:`render_error`), so that every outcome of ``gate check`` leaves one.

Every form opens with the same headline (:func:`headline`): the verdict, the target, the policy
(``name@version`` on the record, or the policy file offline) with its short hash, and the golden set
measured against with its version and size (items, labels); a re-check of a released version says so.

- JSON: ``status`` (``passed`` or ``blocked``) and ``exit_code`` (0 or 1), then ``GateReport.to_dict()``
  (``report_version``, ``passed``, ``policy_name``, ``policy_hash``, ``gates`` with
  name/metric/value/threshold/op/passed/explanation/evidence, ``metrics``, ``per_class``, ``data_hashes``,
  ``evidence`` with the plot data: ``pr_curves`` and ``confusion_matrix``, both or neither) plus
  ``headline``, ``target``, ``policy`` ({name, version, hash, source}), ``golden_set`` ({name, version,
  items, labels, ...} or null) and ``evaluation`` ({id, purpose, release_evidence_id} on the record),
  indented, NaN as null.
- text: the headline, the task when it is not detection (``task: classify``), one line per gate (each
  blocking gate with its one-line, actionable explanation), the headline metrics and the full policy hash.
  A classification report's metrics include accuracy and Hamming loss; a gate's explanation names the
  overlap it matched by (mask IoU for segmentation, OKS for pose).
- JUnit XML, in the shape CI parsers read (Jenkins' ``junit-10.xsd``, Surefire, GitLab, GitHub test
  reporters): ``<testsuites>`` holding one ``<testsuite name="labelgate.gates">`` with one ``<testcase>`` per
  gate and a ``<failure>`` for each blocking gate; ``tests``/``failures``/``errors``/``skipped`` on both
  levels count the test cases; inside a suite, ``<properties>`` first, the test cases, then ``<system-out>``
  (the headline); inside a test case, its ``<failure>``/``<error>`` before its ``<system-out>``. A report of
  another task than detection has a ``task`` property.
- The error report: JSON ``{status: "error", passed: false, exit_code, headline, target, policy_source,
  error: {kind, type, field, message}}``; JUnit, one ``gate check`` test case with an ``<error>`` (bad input,
  exit 2; an internal error, exit 3) or a ``<failure>`` (refused by the record, exit 1) naming the file, flag
  or field and the message; text, ``error: message``.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from quality_gates.errors import ReportFormatError
from quality_gates.verdict import GateReport, GateResult

if TYPE_CHECKING:
    from service.api.schemas.gates import EvaluationPublic

if TYPE_CHECKING:
    from lineage.models import GateEvaluation

__all__ = [
    "ErrorKind",
    "ReportFormat",
    "ReportHeader",
    "golden_label",
    "header_from_record",
    "headline",
    "render",
    "render_error",
    "render_json",
    "render_junit",
    "render_text",
    "report_from_public",
    "report_from_record",
]

ReportFormat = Literal["text", "json", "junit"]


@dataclass(frozen=True, slots=True)
class ReportHeader:
    """What a report says it judged, beyond the report itself.

    target: ``DATASET@VERSION`` (None offline). policy_version: the stored version (None for a file).
    policy_source: where the policy came from (a file path offline, None on the record). golden: the golden
    set measured against, ``{name, version, items, labels, ...}`` (``version`` None for a ``--gt`` file;
    None when the policy needed none and none was named). evaluation_id, purpose, release_evidence_id: the
    stored evaluation, its purpose (``evaluation``, ``release_evidence`` or ``recheck``) and, for a released
    version, the evaluation its release rests on.
    """

    target: str | None = None
    policy_version: int | None = None
    policy_source: str | None = None
    golden: Mapping[str, Any] | None = None
    evaluation_id: int | None = None
    purpose: str | None = None
    release_evidence_id: int | None = None
    notes: tuple[str, ...] = field(default=())


def _policy_label(report: GateReport, header: ReportHeader) -> str:
    name = f"{report.policy_name}@{header.policy_version}" if header.policy_version else report.policy_name
    source = f" from {header.policy_source}" if header.policy_source else ""
    return f"policy {name}{source}, hash {report.policy_hash[:12]}"


def golden_label(golden: Mapping[str, Any] | None) -> str:
    """``golden set NAME@VERSION: N items, M labels`` (or ``no golden set``)."""
    if not golden:
        return "no golden set"
    name = str(golden.get("name"))
    if golden.get("version") is not None:
        name += f"@{golden['version']}"
    return f"golden set {name}: {golden.get('items', '?')} items, {golden.get('labels', '?')} labels"


def headline(report: GateReport, header: ReportHeader | None = None) -> str:
    """One line: verdict, gates passing, target, policy (name@version, short hash), golden set and size."""
    header = header or ReportHeader()
    verdict = "PASSED" if report.passed else "BLOCKED"
    n_block = len(report.blocking)
    head = f"gate check {verdict}: {len(report.gates) - n_block} of {len(report.gates)} gates pass"
    if header.target:
        head += f" for {header.target}"
    return head + f" ({_policy_label(report, header)}; {golden_label(header.golden)})"


def _evaluation_line(header: ReportHeader) -> str | None:
    if header.evaluation_id is None:
        return None
    line = f"evaluation #{header.evaluation_id}"
    if header.purpose == "recheck":
        line += (
            f": a re-check of a released version; the release rests on evaluation #{header.release_evidence_id},"
            " which this one does not replace"
        )
    elif header.purpose == "release_evidence":
        line += ": the evidence its release rests on"
    return line


def render_json(report: GateReport, *, header: ReportHeader | None = None) -> str:
    """The report as indented JSON (keys in a stable order; NaN → null), with the header's fields."""
    verdict = {"status": "passed" if report.passed else "blocked", "exit_code": 0 if report.passed else 1}
    body = {**verdict, **report.to_dict()}
    if header is not None:
        body = {
            **verdict,
            "headline": headline(report, header),
            "target": header.target,
            **body,
            "policy": {
                "name": report.policy_name,
                "version": header.policy_version,
                "hash": report.policy_hash,
                "source": header.policy_source,
            },
            "golden_set": dict(header.golden) if header.golden else None,
        }
        if header.evaluation_id is not None:
            body["evaluation"] = {
                "id": header.evaluation_id,
                "purpose": header.purpose,
                "release_evidence_id": header.release_evidence_id,
            }
        if header.notes:
            body["notes"] = list(header.notes)
    return json.dumps(body, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _value(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "n/a"
    return f"{v:.4g}"


def _gate_line(g: GateResult) -> str:
    # A gate may pass with a warning its evidence states (training_leakage: a check set to warn).
    mark = ("WARN " if getattr(g.evidence, "verdict", None) == "warn" else "PASS ") if g.passed else "BLOCK"
    return f"  {mark} {g.name}: {g.explanation}"


def render_text(report: GateReport, *, target: str | None = None, header: ReportHeader | None = None) -> str:
    """Human-readable summary; every blocking gate gets its explanation on one line."""
    header = header or ReportHeader(target=target)
    lines = [headline(report, header)]
    if report.task != "detect":
        lines.append(f"task: {report.task}")
    evaluation = _evaluation_line(header)
    if evaluation:
        lines.append(evaluation)
    lines += [f"note: {n}" for n in header.notes]
    lines += [_gate_line(g) for g in report.gates if not g.passed]
    lines += [_gate_line(g) for g in report.gates if g.passed]
    shown = [(k, v) for k, v in report.metrics.items() if v is not None and k != "threshold"]
    if shown:
        lines.append("metrics: " + ", ".join(f"{k}={_value(v)}" for k, v in shown))
    lines.append(f"policy hash: {report.policy_hash}")
    return "\n".join(lines) + "\n"


def _seconds(elapsed: float | None) -> dict[str, str]:
    return {} if elapsed is None else {"time": f"{elapsed:.3f}"}


def _junit_document(suite: ET.Element, cases: list[ET.Element], props: dict[str, object], summary: str) -> str:
    """Assemble ``<testsuites><testsuite>``: properties, test cases, system-out, in that order, and the
    counts of test cases, failures and errors on both levels."""
    counts = {
        "tests": str(len(cases)),
        "failures": str(sum(c.find("failure") is not None for c in cases)),
        "errors": str(sum(c.find("error") is not None for c in cases)),
        "skipped": "0",
    }
    suite.attrib.update(counts)
    listed = [(name, value) for name, value in props.items() if value is not None]
    if listed:
        holder = ET.SubElement(suite, "properties")
        for name, value in listed:
            ET.SubElement(holder, "property", {"name": name, "value": str(value)})
    suite.extend(cases)
    ET.SubElement(suite, "system-out").text = summary
    root = ET.Element("testsuites", {"name": "labelgate gate check", **counts})
    if "time" in suite.attrib:
        root.set("time", suite.attrib["time"])
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _testcase(name: str, *, problem: tuple[str, str, str] | None = None, detail: str | None = None) -> ET.Element:
    """One test case; ``problem`` is (``failure`` or ``error``, its type, its message)."""
    case = ET.Element("testcase", {"classname": "labelgate.gates", "name": name})
    if problem is not None:
        tag, kind, message = problem
        ET.SubElement(case, tag, {"message": message, "type": kind}).text = message
    if detail is not None:
        ET.SubElement(case, "system-out").text = detail
    return case


def render_junit(
    report: GateReport,
    *,
    target: str | None = None,
    header: ReportHeader | None = None,
    elapsed: float | None = None,
) -> str:
    """JUnit XML: one testcase per gate, a failure element for each blocking gate; ``elapsed`` (seconds, the
    whole check) becomes the suites' ``time``."""
    header = header or ReportHeader(target=target)
    props: dict[str, object] = {
        "status": "passed" if report.passed else "blocked",
        "exit_code": 0 if report.passed else 1,
        "policy_hash": report.policy_hash,
        "policy_name": report.policy_name,
        "target": header.target,
        "policy_version": header.policy_version,
        "policy_source": header.policy_source,
        "evaluation_id": header.evaluation_id,
        "evaluation_purpose": header.purpose,
        "release_evidence_id": header.release_evidence_id,
    }
    for key in ("name", "version", "items", "labels", "manifest_hash", "sha256"):
        props[f"golden_set_{key}"] = (header.golden or {}).get(key)
    if report.task != "detect":
        props["task"] = report.task
    cases = [
        _testcase(
            g.name,
            problem=None if g.passed else ("failure", "GateBlocked", g.explanation),
            detail=f"{g.metric} = {_value(g.value)} (must be {g.op} {g.threshold:g}); {g.explanation}",
        )
        for g in report.gates
    ]
    suite = ET.Element("testsuite", {"name": "labelgate.gates", **_seconds(elapsed)})
    summary = "\n".join(filter(None, [headline(report, header), _evaluation_line(header), *header.notes]))
    return _junit_document(suite, cases, props, summary)


def render(
    report: GateReport,
    fmt: ReportFormat,
    *,
    target: str | None = None,
    header: ReportHeader | None = None,
    elapsed: float | None = None,
) -> str:
    """Dispatch on ``fmt`` (text, json or junit); ``header`` (default: ``target`` only) heads each form;
    ``elapsed`` (seconds) is the JUnit suites' ``time``."""
    header = header or ReportHeader(target=target)
    if fmt == "json":
        return render_json(report, header=header)
    if fmt == "junit":
        return render_junit(report, header=header, elapsed=elapsed)
    return render_text(report, header=header)


ErrorKind = Literal["refused", "bad_input", "internal"]

_ERROR_TYPES: dict[str, str] = {"refused": "Refused", "bad_input": "InputError", "internal": "InternalError"}
_ERROR_WORDS: dict[str, str] = {"refused": "refused", "bad_input": "bad input", "internal": "internal error"}
_ERROR_LABELS: dict[str, str] = {"refused": "refused", "bad_input": "error", "internal": "internal error"}


def render_error(
    message: str,
    fmt: ReportFormat,
    *,
    target: str | None = None,
    exit_code: int = 2,
    kind: ErrorKind = "bad_input",
    field: str | None = None,
    policy_source: str | None = None,
    elapsed: float | None = None,
) -> str:
    """The report of a check that ended without a verdict: ``kind`` ``bad_input`` (exit 2), ``internal``
    (exit 3) or ``refused`` (exit 1); ``message`` is the one line printed on stderr (it names the file, flag
    or field; ``field`` names it alone when known). JSON ``{status: "error", passed: false, exit_code,
    headline, target, policy_source, error: {kind, type, field, message}}``; JUnit XML with one ``gate check``
    test case holding an ``<error>`` (a ``<failure>`` when refused); text, ``error: message``."""
    head = f"gate check ERROR (exit {exit_code}, {_ERROR_WORDS[kind]}): {message}"
    if fmt == "json":
        body = {
            "status": "error",
            "passed": False,
            "exit_code": exit_code,
            "headline": head,
            "target": target,
            "policy_source": policy_source,
            "error": {"kind": kind, "type": _ERROR_TYPES[kind], "field": field, "message": message},
        }
        return json.dumps(body, indent=2, ensure_ascii=False) + "\n"
    if fmt == "junit":
        tag = "failure" if kind == "refused" else "error"
        case = _testcase("gate check", problem=(tag, _ERROR_TYPES[kind], message))
        props: dict[str, object] = {
            "status": "error",
            "exit_code": exit_code,
            "error_kind": kind,
            "error_field": field,
            "target": target,
            "policy_source": policy_source,
        }
        suite = ET.Element("testsuite", {"name": "labelgate.gates", **_seconds(elapsed)})
        return _junit_document(suite, [case], props, head)
    return f"{_ERROR_LABELS[kind]}: {message}\n"


def header_from_record(
    record: GateEvaluation,
    *,
    policy_version: int | None,
    target: str | None = None,
    purpose: str | None = None,
    release_evidence_id: int | None = None,
) -> ReportHeader:
    """The header of a stored evaluation: its golden set as the evaluation recorded it (``evidence``)."""
    golden = (record.evidence or {}).get("golden_set")
    return ReportHeader(
        target=target,
        policy_version=policy_version,
        golden=golden if isinstance(golden, Mapping) else ({"name": golden} if golden else None),
        evaluation_id=record.id,
        purpose=purpose,
        release_evidence_id=release_evidence_id,
    )


def report_from_record(record: GateEvaluation, policy_name: str) -> GateReport:
    """The report of a stored ``GateEvaluation`` (:func:`lineage.gates.report_of`)."""
    from lineage.gates import report_of  # the record's side: not loaded by the offline CI gate

    return report_of(record, policy_name)


def report_from_public(evaluation: EvaluationPublic) -> tuple[GateReport, ReportHeader]:
    """The report and header of an evaluation as the API serves it: what ``gate check DATASET@VERSION``
    prints, locally and against a server alike. The report is the report's dict form the evaluation carries
    (``EvaluationPublic.report_dict()``), read as :func:`report_from_record` reads a record's.

    Raises:
        ReportFormatError: it does not parse (another ``report_version``: a server of another release),
            naming the evaluation and the key.
    """
    try:
        report = GateReport.from_dict(evaluation.report_dict())
    except ReportFormatError as exc:
        raise ReportFormatError(exc.key, f"evaluation #{evaluation.id}: {exc.message}") from None
    golden = evaluation.evidence.golden_set
    header = ReportHeader(
        target=f"{evaluation.dataset}@{evaluation.version}",
        policy_version=evaluation.policy_version,
        golden=golden if isinstance(golden, Mapping) else ({"name": golden} if golden else None),
        evaluation_id=evaluation.id,
        purpose=evaluation.purpose,
        release_evidence_id=evaluation.release_evidence_id,
    )
    return report, header
