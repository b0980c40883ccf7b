"""Auto-label runs as records: queue, look up, cancel, per-class thresholds, and who may execute one.

A run is created ``queued``; a runner (the CLI in-process, or ``labelgate worker``) executes it. The run row
holds the default threshold and the lower edge of the review band (``review_band_low = threshold - band``).
**Per-class thresholds** are rows of ``run_thresholds`` (:class:`lineage.models.RunThresholds`), written
while the run is still queued, explicit or taken from a calibration's strategy (which they cite); each is
recorded by an audit event ``autolabel_run.thresholds`` on the run, and the runner uses the latest row.

``queue_run`` is idempotent: a run with the same version, model, thresholds, NMS IoU and batch size that was
not cancelled is returned instead of a new one, so re-issuing a command resumes an interrupted run and does
nothing after a finished one (``reuse=False`` forces a fresh run).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

from sqlalchemy import update
from sqlmodel import Session, col, select

from inference.registry import check_model_fits, class_names_of, resolve_model_ref
from inference.routing import Thresholds
from lineage.audit.chain import next_seq, record_event
from lineage.context import Actor
from lineage.datasets import ensure_writable, resolve_version, version_ref
from lineage.errors import Conflict, InvalidInput, NotFound
from lineage.models import (
    AutoLabelRun,
    Calibration,
    Dataset,
    DatasetVersion,
    LabelSchemaVersion,
    ModelVersion,
    RunState,
    RunThresholds,
)
from lineage.models._base import utcnow

__all__ = [
    "FINISHED",
    "cancel_run",
    "check_run_fits",
    "get_run",
    "list_runs",
    "queue_run",
    "run_context",
    "run_thresholds",
    "set_class_thresholds",
]

FINISHED = frozenset({RunState.succeeded, RunState.cancelled})
THRESHOLDS_ACTION = "autolabel_run.thresholds"


def _band(run: AutoLabelRun) -> float:
    return round(max(0.0, run.threshold - run.review_band_low), 12)


def _check_unit(value: float, field: str) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and 0.0 <= value <= 1.0):
        raise InvalidInput(f"{field} must be within [0, 1], got {value}", field=field)


def _check_class_thresholds(model: ModelVersion, per_class: Mapping[str, float | None]) -> dict[str, float | None]:
    known = set(class_names_of(model).values())
    unknown = sorted(set(per_class) - known)
    if unknown:
        raise InvalidInput(
            f"thresholds name classes model {model.name}@{model.version} does not predict: {', '.join(unknown)}",
            field="class_thresholds",
        )
    for name, value in per_class.items():
        if value is not None:
            _check_unit(value, f"class_thresholds.{name}")
    return {k: (None if v is None else float(v)) for k, v in sorted(per_class.items())}


def _check_model_fits_version(session: Session, model: ModelVersion, version: DatasetVersion) -> None:
    """The model's task fits the version's schema and its classes are the schema's (see the registry)."""
    check_model_fits(session, model, version.schema_version_id)
    if version.schema_version_id is None or version.schema_version_id == model.schema_version_id:
        return
    sv = session.get(LabelSchemaVersion, version.schema_version_id)
    names = {str(c["name"]) for c in sv.classes} if sv is not None else set()
    missing = sorted(set(class_names_of(model).values()) - names)
    if missing:
        raise InvalidInput(
            f"model {model.name}@{model.version} labels classes the version's schema lacks: {', '.join(missing)}",
            field="model",
        )


def check_run_fits(session: Session, run: AutoLabelRun) -> None:
    """``InvalidInput`` when the run's model does not fit its version's schema (task, K or classes)."""
    _, version, model = run_context(session, run)
    _check_model_fits_version(session, model, version)


def run_project_id(session: Session, run: AutoLabelRun) -> int:
    version = session.get(DatasetVersion, run.dataset_version_id)
    dataset = session.get(Dataset, version.dataset_id) if version is not None else None
    assert dataset is not None
    return dataset.project_id


def run_context(session: Session, run: AutoLabelRun) -> tuple[Dataset, DatasetVersion, ModelVersion]:
    version = session.get(DatasetVersion, run.dataset_version_id)
    dataset = session.get(Dataset, version.dataset_id) if version is not None else None
    model = session.get(ModelVersion, run.model_version_id)
    assert version is not None and dataset is not None and model is not None
    return dataset, version, model


def run_thresholds(session: Session, run: AutoLabelRun) -> Thresholds:
    """The run's thresholds: its default, its band, and the per-class values of its latest thresholds row."""
    row = session.exec(
        select(RunThresholds.per_class)
        .where(RunThresholds.autolabel_run_id == run.id)
        .order_by(col(RunThresholds.id).desc())
    ).first()
    per_class: dict[str, float | None] = dict(row) if row else {}
    return Thresholds(default=run.threshold, band=_band(run), per_class=per_class)


def _calibrated(session: Session, *, project_id: int, calibration_id: int, strategy: str) -> dict[str, float | None]:
    """The ``strategy`` thresholds of calibration ``calibration_id``, if it belongs to ``project_id``."""
    calibration = session.get(Calibration, calibration_id)
    if calibration is None or calibration.project_id != project_id:
        raise NotFound(f"no calibration {calibration_id} in this project", field="calibration_id")
    if strategy not in calibration.thresholds:
        raise InvalidInput(f"unknown strategy {strategy!r} (tbal or f1)", field="strategy")
    return dict(calibration.thresholds[strategy])


def set_class_thresholds(
    session: Session,
    *,
    actor: Actor,
    run: AutoLabelRun,
    per_class: Mapping[str, float | None] | None = None,
    calibration_id: int | None = None,
    strategy: str = "tbal",
) -> Thresholds:
    """Give a queued run per-class thresholds: exactly one of ``per_class`` (``None`` values: never
    auto-label that class) and ``calibration_id`` (its ``strategy`` thresholds, ``tbal`` or ``f1``). One
    ``run_thresholds`` row, recorded by an ``autolabel_run.thresholds`` event."""
    if RunState(run.state) is not RunState.queued or run.items_done:
        raise Conflict(
            f"run {run.id} is {run.state} with {run.items_done} items done; thresholds can change only before "
            "it starts (queue a new run)",
            field="run",
        )
    if (per_class is None) == (calibration_id is None):
        raise InvalidInput("give exactly one of class_thresholds and calibration_id", field="calibration_id")
    project_id = run_project_id(session, run)
    if calibration_id is not None:
        per_class = _calibrated(session, project_id=project_id, calibration_id=calibration_id, strategy=strategy)
    _, _, model = run_context(session, run)
    values = _check_class_thresholds(model, per_class or {})
    seq = next_seq(session)
    row = RunThresholds(
        autolabel_run_id=run.id or 0,
        per_class=values,
        calibration_id=calibration_id,
        strategy=strategy if calibration_id is not None else None,
        created_by=actor.user_id,
        audit_seq=seq,
    )
    session.add(row)
    session.flush()
    evidence = (
        {"calibration_id": calibration_id, "strategy": strategy}
        if calibration_id is not None
        else {"source": "explicit"}
    )
    record_event(
        session,
        actor,
        THRESHOLDS_ACTION,
        ("autolabel_run", run.id or 0),
        project_id=project_id,
        payload={"per_class": values, "default": run.threshold, "evidence": evidence},
        rows=[row],
        expect_seq=seq,
    )
    return Thresholds(default=run.threshold, band=_band(run), per_class=values)


def queue_run(
    session: Session,
    *,
    actor: Actor,
    project_id: int,
    version: str,
    model: str,
    threshold: float,
    review_band: float = 0.0,
    nms_iou: float = 0.7,
    device: str = "auto",
    batch_size: int = 32,
    class_thresholds: Mapping[str, float | None] | None = None,
    calibration_id: int | None = None,
    strategy: str = "tbal",
    reuse: bool = True,
) -> tuple[AutoLabelRun, bool]:
    """Queue a run of ``model`` (``NAME@VER``) over ``version`` (``DATASET@VERSION``); ``(run, created)``.

    Args:
        threshold: default confidence threshold in [0, 1].
        review_band (0.0): width of the uncertain band below each threshold.
        nms_iou (0.7): NMS IoU. device ("auto"): ``auto``, ``cpu``, ``cuda[:N]``. batch_size (32): images per batch.
        class_thresholds (None), calibration_id (None), strategy ("tbal"): per-class thresholds, explicit or
            from a calibration, as :func:`set_class_thresholds` (at most one of the two).
        reuse (True): return a run with identical parameters (not cancelled) instead of queueing another.
    """
    _check_unit(threshold, "threshold")
    _check_unit(review_band, "review_band")
    _check_unit(nms_iou, "nms_iou")
    if not 1 <= batch_size <= 1024:
        raise InvalidInput(f"batch size must be within 1..1024, got {batch_size}", field="batch_size")
    if not (device in ("auto", "cpu", "cuda") or device.startswith("cuda:")):
        raise InvalidInput(f"unknown device {device!r} (expected auto, cpu, cuda or cuda:N)", field="device")
    dataset, dv = resolve_version(session, project_id=project_id, ref=version)
    mv = resolve_model_ref(session, project_id=project_id, ref=model)
    ensure_writable(session, actor=actor, version=dv, attempted="auto-labelling")
    _check_model_fits_version(session, mv, dv)
    if class_thresholds is not None and calibration_id is not None:
        raise InvalidInput("give class_thresholds or calibration_id, not both", field="calibration_id")
    if calibration_id is not None:
        class_thresholds = _calibrated(session, project_id=project_id, calibration_id=calibration_id, strategy=strategy)
    per_class = _check_class_thresholds(mv, class_thresholds or {})
    band_low = max(0.0, threshold - review_band)
    if reuse:
        for run in session.exec(
            select(AutoLabelRun)
            .where(
                AutoLabelRun.dataset_version_id == dv.id,
                AutoLabelRun.model_version_id == mv.id,
                col(AutoLabelRun.state) != RunState.cancelled.value,
            )
            .order_by(col(AutoLabelRun.id).desc())
        ):
            same = (
                math.isclose(run.threshold, threshold)
                and math.isclose(run.review_band_low, band_low)
                and math.isclose(run.nms_iou, nms_iou)
                and run.batch_size == batch_size
            )
            if same and json.dumps(run_thresholds(session, run).per_class, sort_keys=True) == json.dumps(
                per_class, sort_keys=True
            ):
                return run, False
    run = AutoLabelRun(
        dataset_version_id=dv.id or 0,
        model_version_id=mv.id or 0,
        threshold=threshold,
        review_band_low=band_low,
        nms_iou=nms_iou,
        device=device,
        batch_size=batch_size,
        items_total=dv.item_count,
        created_by=actor.user_id,
    )
    session.add(run)
    session.flush()
    record_event(
        session,
        actor,
        "autolabel_run.queue",
        ("autolabel_run", str(run.id)),
        project_id=project_id,
        payload={
            "version": version_ref(dataset, dv),
            "model": f"{mv.name}@{mv.version}",
            "weights_sha256": mv.weights_sha256,
            "threshold": threshold,
            "review_band": review_band,
            "nms_iou": nms_iou,
            "device": device,
            "batch_size": batch_size,
            "items": dv.item_count,
        },
    )
    if calibration_id is not None:
        set_class_thresholds(session, actor=actor, run=run, calibration_id=calibration_id, strategy=strategy)
    elif per_class:
        set_class_thresholds(session, actor=actor, run=run, per_class=per_class)
    return run, True


def get_run(session: Session, *, project_id: int, run_id: int) -> AutoLabelRun:
    """The run, if it belongs to ``project_id`` (else ``NotFound``: other projects' runs do not exist here)."""
    run = session.get(AutoLabelRun, run_id)
    if run is None or run_project_id(session, run) != project_id:
        raise NotFound(f"no auto-label run {run_id} in this project", field="run_id")
    return run


def list_runs(
    session: Session, *, project_id: int, state: RunState | None = None, offset: int = 0, limit: int = 100
) -> list[AutoLabelRun]:
    stmt = (
        select(AutoLabelRun)
        .join(DatasetVersion, col(DatasetVersion.id) == col(AutoLabelRun.dataset_version_id))
        .join(Dataset, col(Dataset.id) == col(DatasetVersion.dataset_id))
        .where(Dataset.project_id == project_id)
    )
    if state is not None:
        stmt = stmt.where(AutoLabelRun.state == state.value)
    return list(session.exec(stmt.order_by(col(AutoLabelRun.id).desc()).offset(offset).limit(limit)))


def cancel_run(session: Session, *, actor: Actor, run: AutoLabelRun, reason: str = "") -> AutoLabelRun:
    """Cancel a queued, running or failed run; a runner executing it stops before its next batch."""
    if RunState(run.state) in FINISHED:
        raise Conflict(f"run {run.id} is already {run.state}", field="run")
    previous = run.state
    session.execute(
        update(AutoLabelRun)
        .where(col(AutoLabelRun.id) == run.id)
        .values(state=RunState.cancelled.value, finished_at=utcnow())
    )
    record_event(
        session,
        actor,
        "autolabel_run.cancel",
        ("autolabel_run", str(run.id)),
        project_id=run_project_id(session, run),
        payload={"from": str(previous), "reason": reason, "items_done": run.items_done},
    )
    session.refresh(run)
    return run
