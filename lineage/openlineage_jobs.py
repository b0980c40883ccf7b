"""The OpenLineage events of each labelgate job, queued on the session that records the job.

Every ``emit_*`` function is called where its job's record is written (in ``lineage`` and ``inference``), so
the API, the CLI, the demo and the worker emit the same events; each finds its emitter with
:func:`lineage.openlineage.emitter_for` and does nothing without one. Jobs that begin and end in one
transaction emit START and COMPLETE together when it commits (the spec asks for both); an auto-label run,
which spans many transactions, emits START (RUNNING on a resume) when it starts, COMPLETE when it finishes
and FAIL when its failure is recorded, all under one run id derived from the run's record.

| job (``<project>.<dataset>.…``) | inputs | outputs |
| --- | --- | --- |
| ``create_version`` | the parent version, if any | the new version |
| ``import.<format>`` | the source file (namespace ``file``, its SHA-256 as version) | the version |
| ``autolabel`` | the version and the model version (``<project>/models/<model>``) | the version |
| ``gate_evaluation`` | the version (``dataQualityAssertions``: one per gate) and the golden set's version | — |
| ``release`` | the version | the version |
| ``models.<model>.train`` | the dataset versions it was trained and validated on | the model version |

A training's run (``<project>.models.<model>.train``) is emitted when a model version with recorded training
data is registered: START and COMPLETE at the training's own start and end times when it recorded them, under
a run id derived from the model version's record, the model version (``<project>/models/<model>``, its
version in the ``version`` facet) as the output with its weights, task and hyper-parameters
(``labelgateModel``), and the hyper-parameters and validation metrics as the ``labelgateTraining`` run facet.
"""

from __future__ import annotations

import uuid
from typing import Any

import attr
from openlineage.client.event_v2 import InputDataset, OutputDataset, RunEvent, RunState
from openlineage.client.facet_v2 import DatasetFacet, RunFacet, dataset_version_dataset, error_message_run
from openlineage.client.facet_v2 import data_quality_assertions_dataset as dqa
from sqlmodel import Session, col, select

from lineage.context import Actor
from lineage.models import (
    AutoLabelRun,
    Dataset,
    DatasetVersion,
    GateEvaluation,
    GatePolicy,
    GoldenSet,
    ModelTrainingData,
    ModelVersion,
)
from lineage.openlineage import (
    LabelgateModelDatasetFacet,
    LabelgateRunFacet,
    LineageEmitter,
    dataset_name,
    emitter_for,
    job,
    job_name,
    project_name,
    run_event,
    synchronous_run,
    version_facets,
    version_input,
    version_output,
)

__all__ = [
    "LabelgateTrainedModelDatasetFacet",
    "LabelgateTrainingRunFacet",
    "emit_autolabel",
    "emit_create_version",
    "emit_gate_evaluation",
    "emit_import",
    "emit_release",
    "emit_training",
    "model_name",
    "training_job_name",
]


def emit_create_version(
    session: Session,
    *,
    actor: Actor,
    dataset: Dataset,
    version: DatasetVersion,
    parent: DatasetVersion | None,
    audit_seq: int | None,
    emitter: LineageEmitter | None = None,
) -> None:
    """START + COMPLETE of ``create_version``: the parent version (if any) in, the new version out."""
    em = emitter_for(session, emitter)
    if em is None:
        return
    details = {
        "version": version.version,
        "parent": parent.version if parent is not None else None,
        "git_revision": version.git_revision,
        "dvc_hash": version.dvc_hash,
        "items": version.item_count,
    }
    em.emit_all_on_commit(
        session,
        synchronous_run(
            job=job(em, job_name(session, dataset, "create_version"), "CREATE_VERSION"),
            facet=LabelgateRunFacet(actor=actor.username, auditSeq=audit_seq, details=details),
            inputs=[version_input(session, em, dataset, parent)] if parent is not None else [],
            outputs=[version_output(session, em, dataset, version)],
        ),
    )


def emit_import(
    session: Session,
    *,
    dataset: Dataset,
    version: DatasetVersion,
    result: dict[str, Any],
    source: str,
    actor: Actor,
    audit_seq: int | None,
    emitter: LineageEmitter | None = None,
) -> None:
    """START + COMPLETE of ``import.<format>``: the source file at its hash in, the version out (its
    ``rowCount``: the labels written)."""
    em = emitter_for(session, emitter)
    if em is None:
        return
    source_in = InputDataset(
        namespace="file",
        name=source,
        facets={
            "version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=str(result["source_sha256"]))
        },
    )
    em.emit_all_on_commit(
        session,
        synchronous_run(
            job=job(em, job_name(session, dataset, f"import.{result['format']}"), "IMPORT"),
            facet=LabelgateRunFacet(actor=actor.username, auditSeq=audit_seq, details=result),
            inputs=[source_in],
            outputs=[version_output(session, em, dataset, version, rows=int(result["annotations"]))],
        ),
    )


def emit_release(
    session: Session,
    *,
    dataset: Dataset,
    version: DatasetVersion,
    tag: str | None,
    actor: Actor,
    emitter: LineageEmitter | None = None,
) -> None:
    """START + COMPLETE of ``release``: the version, pinned by git revision, DVC hash and manifest hash."""
    em = emitter_for(session, emitter)
    if em is None:
        return
    details = {
        "version": version.version,
        "git_revision": version.git_revision,
        "git_tag": tag,
        "dvc_hash": version.dvc_hash,
        "manifest_hash": version.manifest_hash,
    }
    em.emit_all_on_commit(
        session,
        synchronous_run(
            job=job(em, job_name(session, dataset, "release"), "RELEASE"),
            facet=LabelgateRunFacet(actor=actor.username, details=details),
            inputs=[version_input(session, em, dataset, version)],
            outputs=[version_output(session, em, dataset, version)],
        ),
    )


def _assertion(gate: dict[str, Any]) -> dqa.Assertion:
    value, threshold, op = gate.get("value"), gate.get("threshold"), gate.get("op")
    return dqa.Assertion(
        assertion=str(gate["name"]),
        success=bool(gate.get("passed")),
        name=str(gate["name"]),
        severity="error",  # every gate of a policy blocks a release
        expected=f"{op} {threshold}" if op is not None else None,
        actual=None if value is None else str(value),
        params={"metric": gate.get("metric"), "op": op, "threshold": threshold},
    )


def emit_gate_evaluation(
    session: Session,
    *,
    actor: Actor,
    dataset: Dataset,
    version: DatasetVersion,
    record: GateEvaluation,
    policy: GatePolicy,
    golden: GoldenSet | None,
    audit_seq: int | None,
    emitter: LineageEmitter | None = None,
) -> None:
    """START + COMPLETE of ``gate_evaluation``: the version in, with one ``dataQualityAssertions``
    assertion per gate (its name, whether it passed, its metric, bound and value), and the golden set's
    dataset version in; no output (the evaluation is a record, not data)."""
    em = emitter_for(session, emitter)
    if em is None:
        return
    checks = dqa.DataQualityAssertionsDatasetFacet(assertions=[_assertion(g) for g in record.gates])
    inputs = [version_input(session, em, dataset, version, dataQualityAssertions=checks)]
    if golden is not None:
        golden_version = session.get(DatasetVersion, golden.dataset_version_id)
        golden_dataset = session.get(Dataset, golden_version.dataset_id) if golden_version is not None else None
        if golden_version is not None and golden_dataset is not None:
            inputs.append(version_input(session, em, golden_dataset, golden_version))
    details = {
        "evaluation_id": record.id,
        "policy": f"{policy.name}@{policy.version}",
        "policy_hash": record.policy_hash,
        "passed": record.passed,
        "golden_set": f"{golden.name}@{golden.version}" if golden is not None else None,
    }
    em.emit_all_on_commit(
        session,
        synchronous_run(
            job=job(em, job_name(session, dataset, "gate_evaluation"), "GATE_EVALUATION"),
            facet=LabelgateRunFacet(actor=actor.username, auditSeq=audit_seq, details=details),
            inputs=inputs,
            outputs=[],
        ),
    )


def model_name(session: Session, model: ModelVersion) -> str:
    """``<project name>/models/<model name>``: a model's OpenLineage name; its version is a facet."""
    return f"{project_name(session, model.project_id)}/models/{model.name}"


_AUTOLABEL_STATES = {
    "start": RunState.START,
    "resume": RunState.RUNNING,
    "complete": RunState.COMPLETE,
    "fail": RunState.FAIL,
}


def emit_autolabel(
    session: Session,
    *,
    run: AutoLabelRun,
    state: str,
    actor: Actor,
    details: dict[str, Any] | None = None,
    labels: int | None = None,
    error: str | None = None,
    emitter: LineageEmitter | None = None,
) -> None:
    """One event of auto-label run ``run``: ``state`` is ``start``, ``resume`` (RUNNING), ``complete`` or
    ``fail`` (with ``error``). Inputs: the version and the model version (weights SHA-256 in the
    ``labelgateModel`` facet); output: the version (``labels`` written as its ``rowCount`` on COMPLETE)."""
    em = emitter_for(session, emitter)
    if em is None:
        return
    version = session.get(DatasetVersion, run.dataset_version_id)
    dataset = session.get(Dataset, version.dataset_id) if version is not None else None
    model = session.get(ModelVersion, run.model_version_id)
    if version is None or dataset is None or model is None:
        return
    model_in = InputDataset(
        namespace=em.namespace,
        name=model_name(session, model),
        facets={
            **version_facets(model.version),
            "labelgateModel": LabelgateModelDatasetFacet(
                weightsSha256=model.weights_sha256, framework=model.framework, weightsUri=model.weights_uri
            ),
        },
    )
    facets: dict[str, Any] = {
        "labelgate": LabelgateRunFacet(
            actor=actor.username, details={"autolabel_run": run.id, "threshold": run.threshold, **(details or {})}
        )
    }
    if error is not None:
        facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(message=error, programmingLanguage="python")
    event: RunEvent = run_event(
        _AUTOLABEL_STATES[state],
        run_id=str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"{em.namespace}/autolabel_run/{run.id}/{run.created_at.isoformat()}")
        ),
        job=job(em, job_name(session, dataset, "autolabel"), "AUTOLABEL"),
        facets=facets,
        inputs=[version_input(session, em, dataset, version), model_in],
        outputs=[version_output(session, em, dataset, version, rows=labels if state == "complete" else None)],
    )
    em.emit_on_commit(session, event)


@attr.define
class LabelgateTrainingRunFacet(RunFacet):
    """How a model version was trained: by whom or what (``trainer``: ``labelgate model train`` or
    ``external``), its hyper-parameters, its validation metrics, and when it started and finished (ISO 8601
    UTC, None when not recorded)."""

    trainer: str
    hyperparameters: dict[str, Any] = attr.field(factory=dict)
    metrics: dict[str, float] = attr.field(factory=dict)
    startedAt: str | None = attr.field(default=None)
    finishedAt: str | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return "https://labelgate.dev/spec/facets/1-0-0/LabelgateTrainingRunFacet.json#/$defs/LabelgateTrainingRunFacet"


@attr.define
class LabelgateTrainedModelDatasetFacet(DatasetFacet):
    """A model version as a training's output: what ``labelgateModel`` says of a model used as an input
    (weights pinned by SHA-256, framework, where the weights are) plus its task, input size, weights' size,
    library versions and hyper-parameters."""

    weightsSha256: str
    framework: str
    task: str
    weightsUri: str | None = attr.field(default=None)
    weightsBytes: int | None = attr.field(default=None)
    imgsz: int | None = attr.field(default=None)
    ultralyticsVersion: str | None = attr.field(default=None)
    torchVersion: str | None = attr.field(default=None)
    hyperparameters: dict[str, Any] = attr.field(factory=dict)

    @staticmethod
    def _get_schema() -> str:
        return (
            "https://labelgate.dev/spec/facets/1-0-0/LabelgateTrainedModelDatasetFacet.json"
            "#/$defs/LabelgateTrainedModelDatasetFacet"
        )


def training_job_name(session: Session, model: ModelVersion) -> str:
    """``<project name>.models.<model name>.train``: the job that trains a model's versions."""
    return f"{project_name(session, model.project_id)}.models.{model.name}.train"


def _event_time(iso: Any) -> str | None:
    """An ISO-8601 time as OpenLineage writes it (UTC, milliseconds, ``Z``); None when it is not one."""
    from datetime import UTC, datetime

    if not isinstance(iso, str):
        return None
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def emit_training(
    session: Session,
    *,
    model: ModelVersion,
    actor: Actor,
    audit_seq: int | None = None,
    emitter: LineageEmitter | None = None,
) -> None:
    """START + COMPLETE of ``<project>.models.<model>.train`` for a just registered model version: the
    dataset versions of its ``model_training_data`` rows in (each pinned in the ``labelgate`` facet's
    details by role, manifest and DVC hashes), the model version out. Call it after those rows are flushed;
    nothing is emitted without any (a model with no recorded training data has no training run to tell) or
    without an emitter, and nothing before the transaction commits."""
    em = emitter_for(session, emitter)
    if em is None or model.id is None:
        return
    rows = list(
        session.exec(
            select(ModelTrainingData)
            .where(ModelTrainingData.model_version_id == model.id)
            .order_by(col(ModelTrainingData.id))
        )
    )
    if not rows:
        return
    inputs: list[InputDataset] = []
    pinned: list[dict[str, Any]] = []
    for row in rows:
        version = session.get(DatasetVersion, row.dataset_version_id)
        dataset = session.get(Dataset, version.dataset_id) if version is not None else None
        if version is None or dataset is None:
            continue
        if not any(i.name == dataset_name(session, dataset) and _same_version(i, version) for i in inputs):
            inputs.append(version_input(session, em, dataset, version))
        pinned.append(
            {
                "role": row.role,
                "dataset": dataset.name,
                "version": version.version,
                "manifest_hash": row.manifest_hash,
                "dvc_hash": row.dvc_hash,
                "items": row.item_count,
            }
        )
    training = dict(model.training or {})
    hyperparameters = dict(training.get("hyperparameters") or {})
    metrics = {str(k): float(v) for k, v in dict(training.get("metrics") or {}).items()}
    task = str(model.class_map.get("task", "detect"))
    output = OutputDataset(
        namespace=em.namespace,
        name=model_name(session, model),
        facets={
            **version_facets(model.version),
            "labelgateModel": LabelgateTrainedModelDatasetFacet(
                weightsSha256=model.weights_sha256,
                framework=model.framework,
                task=task,
                weightsUri=model.weights_uri,
                weightsBytes=model.weights_bytes,
                imgsz=model.imgsz,
                ultralyticsVersion=model.ultralytics_version,
                torchVersion=model.torch_version,
                hyperparameters=hyperparameters,
            ),
        },
    )
    started, finished = _event_time(training.get("started_at")), _event_time(training.get("finished_at"))
    facets: dict[str, Any] = {
        "labelgate": LabelgateRunFacet(
            actor=actor.username,
            auditSeq=audit_seq,
            details={
                "model": f"{model.name}@{model.version}",
                "model_version_id": model.id,
                "weights_rev": model.weights_rev,
                "training_data": pinned,
            },
        ),
        "labelgateTraining": LabelgateTrainingRunFacet(
            trainer=str(training.get("trainer") or "external"),
            hyperparameters=hyperparameters,
            metrics=metrics,
            startedAt=started,
            finishedAt=finished,
        ),
    }
    run_id = str(
        uuid.uuid5(uuid.NAMESPACE_URL, f"{em.namespace}/model_version/{model.id}/{model.created_at.isoformat()}")
    )
    train_job = job(em, training_job_name(session, model), "TRAIN")
    start = run_event(RunState.START, run_id=run_id, job=train_job, facets=facets, inputs=inputs, outputs=[output])
    complete = run_event(
        RunState.COMPLETE, run_id=run_id, job=train_job, facets=facets, inputs=inputs, outputs=[output]
    )
    # The training's own clock when it kept one (a model trained elsewhere may not have): START when it
    # started, COMPLETE when it finished, so the lineage log dates the run, not its registration.
    if started is not None and finished is not None and started <= finished:
        start, complete = attr.evolve(start, eventTime=started), attr.evolve(complete, eventTime=finished)
    em.emit_all_on_commit(session, [start, complete])


def _same_version(dataset: InputDataset, version: DatasetVersion) -> bool:
    facet = (dataset.facets or {}).get("version")
    return isinstance(facet, dataset_version_dataset.DatasetVersionDatasetFacet) and facet.datasetVersion == (
        version.version
    )
