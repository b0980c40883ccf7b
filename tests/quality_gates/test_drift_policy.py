"""Drift (PSI, Jensen–Shannon, schema changes), review coverage and the YAML policy."""

from __future__ import annotations

import math

import pytest

from quality_gates.coverage import review_coverage, review_coverage_from_flags
from quality_gates.drift import SchemaChange, jensen_shannon, pending_schema_changes, psi, schema_changes
from quality_gates.errors import PolicyError
from quality_gates.policy import GATE_NAMES, parse_policy, policy_hash

DESIGN_POLICY = """\
name: default
gates:
  golden_set_error: {max: 0.02, iou: 0.5}
  krippendorff_alpha: {min: 0.80, level: nominal}
  precision: {min: 0.90, iou: 0.5, baseline: golden}
  recall: {min: 0.85, iou: 0.5, baseline: golden}
  class_drift_psi: {max: 0.2}
  expectations: {suite: default}
  review_coverage: {min: 0.05}
release:
  approvals: 1
  approver_roles: [compliance_officer, reviewer]
  four_eyes: true
"""


def test_psi_hand_values() -> None:
    assert psi({"a": 5, "b": 5}, {"a": 50, "b": 50}) == pytest.approx(0.0, abs=1e-15)
    # p = (0.6, 0.4), q = (0.4, 0.6): 0.2·ln(1.5) + (−0.2)·ln(2/3) = 0.4·ln 1.5
    assert psi({"a": 6, "b": 4}, {"a": 4, "b": 6}) == pytest.approx(0.4 * math.log(1.5), abs=1e-12)


def test_psi_epsilon_handles_empty_classes() -> None:
    eps = 1e-4
    p = [1 / (1 + eps), eps / (1 + eps)]  # current has no "b": floored at eps, renormalised
    q = [0.5, 0.5]
    expected = sum((pi - qi) * math.log(pi / qi) for pi, qi in zip(p, q, strict=True))
    assert psi({"a": 10}, {"a": 1, "b": 1}, epsilon=eps) == pytest.approx(expected, abs=1e-12)
    assert math.isfinite(psi({"a": 1}, {"b": 1}))


def test_jensen_shannon_hand_values() -> None:
    assert jensen_shannon({"a": 1}, {"b": 1}) == pytest.approx(1.0)  # disjoint: the maximum in base 2
    assert jensen_shannon({"a": 3, "b": 1}, {"a": 3, "b": 1}) == pytest.approx(0.0, abs=1e-15)
    # p = (0.5, 0.5), q = (1, 0), m = (0.75, 0.25)
    kl_pm = 0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25)
    kl_qm = math.log2(1 / 0.75)
    assert jensen_shannon({"a": 1, "b": 1}, {"a": 2}) == pytest.approx(0.5 * kl_pm + 0.5 * kl_qm, abs=1e-12)


def test_distribution_errors() -> None:
    with pytest.raises(ValueError, match="empty"):
        psi({}, {"a": 1})
    with pytest.raises(ValueError, match=">= 0"):
        jensen_shannon({"a": -1, "b": 2}, {"a": 1})


def test_schema_changes_and_acknowledgement() -> None:
    changes = schema_changes(["cat", "dog", "cow"], ["cat", "puppy", "horse"], renames={"dog": "puppy"})
    assert [c.key for c in changes] == ["added:horse", "removed:cow", "renamed:dog->puppy"]
    pending = pending_schema_changes(changes, {"added:horse", "renamed:dog->puppy"})
    assert [c.key for c in pending] == ["removed:cow"]
    recs = [{"kind": "redefined", "name": "cat"}, SchemaChange("added", "emu")]
    assert [c.key for c in pending_schema_changes(recs)] == ["redefined:cat", "added:emu"]
    with pytest.raises(ValueError, match="kind"):
        pending_schema_changes([{"kind": "moved", "name": "x"}])
    assert schema_changes(["a"], ["a"]) == ()


def test_review_coverage() -> None:
    rc = review_coverage_from_flags([True, False, True, False], [True, True, False, False])
    assert (rc.reviewed_share, rc.routed_reviewed_share) == (0.5, 0.5)
    empty = review_coverage(model_labels=0, reviewed=0)
    assert math.isnan(empty.reviewed_share) and math.isnan(empty.routed_reviewed_share)
    with pytest.raises(ValueError):
        review_coverage(model_labels=3, reviewed=4)


def test_design_policy_parses() -> None:
    p = parse_policy(DESIGN_POLICY)
    assert p.gates.configured() == [
        "golden_set_error", "krippendorff_alpha", "precision", "recall", "class_drift_psi", "expectations",
        "review_coverage",
    ]  # fmt: skip
    assert p.gates.precision is not None and p.gates.precision.threshold is None
    assert p.release.approver_roles == ("compliance_officer", "reviewer")


def test_policy_hash_is_stable_across_formatting() -> None:
    reformatted = """\
# the same policy, block style, other key order, defaults spelled out
release:
  four_eyes: true
  approver_roles:
    - compliance_officer
    - reviewer
  approvals: 1
gates:
  review_coverage:
    min: 0.05
  expectations: {suite: default}
  class_drift_psi: {max: 0.2, epsilon: 0.0001}
  recall: {baseline: golden, iou: 0.5, min: 0.85, threshold: null}
  precision: {min: 0.9, iou: 0.5, baseline: golden}
  krippendorff_alpha: {min: 0.8}
  golden_set_error: {max: 0.02}
name: default
"""
    h = policy_hash(parse_policy(DESIGN_POLICY))
    assert len(h) == 64 and int(h, 16) >= 0
    assert policy_hash(parse_policy(reformatted)) == h
    assert policy_hash(parse_policy(DESIGN_POLICY.replace("min: 0.85", "min: 0.86"))) != h
    assert policy_hash(parse_policy(DESIGN_POLICY.replace("four_eyes: true", "four_eyes: false"))) != h


@pytest.mark.parametrize(
    ("text", "path", "line", "fragment"),
    [
        (DESIGN_POLICY.replace("precision:", "precison:"), "gates.precison", 5, "unknown gate 'precison'"),
        (DESIGN_POLICY.replace("min: 0.85", "min: '0.85'"), "gates.recall.min", 6, "valid number"),
        (DESIGN_POLICY.replace("min: 0.85", "min: 1.5"), "gates.recall.min", 6, "less than or equal to 1"),
        (DESIGN_POLICY.replace("baseline: golden}\n  class", "baseline: golden, foo: 1}\n  class"),
         "gates.recall.foo", 6, "unknown field 'foo' in gates.recall; valid fields: min, iou, baseline, threshold"),
        (DESIGN_POLICY.replace("approvals: 1", "approvals: 1.5"), "release.approvals", 11, "valid integer"),
        (DESIGN_POLICY.replace("level: nominal", "level: banana"), "gates.krippendorff_alpha.level", 4, "nominal"),
        (DESIGN_POLICY.replace("reviewer]", "boss]"), "release.approver_roles.1", 12, "compliance_officer"),
        (DESIGN_POLICY.replace("  recall:", "  precision:"), "", 6, "duplicate key 'precision'"),
        (DESIGN_POLICY.replace("name: default\n", ""), "name", None, "Field required"),
        ("name: x\ngates: {}\n", "gates", 2, "no gate configured"),
        ("name: [\n", "", 2, "invalid YAML"),
        ("- a\n- b\n", "", None, "must be a mapping"),
        (DESIGN_POLICY + "owner: me\n", "owner", 14, "unknown field 'owner' in policy"),
    ],
)  # fmt: skip
def test_policy_errors_name_the_field_and_line(text: str, path: str, line: int | None, fragment: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(text)
    err = info.value
    assert err.path == path
    assert err.line == line
    assert fragment in str(err)


def test_unknown_gate_lists_every_valid_gate() -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy("name: x\ngates:\n  accuracy: {min: 0.9}\n")
    for name in GATE_NAMES:
        assert name in info.value.message
