"""The demo's chapter on where labels are made (issue 14): a Label Studio export and a CVAT job reach the
record under their real authors with their times, the same export again writes nothing, a later save
supersedes, and the KPIs, the diff and the golden seed the chapter prints are the record's own."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session, select

from lineage.audit.deep import deep_verify
from lineage.audit.verify import verify_database
from lineage.formats.work import made_of
from lineage.models import Annotation, GoldenSet, User
from service.demo.story import _fresh_workspace, build_history, setup_identity
from service.demo.tools import tools_chapter
from service.settings import Settings


def test_the_tools_chapter_tells_what_the_record_holds(tmp_path: Path) -> None:
    path = tmp_path / "ws"
    _fresh_workspace(path)
    state = setup_identity(Settings(workspace=path, database_url=""))
    build_history(state, n_images=12)
    said: list[str] = []
    tools_chapter(state, said.append)
    text = "\n".join(said)
    assert "Label Studio user 3 -> alice" in text and "Label Studio user 4 -> bob" in text
    assert "nothing written (19 units on the record)" in text  # 8 tasks x 2 annotations + 3 predictions
    assert "1 annotation updated, 18 unchanged" in text
    assert "under carol's name" in text
    assert "KPIs  alice" in text and "KPIs    bob" in text and "KPIs  carol" in text
    with Session(state.engine) as s:
        users = {u.id: u.username for u in s.exec(select(User))}
        tool_rows = [(a, made_of(a.attributes)) for a in s.exec(select(Annotation)) if made_of(a.attributes)]
        by_tool = {(m["tool"], users.get(a.annotator_id), a.kind) for a, m in tool_rows if m is not None}
        assert ("labelstudio", "alice", "human") in by_tool and ("labelstudio", "bob", "human") in by_tool
        assert ("labelstudio", None, "import") in by_tool and ("cvat", "carol", "human") in by_tool
        times = {m["at"] for a, m in tool_rows if m and m["tool"] == "labelstudio" and "at" in m}
        assert min(times).startswith("2026-11-30T09:00:00")
        golden = s.exec(select(GoldenSet).where(GoldenSet.name == "street-gt")).one()
        assert golden.version == 1
        assert verify_database(s).ok and deep_verify(s).ok
    # The KPI lines are the report's own figures (alice's lead times are 25-60 s an image).
    alice = next(line for line in said if line.startswith("KPIs  alice"))
    seconds = float(alice.split(": ")[1].split(" s per image")[0])
    assert 25 <= seconds <= 60
    state.engine.dispose()
