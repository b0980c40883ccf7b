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
"""

from __future__ import annotations

import uuid
from typing import Any

from openlineage.client.event_v2 import InputDataset, RunEvent, RunState
from openlineage.client.facet_v2 import data_quality_assertions_dataset as dqa
from openlineage.client.facet_v2 import dataset_version_dataset, error_message_run
from sqlmodel import Session

from lineage.context import Actor
from lineage.models import AutoLabelRun, Dataset, DatasetVersion, GateEvaluation, GatePolicy, GoldenSet, ModelVersion
from lineage.openlineage import (
    LabelgateModelDatasetFacet,
    LabelgateRunFacet,
    LineageEmitter,
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
    "emit_autolabel",
    "emit_create_version",
    "emit_gate_evaluation",
    "emit_import",
    "emit_release",
    "model_name",
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
