"""A label's lineage in words (pure: the API's JSON in, short text out; no Streamlit).

The lineage API answers provenance as a mapping (``model_version_id``, ``weights_sha256``, ``confidence``,
...); a person reads ``model street-detector@2 · weights 31c2…ab · conf 0.71 ≥ thr 0.13 · run 4``. Every
confidence and threshold is shown with two decimals, every hash shortened, nothing as a Python ``repr``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "DASH",
    "author",
    "chain_rows",
    "correction_line",
    "holding_line",
    "label_option",
    "number",
    "provenance_text",
    "review_line",
    "schema_text",
    "score_text",
    "short_hash",
]

DASH = "—"


def number(value: Any, digits: int = 2) -> str:
    """A finite number rounded to ``digits`` decimals (``0.7128`` → ``0.71``, ``0.4`` → ``0.4``); anything
    else ``—``."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return str(round(float(value), digits)) if ok else DASH


def short_hash(value: Any, head: int = 4, tail: int = 2) -> str:
    """``31c2…ab`` for a long hex digest; short text as it is; nothing as ``—``."""
    text = str(value or "")
    if not text:
        return DASH
    if len(text) <= head + tail + 1:
        return text
    return f"{text[:head]}…{text[len(text) - tail :]}"


def _model(step: Mapping[str, Any]) -> str | None:
    model = step.get("model")
    if isinstance(model, Mapping) and model.get("name") is not None:
        return f"{model.get('name')}@{model.get('version')}"
    legacy = (step.get("provenance") or {}).get("model")  # "name:version" from an older server
    return str(legacy).replace(":", "@", 1) if legacy else None


def author(step: Mapping[str, Any]) -> str:
    """Who the label is by: ``model NAME@VERSION``, the annotator's name, ``import coco``, ``synthetic``."""
    if step.get("author"):
        return str(step["author"])
    prov = step.get("provenance") or {}
    kind = str(step.get("kind") or "?")
    if kind == "model":
        return f"model {_model(step) or '(unknown)'}"
    if prov.get("annotator"):
        return str(prov["annotator"])
    if kind == "import":
        return f"import {prov.get('source_format') or '?'}"
    return kind


def score_text(step: Mapping[str, Any]) -> str:
    """``conf 0.71 ≥ thr 0.13`` for a model label (``conf 0.71`` without a threshold); else ``""``."""
    prov = step.get("provenance") or {}
    conf = prov.get("confidence")
    if conf is None:
        return ""
    thr = prov.get("threshold")
    return f"conf {number(conf)}" + (f" ≥ thr {number(thr)}" if thr is not None else "")


def provenance_text(step: Mapping[str, Any]) -> str:
    """One line of a history row's provenance (the kind's fields only)."""
    prov = step.get("provenance") or {}
    kind = str(step.get("kind") or "?")
    if kind == "model":
        weights = (step.get("model") or {}).get("weights_sha256") or prov.get("weights_sha256")
        parts = [author(step), f"weights {short_hash(weights)}", score_text(step)]
        if prov.get("autolabel_run_id") is not None:
            parts.append(f"run {prov['autolabel_run_id']}")
        return " · ".join(p for p in parts if p)
    if kind == "import":
        parts = [f"import {prov.get('source_format') or '?'}", f"source {short_hash(prov.get('source_sha256'))}"]
        if prov.get("annotator"):
            parts.append(f"by {prov['annotator']}")
        return " · ".join(parts)
    if kind == "synthetic":
        return f"synthetic · config {short_hash(prov.get('generator_config_hash'))}"
    return f"by {prov.get('annotator') or step.get('author') or '?'}"


def label_option(label: Mapping[str, Any]) -> str:
    """A label as a choice: ``#812 car (model street-detector@2, conf 0.71)`` or ``#5 dog (by alice)``."""
    lineage = label.get("lineage") or {}
    history = list(lineage.get("history") or [])
    step = history[-1] if history else {"kind": label.get("kind"), "provenance": {}}
    who = author(step)
    if str(label.get("kind")) == "model" or str(step.get("kind")) == "model":
        conf = label.get("confidence", (step.get("provenance") or {}).get("confidence"))
        detail = f"{who}, conf {number(conf)}"
    elif str(step.get("kind")) == "human":
        detail = f"by {who}"
    else:
        detail = who
    return f"#{label.get('id')} {label.get('category')} ({detail})"


def review_line(review: Mapping[str, Any]) -> str:
    """``accept by reviewer_user: “tight box”`` (the comment quoted when there is one)."""
    comment = str(review.get("comment") or "").strip()
    line = f"{review.get('decision', '?')} by {review.get('reviewer') or '?'}"
    when = str(review.get("at") or "")[:16].replace("T", " ")
    line += f" ({when})" if when else ""
    return line + (f": “{comment}”" if comment else "")


def correction_line(c: Mapping[str, Any]) -> str:
    """``#3 → #7: class kitty → cat, by annotator_user (reason: wrong species)``."""
    line = f"#{c.get('replaced_id')} → #{c.get('by_id')}: {c.get('what') or 'changed'}, by {c.get('by') or '?'}"
    reason = str(c.get("reason") or "").strip()
    return line + (f" (reason: {reason})" if reason else "")


def schema_text(schema: Any) -> str:
    """``street-objects@2`` (content hash shortened), or ``—`` when the version has no schema."""
    if not isinstance(schema, Mapping) or schema.get("name") is None:
        return DASH
    return f"{schema.get('name')}@{schema.get('version')} (hash {short_hash(schema.get('content_hash'), 8, 0)})"


def holding_line(h: Mapping[str, Any]) -> str:
    """``street@v3 (candidate): #812, live``."""
    state = "live" if h.get("live") else "superseded"
    return f"{h.get('version')} ({h.get('state')}): #{h.get('annotation_id')}, {state}"


def chain_rows(lineage: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every row of the chain (history, then later corrections) as table rows with readable provenance."""
    steps: Sequence[Mapping[str, Any]] = [*(lineage.get("history") or []), *(lineage.get("superseded_by") or [])]
    return [
        {
            "id": s.get("id"),
            "version": s.get("version"),
            "category": s.get("category"),
            "kind": s.get("kind"),
            "provenance": provenance_text(s),
            "reviews": "; ".join(review_line(r) for r in s.get("reviews") or []) or DASH,
            "at": str(s.get("created_at") or "")[:19].replace("T", " "),
        }
        for s in steps
    ]
