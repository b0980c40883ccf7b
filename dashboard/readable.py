"""Readable forms of API answers (pure, no Streamlit): times as ``2026-12-03 14:05:12 UTC``, hashes shortened
on purpose (``2ffd…91ab``), gate values in their metric's unit (a rate as ``9.4 %``, bound ``≤ 5.0 %``;
alpha or mAP as ``0.938``), data expectations as Great Expectations' Data Docs show them, internal keys
(a leading underscore) dropped, audit events by name. The pages show these; the raw values stay in the API
and in the downloads."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from dashboard.tables import evaluation_rows

__all__ = [
    "COUNT_METRICS",
    "RATE_METRICS",
    "activity_rows",
    "bound_text",
    "column_text",
    "expectation_table",
    "gate_metric",
    "metric_text",
    "public",
    "readable_approval_rows",
    "readable_evaluation_rows",
    "readable_gate_rows",
    "short_hash",
    "utc_text",
    "verdict_text",
]

#: Gate metrics that are rates in [0, 1]: shown as percentages (``9.4 %``, bound ``≤ 5.0 %``).
RATE_METRICS: frozenset[str] = frozenset(
    {
        "golden_error",
        "golden_set_error",
        "precision",
        "recall",
        "f1",
        "accuracy",
        "hamming_loss",
        "review_coverage",
        "routed_review_coverage",
    }
)
#: Gate metrics that count things: shown as whole numbers.
COUNT_METRICS: frozenset[str] = frozenset({"expectations_failed", "expectations", "blocking_leaks"})
_OPS = {"<=": "≤", ">=": "≥", "<": "<", ">": ">", "==": "="}


def utc_text(value: Any) -> str:
    """An API time (ISO 8601 text or a datetime) as ``2026-12-03 14:05:12 UTC``: seconds, no microseconds,
    in UTC; ``—`` for none, the text itself when it does not read as a time."""
    if value is None or value == "":
        return "—"
    when = value
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if not isinstance(when, datetime):
        return str(value)
    if when.tzinfo is None:  # the API speaks UTC; a naive time is UTC
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def short_hash(value: Any, *, keep: int = 4) -> str:
    """``2ffd…91ab``: the first and last ``keep`` characters of a hash (a shorter value as it is)."""
    text = str(value or "")
    return text if len(text) <= 2 * keep + 1 else f"{text[:keep]}…{text[-keep:]}"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def metric_text(metric: Any, value: Any) -> str:
    """A gate's value for people: a rate as ``9.4 %``, a count as ``3``, anything else (alpha, mAP, PSI)
    with three decimals (``0.938``); ``n/a`` when undefined."""
    if not _number(value):
        return "n/a"
    if metric in RATE_METRICS:
        return f"{100 * value:.1f} %"
    if metric in COUNT_METRICS:
        return f"{value:.0f}"
    return f"{value:.3f}"


def bound_text(op: Any, threshold: Any, metric: Any) -> str:
    """``≤ 5.0 %``, ``≥ 0.800``: the gate's comparison and threshold, in the unit of its value."""
    return f"{_OPS.get(str(op), str(op or ''))} {metric_text(metric, threshold)}".strip()


def gate_metric(gate: Mapping[str, Any]) -> str:
    """The metric a gate measures (its ``metric``, else its name)."""
    return str(gate.get("metric") or gate.get("name"))


def verdict_text(passed: Any, *, warn: bool = False) -> str:
    """``PASS``, ``BLOCK``, or ``WARN`` for a gate that passed with a warning (``training_leakage``)."""
    return ("WARN" if warn else "PASS") if passed else "BLOCK"


def _warns(gate: Mapping[str, Any]) -> bool:
    evidence = gate.get("evidence")
    return isinstance(evidence, Mapping) and evidence.get("verdict") == "warn"


def readable_gate_rows(gates: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Gate results for people: gate, verdict, value and bound in the metric's unit (:func:`metric_text`),
    explanation."""
    return [
        {
            "gate": g.get("name"),
            "verdict": verdict_text(g.get("passed"), warn=_warns(g)),
            "value": metric_text(gate_metric(g), g.get("value")),
            "bound": bound_text(g.get("op"), g.get("threshold"), gate_metric(g)),
            "explanation": g.get("explanation", ""),
        }
        for g in gates
    ]


def readable_evaluation_rows(evaluations: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """:func:`evaluation_rows` with times as :func:`utc_text` and the policy named ``name@version``."""
    rows = evaluation_rows(evaluations)
    for row, e in zip(rows, evaluations, strict=True):
        version = e.get("policy_version")
        row["policy"] = f"{e.get('policy_name')}@{version}" if version is not None else str(e.get("policy_name"))
        row["at"] = utc_text(e.get("created_at"))
    return rows


def readable_approval_rows(approvals: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """:func:`approval_rows` with the time as :func:`utc_text` and the hashes shortened (:func:`short_hash`)."""
    return [
        {
            "printed name": a.get("printed_name"),
            "role": a.get("role"),
            "meaning": a.get("meaning"),
            "signed at": utc_text(a.get("signed_at")),
            "content hash": short_hash(a.get("content_hash")),
            "signature hash": short_hash(a.get("signature_hash")),
        }
        for a in approvals
    ]


def column_text(name: Any) -> str:
    """A data column as people read it: an internal, derived column (leading underscore, e.g.
    ``_right_margin``) becomes ``right margin (derived)``."""
    text = str(name or "")
    if text.startswith("_"):
        return text.strip("_").replace("_", " ") + " (derived)"
    return text


_EXPECTED = {
    "expect_column_values_to_be_between": "values within bounds",
    "expect_column_values_to_not_be_null": "no missing values",
    "expect_column_values_to_be_in_set": "values in the allowed set",
    "expect_column_values_to_be_unique": "unique values",
    "expect_column_values_to_match_regex": "values match the pattern",
    "expect_table_row_count_to_be_between": "row count within bounds",
}


def expectation_table(outcomes: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Data-expectation outcomes as Great Expectations' Data Docs show them: expectation, column, observed
    value, expected, success; failures first. Internal (derived) column names are spelled out."""
    rows = []
    for o in outcomes:
        unexpected: Any = o.get("unexpected_count")
        count: Any = o.get("element_count")
        if _number(unexpected) and _number(count) and count:
            observed = f"{unexpected:.0f} unexpected of {count:.0f} ({100 * unexpected / count:.1f} %)"
        elif _number(unexpected):
            observed = f"{unexpected:.0f} unexpected"
        else:
            observed = str(o.get("observed_value", "n/a"))
        kind = str(o.get("expectation") or "")
        rows.append(
            {
                "expectation": o.get("name") or kind,
                "column": column_text(o.get("column")),
                "observed value": observed,
                "expected": _EXPECTED.get(kind, kind.removeprefix("expect_").replace("_", " ")),
                "success": bool(o.get("success")),
            }
        )
    return sorted(rows, key=lambda r: r["success"])


def public(value: Any) -> Any:
    """``value`` without internal keys (a leading underscore), at every depth."""
    if isinstance(value, Mapping):
        return {k: public(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, list | tuple):
        return [public(v) for v in value]
    return value


def activity_rows(
    events: Iterable[Mapping[str, Any]], *, projects: Mapping[int, str] | None = None
) -> list[dict[str, Any]]:
    """Audit events for people: time (:func:`utc_text`), actor, action, the object by name (the API's
    ``object_name``, else ``type:id``), the project by name."""
    projects = projects or {}
    rows = []
    for e in events:
        pid = e.get("project_id")
        rows.append(
            {
                "seq": e.get("seq"),
                "time": utc_text(e.get("ts")),
                "actor": e.get("actor"),
                "action": e.get("action"),
                "object": e.get("object_name") or f"{e.get('object_type')}:{e.get('object_id')}",
                "project": "—" if pid is None else projects.get(int(pid), f"#{pid}"),
            }
        )
    return rows
