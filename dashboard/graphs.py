"""Lineage graphs as Graphviz DOT text (pure; ``st.graphviz_chart`` renders DOT in the browser, offline).
Confidences and thresholds are shown with two decimals (``conf 0.71 ≥ thr 0.13``), models as ``NAME@VERSION``.

Inputs are the JSON of ``lineage.provenance``'s ``VersionLineage.ancestry`` and ``AnnotationLineage``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dashboard import lineage_text

__all__ = ["ancestry_dot", "annotation_dot", "quote"]

_STATE_COLOUR = {
    "draft": "#e0e0e0",
    "candidate": "#fff3c4",
    "released": "#c8e6c9",
    "rejected": "#ffcdd2",
    "deprecated": "#d7ccc8",
}
_KIND_COLOUR = {"human": "#bbdefb", "model": "#ffe0b2", "import": "#e1bee7", "synthetic": "#dcedc8"}


def quote(text: Any) -> str:
    """A DOT double-quoted string (backslashes and quotes escaped, newlines as DOT line breaks)."""
    s = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{s}"'


def _clip(text: str, n: int = 60) -> str:
    """A line short enough for a graph node."""
    return text if len(text) <= n else text[: n - 1] + "…"


def _short(h: Any, n: int = 10) -> str:
    return str(h)[:n] if h else "—"


def ancestry_dot(ancestry: Sequence[Mapping[str, Any]]) -> str:
    """A left-to-right graph of a version's ancestry, oldest first; nodes coloured by state, an edge marked
    where the schema changed. ``ancestry`` is this version first, then its parent, and so on."""
    lines = ["digraph ancestry {", "  rankdir=LR;", '  node [shape=box, style="rounded,filled", fontsize=10];']
    nodes = list(reversed(ancestry))
    for i, n in enumerate(nodes):
        schema = n.get("schema") or {}
        label = "\n".join(
            [
                str(n.get("version")),
                str(n.get("state", "?")),
                f"git {_short(n.get('git_revision'), 8)}  dvc {_short(n.get('dvc_hash'), 8)}",
                f"schema {schema.get('name', '—')} v{schema.get('version', '?')}" if schema else "no schema",
            ]
        )
        fill = _STATE_COLOUR.get(str(n.get("state")), "#ffffff")
        lines.append(f"  v{i} [label={quote(label)}, fillcolor={quote(fill)}];")
    for i in range(1, len(nodes)):
        changed = bool(nodes[i].get("schema_changed"))
        attrs = ' [label="schema changed", color="#d62728", fontcolor="#d62728"]' if changed else ""
        lines.append(f"  v{i - 1} -> v{i}{attrs};")
    lines.append("}")
    return "\n".join(lines)


def annotation_dot(lineage: Mapping[str, Any]) -> str:
    """One label's history as a graph: each row (oldest first) points to the row that replaced it, a copy
    into a child version is a dashed edge, reviews are listed on their row; later corrections follow."""
    steps = list(lineage.get("history", [])) + list(lineage.get("superseded_by", []))
    target = lineage.get("annotation_id")
    lines = ["digraph annotation {", "  rankdir=LR;", '  node [shape=box, style="rounded,filled", fontsize=10];']
    ids = {s.get("id") for s in steps}
    for s in steps:
        reviews = s.get("reviews") or []
        label_parts = [
            f"#{s.get('id')} {s.get('category', '?')}",
            f"{s.get('kind', '?')} in {s.get('version', '?')}",
        ]
        if s.get("kind") == "model":
            label_parts.append(lineage_text.author(s))
        score = lineage_text.score_text(s)
        if score:
            label_parts.append(score)
        label_parts += [f"review: {_clip(lineage_text.review_line(r))}" for r in reviews]
        fill = _KIND_COLOUR.get(str(s.get("kind")), "#ffffff")
        pen = ", penwidth=3" if s.get("id") == target else ""
        lines.append(f"  a{s.get('id')} [label={quote(chr(10).join(label_parts))}, fillcolor={quote(fill)}{pen}];")
    for s in steps:
        if s.get("supersedes_id") in ids:
            lines.append(f'  a{s["supersedes_id"]} -> a{s.get("id")} [label="corrected"];')
        elif s.get("origin_id") in ids:
            lines.append(f'  a{s["origin_id"]} -> a{s.get("id")} [label="copied", style=dashed];')
    lines.append("}")
    return "\n".join(lines)
