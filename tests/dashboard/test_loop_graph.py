"""The model loop drawn as DOT (``dashboard.graphs.loop_dot``): readable names, relations on the edges, the
training node with its hyper-parameters and metrics; no browser needed."""

from __future__ import annotations

from typing import Any

from dashboard import graphs

LOOP: dict[str, Any] = {
    "nodes": [
        {"id": "dataset_version:1", "kind": "dataset_version", "name": "street@v1", "detail": {"state": "released"}},
        {"id": "dataset_version:4", "kind": "dataset_version", "name": "val@1",
         "detail": {"state": "released", "golden": True}},
        {"id": "training:5", "kind": "training", "name": "training of tiny-shapes@2",
         "detail": {"trainer": "ultralytics", "hyperparameters": {"epochs": 30, "lr0": 0.01},
                    "metrics": {"mAP50": 0.81234}}},
        {"id": "model_version:5", "kind": "model_version", "name": "tiny-shapes@2",
         "detail": {"weights_sha256": "ab" * 32}},
        {"id": "autolabel_run:7", "kind": "autolabel_run", "name": "run 7 on street@v2",
         "detail": {"state": "succeeded", "threshold": 0.25}},
        {"id": "labels:7", "kind": "labels", "name": "40 labels of run 7", "detail": {"rows": 40}},
        {"id": "dataset_version:2", "kind": "dataset_version", "name": "street@v2", "detail": {"state": "released"}},
        {"id": "release:3", "kind": "release", "name": "release of street@v2",
         "detail": {"git_tag": "release/p1/street/v2"}},
    ],
    "edges": [
        {"source": "dataset_version:1", "target": "training:5", "relation": "trained on", "detail": {"item_count": 2}},
        {"source": "dataset_version:4", "target": "training:5", "relation": "validated on", "detail": {}},
        {"source": "training:5", "target": "model_version:5", "relation": "produced", "detail": {}},
        {"source": "model_version:5", "target": "autolabel_run:7", "relation": "ran", "detail": {}},
        {"source": "autolabel_run:7", "target": "labels:7", "relation": "wrote", "detail": {}},
        {"source": "labels:7", "target": "dataset_version:2", "relation": "in", "detail": {"count": 40}},
        {"source": "dataset_version:2", "target": "release:3", "relation": "released as", "detail": {}},
        {"source": "dataset_version:9", "target": "training:5", "relation": "trained on", "detail": {}},
    ],
    "truncated": False,
}  # fmt: skip


def _node(dot: str, name: str) -> str:
    """The node id DOT gives the node whose label starts with ``name``."""
    line = next(line for line in dot.splitlines() if f'[label="{name}' in line)
    return line.strip().split(" ")[0]


def test_loop_dot_draws_the_whole_loop_with_readable_names() -> None:
    dot = graphs.loop_dot(LOOP, focus="model_version:5")
    v1, val, training, model = (_node(dot, n) for n in ("street@v1", "val@1", "training of", "tiny-shapes@2"))
    run, labels, v2, release = (_node(dot, n) for n in ("run 7", "40 labels", "street@v2", "release of"))
    for a, b, relation in [
        (v1, training, "trained on"),
        (training, model, "produced"),
        (model, run, "ran"),
        (run, labels, "wrote"),
        (labels, v2, "in (40)"),
        (v2, release, "released as"),
    ]:
        assert f'  {a} -> {b} [label="{relation}"' in dot, (a, b, relation)
    assert f'  {val} -> {training} [label="validated on", style=dashed];' in dot
    assert "epochs 30\\nlr0 0.01\\nval mAP50 0.812" in dot  # hyper-parameters and metrics on the training node
    assert "val@1\\nreleased · golden" in dot and "succeeded · thr 0.25" in dot and "release/p1/street/v2" in dot
    assert "dataset_version:" not in dot and "model_version:" not in dot  # names, never ids
    assert "penwidth=3" in next(line for line in dot.splitlines() if line.strip().startswith(f"{model} ["))
    assert dot.count("->") == 7  # the edge from a node not in the graph is left out


def test_loop_dot_of_nothing_is_an_empty_graph() -> None:
    empties: list[dict[str, Any] | None] = [None, {}, {"nodes": [], "edges": []}]
    for empty in empties:
        dot = graphs.loop_dot(empty)
        assert dot.startswith("digraph loop {") and dot.endswith("}") and "->" not in dot
    assert "size limit" in graphs.loop_dot({**LOOP, "truncated": True})
