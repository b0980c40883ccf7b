"""Render a :class:`~quality_gates.verdict.GateReport` as JSON, plain text or JUnit XML.

Every form opens with the same headline (:func:`headline`): the verdict, the target, the policy
(``name@version`` on the record, or the policy file offline) with its short hash, and the golden set
measured against with its version and size (items, labels); a re-check of a released version says so.

- JSON: ``GateReport.to_dict()`` (``passed``, ``policy_hash``, ``gates`` with name/metric/value/threshold/
  op/passed/explanation/evidence, ``metrics``, ``per_class``, ``data_hashes``) plus ``headline``,
  ``target``, ``policy`` ({name, version, hash, source}), ``golden_set`` ({name, version, items, labels,
  ...} or null) and ``evaluation`` ({id, purpose, release_evidence_id} on the record), indented, NaN as null.
- text: the headline, one line per gate (each blocking gate with its one-line, actionable explanation),
  the headline metrics and the full policy hash.
- JUnit XML: one ``<testcase>`` per gate in a ``labelgate.gates`` suite, a ``<failure>`` for each blocking
  gate, so CI systems show gates like tests; the headline is the suite's ``system-out`` and its parts are
  suite properties.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from lineage.models import GateEvaluation
from quality_gates.verdict import GateReport, GateResult

__all__ = [
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
    body = report.to_dict()
    if header is not None:
        body = {
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
    mark = "PASS " if g.passed else "BLOCK"
    return f"  {mark} {g.name}: {g.explanation}"


def render_text(report: GateReport, *, target: str | None = None, header: ReportHeader | None = None) -> str:
    """Human-readable summary; every blocking gate gets its explanation on one line."""
    header = header or ReportHeader(target=target)
    lines = [headline(report, header)]
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


def render_junit(report: GateReport, *, target: str | None = None, header: ReportHeader | None = None) -> str:
    """JUnit XML: one testcase per gate, a failure element for each blocking gate."""
    header = header or ReportHeader(target=target)
    suite = ET.Element(
        "testsuite",
        {
            "name": "labelgate.gates",
            "tests": str(len(report.gates)),
            "failures": str(len(report.blocking)),
            "errors": "0",
            "skipped": "0",
        },
    )
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", {"name": "policy_hash", "value": report.policy_hash})
    ET.SubElement(props, "property", {"name": "policy_name", "value": report.policy_name})
    extra: dict[str, object] = {
        "target": header.target,
        "policy_version": header.policy_version,
        "policy_source": header.policy_source,
        "evaluation_id": header.evaluation_id,
        "evaluation_purpose": header.purpose,
        "release_evidence_id": header.release_evidence_id,
    }
    for key in ("name", "version", "items", "labels", "manifest_hash", "sha256"):
        extra[f"golden_set_{key}"] = (header.golden or {}).get(key)
    for name, value in extra.items():
        if value is not None:
            ET.SubElement(props, "property", {"name": name, "value": str(value)})
    for g in report.gates:
        case = ET.SubElement(suite, "testcase", {"classname": "labelgate.gates", "name": g.name})
        out = ET.SubElement(case, "system-out")
        out.text = f"{g.metric} = {_value(g.value)} (must be {g.op} {g.threshold:g}); {g.explanation}"
        if not g.passed:
            failure = ET.SubElement(case, "failure", {"message": g.explanation, "type": "GateBlocked"})
            failure.text = g.explanation
    out = ET.SubElement(suite, "system-out")
    out.text = "\n".join(filter(None, [headline(report, header), _evaluation_line(header), *header.notes]))
    root = ET.Element("testsuites", {"name": "labelgate gate check"})
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def render(
    report: GateReport, fmt: ReportFormat, *, target: str | None = None, header: ReportHeader | None = None
) -> str:
    """Dispatch on ``fmt`` (text, json or junit); ``header`` (default: ``target`` only) heads each form."""
    header = header or ReportHeader(target=target)
    if fmt == "json":
        return render_json(report, header=header)
    if fmt == "junit":
        return render_junit(report, header=header)
    return render_text(report, header=header)


def render_error(message: str, fmt: ReportFormat, *, target: str | None = None) -> str:
    """The machine-readable answer of a check refused as bad input (exit 2): JSON ``{passed: false, exit_code:
    2, error: {message}, target}``, or JUnit XML with one ``<error>`` testcase. Text: the message."""
    if fmt == "json":
        body = {"passed": False, "exit_code": 2, "target": target, "error": {"message": message}}
        return json.dumps(body, indent=2, ensure_ascii=False) + "\n"
    if fmt == "junit":
        suite = ET.Element(
            "testsuite", {"name": "labelgate.gates", "tests": "1", "failures": "0", "errors": "1", "skipped": "0"}
        )
        if target:
            props = ET.SubElement(suite, "properties")
            ET.SubElement(props, "property", {"name": "target", "value": target})
        case = ET.SubElement(suite, "testcase", {"classname": "labelgate.gates", "name": "gate check"})
        error = ET.SubElement(case, "error", {"message": message, "type": "InputError"})
        error.text = message
        root = ET.Element("testsuites", {"name": "labelgate gate check"})
        root.append(suite)
        ET.indent(root)
        return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
    return f"error: {message}\n"


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
    """Rebuild the report of a stored ``GateEvaluation`` (its JSON nulls become NaN again)."""

    def num(v: object) -> float:
        return float(v) if isinstance(v, (int, float)) else math.nan

    gates = tuple(
        GateResult(
            name=g["name"],
            metric=g["metric"],
            value=num(g.get("value")),
            threshold=num(g.get("threshold")),
            op=g["op"],
            passed=bool(g["passed"]),
            explanation=g.get("explanation", ""),
            evidence=g.get("evidence") or {},
        )
        for g in record.gates
    )
    return GateReport(
        passed=record.passed,
        policy_name=policy_name,
        policy_hash=record.policy_hash,
        gates=gates,
        metrics=record.metrics,
        per_class=(record.evidence or {}).get("per_class", {}),
        data_hashes=record.data_hashes,
    )
