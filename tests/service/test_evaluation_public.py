"""A stored evaluation as every door shows it (``evaluation_public``) and read back (``report_from_public``):
the evaluations a previous release stored are served with the fields the API served before, unchanged,
plus ``report_version``; what a remote ``gate check`` reads from that JSON is the record's own report; a
report of another version, or one that does not parse, is refused naming the evaluation and the key."""

from __future__ import annotations

import json

import pytest

from lineage.gates import EvaluationView, report_of
from lineage.models import Dataset, DatasetVersion, GateEvaluation, GatePolicy
from quality_gates import ReportFormatError
from service.api.schemas.gates import EvaluationPublic, evaluation_public, evaluation_summary
from service.gate_report import report_from_public, report_from_record
from tests.lineage.test_stored_report import previous_release_records


def view_of(record: GateEvaluation) -> EvaluationView:
    """``record`` with the rows a reader joins to it (policy ``default@1``, version ``street@v<id>``)."""
    by = record.created_by
    policy = GatePolicy(id=record.policy_id, project_id=1, name="default", version=1, policy_hash=record.policy_hash,
                        yaml_text="", created_by=by)  # fmt: skip
    dataset = Dataset(id=1, project_id=1, name="street", created_by=by)
    version = DatasetVersion(id=record.dataset_version_id, dataset_id=1, version=f"v{record.dataset_version_id}",
                             created_by=by)  # fmt: skip
    return EvaluationView(record, policy, None, version, dataset, "evaluation", None)


@pytest.mark.parametrize("index", range(4))
def test_a_stored_evaluation_is_served_as_stored_and_read_back_as_its_report(index: int) -> None:
    record = previous_release_records()[index]
    public = evaluation_public(view_of(record))
    body = json.loads(public.model_dump_json())
    assert body["report_version"] == 1
    assert (body["gates"], body["metrics"], body["data_hashes"]) == (record.gates, record.metrics, record.data_hashes)
    assert body["per_class"] == record.evidence["per_class"]
    assert body["evidence"] == {k: v for k, v in record.evidence.items() if k != "per_class"}  # no plots: no keys
    blocking = [g["name"] for g in record.gates if not g["passed"]]
    assert body["blocking"] == blocking == evaluation_summary(view_of(record)).blocking
    assert body["passed"] is record.passed and body["policy_name"] == "default"

    remote = EvaluationPublic.model_validate_json(public.model_dump_json())  # what a remote CLI receives
    report, header = report_from_public(remote)
    assert report == report_of(record, "default") == report_from_record(record, "default")
    assert (header.target, header.evaluation_id) == (f"street@v{record.dataset_version_id}", record.id)
    assert header.golden == record.evidence["golden_set"]


def test_a_report_of_another_version_or_shape_is_refused_naming_it() -> None:
    public = evaluation_public(view_of(previous_release_records()[0]))
    with pytest.raises(
        ReportFormatError, match=r"report_version: evaluation #1: this labelgate reads version 1, got 2"
    ) as info:
        report_from_public(public.model_copy(update={"report_version": 2}))
    assert info.value.key == "report_version"
    broken = public.model_copy(update={"metrics": {**public.metrics, "recal": 0.5}})
    with pytest.raises(ReportFormatError, match=r"metrics\['recal'\]: evaluation #1: unknown metric"):
        report_from_public(broken)


def _task_reports() -> dict[str, object]:
    """A report of each task beyond boxes, with predictions (so with PR curves and a confusion matrix)."""
    import numpy as np

    from quality_gates import GateInputs, evaluate, parse_policy
    from quality_gates.classification import ClassLabels
    from tests.quality_gates.shape_data import pose_data, segment_data
    from tests.quality_gates.test_gates_pose import POLICY as POSE_POLICY
    from tests.quality_gates.test_gates_pose import inputs_of as pose_inputs
    from tests.quality_gates.test_gates_segment import POLICY as SEGMENT_POLICY
    from tests.quality_gates.test_gates_segment import inputs_of as segment_inputs

    truth = ClassLabels.from_mapping(dict(enumerate([0, 0, 0, 0, 1, 1, 1, 2])), num_classes=3)
    scores = np.eye(3)[[0, 0, 0, 1, 1, 1, 1, 1]] * np.linspace(0.5, 0.95, 8)[:, None]
    pred = ClassLabels(tuple(range(8)), scores > 0, 3, False, scores)
    classify = parse_policy("name: c\ntask: classify\ngates:\n  accuracy: {min: 0.9}\n  f1: {min: 0.5}\n")
    return {
        "classify": evaluate(
            classify, GateInputs(["cat", "dog", "bird"], task="classify", golden=truth, predictions=pred)
        ),
        "segment": evaluate(parse_policy(SEGMENT_POLICY), segment_inputs(segment_data(0))),
        "pose": evaluate(parse_policy(POSE_POLICY), pose_inputs(pose_data(0))),
    }


@pytest.mark.parametrize("task", ["classify", "segment", "pose"])
def test_a_report_of_each_task_is_stored_served_and_read_back_as_itself(task: str) -> None:
    """What ``evaluate_version`` stores (``report_columns``) reads back as the report (``report_of``), is served
    with its task (``evaluation_public``) and is read back from the API's JSON as the same report."""
    from lineage.gates import report_columns
    from quality_gates.verdict import GateReport

    report = _task_reports()[task]
    assert isinstance(report, GateReport) and report.task == task
    record = GateEvaluation(id=7, dataset_version_id=3, policy_id=1, created_by=1,
                            **report_columns(report, golden_info=None))  # fmt: skip
    assert report_of(record, report.policy_name) == report
    public = evaluation_public(view_of(record))
    body = json.loads(public.model_dump_json())
    assert body["task"] == task and body["evidence"].get("confusion_matrix") is not None
    remote = EvaluationPublic.model_validate_json(public.model_dump_json())
    read, _ = report_from_public(remote)
    assert {**read.to_dict(), "policy_name": report.policy_name} == report.to_dict()  # view_of names it default
