"""Gates on the record: stored policies (``policies``), golden sets (``golden``), a version's gate inputs
(``inputs``, with the training-leakage gate's in ``leakage``) and its gate evaluations with the evidence
they stand for (``evaluations``).

Their public names are re-exported here.
"""

from lineage.gates.evaluations import (
    EvaluationOutcome,
    EvaluationView,
    Purpose,
    StoredReportError,
    VersionEvidence,
    evaluate_version,
    evaluation_purpose,
    evidence_evaluation,
    get_evaluation,
    latest_evaluation,
    project_evaluations,
    report_columns,
    report_of,
    stale_hashes,
    version_evaluations,
    version_evidence,
)
from lineage.gates.golden import get_golden_set, golden_summary, list_golden_sets, register_golden_set, resolve_golden
from lineage.gates.inputs import build_inputs, current_data_hashes, review_coverage_of
from lineage.gates.leakage import leakage_inputs
from lineage.gates.policies import get_policy, list_policies, store_policy

__all__ = [
    "EvaluationOutcome",
    "EvaluationView",
    "Purpose",
    "StoredReportError",
    "VersionEvidence",
    "build_inputs",
    "current_data_hashes",
    "evaluate_version",
    "evaluation_purpose",
    "evaluations",
    "evidence_evaluation",
    "get_evaluation",
    "get_golden_set",
    "get_policy",
    "golden",
    "golden_summary",
    "inputs",
    "latest_evaluation",
    "leakage",
    "leakage_inputs",
    "list_golden_sets",
    "list_policies",
    "policies",
    "project_evaluations",
    "register_golden_set",
    "report_columns",
    "report_of",
    "resolve_golden",
    "review_coverage_of",
    "stale_hashes",
    "store_policy",
    "version_evaluations",
    "version_evidence",
]
