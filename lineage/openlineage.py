"""OpenLineage run events (openlineage-python client) for imports and releases.

Events are queued on the database session and emitted only when its transaction commits (dropped on
rollback), so the lineage log never claims a run the record does not hold. The default transport is a
file in the workspace (``<workspace>/openlineage/events.jsonl``, one JSON event per line); a console
transport (stderr) can be added.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import attr
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    RunFacet,
    dataset_version_dataset,
    job_type_job,
    output_statistics_output_dataset,
)
from openlineage.client.serde import Serde
from openlineage.client.transport.file import FileConfig, FileTransport
from openlineage.client.transport.transport import Config, Transport
from openlineage.client.uuid import generate_new_uuid
from sqlalchemy import event as sa_event
from sqlmodel import Session

from lineage.context import Actor
from lineage.models import Dataset, DatasetVersion

__all__ = [
    "NAMESPACE",
    "PRODUCER",
    "LabelgateRunFacet",
    "LineageEmitter",
    "import_event",
    "release_event",
    "workspace_emitter",
]

NAMESPACE = "labelgate"
PRODUCER = "https://github.com/labelgate/labelgate"
_PENDING = "labelgate.openlineage.pending"
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
    """Emits run events through one OpenLineage client per transport (file and/or console)."""

    def __init__(self, *, file_path: Path | None = None, console: bool = False, stream: TextIO | None = None) -> None:
        self.file_path = file_path
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


def workspace_emitter(workspace: Path, *, console: bool = False) -> LineageEmitter:
    """The default emitter: ``<workspace>/openlineage/events.jsonl`` (plus stderr with ``console``)."""
    return LineageEmitter(file_path=workspace / "openlineage" / "events.jsonl", console=console)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _dataset_name(dataset: Dataset) -> str:
    return f"p{dataset.project_id}/{dataset.name}"


def _version_facets(version: DatasetVersion) -> dict[str, Any]:
    return {"version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=version.version)}


def _job(name: str, job_type: str) -> Job:
    return Job(
        namespace=NAMESPACE,
        name=name,
        facets={
            "jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration="LABELGATE", jobType=job_type)
        },
    )


def import_event(
    *,
    dataset: Dataset,
    version: DatasetVersion,
    result: dict[str, Any],
    source: str,
    actor: Actor,
    audit_seq: int | None,
) -> RunEvent:
    """COMPLETE event of an import run: input = the source file(s) at their hash, output = the version."""
    return RunEvent(
        eventType=RunState.COMPLETE,
        eventTime=_now(),
        producer=PRODUCER,
        run=Run(
            runId=str(generate_new_uuid()),
            facets={"labelgate": LabelgateRunFacet(actor=actor.username, auditSeq=audit_seq, details=result)},
        ),
        job=_job(f"p{dataset.project_id}.import.{result['format']}", "IMPORT"),
        inputs=[
            InputDataset(
                namespace="file",
                name=source,
                facets={
                    "version": dataset_version_dataset.DatasetVersionDatasetFacet(
                        datasetVersion=str(result["source_sha256"])
                    )
                },
            )
        ],
        outputs=[
            OutputDataset(
                namespace=NAMESPACE,
                name=_dataset_name(dataset),
                facets=_version_facets(version),
                outputFacets={
                    "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                        rowCount=int(result["annotations"])
                    )
                },
            )
        ],
    )


def release_event(*, dataset: Dataset, version: DatasetVersion, tag: str | None, actor: Actor) -> RunEvent:
    """COMPLETE event of a release: the version, pinned by git revision, DVC hash and manifest hash."""
    details = {
        "version": version.version,
        "git_revision": version.git_revision,
        "git_tag": tag,
        "dvc_hash": version.dvc_hash,
        "manifest_hash": version.manifest_hash,
    }
    return RunEvent(
        eventType=RunState.COMPLETE,
        eventTime=_now(),
        producer=PRODUCER,
        run=Run(
            runId=str(generate_new_uuid()),
            facets={"labelgate": LabelgateRunFacet(actor=actor.username, details=details)},
        ),
        job=_job(f"p{dataset.project_id}.release", "RELEASE"),
        inputs=[InputDataset(namespace=NAMESPACE, name=_dataset_name(dataset), facets=_version_facets(version))],
        outputs=[OutputDataset(namespace=NAMESPACE, name=_dataset_name(dataset), facets=_version_facets(version))],
    )
