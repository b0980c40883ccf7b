"""Render a :class:`~quality_gates.verdict.GateReport` as JSON, plain text or JUnit XML.

- JSON: ``GateReport.to_dict()`` (``passed``, ``policy_hash``, ``gates`` with name/metric/value/threshold/
  op/passed/explanation/evidence, ``metrics``, ``per_class``, ``data_hashes``), indented, NaN as null.
- text: a verdict line, one line per gate (each blocking gate with its one-line, actionable explanation),
  the headline metrics and the policy hash.
- JUnit XML: one ``<testcase>`` per gate in a ``labelgate.gates`` suite, a ``<failure>`` for each blocking
  gate, so CI systems show gates like tests.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from typing import Literal

from lineage.models import GateEvaluation
from quality_gates.verdict import GateReport, GateResult

__all__ = ["ReportFormat", "render", "render_json", "render_junit", "render_text", "report_from_record"]

ReportFormat = Literal["text", "json", "junit"]


def render_json(report: GateReport) -> str:
    """The report as indented JSON (keys in a stable order; NaN → null)."""
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _value(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "n/a"
    return f"{v:.4g}"


def _gate_line(g: GateResult) -> str:
    mark = "PASS " if g.passed else "BLOCK"
    return f"  {mark} {g.name}: {g.explanation}"


def render_text(report: GateReport, *, target: str | None = None) -> str:
    """Human-readable summary; every blocking gate gets its explanation on one line."""
    verdict = "PASSED" if report.passed else "BLOCKED"
    n_block = len(report.blocking)
    head = f"gate check {verdict}: {len(report.gates) - n_block} of {len(report.gates)} gates pass"
    if target:
        head += f" for {target}"
    lines = [head + f" (policy {report.policy_name!r})"]
    lines += [_gate_line(g) for g in report.gates if not g.passed]
    lines += [_gate_line(g) for g in report.gates if g.passed]
    shown = [(k, v) for k, v in report.metrics.items() if v is not None and k != "threshold"]
    if shown:
        lines.append("metrics: " + ", ".join(f"{k}={_value(v)}" for k, v in shown))
    lines.append(f"policy hash: {report.policy_hash}")
    return "\n".join(lines) + "\n"


def render_junit(report: GateReport, *, target: str | None = None) -> str:
    """JUnit XML: one testcase per gate, a failure element for each blocking gate."""
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
    if target:
        ET.SubElement(props, "property", {"name": "target", "value": target})
    for g in report.gates:
        case = ET.SubElement(suite, "testcase", {"classname": "labelgate.gates", "name": g.name})
        out = ET.SubElement(case, "system-out")
        out.text = f"{g.metric} = {_value(g.value)} (must be {g.op} {g.threshold:g}); {g.explanation}"
        if not g.passed:
            failure = ET.SubElement(case, "failure", {"message": g.explanation, "type": "GateBlocked"})
            failure.text = g.explanation
    root = ET.Element("testsuites", {"name": "labelgate gate check"})
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def render(report: GateReport, fmt: ReportFormat, *, target: str | None = None) -> str:
    """Dispatch on ``fmt`` (text, json or junit)."""
    if fmt == "json":
        return render_json(report)
    if fmt == "junit":
        return render_junit(report, target=target)
    return render_text(report, target=target)


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
