"""The Part 11 audit-trail report: who, what, when, old and new values, chain status, escaping."""

from __future__ import annotations

from sqlmodel import Session

from lineage.audit.chain import append_event
from lineage.reports.html import audit_trail_report, old_and_new


def test_old_and_new_split() -> None:
    assert old_and_new({"from": "draft", "to": "candidate", "reason": "x"}) == ("draft", "candidate", {"reason": "x"})
    assert old_and_new({"old": {"a": 1}, "new": None}) == ('{"a": 1}', "", {})
    assert old_and_new({"name": "p"}) == ("", "", {"name": "p"})


def test_report_lists_events_with_old_new_and_escapes(session: Session) -> None:
    append_event(session, actor="mia", action="project.create", object_type="project", object_id=1, payload={})
    append_event(
        session,
        actor="<script>alert(1)</script>",
        action="dataset_version.state",
        object_type="dataset_version",
        object_id=7,
        project_id=1,
        payload={"from": "draft", "to": "candidate", "reason": "ready"},
    )
    session.commit()
    html = audit_trail_report(session, title="project alpha")
    assert "21 CFR Part 11" in html and "project alpha" in html
    assert "<td>draft</td><td>candidate</td>" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert "intact</span>: 2 events" in html
    only_project = audit_trail_report(session, project_id=1)
    assert "dataset_version:7" in only_project and "project:1" not in only_project
