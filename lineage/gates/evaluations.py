"""Gate evaluations on the record: evaluating a dataset version under a stored policy, reading the stored
evaluations back with what each one is to its version, and rebuilding the report an evaluation stored.

``evaluate_version`` builds the version's gate inputs (``lineage.gates.inputs``), measures them against
the golden set the policy names or the caller overrides (``lineage.gates.golden``), and stores the verdict:
the columns of ``GateReport.to_dict()`` (``gates``, ``metrics``, ``data_hashes``) and ``evidence``: the
report's ``per_class``, the golden set it measured against and the report's plot data (precision–recall
curves and a confusion matrix, :mod:`quality_gates.plots`); with the policy hash and an audit event. The
chosen golden set is stored on the evaluation (``golden_set_id``, and its name, version and size in
``evidence["golden_set"]``) and in its audit event. :func:`report_of` reads those columns back into the
:class:`~quality_gates.verdict.GateReport`, the one shape every door shows.

**Which evaluation is the evidence.** A release rests on one evaluation (``Release.evaluation_id``); later
evaluations of a released (or deprecated) version are re-checks and never replace it
(:func:`evaluation_purpose`, :func:`evidence_evaluation`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from sqlmodel import Session, col, select

from lineage import progress
from lineage.audit.chain import record_event
from lineage.context import Actor
from lineage.datasets.catalog import version_ref
from lineage.errors import InvalidInput, LabelgateError, NotFound
from lineage.gates.golden import check_golden_fits, check_golden_unchanged, golden_summary, resolve_golden
from lineage.gates.inputs import build_inputs, current_data_hashes
from lineage.gates.leakage import leakage_inputs
from lineage.models import Dataset, DatasetVersion, GateEvaluation, GatePolicy, GoldenSet, Release, VersionState
from lineage.openlineage_jobs import emit_gate_evaluation
from quality_gates import REPORT_VERSION, GateError, GateReport, Policy, ReportFormatError, evaluate, parse_policy

__all__ = [
    "EvaluationOutcome",
    "EvaluationView",
    "Purpose",
    "StoredReportError",
    "VersionEvidence",
    "evaluate_version",
    "evaluation_purpose",
    "evidence_evaluation",
    "get_evaluation",
    "latest_evaluation",
    "project_evaluations",
    "report_columns",
    "report_of",
    "stale_hashes",
    "version_evaluations",
    "version_evidence",
]

#: What an evaluation is to its version: the one its release rests on, a later re-check of a released
#: (or deprecated) version, or any other evaluation (of a draft or candidate, or superseded before release).
Purpose = Literal["release_evidence", "recheck", "evaluation"]


@dataclass(frozen=True, slots=True)
class EvaluationOutcome:
    """A stored evaluation, its report, and the golden set it measured against (None: the policy needed
    none); ``golden_info`` is :func:`golden_summary` of it, as recorded in the evidence."""

    record: GateEvaluation
    report: GateReport
    golden: GoldenSet | None = None
    golden_info: dict[str, Any] | None = None


def evaluate_version(
    session: Session,
    *,
    actor: Actor,
    version: DatasetVersion,
    policy_record: GatePolicy,
    golden: str | None = None,
    acknowledged: tuple[str, ...] = (),
) -> EvaluationOutcome:
    """Run ``policy_record`` on ``version``, store the GateEvaluation and an audit event.

    ``golden`` (None): ``NAME@VERSION`` of the golden set to measure against, overriding the policy's
    ``golden``; see :func:`resolve_golden` for when none is needed and what is refused.
    """
    dataset = session.get(Dataset, version.dataset_id)
    if dataset is None or dataset.project_id != policy_record.project_id:
        raise NotFound("the policy and the version belong to different projects", field="policy")
    policy: Policy = parse_policy(policy_record.yaml_text)
    chosen = resolve_golden(
        session, project_id=dataset.project_id, policy_record=policy_record, policy=policy, override=golden
    )
    if chosen is not None:
        check_golden_unchanged(session, chosen)
    with progress.phase("read the record"):
        inputs = build_inputs(session, version, golden=chosen, acknowledged=acknowledged)
    if policy.gates.training_leakage is not None:  # read only when asked: it joins the models' training items
        inputs = replace(inputs, leakage=leakage_inputs(session, version, golden=chosen))
    info: dict[str, Any] | None = None
    if chosen is not None:
        info = golden_summary(session, chosen)
        ref = version_ref(dataset, version)
        # Checked even when no gate needs it: its metrics and plots are evidence, and would measure nothing.
        # Not when only the leakage gate uses it: that compares the golden items with the models' training
        # data, not with the version's, and a golden set usually shares no image with the data it guards.
        measuring = [g for g in policy.golden_gates() if g != "training_leakage"]
        if measuring or policy.gates.training_leakage is None:
            gates = measuring or ["the golden-set metrics"]
            classes = set(inputs.class_names)
            outside = check_golden_fits(session, version, chosen, ref=ref, gates=gates, classes=classes)
            if outside:
                info["classes_outside_schema"] = outside
    try:
        report = evaluate(policy, inputs, progress=progress.announce)
    except GateError as exc:
        raise InvalidInput(str(exc), field="policy") from None
    record = GateEvaluation(
        dataset_version_id=version.id or 0,
        policy_id=policy_record.id or 0,
        golden_set_id=chosen.id if chosen is not None else None,
        created_by=actor.user_id,
        **report_columns(report, golden_info=info),
    )
    session.add(record)
    session.flush()
    release = session.exec(select(Release).where(Release.dataset_version_id == version.id)).first()
    event = record_event(
        session,
        actor,
        "gate.evaluate",
        ("dataset_version", str(version.id)),
        project_id=dataset.project_id,
        payload={
            "evaluation_id": record.id,
            "version": version_ref(dataset, version),
            "policy": f"{policy_record.name}@{policy_record.version}",
            "policy_hash": report.policy_hash,
            "golden_set": (
                None
                if info is None
                else {k: info[k] for k in ("id", "ref", "dataset_version", "items", "labels", "manifest_hash")}
            ),
            "purpose": evaluation_purpose(record, release),
            "passed": report.passed,
            "blocking": [g.name for g in report.blocking],
            "data_hashes": record.data_hashes,
        },
        rows=[record],
    )
    emit_gate_evaluation(
        session, actor=actor, dataset=dataset, version=version, record=record, policy=policy_record, golden=chosen,
        audit_seq=event.seq,
    )  # fmt: skip
    return EvaluationOutcome(record=record, report=report, golden=chosen, golden_info=info)


class StoredReportError(LabelgateError):
    """A stored evaluation whose columns do not read back as a gate report (:func:`report_of`): a row no
    labelgate release wrote, or one altered since. ``evaluation_id`` says which; ``field`` (also ``key``)
    where, as a path into the record's columns (``gates[2].evidence.iou``, ``evidence.per_class['car'].tp``)."""

    status_code = 500

    def __init__(self, evaluation_id: int | None, error: ReportFormatError) -> None:
        key = f"evidence.{error.key}" if error.key.startswith("per_class") else error.key
        super().__init__(
            f"evaluation #{evaluation_id} on the record does not read back as a gate report: {error.message}",
            field=key or None,
        )
        self.evaluation_id = evaluation_id
        self.key = key


def report_columns(report: GateReport, *, golden_info: dict[str, Any] | None) -> dict[str, Any]:
    """The columns of a :class:`GateEvaluation` that hold ``report`` (:func:`report_of` reads them back):
    ``policy_hash``, ``passed``, ``gates``, ``metrics``, ``data_hashes`` and ``evidence`` (the per-class
    table, the golden set as recorded, the task when it is not detection, and the plot data)."""
    as_dict = report.to_dict()
    return {
        "policy_hash": report.policy_hash,
        "passed": report.passed,
        "gates": as_dict["gates"],
        "metrics": as_dict["metrics"],
        "evidence": {
            "per_class": as_dict["per_class"],
            "golden_set": golden_info,
            **({"task": as_dict["task"]} if "task" in as_dict else {}),  # detect reports name none
            **as_dict["evidence"],
        },
        "data_hashes": as_dict["data_hashes"],
    }


#: The keys of a stored evaluation's ``evidence`` that are not the report's plot data.
_RECORD_EVIDENCE = ("per_class", "golden_set", "task")


def report_of(record: GateEvaluation, policy_name: str) -> GateReport:
    """The report ``record`` holds, read back from the columns :func:`evaluate_version` stored it in:
    ``gates``, ``metrics``, ``data_hashes``, ``evidence["per_class"]``, ``evidence["task"]`` (absent for
    detection), and the plot data (the rest of ``evidence`` but ``golden_set``). ``policy_name`` is its
    policy's name (the record keeps the policy's id).

    Raises:
        StoredReportError: the columns do not parse as :meth:`GateReport.from_dict` reads them; it names the
            evaluation and the key.
    """
    evidence = record.evidence
    if not isinstance(evidence, dict):
        raise StoredReportError(record.id, ReportFormatError("evidence", "expected an object"))
    data: dict[str, Any] = {
        "report_version": REPORT_VERSION,
        "passed": record.passed,
        "policy_name": policy_name,
        "policy_hash": record.policy_hash,
        "gates": record.gates,
        "metrics": record.metrics,
        "data_hashes": record.data_hashes,
        "evidence": {k: v for k, v in evidence.items() if k not in _RECORD_EVIDENCE},
    }
    if "per_class" in evidence:
        data["per_class"] = evidence["per_class"]
    if "task" in evidence:  # a segment, pose or classify report; detect reports (and earlier ones) have none
        data["task"] = evidence["task"]
    try:
        return GateReport.from_dict(data)
    except ReportFormatError as exc:
        raise StoredReportError(record.id, exc) from None


def latest_evaluation(session: Session, version: DatasetVersion) -> GateEvaluation | None:
    """The version's newest evaluation (for a released version this may be a re-check: the evidence its
    release rests on is :func:`evidence_evaluation`)."""
    return session.exec(
        select(GateEvaluation)
        .where(GateEvaluation.dataset_version_id == version.id)
        .order_by(col(GateEvaluation.id).desc())
    ).first()


def _release_of(session: Session, version_id: int | None) -> Release | None:
    return session.exec(select(Release).where(Release.dataset_version_id == version_id)).first()


def evaluation_purpose(evaluation: GateEvaluation, release: Release | None) -> Purpose:
    """``release_evidence`` for the evaluation ``release`` rests on, ``recheck`` for one made after the
    release, ``evaluation`` otherwise (no release, or made before it)."""
    if release is None:
        return "evaluation"
    if evaluation.id == release.evaluation_id:
        return "release_evidence"
    if evaluation.created_at >= release.released_at:
        return "recheck"
    return "evaluation"


def evidence_evaluation(session: Session, version: DatasetVersion) -> GateEvaluation | None:
    """The evaluation that stands as the version's evidence: the one its release rests on once released
    (or deprecated), else the newest."""
    if VersionState(version.state) in (VersionState.released, VersionState.deprecated):
        release = _release_of(session, version.id)
        if release is not None:
            return session.get(GateEvaluation, release.evaluation_id)
    return latest_evaluation(session, version)


def stale_hashes(session: Session, version: DatasetVersion, evaluation: GateEvaluation) -> list[str]:
    """Names of the data hashes that changed since ``evaluation`` (empty: the evidence still holds)."""
    golden = session.get(GoldenSet, evaluation.golden_set_id) if evaluation.golden_set_id is not None else None
    legacy = (evaluation.evidence or {}).get("golden_set")
    if golden is None and isinstance(legacy, str) and "golden.manifest" in evaluation.data_hashes:
        # Recorded before golden sets were versioned (and bound): its name was unique, now its version 1.
        dataset = session.get(Dataset, version.dataset_id)
        golden = session.exec(
            select(GoldenSet).where(
                GoldenSet.project_id == (dataset.project_id if dataset else -1),
                GoldenSet.name == legacy,
                GoldenSet.version == 1,
            )
        ).first()
    now = current_data_hashes(session, version, golden)
    return sorted(k for k, v in now.items() if evaluation.data_hashes.get(k) != v)


@dataclass(frozen=True, slots=True)
class EvaluationView:
    """A stored evaluation with what a reader needs beside it: its policy, golden set, version, dataset,
    its purpose for the version, and the release (if any) of the version."""

    record: GateEvaluation
    policy: GatePolicy
    golden: GoldenSet | None
    version: DatasetVersion
    dataset: Dataset
    purpose: Purpose
    release: Release | None


def _views(session: Session, stmt: Any) -> list[EvaluationView]:
    rows = list(session.exec(stmt))
    releases: dict[int, Release | None] = {}
    out = []
    for record, policy, version, dataset in rows:
        if version.id not in releases:
            releases[version.id] = _release_of(session, version.id)
        release = releases[version.id]
        golden = session.get(GoldenSet, record.golden_set_id) if record.golden_set_id is not None else None
        purpose = evaluation_purpose(record, release)
        out.append(EvaluationView(record, policy, golden, version, dataset, purpose, release))
    return out


def _view_stmt() -> Any:
    return (
        select(GateEvaluation, GatePolicy, DatasetVersion, Dataset)
        .join(GatePolicy, col(GatePolicy.id) == GateEvaluation.policy_id)
        .join(DatasetVersion, col(DatasetVersion.id) == GateEvaluation.dataset_version_id)
        .join(Dataset, col(Dataset.id) == DatasetVersion.dataset_id)
    )


def version_evaluations(session: Session, *, version_id: int) -> list[EvaluationView]:
    """The version's evaluations, newest first, each with its purpose (release evidence, re-check, other)."""
    stmt = _view_stmt().where(GateEvaluation.dataset_version_id == version_id)
    return _views(session, stmt.order_by(col(GateEvaluation.id).desc()))


@dataclass(frozen=True, slots=True)
class VersionEvidence:
    """What stands as a version's gate evidence. ``basis``: ``release`` (released or deprecated: the evaluation
    its release rests on), ``latest`` (its newest evaluation) or ``none``; ``evaluations`` newest first."""

    basis: Literal["release", "latest", "none"]
    evidence: EvaluationView | None
    evaluations: list[EvaluationView]
    release: Release | None

    @property
    def rechecks(self) -> list[int]:
        """Ids of the evaluations made after the release, newest first."""
        return [v.record.id or 0 for v in self.evaluations if v.purpose == "recheck"]


def version_evidence(session: Session, version: DatasetVersion) -> VersionEvidence:
    """The version's evidence (as :func:`evidence_evaluation` chooses it) with all its evaluations."""
    views = version_evaluations(session, version_id=version.id or 0)
    release = _release_of(session, version.id)
    if release is not None and VersionState(version.state) in (VersionState.released, VersionState.deprecated):
        evidence = next((v for v in views if v.purpose == "release_evidence"), None)
        return VersionEvidence("release", evidence, views, release)
    return VersionEvidence("latest" if views else "none", views[0] if views else None, views, release)


def get_evaluation(session: Session, *, project_id: int, evaluation_id: int) -> EvaluationView:
    """Evaluation ``evaluation_id`` of the project (NotFound when it is not one of the project's)."""
    stmt = _view_stmt().where(GateEvaluation.id == evaluation_id, Dataset.project_id == project_id)
    found = _views(session, stmt)
    if not found:
        raise NotFound(f"no evaluation {evaluation_id} in this project", field="evaluation_id")
    return found[0]


def project_evaluations(session: Session, *, project_id: int, limit: int = 20) -> list[EvaluationView]:
    """The project's newest evaluations."""
    stmt = _view_stmt().where(Dataset.project_id == project_id)
    return _views(session, stmt.order_by(col(GateEvaluation.id).desc()).limit(limit))
