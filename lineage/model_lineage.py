"""The loop around models as a graph: dataset version → training → model version → auto-label run → labels →
next dataset version → release (and on, to the models trained on that version).

A :class:`LoopGraph` is a list of nodes and a list of edges; edges run with the data, from upstream to
downstream. Node ids are ``KIND:ID`` (``dataset_version:12``, ``training:5`` for model version 5's training,
``model_version:5``, ``autolabel_run:7``, ``labels:7`` for the labels run 7 wrote, ``release:3``); each node
has a readable ``name`` (``street@v2``, ``tiny-shapes@2``, ``run 7 on street@v3``). Relations:

- ``trained on`` / ``validated on``: dataset version → training (``detail``: the version's pins at
  registration: ``manifest_hash``, ``dvc_hash``, ``item_count``);
- ``produced``: training → model version;
- ``ran``: model version → auto-label run;
- ``wrote``: auto-label run → its labels;
- ``in``: labels → a dataset version holding them (the run's own version, and later versions they were
  carried into; ``detail.count``: the rows there);
- ``parent of``: dataset version → a child version (both in the graph);
- ``released as``: dataset version → its release.

The graph grows from seeds in rounds: going *up* from a model reaches its training data, from a version the
runs that labelled it and their models; going *down* from a model reaches its runs, their labels and the
versions holding them, from a version the models trained on it. Every round runs a fixed handful of
queries, whatever the number of nodes (no query per node); ``rounds`` bounds the reach and
:data:`MAX_NODES` the size (``truncated`` says when it was reached).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from lineage.datasets.catalog import version_ref
from lineage.models import (
    Annotation,
    AutoLabelRun,
    Dataset,
    DatasetVersion,
    ModelTrainingData,
    ModelVersion,
    Release,
)

__all__ = [
    "MAX_NODES",
    "RELATIONS",
    "LoopEdge",
    "LoopGraph",
    "LoopNode",
    "label_loop",
    "loop_graph",
    "model_loop",
    "version_loop",
]

#: The most nodes one graph holds; expansion stops there (``LoopGraph.truncated``).
MAX_NODES = 400

RELATIONS = ("trained on", "validated on", "produced", "ran", "wrote", "in", "parent of", "released as")
_ROLE_RELATION = {"train": "trained on", "val": "validated on"}


@dataclass(frozen=True, slots=True)
class LoopNode:
    """One node: ``id`` (``KIND:ID``), ``kind`` (``dataset_version``, ``training``, ``model_version``,
    ``autolabel_run``, ``labels``, ``release``), a readable ``name`` and what else is known (``detail``)."""

    id: str
    kind: str
    name: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LoopEdge:
    """``source`` → ``target`` (node ids, with the data), its ``relation`` (see :data:`RELATIONS`)."""

    source: str
    target: str
    relation: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LoopGraph:
    nodes: list[LoopNode] = field(default_factory=list)
    edges: list[LoopEdge] = field(default_factory=list)
    #: True when :data:`MAX_NODES` stopped the expansion.
    truncated: bool = False


def _dv(i: int) -> str:
    return f"dataset_version:{i}"


def _mv(i: int) -> str:
    return f"model_version:{i}"


def _tr(i: int) -> str:
    return f"training:{i}"


def _run(i: int) -> str:
    return f"autolabel_run:{i}"


def _labels(i: int) -> str:
    return f"labels:{i}"


def _iso(v: Any) -> Any:
    return v.isoformat() if hasattr(v, "isoformat") else v


class _Builder:
    """Collects node ids and edges while expanding; names and details are read in batch at the end."""

    def __init__(self) -> None:
        self.edges: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.versions: set[int] = set()
        self.models: set[int] = set()
        self.trainings: set[int] = set()
        self.runs: dict[int, AutoLabelRun] = {}
        self.label_counts: dict[int, int] = {}

    def size(self) -> int:
        return len(self.versions) + len(self.models) + len(self.trainings) + 2 * len(self.runs)

    def edge(self, source: str, target: str, relation: str, **detail: Any) -> None:
        self.edges.setdefault((source, target, relation), {}).update(detail)

    def training(self, row: ModelTrainingData) -> None:
        self.versions.add(row.dataset_version_id)
        self.trainings.add(row.model_version_id)
        self.models.add(row.model_version_id)
        relation = _ROLE_RELATION.get(row.role, row.role)
        self.edge(_dv(row.dataset_version_id), _tr(row.model_version_id), relation,
                  manifest_hash=row.manifest_hash, dvc_hash=row.dvc_hash, item_count=row.item_count)  # fmt: skip
        self.edge(_tr(row.model_version_id), _mv(row.model_version_id), "produced")

    def run(self, run: AutoLabelRun) -> None:
        rid = run.id or 0
        self.runs[rid] = run
        self.models.add(run.model_version_id)
        self.versions.add(run.dataset_version_id)
        self.edge(_mv(run.model_version_id), _run(rid), "ran")

    def labels(self, run_id: int, version_id: int, count: int) -> None:
        self.versions.add(version_id)
        self.label_counts[run_id] = self.label_counts.get(run_id, 0) + count
        self.edge(_run(run_id), _labels(run_id), "wrote")
        self.edge(_labels(run_id), _dv(version_id), "in", count=count)


def _ids(values: Iterable[int | None]) -> list[int]:
    return sorted({v for v in values if v is not None})


def _training_rows(
    session: Session, *, models: Collection[int] = (), versions: Collection[int] = ()
) -> list[ModelTrainingData]:
    stmt = select(ModelTrainingData).order_by(col(ModelTrainingData.id))
    if models:
        stmt = stmt.where(col(ModelTrainingData.model_version_id).in_(sorted(models)))
    else:
        stmt = stmt.where(col(ModelTrainingData.dataset_version_id).in_(sorted(versions)))
    return list(session.exec(stmt))


def _label_groups(
    session: Session, *, runs: Collection[int] = (), versions: Collection[int] = ()
) -> list[tuple[int, int, int]]:
    """``(run id, version id, rows)`` of model labels written by ``runs``, or held by ``versions``."""
    stmt = (
        select(col(Annotation.autolabel_run_id), col(Annotation.dataset_version_id), func.count())
        .where(col(Annotation.autolabel_run_id).is_not(None))
        .group_by(col(Annotation.autolabel_run_id), col(Annotation.dataset_version_id))
        .order_by(col(Annotation.autolabel_run_id), col(Annotation.dataset_version_id))
    )
    if runs:
        stmt = stmt.where(col(Annotation.autolabel_run_id).in_(sorted(runs)))
    else:
        stmt = stmt.where(col(Annotation.dataset_version_id).in_(sorted(versions)))
    return [(int(r or 0), int(v), int(n)) for r, v, n in session.exec(stmt)]


def _runs_by(session: Session, *, ids: Collection[int] = (), models: Collection[int] = ()) -> list[AutoLabelRun]:
    stmt = select(AutoLabelRun).order_by(col(AutoLabelRun.id))
    if ids:
        stmt = stmt.where(col(AutoLabelRun.id).in_(sorted(ids)))
    else:
        stmt = stmt.where(col(AutoLabelRun.model_version_id).in_(sorted(models)))
    return list(session.exec(stmt))


def _golden(session: Session, version_ids: set[int]) -> set[int]:
    if not version_ids:
        return set()
    stmt = (
        select(col(DatasetVersion.id))
        .join(Dataset, col(Dataset.id) == col(DatasetVersion.dataset_id))
        .where(col(DatasetVersion.id).in_(sorted(version_ids)), col(Dataset.is_golden).is_(True))
    )
    return {i or 0 for i in session.exec(stmt)}


def loop_graph(
    session: Session,
    *,
    up_models: Iterable[int] = (),
    down_models: Iterable[int] = (),
    up_versions: Iterable[int] = (),
    down_versions: Iterable[int] = (),
    runs: Iterable[int] = (),
    rounds: int = 2,
    hide_golden: bool = False,
) -> LoopGraph:
    """The loop graph grown from the seeds (ids) for ``rounds`` rounds (2 by default).

    ``up_models``: their training data; ``down_models``: their runs, labels and the versions holding them;
    ``up_versions``: the runs that labelled them and those runs' models (then up); ``down_versions``: the
    models trained on them (then down); ``runs``: those runs, their labels and their models (then up).
    ``hide_golden``: golden datasets' versions (and their edges) are left out and not expanded (for callers a
    golden dataset is hidden from)."""
    b = _Builder()
    seen_up_m: set[int] = set()
    seen_down_m: set[int] = set()
    seen_up_v: set[int] = set()
    seen_down_v: set[int] = set()
    up_m, down_m, up_v, down_v = set(up_models), set(down_models), set(up_versions), set(down_versions)
    seed_runs = set(runs)
    golden: set[int] = set()
    truncated = False
    if seed_runs:
        for run in _runs_by(session, ids=seed_runs):
            b.run(run)
            up_m.add(run.model_version_id)
        for rid, vid, n in _label_groups(session, runs=seed_runs):
            b.labels(rid, vid, n)
    for _ in range(max(rounds, 0)):
        if hide_golden:
            golden |= _golden(session, (up_v | down_v) - golden)
            up_v -= golden
            down_v -= golden
        up_m, down_m, up_v, down_v = up_m - seen_up_m, down_m - seen_down_m, up_v - seen_up_v, down_v - seen_down_v
        if not (up_m or down_m or up_v or down_v):
            break
        if b.size() >= MAX_NODES:
            truncated = True
            break
        seen_up_m |= up_m
        seen_down_m |= down_m
        seen_up_v |= up_v
        seen_down_v |= down_v
        next_up_m: set[int] = set()
        next_down_m: set[int] = set()
        next_up_v: set[int] = set()
        next_down_v: set[int] = set()
        if up_m:  # a model's training data
            b.models |= up_m
            for row in _training_rows(session, models=up_m):
                b.training(row)
                next_up_v.add(row.dataset_version_id)
        if down_v:  # the models trained on a version
            b.versions |= down_v
            for row in _training_rows(session, versions=down_v):
                b.training(row)
                next_down_m.add(row.model_version_id)
        if down_m:  # a model's runs and where their labels went
            b.models |= down_m
            found = _runs_by(session, models=down_m)
            for run in found:
                b.run(run)
            for rid, vid, n in _label_groups(session, runs={r.id or 0 for r in found}) if found else []:
                b.labels(rid, vid, n)
                next_down_v.add(vid)
        if up_v:  # the runs whose labels a version holds, and their models
            b.versions |= up_v
            groups = _label_groups(session, versions=up_v)
            for run in _runs_by(session, ids={g[0] for g in groups}) if groups else []:
                b.run(run)
                next_up_m.add(run.model_version_id)
            for rid, vid, n in groups:
                b.labels(rid, vid, n)
        up_m, down_m, up_v, down_v = next_up_m, next_down_m, next_up_v, next_down_v
    return _finish(session, b, hide_golden=hide_golden, truncated=truncated)


def _finish(session: Session, b: _Builder, *, hide_golden: bool, truncated: bool) -> LoopGraph:
    """Names and details of every node, read in batch; parent and release edges; golden versions dropped."""
    versions = {
        v.id or 0: (v, d)
        for v, d in session.exec(
            select(DatasetVersion, Dataset)
            .join(Dataset, col(Dataset.id) == col(DatasetVersion.dataset_id))
            .where(col(DatasetVersion.id).in_(sorted(b.versions)))
        )
    }
    hidden = {vid for vid, (_, d) in versions.items() if d.is_golden} if hide_golden else set()
    models = {
        m.id or 0: m for m in session.exec(select(ModelVersion).where(col(ModelVersion.id).in_(sorted(b.models))))
    }
    releases = list(
        session.exec(
            select(Release)
            .where(col(Release.dataset_version_id).in_(sorted(set(versions) - hidden)))
            .order_by(col(Release.id))
        )
    )
    refs = {vid: version_ref(d, v) for vid, (v, d) in versions.items()}
    nodes: list[LoopNode] = []
    for vid in sorted(set(versions) - hidden):
        v, d = versions[vid]
        nodes.append(
            LoopNode(
                _dv(vid),
                "dataset_version",
                refs[vid],
                {
                    "id": vid,
                    "dataset": d.name,
                    "version": v.version,
                    "state": str(v.state),
                    "golden": d.is_golden,
                    "dvc_hash": v.dvc_hash,
                    "manifest_hash": v.manifest_hash,
                    "items": v.item_count,
                },
            )
        )
        if v.parent_id in versions and v.parent_id not in hidden:
            b.edge(_dv(v.parent_id or 0), _dv(vid), "parent of")
    for mid in sorted(b.trainings):
        m = models.get(mid)
        name = f"{m.name}@{m.version}" if m is not None else str(mid)
        t = dict(m.training or {}) if m is not None else {}
        nodes.append(
            LoopNode(
                _tr(mid),
                "training",
                f"training of {name}",
                {
                    "trainer": t.get("trainer"),
                    "hyperparameters": t.get("hyperparameters") or {},
                    "metrics": t.get("metrics") or {},
                    "started_at": t.get("started_at"),
                    "finished_at": t.get("finished_at"),
                },
            )
        )
    for mid in sorted(models):
        m = models[mid]
        nodes.append(
            LoopNode(
                _mv(mid),
                "model_version",
                f"{m.name}@{m.version}",
                {
                    "id": mid,
                    "name": m.name,
                    "version": m.version,
                    "framework": m.framework,
                    "weights_sha256": m.weights_sha256,
                    "imgsz": m.imgsz,
                    "ultralytics_version": m.ultralytics_version,
                    "torch_version": m.torch_version,
                    "card": m.card,
                },
            )
        )
    for rid in sorted(b.runs):
        run = b.runs[rid]
        on = refs.get(run.dataset_version_id) if run.dataset_version_id not in hidden else None
        nodes.append(
            LoopNode(
                _run(rid),
                "autolabel_run",
                f"run {rid}" + (f" on {on}" if on else ""),
                {
                    "id": rid,
                    "state": str(run.state),
                    "threshold": run.threshold,
                    "on": on,
                    "items_done": run.items_done,
                    "items_total": run.items_total,
                    "finished_at": _iso(run.finished_at),
                },
            )
        )
        if rid in b.label_counts:
            nodes.append(
                LoopNode(
                    _labels(rid),
                    "labels",
                    f"{b.label_counts[rid]} labels of run {rid}",
                    {"run_id": rid, "rows": b.label_counts[rid]},
                )
            )
    for r in releases:
        rid = r.id or 0
        b.edge(_dv(r.dataset_version_id), f"release:{rid}", "released as")
        nodes.append(
            LoopNode(
                f"release:{rid}",
                "release",
                f"release of {refs[r.dataset_version_id]}",
                {"id": rid, "git_tag": r.git_tag, "released_at": _iso(r.released_at), "bundle_sha256": r.bundle_sha256},
            )
        )
    gone = {_dv(v) for v in hidden}
    edges = [
        LoopEdge(s, t, rel, detail)
        for (s, t, rel), detail in sorted(b.edges.items(), key=lambda kv: kv[0])
        if s not in gone and t not in gone
    ]
    return LoopGraph(nodes=nodes, edges=edges, truncated=truncated)


def model_loop(session: Session, *, model_version_id: int, rounds: int = 2, hide_golden: bool = False) -> LoopGraph:
    """A model version's loop: its training data (and, a round further, the runs that labelled that data),
    its runs, their labels, the versions holding them, their releases (and the models trained on them)."""
    return loop_graph(
        session,
        up_models=[model_version_id],
        down_models=[model_version_id],
        rounds=rounds,
        hide_golden=hide_golden,
    )


def version_loop(session: Session, *, version_id: int, rounds: int = 2, hide_golden: bool = False) -> LoopGraph:
    """A dataset version's loop: the models trained or validated on it, their runs and the later versions
    holding those runs' labels (with their releases); and upstream, the runs whose labels it holds, their
    models and those models' training data."""
    return loop_graph(
        session, up_versions=[version_id], down_versions=[version_id], rounds=rounds, hide_golden=hide_golden
    )


def label_loop(session: Session, *, run_ids: Iterable[int], hide_golden: bool = False) -> LoopGraph | None:
    """The loop of a label's model steps: the runs that wrote them, the versions holding their labels (with
    releases), their models and the training data of those models. None when no run wrote any step."""
    ids = _ids(run_ids)
    if not ids:
        return None
    return loop_graph(session, runs=ids, rounds=1, hide_golden=hide_golden)
