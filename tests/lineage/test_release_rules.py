"""Release rules as they apply: whoever writes a policy cannot release alone by relaxing its rules.

A policy stored by an ML engineer may tighten the release rules but never go below one approval by a
compliance officer or reviewer under four-eyes; a compliance officer (or an admin) may relax them."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from lineage.gates import store_policy
from lineage.models import Role
from lineage.release.four_eyes import ApprovalRules
from lineage.release.releases import RELEASE_FLOOR, release_rules
from tests.factories import actor_for, make_world

RELAXED = """
name: relaxed
gates:
  review_coverage: {min: 0.0}
release:
  approvals: 0
  approver_roles: [ml_engineer]
  four_eyes: false
"""
TIGHTER = """
name: tighter
gates:
  review_coverage: {min: 0.0}
release:
  approvals: 2
  approver_roles: [compliance_officer]
  four_eyes: true
"""


@pytest.mark.parametrize(
    ("author", "yaml_text", "expected"),
    [
        ("ml_engineer", RELAXED, RELEASE_FLOOR),
        ("ml_engineer", TIGHTER, ApprovalRules(2, frozenset({Role.compliance_officer}), True)),
        ("compliance_officer", RELAXED, ApprovalRules(0, frozenset({Role.ml_engineer}), False)),
        ("admin", RELAXED, ApprovalRules(0, frozenset({Role.ml_engineer}), False)),
    ],
)
def test_release_rules_floor(session: Session, author: str, yaml_text: str, expected: ApprovalRules) -> None:
    world = make_world(session)
    actor = actor_for(world.users[author])
    policy = store_policy(session, actor=actor, project_id=world.project.id or 0, yaml_text=yaml_text)
    assert release_rules(session, policy) == expected
