"""OpenLineage run events (openlineage-python client): the emitter, its naming, and the shared builders.

Events are queued on the database session and emitted only when its transaction commits (dropped on
rollback), so the lineage log never claims a run the record does not hold. The default transport is a
file in the workspace (``<workspace>/openlineage/events.jsonl``, one JSON event per line); a console
transport (stderr) can be added.

**Which emitter.** A function that records a job is given an emitter, or finds the one bound to its
session or to the session's engine (:func:`bind_emitter`): the workspace binds its emitter once, so
every door (API, CLI, demo, worker) emits the same events. With neither, nothing is emitted.

**Names** (the OpenLineage naming spec, ``spec/Naming.md``: a namespace names the data source as
``scheme://authority``, a name is unique within it, and a dataset's versions are told apart by the
``DatasetVersion`` facet, not by the name): the namespace is ``labelgate://<workspace name>`` for jobs and
datasets alike; a dataset is ``<project name>/<dataset name>``, a model ``<project name>/models/<model
name>``, each with its version in the ``version`` facet; a job is ``<project>.<dataset>.<what it does>``
(``create_version``, ``import.<format>``, ``autolabel``, ``gate_evaluation``, ``release``). The per-job
events are built in :mod:`lineage.openlineage_jobs`.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import attr
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    DatasetFacet,
    OutputDatasetFacet,
    RunFacet,
    dataset_version_dataset,
    job_type_job,
    output_statistics_output_dataset,
)
from openlineage.client.serde import Serde
from openlineage.client.transport.file import FileConfig, FileTransport
from openlineage.client.transport.transport import Config, Transport
from openlineage.client.uuid import generate_new_uuid
from sqlalchemy import Engine
from sqlalchemy import event as sa_event
from sqlmodel import Session

from lineage.models import Dataset, DatasetVersion, Project

__all__ = [
    "DEFAULT_NAMESPACE",
    "PRODUCER",
    "LabelgateModelDatasetFacet",
    "LabelgateRunFacet",
    "LineageEmitter",
    "bind_emitter",
    "dataset_name",
    "emitter_for",
    "job",
    "job_name",
    "now",
    "project_name",
    "run_event",
    "synchronous_run",
    "version_facets",
    "version_input",
    "version_output",
    "workspace_emitter",
    "workspace_namespace",
]

DEFAULT_NAMESPACE = "labelgate://labelgate"
PRODUCER = "https://github.com/labelgate/labelgate"
_PENDING = "labelgate.openlineage.pending"
_BOUND = "labelgate.openlineage.emitter"
_ENGINE_EMITTERS: weakref.WeakKeyDictionary[Engine, LineageEmitter] = weakref.WeakKeyDictionary()
log = logging.getLogger(__name__)


@attr.define
class LabelgateRunFacet(RunFacet):
    """What labelgate knows of the run: who ran it, the audit event that records it, and its figures."""

    actor: str
    auditSeq: int | None = attr.field(default=None)
    details: dict[str, Any] = attr.field(factory=dict)

    @staticmethod
    def _get_schema() -> str:
        return "https://labelgate.dev/spec/facets/1-0-0/LabelgateRunFacet.json#/$defs/LabelgateRunFacet"


@attr.define
class LabelgateModelDatasetFacet(DatasetFacet):
    """A model version as a run's input: its weights pinned by SHA-256 (re-checked at every use)."""

    weightsSha256: str
    framework: str
    weightsUri: str | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return (
            "https://labelgate.dev/spec/facets/1-0-0/LabelgateModelDatasetFacet.json#/$defs/LabelgateModelDatasetFacet"
        )


class StreamTransport(Transport):
    """Write each event as one JSON line to a stream (stderr by default): the console transport."""

    kind = "labelgate_stream"
    config_class = Config

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def emit(self, event: Any) -> None:
        out = self.stream or sys.stderr
        out.write(Serde.to_json(event) + "\n")
        out.flush()


class LineageEmitter:
    """Emits run events through one OpenLineage client per transport (file and/or console); ``namespace``
    (``labelgate://labelgate``) is the namespace of every job and dataset it names."""

    def __init__(
        self,
        *,
        file_path: Path | None = None,
        console: bool = False,
        stream: TextIO | None = None,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> None:
        self.file_path = file_path
        self.namespace = namespace
        transports: list[Transport] = []
        if file_path is not None:
            file_path.parent.mkdir(parents=True, exist_ok=True)
            transports.append(FileTransport(FileConfig(log_file_path=str(file_path), append=True)))
        if console:
            transports.append(StreamTransport(stream))
        config = {"facets": {"source_code_location": {"disabled": True}, "environment_variables": []}}
        self._clients = [OpenLineageClient(transport=t, config=config) for t in transports]

    def emit(self, event: RunEvent) -> None:
        for client in self._clients:
            client.emit(event)

    def emit_all_on_commit(self, session: Session, events: list[RunEvent]) -> None:
        for event in events:
            self.emit_on_commit(session, event)

    def emit_on_commit(self, session: Session, event: RunEvent) -> None:
        """Queue ``event`` until ``session``'s transaction commits; a rollback drops it."""
        pending: list[tuple[LineageEmitter, RunEvent]] | None = session.info.get(_PENDING)
        if pending is None:
            pending = []
            session.info[_PENDING] = pending
            sa_event.listen(session, "after_commit", _flush_pending(pending))
            sa_event.listen(session, "after_rollback", lambda _s: pending.clear())
        pending.append((self, event))


def _flush_pending(pending: list[tuple[LineageEmitter, RunEvent]]) -> Callable[[Any], None]:
    def flush(_session: Any) -> None:
        queued = list(pending)
        pending.clear()
        for emitter, event in queued:
            try:
                emitter.emit(event)
            except Exception:  # the record is committed; a lost lineage event must not turn it into an error
                log.exception("OpenLineage event %s could not be emitted", event.run.runId)

    return flush


def workspace_namespace(name: str) -> str:
    """``labelgate://<name>``, the name reduced to what a URI authority holds (letters, digits, ``-._~``)."""
    host = re.sub(r"[^A-Za-z0-9._~-]+", "-", name).strip("-") or "labelgate"
    return f"labelgate://{host}"


def workspace_emitter(workspace: Path, *, console: bool = False, name: str | None = None) -> LineageEmitter:
    """The default emitter: ``<workspace>/openlineage/events.jsonl`` (plus stderr with ``console``), its
    namespace ``labelgate://<name>`` (default: the workspace folder's name)."""
    return LineageEmitter(
        file_path=workspace / "openlineage" / "events.jsonl",
        console=console,
        namespace=workspace_namespace(name or workspace.name),
    )


@functools.lru_cache(maxsize=64)
def shared_workspace_emitter(workspace: Path) -> LineageEmitter:
    """The workspace's default emitter, built once per process: every request's context binds it, and an
    OpenLineage client per request would cost more than the request."""
    return workspace_emitter(workspace)


def bind_emitter(target: Session | Engine, emitter: LineageEmitter) -> None:
    """Make ``emitter`` the one that jobs recorded on ``target`` (a session, or every session of an
    engine) emit through when their caller passes none."""
    if isinstance(target, Session):
        target.info[_BOUND] = emitter
    else:
        _ENGINE_EMITTERS[target] = emitter


def emitter_for(session: Session, emitter: LineageEmitter | None = None) -> LineageEmitter | None:
    """``emitter`` if given, else the one bound to ``session``, else the one bound to its engine."""
    if emitter is not None:
        return emitter
    bound: LineageEmitter | None = session.info.get(_BOUND)
    if bound is not None:
        return bound
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else getattr(bind, "engine", None)
    return _ENGINE_EMITTERS.get(engine) if engine is not None else None


def now() -> str:
    """The current UTC time as OpenLineage writes it (ISO 8601, milliseconds, ``Z``)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def project_name(session: Session, project_id: int) -> str:
    project = session.get(Project, project_id)
    return project.name if project is not None else f"project-{project_id}"


def dataset_name(session: Session, dataset: Dataset) -> str:
    """``<project name>/<dataset name>``: the dataset's OpenLineage name; its version is a facet."""
    return f"{project_name(session, dataset.project_id)}/{dataset.name}"


def job_name(session: Session, dataset: Dataset, what: str) -> str:
    """``<project name>.<dataset name>.<what>`` (``street-scenes.street.gate_evaluation``)."""
    return f"{project_name(session, dataset.project_id)}.{dataset.name}.{what}"


def version_facets(version: str) -> dict[str, Any]:
    return {"version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=version)}


def version_input(
    session: Session, emitter: LineageEmitter, dataset: Dataset, version: DatasetVersion, **input_facets: Any
) -> InputDataset:
    """The dataset version as a run's input: ``<project>/<dataset>``, its version in the facet."""
    return InputDataset(
        namespace=emitter.namespace,
        name=dataset_name(session, dataset),
        facets=version_facets(version.version),
        inputFacets=input_facets or None,
    )


def version_output(
    session: Session, emitter: LineageEmitter, dataset: Dataset, version: DatasetVersion, *, rows: int | None = None
) -> OutputDataset:
    """The dataset version as a run's output; ``rows`` (labels written) as its output statistics."""
    stats: dict[str, OutputDatasetFacet] | None = (
        {"outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(rowCount=rows)}
        if rows is not None
        else None
    )
    return OutputDataset(
        namespace=emitter.namespace,
        name=dataset_name(session, dataset),
        facets=version_facets(version.version),
        outputFacets=stats,
    )


def job(emitter: LineageEmitter, name: str, job_type: str) -> Job:
    return Job(
        namespace=emitter.namespace,
        name=name,
        facets={
            "jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration="LABELGATE", jobType=job_type)
        },
    )


def run_event(
    state: RunState,
    *,
    run_id: str,
    job: Job,
    facets: dict[str, Any],
    inputs: list[InputDataset],
    outputs: list[OutputDataset],
) -> RunEvent:
    return RunEvent(
        eventType=state,
        eventTime=now(),
        producer=PRODUCER,
        run=Run(runId=run_id, facets=facets),
        job=job,
        inputs=inputs,
        outputs=outputs,
    )


def synchronous_run(
    *,
    job: Job,
    facet: LabelgateRunFacet,
    inputs: list[InputDataset],
    outputs: list[OutputDataset],
) -> list[RunEvent]:
    """START and COMPLETE of a run that begins and ends in one transaction (the spec asks for both); the
    output statistics ride on COMPLETE only, when the run has written them."""
    run_id = str(generate_new_uuid())
    started = [OutputDataset(namespace=o.namespace, name=o.name, facets=o.facets) for o in outputs]
    return [
        run_event(RunState.START, run_id=run_id, job=job, facets={"labelgate": facet}, inputs=inputs, outputs=started),
        run_event(
            RunState.COMPLETE, run_id=run_id, job=job, facets={"labelgate": facet}, inputs=inputs, outputs=outputs
        ),
    ]
