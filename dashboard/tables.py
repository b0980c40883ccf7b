"""Pure shaping of API answers into table rows (plain dicts in, plain dicts out; no Streamlit)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "VERSION_STATES",
    "approval_rows",
    "classification_rows",
    "evaluation_rows",
    "event_rows",
    "expectation_rows",
    "gate_rows",
    "payload_changes",
    "queue_rows",
    "run_rows",
    "schema_diff_rows",
    "state_counts",
]

VERSION_STATES: tuple[str, ...] = ("draft", "candidate", "released", "rejected", "deprecated")

#: (old key, new key) pairs that mean "this value changed from old to new" in an audit payload.
_CHANGE_PAIRS: tuple[tuple[str, str], ...] = (("old", "new"), ("before", "after"), ("from", "to"))


def event_rows(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Audit events as table rows: seq, time, actor, action, object (``type:id``), project, request id."""
    return [
        {
            "seq": e["seq"],
            "time": e["ts"],
            "actor": e["actor"],
            "action": e["action"],
            "object": f"{e['object_type']}:{e['object_id']}",
            "project": e.get("project_id"),
            "request_id": e.get("request_id"),
        }
        for e in events
    ]


def payload_changes(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The old → new values an audit payload records, one row ``{field, old, new}`` per changed value.

    Recognised: a top-level pair (``old``/``new``, ``before``/``after``, ``from``/``to``; the field is then
    the payload's ``field`` value, or ``value``), and a key whose value is a mapping holding such a pair.
    Payloads without one give ``[]``.
    """
    rows: list[dict[str, Any]] = []
    for old, new in _CHANGE_PAIRS:
        if old in payload and new in payload:
            rows.append({"field": str(payload.get("field", "value")), "old": payload[old], "new": payload[new]})
    for key, value in payload.items():
        if isinstance(value, Mapping):
            for old, new in _CHANGE_PAIRS:
                if old in value and new in value:
                    rows.append({"field": str(key), "old": value[old], "new": value[new]})
    return rows


def schema_diff_rows(diff: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """A ``SchemaDiff.as_dict()`` as rows ``{change, class, detail}`` (``[]`` when nothing changed or no diff)."""
    if not diff:
        return []
    rows = [{"change": "added", "class": str(n), "detail": ""} for n in diff.get("added", [])]
    rows += [{"change": "removed", "class": str(n), "detail": ""} for n in diff.get("removed", [])]
    rows += [
        {"change": "renamed", "class": f"{r.get('from')} → {r.get('to')}", "detail": ""}
        for r in diff.get("renamed", [])
    ]
    rows += [
        {"change": "redefined", "class": str(r.get("name")), "detail": ", ".join(map(str, r.get("fields", [])))}
        for r in diff.get("redefined", [])
    ]
    if diff.get("reordered"):
        rows.append({"change": "reordered", "class": "(order of kept classes)", "detail": "YOLO indices change"})
    return rows


def state_counts(versions: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Versions per state, every known state present (0 when none), unknown states after them."""
    seen = Counter(str(v.get("state", "unknown")) for v in versions)
    counts = {s: seen.pop(s, 0) for s in VERSION_STATES}
    counts.update(sorted(seen.items()))
    return counts


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def gate_rows(gates: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Gate results as rows: gate, verdict, value, bound (``>= 0.9``), explanation."""
    return [
        {
            "gate": g.get("name"),
            # A gate may pass with a warning its evidence states (training_leakage: a check set to warn).
            "verdict": ("WARN" if (g.get("evidence") or {}).get("verdict") == "warn" else "PASS")
            if g.get("passed")
            else "BLOCK",
            "value": _fmt(g.get("value")),
            "bound": f"{g.get('op', '')} {_fmt(g.get('threshold'))}".strip(),
            "explanation": g.get("explanation", ""),
        }
        for g in gates
    ]


_PURPOSES = {"release_evidence": "release evidence", "recheck": "re-check after release", "evaluation": "evaluation"}


def evaluation_rows(evaluations: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Gate evaluations (as listed, newest first) as rows: id, version (when listed per project), verdict,
    purpose (when the API gives it: release evidence, a re-check after release, or an evaluation), policy
    with its hash prefix, the blocking gates, time."""
    rows = []
    for e in evaluations:
        row: dict[str, Any] = {"evaluation": e.get("id")}
        if e.get("dataset") is not None:
            row["version"] = f"{e['dataset']}@{e.get('version')}"
        row |= {
            "verdict": "PASS" if e.get("passed") else "BLOCK",
        }
        if e.get("purpose"):
            # A re-check of a released version never replaces the evaluation its release rests on.
            row["purpose"] = _PURPOSES.get(str(e["purpose"]), str(e["purpose"]))
        row |= {
            "policy": f"{e.get('policy_name')} ({str(e.get('policy_hash') or '')[:12]})",
            "blocking": ", ".join(str(g.get("name")) for g in e.get("gates", []) if not g.get("passed")),
            "at": e.get("created_at"),
        }
        rows.append(row)
    return rows


def approval_rows(approvals: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Electronic signatures as rows: printed name, role, meaning, time, the content and signature hashes."""
    return [
        {
            "printed name": a.get("printed_name"),
            "role": a.get("role"),
            "meaning": a.get("meaning"),
            "signed at (UTC)": a.get("signed_at"),
            "content hash": str(a.get("content_hash") or "")[:16],
            "signature hash": str(a.get("signature_hash") or "")[:16],
        }
        for a in approvals
    ]


def expectation_rows(outcomes: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Data-expectation outcomes (the ``expectations`` gate's evidence) as rows, failures first."""
    rows = [
        {
            "expectation": o.get("name"),
            "check": o.get("expectation"),
            "column": o.get("column"),
            "verdict": "ok" if o.get("success") else "FAIL",
            "rows": o.get("element_count"),
            "unexpected": o.get("unexpected_count"),
        }
        for o in outcomes
    ]
    return sorted(rows, key=lambda r: r["verdict"] == "ok")


def _named(names: Mapping[int, str], ref: Any) -> str:
    """The name of id ``ref``, or ``#ref`` when it has none."""
    return names[ref] if isinstance(ref, int) and ref in names else f"#{ref}"


def run_rows(
    runs: Sequence[Mapping[str, Any]],
    *,
    versions: Mapping[int, str] | None = None,
    models: Mapping[int, str] | None = None,
) -> list[dict[str, Any]]:
    """Auto-label runs as rows with progress as a fraction in [0, 1] and throughput in images/s.

    ``versions`` and ``models`` name the ids a run refers to (``dataset@version``, ``name@version``); an id
    without a name is shown as ``#id``.
    """
    versions, models = versions or {}, models or {}
    rows = []
    for r in runs:
        total, done = int(r.get("items_total") or 0), int(r.get("items_done") or 0)
        per_class = {k: v for k, v in (r.get("class_thresholds") or {}).items() if v is not None}
        rows.append(
            {
                "run": r.get("id"),
                "version": _named(versions, r.get("dataset_version_id")),
                "model": _named(models, r.get("model_version_id")),
                "state": r.get("state"),
                "progress": done / total if total else 0.0,
                "items": f"{done}/{total}",
                "images_per_s": r.get("images_per_s"),
                "threshold": r.get("threshold"),
                "class thresholds": ", ".join(f"{k}: {_fmt(v)}" for k, v in sorted(per_class.items())),
                "review_band_low": r.get("review_band_low"),
                "nms_iou": r.get("nms_iou"),
                "device": r.get("device"),
                "started": r.get("started_at"),
                "finished": r.get("finished_at"),
                "error": r.get("error") or "",
            }
        )
    return rows


def queue_rows(
    items: Sequence[Mapping[str, Any]], *, versions: Mapping[int, str] | None = None
) -> list[dict[str, Any]]:
    """Review-queue entries as rows: the image, why it was routed, its labels and their lowest confidence."""
    versions = versions or {}
    rows = []
    for q in items:
        labels = list(q.get("labels") or [])
        scores = [float(lab["confidence"]) for lab in labels if isinstance(lab.get("confidence"), int | float)]
        rows.append(
            {
                "entry": q.get("id"),
                "version": _named(versions, q.get("dataset_version_id")),
                "image": q.get("uri"),
                "reason": q.get("reason"),
                "run": q.get("autolabel_run_id"),
                "labels": len(labels),
                "lowest confidence": min(scores) if scores else None,
                "queued at": q.get("created_at"),
            }
        )
    return rows


def classification_rows(per_class: Any) -> list[dict[str, Any]]:
    """A classification report's ``per_class`` (class → ``{precision, recall, f1, support, ...}``) as rows
    ``{class, precision, recall, F1, support}``; undefined values are None, a non-mapping gives ``[]``."""
    if not isinstance(per_class, Mapping):
        return []

    def number(value: Any) -> float | None:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        return float(value) if ok else None

    return [
        {
            "class": str(cls),
            "precision": number(m.get("precision")),
            "recall": number(m.get("recall")),
            "F1": number(m.get("f1")),
            "support": m.get("support") if isinstance(m.get("support"), int) else None,
        }
        for cls, m in per_class.items()
        if isinstance(m, Mapping)
    ]
