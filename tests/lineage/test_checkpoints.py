"""Signed checkpoints witnessed outside the database: a rewrite, a truncation or a forged tail after any
of them is named; anchors are compared wherever they lie; forged checkpoints are refused as witnesses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from lineage.audit.chain import append_event, chain_head
from lineage.audit.checkpoints import (
    CHECKPOINT_DIR,
    checkpoint_due,
    load_repo_checkpoints,
    parse_checkpoint,
    sign_checkpoint,
    take_checkpoint,
    verify_checkpoint,
)
from lineage.audit.whole import ChainReport, Witness, parse_anchor, verify_chain
from lineage.datasets.dvcrepo import git
from lineage.errors import InvalidInput
from lineage.release.bundle import load_private_key, sign_bundle
from service.checkpointing import after_commit, workspace_public_key
from service.settings import Settings
from tests.tamper import append_forged, rewrite_chain, tamper


def _events(engine: Engine, n: int) -> None:
    with Session(engine) as s:
        for i in range(n):
            append_event(s, actor="alice", action="thing.do", object_type="thing", object_id=i, payload={"i": i})
        s.commit()


def _checkpoint(engine: Engine, ws: Settings) -> int:
    with Session(engine) as s:
        cp = take_checkpoint(s, repo_dir=ws.repo_dir, key=load_private_key(ws.signing_key_path))  # type: ignore[arg-type]
    assert cp is not None
    return cp.seq


def _verify(engine: Engine, ws: Settings, **kw: object) -> ChainReport:
    with Session(engine) as s:
        return verify_chain(s, public_key=workspace_public_key(ws), repo_dir=ws.repo_dir, **kw)  # type: ignore[arg-type]


@pytest.fixture
def ws(workspace: Settings, engine: Engine) -> Settings:
    return workspace


def test_intact_chain_agrees_with_its_checkpoints(ws: Settings, engine: Engine) -> None:
    _events(engine, 4)
    with Session(engine) as s:
        head = chain_head(s)
    assert head is not None and _checkpoint(engine, ws) == head.seq
    _events(engine, 3)
    report = _verify(engine, ws)
    assert report.ok, report
    assert report.latest_witness is not None
    head = report.result.head
    assert head is not None and report.unwitnessed == (report.latest_witness.seq + 1, head.seq)
    # The checkpoint is committed in the workspace's git, not only written.
    assert CHECKPOINT_DIR in git(ws.repo_dir, "log", "--name-only", "--format=%s", "-1")


def test_rewrite_with_fresh_hashes_is_named_at_the_checkpoint(ws: Settings, engine: Engine) -> None:
    _events(engine, 6)
    cp_seq = _checkpoint(engine, ws)
    rewrite_chain(engine, from_seq=2)
    with Session(engine) as s:
        from lineage.audit.verify import verify_database

        assert verify_database(s).ok  # the chain alone cannot tell
    report = _verify(engine, ws)
    assert not report.ok
    assert (report.result.broken_seq, report.result.kind) == (cp_seq, "rewritten")


def test_truncation_before_a_checkpoint_is_named(ws: Settings, engine: Engine) -> None:
    _events(engine, 6)
    cp_seq = _checkpoint(engine, ws)
    tamper(engine, "DELETE FROM audit_events WHERE seq > :s", s=cp_seq - 2)
    report = _verify(engine, ws)
    assert not report.ok and report.result.kind == "truncated"
    assert str(cp_seq) in report.result.reason


def test_forged_tail_replacing_checkpointed_events_is_named(ws: Settings, engine: Engine) -> None:
    _events(engine, 6)
    cp_seq = _checkpoint(engine, ws)
    # Drop the last two checkpointed events and append correctly hashed forgeries in their place.
    tamper(engine, "DELETE FROM audit_events WHERE seq > :s", s=cp_seq - 2)
    for _ in range(3):
        append_forged(engine)
    report = _verify(engine, ws)
    assert not report.ok
    assert (report.result.broken_seq, report.result.kind) == (cp_seq - 1, "rewritten") or (
        report.result.broken_seq,
        report.result.kind,
    ) == (cp_seq, "rewritten")


def test_anchor_behind_the_head_is_compared(ws: Settings, engine: Engine) -> None:
    _events(engine, 6)
    with Session(engine) as s:
        from sqlalchemy import text

        real = s.execute(text("SELECT hash FROM audit_events WHERE seq = 2")).scalar_one()
    assert _verify(engine, ws, anchors=[parse_anchor(f"2:{real}")]).ok
    wrong = _verify(engine, ws, anchors=[parse_anchor("2:" + "f" * 64)])
    assert (wrong.ok, wrong.result.broken_seq, wrong.result.kind) == (False, 2, "rewritten")
    beyond = _verify(engine, ws, anchors=[Witness(seq=99, hash="a" * 64, source="cli")])
    assert not beyond.ok and beyond.result.kind == "truncated"


@pytest.mark.parametrize("bad", ["", "2", "x:" + "a" * 64, "0:" + "a" * 64, "2:abc", "2:" + "G" * 64])
def test_malformed_anchor_is_an_input_error(bad: str) -> None:
    with pytest.raises(InvalidInput):
        parse_anchor(bad)


def test_forged_checkpoint_is_reported_not_trusted(ws: Settings, engine: Engine, tmp_path: Path) -> None:
    _events(engine, 3)
    with Session(engine) as s:
        head = chain_head(s)
    assert head is not None
    # Signed by another key: it cannot vouch for (or against) this chain.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    forged = sign_checkpoint(head, Ed25519PrivateKey.generate())
    assert not verify_checkpoint(forged, workspace_public_key(ws))
    report = _verify(engine, ws, checkpoints=[parse_checkpoint(forged.to_dict(), source="forged.json")])
    assert not report.ok and any("forged.json" in p for p in report.problems)
    # Edited after signing (a different hash): refused too.
    genuine = sign_checkpoint(head, load_private_key(ws.signing_key_path))  # type: ignore[arg-type]
    edited = {**genuine.to_dict(), "hash": "e" * 64}
    assert not verify_checkpoint(parse_checkpoint(edited, source="x"), workspace_public_key(ws))


def test_a_deleted_checkpoint_file_is_still_found_in_git_history(ws: Settings, engine: Engine) -> None:
    _events(engine, 4)
    cp_seq = _checkpoint(engine, ws)
    for path in (ws.repo_dir / CHECKPOINT_DIR).glob("*.json"):
        path.unlink()
    found, problems = load_repo_checkpoints(ws.repo_dir)
    assert [c.seq for c in found] == [cp_seq] and problems == []
    tamper(engine, "DELETE FROM audit_events WHERE seq > 1")
    assert _verify(engine, ws).result.kind == "truncated"


def test_a_release_bundle_is_a_witness(ws: Settings, engine: Engine) -> None:
    _events(engine, 5)
    with Session(engine) as s:
        head = chain_head(s)
    assert head is not None
    key = load_private_key(ws.signing_key_path)  # type: ignore[arg-type]
    bundle = sign_bundle({"audit_head": {"seq": head.seq, "hash": head.hash}}, key)
    assert _verify(engine, ws, bundles=[(bundle, "b.json")]).ok
    rewrite_chain(engine, from_seq=1)
    report = _verify(engine, ws, bundles=[(bundle, "b.json")])
    assert (report.result.broken_seq, report.result.kind) == (head.seq, "rewritten")
    bad = json.loads(json.dumps(bundle))
    bad["content"]["audit_head"]["hash"] = "0" * 64
    assert any("b2.json" in p for p in _verify(engine, ws, bundles=[(bad, "b2.json")]).problems)


def test_periodic_checkpoints_follow_the_interval(ws: Settings, engine: Engine) -> None:
    ws = ws.model_copy(update={"checkpoint_every_events": 5, "checkpoint_every_seconds": 3600})
    _events(engine, 2)
    first = after_commit(ws, engine)  # no checkpoint yet: due at once
    assert first is not None
    _events(engine, 3)
    assert after_commit(ws, engine) is None  # 3 events since: not due
    _events(engine, 2)
    second = after_commit(ws, engine)
    assert second is not None and second.seq == first.seq + 5
    # A release is witnessed at once, whatever the interval.
    with Session(engine) as s:
        append_event(s, actor="a", action="release.create", object_type="dataset_version", object_id=1)
        s.commit()
        assert checkpoint_due(s, ws.repo_dir, every_events=1000, every_seconds=3600) is not None
    assert len(load_repo_checkpoints(ws.repo_dir)[0]) == 2
