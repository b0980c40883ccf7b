"""Lineage graphs as Graphviz DOT text (pure; ``st.graphviz_chart`` renders DOT in the browser, offline).
Confidences and thresholds are shown with two decimals (``conf 0.71 ≥ thr 0.13``), models as ``NAME@VERSION``.

Inputs are the JSON of ``lineage.provenance``'s ``VersionLineage.ancestry`` and ``AnnotationLineage``, and of
``lineage.model_lineage``'s ``LoopGraph`` (a version's, a label's or a model's ``loop``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dashboard import lineage_text

__all__ = ["ancestry_dot", "annotation_dot", "loop_dot", "quote"]

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


_LOOP_STYLE = {
    "dataset_version": ("box", "#e3f2fd"),
    "training": ("component", "#fff9c4"),
    "model_version": ("box3d", "#ffe0b2"),
    "autolabel_run": ("cds", "#f3e5f5"),
    "labels": ("note", "#ffe0b2"),
    "release": ("doubleoctagon", "#c8e6c9"),
}


def _figures(values: Any, n: int = 4) -> list[str]:
    """``key value`` lines of a flat mapping (numbers with up to three decimals), at most ``n``."""
    if not isinstance(values, Mapping):
        return []
    out = [f"{k} {round(v, 3) if isinstance(v, float) else v}" for k, v in list(values.items())[:n]]
    return out + ([f"… {len(values) - n} more"] if len(values) > n else [])


def _loop_label(node: Mapping[str, Any]) -> str:
    kind, d = str(node.get("kind")), node.get("detail") or {}
    lines = [_clip(str(node.get("name", node.get("id"))))]
    if kind == "dataset_version":
        lines.append(str(d.get("state", "?")) + (" · golden" if d.get("golden") else ""))
    elif kind == "training":
        lines += [_clip(str(d["trainer"]))] if d.get("trainer") else []
        lines += _figures(d.get("hyperparameters"))
        lines += [f"val {line}" for line in _figures(d.get("metrics"))]
    elif kind == "model_version":
        lines.append(f"weights {_short(d.get('weights_sha256'), 12)}")
    elif kind == "autolabel_run":
        thr = d.get("threshold")
        lines.append(str(d.get("state", "?")) + (f" · thr {thr:.2f}" if isinstance(thr, float | int) else ""))
    elif kind == "release" and d.get("git_tag"):
        lines.append(_clip(str(d["git_tag"])))
    return "\n".join(lines)


def loop_dot(loop: Mapping[str, Any] | None, *, focus: str | None = None) -> str:
    """The model loop as a left-to-right graph: dataset versions → training (hyper-parameters, validation
    metrics) → model → auto-label runs → labels → the versions holding them → releases. Edges carry their
    relation (``trained on``, ``validated on``, ``in`` with the rows there, ...); the node ``focus`` (an id,
    ``model_version:5``) is drawn with a thick border. Golden versions show ``golden``."""
    lines = ["digraph loop {", "  rankdir=LR;", '  node [style="rounded,filled", fontsize=10];', "  edge [fontsize=9];"]
    loop = loop or {}
    names: dict[Any, str] = {}
    for i, node in enumerate(loop.get("nodes") or []):
        names[node.get("id")] = f"n{i}"
        shape, fill = _LOOP_STYLE.get(str(node.get("kind")), ("box", "#ffffff"))
        pen = ", penwidth=3" if focus is not None and node.get("id") == focus else ""
        lines.append(f"  n{i} [label={quote(_loop_label(node))}, shape={shape}, fillcolor={quote(fill)}{pen}];")
    for e in loop.get("edges") or []:
        a, b = names.get(e.get("source")), names.get(e.get("target"))
        if a is None or b is None:
            continue
        relation = str(e.get("relation", ""))
        count = (e.get("detail") or {}).get("count")
        text = f"{relation} ({count})" if count is not None else relation
        style = ", style=dashed" if relation in ("validated on", "parent of") else ""
        lines.append(f"  {a} -> {b} [label={quote(text)}{style}];")
    if loop.get("truncated"):
        lines.append('  more [label="… graph cut at its size limit", shape=plaintext];')
    lines.append("}")
    return "\n".join(lines)
