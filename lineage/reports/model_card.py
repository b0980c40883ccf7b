"""A model card per model version, generated from the record (JSON and self-contained HTML).

The sections are those of Mitchell et al. 2019, "Model Cards for Model Reporting": model details, intended
use, factors, metrics, evaluation data, training data, quantitative analyses, ethical considerations, caveats
and recommendations; plus ``used_in`` (auto-label runs of the model, released dataset versions holding its
live labels). Every figure is the record's; what the record lacks is said, never guessed: the card's own words
(``ModelVersion.card``) are quoted, the rest is read from the model's rows, its calibrations, its training
data (``ModelTrainingData``) and the gate evaluations of the versions its labels are live in.

Golden items are never named: calibrations and golden sets appear by name, size and hash only.
The card is deterministic for a given record: it carries the audit chain head it was read at (``as_of``),
not a clock time. Queries are few and fixed in number, whatever the model's history.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from lineage.audit.chain import chain_head
from lineage.errors import NotFound
from lineage.models import (
    Annotation,
    AutoLabelRun,
    Calibration,
    DatasetVersion,
    GateEvaluation,
    GoldenSet,
    LabelSchema,
    LabelSchemaVersion,
    ModelTrainingData,
    ModelVersion,
    Project,
    Release,
    VersionState,
)
from lineage.naming import Ref, display_names
from lineage.reports.html import render
from lineage.reports.model_links import card_href, live_model_labels, model_refs_of_version

__all__ = [
    "CARD_FORMAT",
    "NOT_STATED",
    "card_href",
    "model_card",
    "model_cards_of_version",
    "model_refs_of_version",
    "render_model_card_html",
]

CARD_FORMAT = "labelgate.model_card.v1"
NOT_STATED = (
    "The intended use of this model was not stated when it was registered. Do not infer one from this card: "
    "ask its owner, and record it on the model version."
)
# Class-map keys that are not class indices (inference.registry.TASK_KEY / KEYPOINTS_KEY: lineage cannot
# import inference, arrows point the other way).
_TASK_KEY, _KEYPOINTS_KEY = "task", "keypoints"
_RELEASED = frozenset({VersionState.released.value, VersionState.deprecated.value})
# What a calibration's per-class entry may show: counts and thresholds, never items.
_CLASS_FIELDS = ("n_gt", "n_pred", "f1_threshold", "f1", "precision", "recall")


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, ±Infinity: a trainer may record them) as None, so the card
    is strict JSON (a signed bundle and the API's JSON both refuse NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _weights(model: ModelVersion) -> tuple[dict[str, Any], list[str]]:
    uri = model.weights_uri
    remote = "://" in uri
    absolute = not remote and (PurePosixPath(uri).is_absolute() or PureWindowsPath(uri).is_absolute())
    in_workspace = not remote and not absolute and model.weights_rev is not None
    caveats: list[str] = []
    if remote:
        caveats.append(f"The weights are not a file: the record names {uri!r}; they cannot be re-hashed or re-run.")
    elif absolute:
        caveats.append(
            "The weights are not stored in the workspace: the record names an absolute path (a legacy "
            "registration); only their SHA-256 pins them, and the file may have moved or gone."
        )
    elif not in_workspace:
        caveats.append("The weights' path is relative but no git revision tracks them in the workspace.")
    return (
        {
            "sha256": model.weights_sha256,
            "bytes": model.weights_bytes,
            "stored_path": uri,
            "git_revision": model.weights_rev,
            "in_workspace": in_workspace,
        },
        caveats,
    )


def _schema(session: Session, model: ModelVersion) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    sv = session.get(LabelSchemaVersion, model.schema_version_id) if model.schema_version_id is not None else None
    if sv is None:
        return None, []
    schema = session.get(LabelSchema, sv.schema_id)
    ref = {"name": schema.name if schema else None, "version": sv.version, "content_hash": sv.content_hash}
    classes = [
        {
            "name": str(c.get("name")),
            "description": str(c.get("description") or ""),
            "geometry": str(c.get("geometry") or "box"),
        }
        for c in sv.classes
    ]
    return ref, classes


def _live_counts(session: Session, model_id: int) -> dict[int, int]:
    """``{dataset version id: live labels of the model}`` in one query (the live set of ``lineage.labels``)."""
    stmt = (
        select(Annotation.dataset_version_id, func.count())
        .where(Annotation.model_version_id == model_id, live_model_labels())
        .group_by(col(Annotation.dataset_version_id))
    )
    return {int(v): int(n) for v, n in session.exec(stmt)}


def _outcomes(session: Session, counts: Mapping[int, int], names: Mapping[Ref, str]) -> list[dict[str, Any]]:
    """Per version holding live labels: its state and the verdict of its evidence evaluation (the one its
    release rests on once released, else the newest), three queries in all."""
    if not counts:
        return []
    ids = sorted(counts)
    states = {
        int(i or 0): str(s)
        for i, s in session.exec(select(DatasetVersion.id, DatasetVersion.state).where(col(DatasetVersion.id).in_(ids)))
    }
    released = {
        int(v): int(e)
        for v, e in session.exec(
            select(Release.dataset_version_id, Release.evaluation_id).where(col(Release.dataset_version_id).in_(ids))
        )
    }
    evaluations: dict[int, list[tuple[int, bool, Any]]] = {}
    for eid, vid, passed, created in session.exec(
        select(GateEvaluation.id, GateEvaluation.dataset_version_id, GateEvaluation.passed, GateEvaluation.created_at)
        .where(col(GateEvaluation.dataset_version_id).in_(ids))
        .order_by(col(GateEvaluation.id))
    ):
        evaluations.setdefault(int(vid), []).append((int(eid or 0), bool(passed), created))
    rows = []
    for vid in ids:
        evals = evaluations.get(vid, [])
        chosen = next((e for e in evals if e[0] == released.get(vid)), evals[-1] if evals else None)
        rows.append(
            {
                "dataset_version": names[("dataset_version", str(vid))],
                "state": states.get(vid, "?"),
                "released": vid in released or states.get(vid) in _RELEASED,
                "live_labels": counts[vid],
                "evaluation": None
                if chosen is None
                else {
                    "id": chosen[0],
                    "verdict": "passed" if chosen[1] else "blocked",
                    "created_at": _iso(chosen[2]),
                    "purpose": "release_evidence" if chosen[0] == released.get(vid) else "latest",
                },
            }
        )
    return rows


def _golden_sets(session: Session, version_ids: Iterable[int]) -> dict[int, GoldenSet]:
    ids = sorted(set(version_ids))
    if not ids:
        return {}
    rows = session.exec(select(GoldenSet).where(col(GoldenSet.dataset_version_id).in_(ids)).order_by(col(GoldenSet.id)))
    return {g.dataset_version_id: g for g in rows}  # the newest golden set on a version names it


def _calibration(c: Calibration, golden: str, names: Mapping[Ref, str], weights_sha256: str) -> dict[str, Any]:
    return {
        "calibration": names[("calibration", str(c.id))],
        "created_at": _iso(c.created_at),
        "golden_set": golden,
        "weights_match": c.weights_sha256 == weights_sha256,
        "iou": c.iou,
        "target_error": c.target_error,
        "level": c.level,
        "golden_items": c.golden_items,
        "golden_boxes": c.golden_boxes,
        "predictions": c.predictions,
        "thresholds": {s: dict(t) for s, t in sorted((c.thresholds or {}).items())},
        "coverage": {
            s: {k: v for k, v in sorted(cov.items()) if isinstance(v, int | float)}
            for s, cov in sorted((c.coverage or {}).items())
            if isinstance(cov, dict)
        },
    }


def _per_class_calibration(c: Calibration, golden: str) -> dict[str, Any]:
    classes = []
    for entry in c.classes or []:
        row: dict[str, Any] = {"class": str(entry.get("name"))}
        row.update({k: entry.get(k) for k in _CLASS_FIELDS})
        tbal = entry.get("tbal")
        row["tbal_threshold"] = tbal.get("threshold") if isinstance(tbal, dict) else None
        classes.append(row)
    return {"source": f"calibration {c.id}", "golden_set": golden, "classes": classes}


def _evaluation_data(
    calibrations: list[Calibration], names: Mapping[Ref, str], golden_name: Callable[[int], str]
) -> list[dict[str, Any]]:
    """The golden sets the model was measured on (by name, version, size and manifest hash), one per dataset
    version its calibrations used."""
    by_version: dict[int, list[Calibration]] = {}
    for c in calibrations:
        by_version.setdefault(c.dataset_version_id, []).append(c)
    return [
        {
            "golden_set": golden_name(vid),
            "dataset_version": names[("dataset_version", str(vid))],
            "manifest_hash": cs[-1].golden_manifest_hash,
            "golden_items": cs[-1].golden_items,
            "calibrations": [names[("calibration", str(c.id))] for c in cs],
        }
        for vid, cs in sorted(by_version.items())
    ]


def _validation(training: Mapping[str, Any] | None) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(scalar validation metrics, per-class rows) of the training record."""
    metrics = (training or {}).get("metrics")
    if not isinstance(metrics, dict) or not metrics:
        return None, []
    scalars = {str(k): v for k, v in metrics.items() if _scalar(v)}
    per_class: list[dict[str, Any]] = []
    raw = metrics.get("per_class")
    if isinstance(raw, dict):
        for name, values in sorted(raw.items()):
            if isinstance(values, dict):
                per_class.append({"class": str(name), **{str(k): v for k, v in values.items() if _scalar(v)}})
    return scalars or None, per_class


def _training_section(
    rows: list[ModelTrainingData], names: Mapping[Ref, str], training: Mapping[str, Any] | None
) -> dict[str, Any]:
    data = [
        {
            "role": r.role,
            "dataset_version": names[("dataset_version", str(r.dataset_version_id))],
            "item_count": r.item_count,
            "manifest_hash": r.manifest_hash,
            "dvc_hash": r.dvc_hash,
        }
        for r in rows
    ]
    t = training or {}
    return {
        "recorded": bool(data),
        "datasets": data,
        "note": None if data else "not recorded: the registration named no training or validation data",
        "trainer": t.get("trainer"),
        "started_at": t.get("started_at"),
        "finished_at": t.get("finished_at"),
        "hyperparameters": dict(t.get("hyperparameters") or {}),
    }


def model_card(session: Session, *, model_version_id: int) -> dict[str, Any]:
    """The model card of a model version as JSON-ready data (sections in Mitchell et al.'s order).

    ``NotFound`` when there is no such model version. Keys are in a fixed order; lists are ordered by id.
    """
    model = session.get(ModelVersion, model_version_id)
    if model is None:
        raise NotFound(f"no model version {model_version_id}", field="model")
    mid = model.id or 0
    project = session.get(Project, model.project_id)
    schema, classes = _schema(session, model)
    weights, caveats = _weights(model)
    training_rows = list(
        session.exec(
            select(ModelTrainingData)
            .where(ModelTrainingData.model_version_id == mid)
            .order_by(col(ModelTrainingData.role), col(ModelTrainingData.id))  # train, then val
        )
    )
    calibrations = list(
        session.exec(select(Calibration).where(Calibration.model_version_id == mid).order_by(col(Calibration.id)))
    )
    runs = list(
        session.exec(select(AutoLabelRun).where(AutoLabelRun.model_version_id == mid).order_by(col(AutoLabelRun.id)))
    )
    counts = _live_counts(session, mid)
    goldens = _golden_sets(session, (c.dataset_version_id for c in calibrations))
    refs: set[Ref] = {("user", str(model.created_by))}
    refs |= {("dataset_version", str(v)) for v in counts}
    refs |= {("dataset_version", str(r.dataset_version_id)) for r in training_rows}
    refs |= {("dataset_version", str(c.dataset_version_id)) for c in calibrations}
    refs |= {("dataset_version", str(r.dataset_version_id)) for r in runs}
    refs |= {("calibration", str(c.id)) for c in calibrations} | {("autolabel_run", str(r.id)) for r in runs}
    refs |= {("golden_set", str(g.id)) for g in goldens.values()}
    names = display_names(session, refs)

    def golden_name(version_id: int) -> str:
        g = goldens.get(version_id)
        return names[("golden_set", str(g.id))] if g is not None else names[("dataset_version", str(version_id))]

    class_map = model.class_map or {}
    indices = sorted((k for k in class_map if k.isdigit()), key=int)
    model_classes = [{"index": int(k), "class": str(class_map[k])} for k in indices]
    validation, per_class_validation = _validation(model.training)
    words = model.card or {}
    intended = str(words.get("intended_use") or "").strip()
    card_caveats = [str(c) for c in words.get("caveats") or [] if str(c).strip()]
    outcomes = _outcomes(session, counts, names)
    calibration_rows = [
        _calibration(c, golden_name(c.dataset_version_id), names, model.weights_sha256) for c in calibrations
    ]

    if not training_rows:
        caveats.append("No training data is recorded: what the model learnt from cannot be examined from the record.")
    if validation is None:
        caveats.append("No validation metrics are recorded from its training: its accuracy is stated by nothing.")
    if not calibrations:
        caveats.append("Not calibrated on a golden set: its auto-label thresholds rest on no measured error.")
    if any(not r["weights_match"] for r in calibration_rows):
        caveats.append("A calibration on the record was made with other weights than this version's.")
    if schema is None:
        caveats.append("No label schema is attached: its classes are not pinned to definitions.")
    if not intended:
        caveats.append("Its intended use was not stated.")
    head = chain_head(session)
    head_dict = {"seq": head.seq, "hash": head.hash} if head else None
    training = model.training or {}
    card = {
        "card_format": CARD_FORMAT,
        "model": f"{model.name}@{model.version}",
        "project": project.name if project else str(model.project_id),
        "as_of": {"audit_head": head_dict},
        "model_details": {
            "name": model.name,
            "version": model.version,
            "framework": model.framework,
            "task": str(class_map.get(_TASK_KEY, "detect")),
            "keypoints": class_map.get(_KEYPOINTS_KEY),
            "classes": model_classes,
            "input_size": model.imgsz,
            "ultralytics_version": model.ultralytics_version,
            "torch_version": model.torch_version,
            "weights": weights,
            "label_schema": schema,
            "registered_by": names[("user", str(model.created_by))],
            "registered_at": _iso(model.created_at),
            "trainer": training.get("trainer"),
        },
        "intended_use": {"stated": bool(intended), "statement": intended or NOT_STATED},
        "factors": {
            "note": "The model labels the classes of its label schema; the record holds no other factors "
            "(groups, instrumentation, environments) for it.",
            "classes": classes,
        },
        "metrics": {
            "validation": validation,
            "calibrations": calibration_rows,
            "label_outcomes": outcomes,
        },
        "evaluation_data": _evaluation_data(calibrations, names, golden_name),
        "training_data": _training_section(training_rows, names, model.training),
        "quantitative_analyses": {
            "per_class_validation": per_class_validation,
            "per_class_calibration": [
                _per_class_calibration(c, golden_name(c.dataset_version_id)) for c in calibrations
            ],
        },
        "ethical_considerations": {
            "stated": [str(e) for e in words.get("ethical_considerations") or [] if str(e).strip()],
            "note": "Labels this model writes are provenance-tagged (model, weights SHA-256, confidence, threshold) "
            "and can be traced, reviewed and superseded by people.",
        },
        "caveats": {"stated": card_caveats, "from_the_record": caveats},
        "used_in": {
            "autolabel_runs": [
                {
                    "run": names[("autolabel_run", str(r.id))],
                    "dataset_version": names[("dataset_version", str(r.dataset_version_id))],
                    "state": str(r.state),
                    "threshold": r.threshold,
                    "created_at": _iso(r.created_at),
                }
                for r in runs
            ],
            "released_versions": [o["dataset_version"] for o in outcomes if o["released"]],
        },
    }
    return dict(_json_safe(card))


def model_cards_of_version(session: Session, *, version_id: int) -> dict[str, dict[str, Any]]:
    """``{"NAME@VERSION": card}`` of every model version whose labels are live in a dataset version: what a
    release's evidence bundle can carry (JSON only, no NaN: ``lineage.release.bundle`` signs it per field)."""
    return {
        m["model"]: model_card(session, model_version_id=m["model_version_id"])
        for m in model_refs_of_version(session, version_id=version_id)
    }


def render_model_card_html(card: Mapping[str, Any]) -> str:
    """The card as one self-contained HTML page (autoescaped; no external assets)."""
    return render("model_card.html.j2", card=card)
