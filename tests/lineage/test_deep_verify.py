"""Deep verify: a database writer who edits, inserts or deletes a domain row is named, on both databases.

The history is written through the real verbs (labels added in two batches, a correction, a review of
each kind, a state change); then each tamper is tried with the triggers dropped, one per test.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from lineage import labels as ann
from lineage.audit.deep import DeepReport, deep_verify, legacy_seal
from lineage.audit.rowdigest import DIGEST_COLUMNS, digest_values, normaliser
from lineage.datasets.versions import change_state
from lineage.models import ProvenanceKind, ReviewDecision, VersionState
from tests.factories import World, actor_for, make_world
from tests.lineage.conftest import items_of, quick_schema, quick_version
from tests.tamper import tamper

ITEMS = {"a.jpg": (100, 80), "b.jpg": (100, 80), "c.jpg": (64, 64)}


@dataclass
class History:
    world: World
    version_id: int
    first_batch: list[int]
    second_batch: list[int]
    correction_id: int
    review_ids: list[int]


@pytest.fixture
def history(engine: Engine) -> History:
    with Session(engine, expire_on_commit=False) as s:
        world = make_world(s)
        ml = actor_for(world.users["ml_engineer"])
        rev = actor_for(world.users["reviewer"])
        pid = world.project.id or 0
        sv = quick_schema(s, project_id=pid, name="pets", classes=["cat", "dog"], user_id=ml.user_id)
        _, v = quick_version(s, actor=ml, project_id=pid, items=ITEMS, schema_version_id=sv.id)
        ids = items_of(s, v)
        imp = ann.Provenance(kind=ProvenanceKind.import_, source_sha256="ab" * 32, source_format="coco")
        first = ann.add_annotations(
            s,
            actor=ml,
            version=v,
            labels=[
                ann.NewLabel(ids["a.jpg"], "cat", 1, 1, 5, 5, attributes={"occluded": True, "n": 1.5}),
                ann.NewLabel(ids["b.jpg"], "dog", 2, 2, 10, 10),
                ann.NewLabel(ids["c.jpg"], "cat", 0, 0, 64, 64),
            ],
            provenance=imp,
        )
        human = ann.Provenance(kind=ProvenanceKind.human, annotator_id=ml.user_id)
        second = ann.add_annotations(
            s, actor=ml, version=v, labels=[ann.NewLabel(ids["a.jpg"], "dog", 50, 40, 10, 10)], provenance=human
        )
        fixed = ann.correct_annotation(s, actor=ml, annotation_id=first[0], change=ann.BoxChange(w=7))
        reviews = [
            ann.review_annotation(s, actor=rev, annotation_id=first[1], decision=ReviewDecision.accept).id,
            ann.review_annotation(s, actor=rev, annotation_id=first[2], decision=ReviewDecision.reject).id,
            ann.review_annotation(
                s,
                actor=rev,
                annotation_id=second[0],
                decision=ReviewDecision.correct,
                change=ann.BoxChange(category="cat"),
            ).id,
        ]
        change_state(s, actor=ml, version=v, to=VersionState.candidate)
        s.commit()
        return History(world, v.id or 0, first, second, fixed.id or 0, [r or 0 for r in reviews])


def _deep(engine: Engine) -> DeepReport:
    with Session(engine) as s:
        return deep_verify(s)


def _only(report: DeepReport, table: str) -> list[str]:
    return [f"{p.kind}:{p.row_id}:{p.seq}" for p in report.problems if p.table == table]


def test_an_honest_history_verifies(engine: Engine, history: History) -> None:
    report = _deep(engine)
    assert report.ok, [p.line() for p in report.problems]
    assert report.rows["annotations"] == 7  # 3 + 1 added, a correction, a tombstone, a review correction
    assert report.rows["reviews"] == 3 and report.rows["dataset_versions"] == 1


def test_edited_annotation_is_named_by_row(engine: Engine, history: History) -> None:
    target = history.first_batch[1]
    tamper(engine, "UPDATE annotations SET category = 'cat' WHERE id = :i", i=target)
    report = _deep(engine)
    assert [p.kind for p in report.problems] == ["edited"]
    assert report.problems[0].row_id == target and report.problems[0].table == "annotations"


@pytest.mark.parametrize("column", ["x", "confidence", "annotator_id", "attributes", "created_at", "created_by"])
def test_every_annotation_column_is_covered(engine: Engine, history: History, column: str) -> None:
    target = history.first_batch[0]
    value = {
        "x": "2.5",
        "confidence": "0.5",
        "annotator_id": "1",
        "attributes": '\'{"occluded": false, "n": 1.5}\'',
        "created_at": "created_at",
        "created_by": "1",
    }[column]
    if column == "created_at":
        sql = (
            "UPDATE annotations SET created_at = created_at + INTERVAL '1 day' WHERE id = :i"
            if engine.dialect.name == "postgresql"
            else "UPDATE annotations SET created_at = '2001-01-01 00:00:00.000000' WHERE id = :i"
        )
    else:
        sql = f"UPDATE annotations SET {column} = {value} WHERE id = :i"
    tamper(engine, sql, i=target)
    report = _deep(engine)
    assert [(p.kind, p.row_id) for p in report.problems] == [("edited", target)], column


def test_edit_with_a_recomputed_digest_is_named_by_event(engine: Engine, history: History) -> None:
    target = history.second_batch[0]
    with Session(engine) as s:
        row = s.execute(text("SELECT audit_seq FROM annotations WHERE id = :i"), {"i": target}).one()
        seq = row[0]
        names = [n for n, _ in DIGEST_COLUMNS["annotations"]]
        values = list(s.execute(text(f"SELECT {', '.join(names)} FROM annotations WHERE id = :i"), {"i": target}).one())
    values[names.index("category")] = "cat"
    forged = digest_values("annotations", values, normaliser("annotations"))
    tamper(engine, "UPDATE annotations SET category = 'cat', row_digest = :d WHERE id = :i", d=forged, i=target)
    report = _deep(engine)
    assert [(p.kind, p.seq) for p in report.problems] == [("edited", seq)]


def test_deleted_annotation_is_named(engine: Engine, history: History) -> None:
    target = history.correction_id  # nothing refers to it, so no foreign key stands in the way
    with Session(engine) as s:
        seq = s.execute(text("SELECT audit_seq FROM annotations WHERE id = :i"), {"i": target}).scalar()
    tamper(engine, "DELETE FROM annotations WHERE id = :i", i=target)
    report = _deep(engine)
    assert [(p.kind, p.seq) for p in report.problems] == [("deleted", seq)]


def test_annotation_inserted_without_an_event_is_named(engine: Engine, history: History) -> None:
    with Session(engine) as s:
        item = s.execute(text("SELECT item_id FROM annotations WHERE id = :i"), {"i": history.first_batch[0]}).scalar()
    sql = (
        "INSERT INTO annotations (dataset_version_id, item_id, category, geometry_type, x, y, w, h, kind,"
        " annotator_id, created_at) VALUES (:v, :it, 'cat', 'box', 1, 1, 3, 3, 'human', 1, :ts)"
    )
    from lineage.models._base import utcnow

    tamper(engine, sql, v=history.version_id, it=item, ts=utcnow().isoformat())
    report = _deep(engine)
    assert [p.kind for p in report.problems] == ["unsealed"]


def test_annotation_inserted_into_a_sealed_batch_is_named(engine: Engine, history: History) -> None:
    with Session(engine) as s:
        row = s.execute(
            text("SELECT item_id, audit_seq FROM annotations WHERE id = :i"), {"i": history.first_batch[0]}
        ).one()
    tamper(
        engine,
        "INSERT INTO annotations (dataset_version_id, item_id, category, geometry_type, x, y, w, h, kind,"
        " source_sha256, source_format, created_at, audit_seq, row_digest)"
        " VALUES (:v, :it, 'cat', 'box', 1, 1, 3, 3, 'import', :sha, 'coco', :ts, :seq, :d)",
        v=history.version_id,
        it=row[0],
        sha="ab" * 32,
        ts="2026-01-01 00:00:00.000000",
        seq=row[1],
        d="0" * 64,
    )
    report = _deep(engine)
    kinds = {(p.kind, p.seq) for p in report.problems}
    assert ("inserted", row[1]) in kinds


def test_review_edit_insert_delete_are_named(engine: Engine, history: History) -> None:
    accept = history.review_ids[0]
    tamper(engine, "UPDATE reviews SET decision = 'reject' WHERE id = :i", i=accept)
    assert _only(_deep(engine), "reviews")[0].startswith(f"edited:{accept}:")
    tamper(
        engine,
        "INSERT INTO reviews (annotation_id, reviewer_id, decision, comment, created_at)"
        " VALUES (:a, 1, 'accept', '', '2026-01-01 00:00:00.000000')",
        a=history.first_batch[1],
    )
    assert any(x.startswith("inserted:") for x in _only(_deep(engine), "reviews"))
    tamper(engine, "DELETE FROM reviews WHERE id = :i", i=history.review_ids[1])
    assert any(x.startswith(f"deleted:{history.review_ids[1]}:") for x in _only(_deep(engine), "reviews"))


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE dataset_versions SET manifest_hash = :h WHERE id = :i",
        "UPDATE dataset_versions SET state = 'released' WHERE id = :i",
        "UPDATE dataset_versions SET state = 'draft' WHERE id = :i",
        "UPDATE dataset_versions SET dvc_hash = :h WHERE id = :i",
    ],
)
def test_version_pins_are_covered(engine: Engine, history: History, sql: str) -> None:
    tamper(engine, sql, h="f" * 64, i=history.version_id)
    assert [p.split(":")[0] for p in _only(_deep(engine), "dataset_versions")] == ["edited"]


def test_legacy_rows_are_unsealed_until_sealed_once(engine: Engine, history: History) -> None:
    # A row as revision 0002 wrote it: no digest, no audit seq.
    with Session(engine) as s:
        item = s.execute(text("SELECT item_id FROM annotations WHERE id = :i"), {"i": history.first_batch[0]}).scalar()
    tamper(
        engine,
        "INSERT INTO annotations (dataset_version_id, item_id, category, geometry_type, x, y, w, h, kind,"
        " annotator_id, created_at) VALUES (:v, :it, 'cat', 'box', 1, 1, 3, 3, 'human', 1, :ts)",
        v=history.version_id,
        it=item,
        ts="2026-01-01 00:00:00.000000",
    )
    assert [p.kind for p in _deep(engine).problems] == ["unsealed"]
    from lineage.audit.chain import append_event

    with Session(engine) as s:
        seal = legacy_seal(s)
        assert seal is not None and seal["annotations"]["count"] == 1
        append_event(s, actor="op", action="record.seal_legacy", object_type="workspace", object_id="r", payload=seal)
        s.commit()
    report = _deep(engine)
    assert report.ok and report.legacy_rows == 1
    # Once sealed, editing the legacy row is noticed as well.
    tamper(engine, "UPDATE annotations SET w = 4 WHERE row_digest IS NULL")
    assert [p.kind for p in _deep(engine).problems] == ["edited"]


def test_parallel_scan_agrees_with_the_serial_one(
    engine: Engine, history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two processes over id ranges that split sealed batches between them: the merge must be exact,
    # both when the record is intact and when one row of a split batch was rewritten with its digest.
    import lineage.audit.deep as dv

    monkeypatch.setattr(dv, "_PARALLEL_MIN_ROWS", 0)
    with Session(engine) as s:
        assert deep_verify(s, workers=3).ok  # ids 1..7 in 3 ranges: the first batch (ids 1-3) is split
    target = history.first_batch[1]
    with Session(engine) as s:
        seq = s.execute(text("SELECT audit_seq FROM annotations WHERE id = :i"), {"i": target}).scalar()
        names = [n for n, _ in DIGEST_COLUMNS["annotations"]]
        values = list(s.execute(text(f"SELECT {', '.join(names)} FROM annotations WHERE id = :i"), {"i": target}).one())
    values[names.index("w")] = 11.0
    forged = digest_values("annotations", values, normaliser("annotations"))
    tamper(engine, "UPDATE annotations SET w = 11, row_digest = :d WHERE id = :i", d=forged, i=target)
    with Session(engine) as s:
        serial, parallel = deep_verify(s, workers=1), deep_verify(s, workers=3)
    assert [p.line() for p in parallel.problems] == [p.line() for p in serial.problems]
    assert [(p.kind, p.seq) for p in parallel.problems] == [("edited", seq)]


@pytest.mark.parametrize(
    "attributes",
    [
        {"big": 2**70, "small": -(2**63)},
        {"text": 'ünï©ødé \u2028 \\" quotes', "emoji": "\U0001f600"},
        {"f": 1e-300, "neg": -0.0, "third": 1 / 3},
        {"nested": {"a": [1, 2.5, None, True, {"b": []}]}},
        {},
    ],
)
def test_digests_survive_each_driver_round_trip(engine: Engine, attributes: dict[str, object]) -> None:
    # Written with the writer's normalisation, read back raw from SQLite or PostgreSQL: the same digest.
    with Session(engine, expire_on_commit=False) as s:
        world = make_world(s)
        ml = actor_for(world.users["ml_engineer"])
        _, v = quick_version(s, actor=ml, project_id=world.project.id or 0, items=ITEMS)
        ids = items_of(s, v)
        model = ann.Provenance(kind=ProvenanceKind.import_, source_sha256="cd" * 32, source_format="coco")
        ann.add_annotations(
            s,
            actor=ml,
            version=v,
            labels=[ann.NewLabel(ids["a.jpg"], "cat", 0.1, 0.2, 3.3, 4.4, attributes=attributes, confidence=0.7)],
            provenance=model,
        )
        s.commit()
    report = _deep(engine)
    assert report.ok, [p.line() for p in report.problems]


def test_identity_rows_are_covered(engine: Engine, history: History) -> None:
    from lineage import identity

    with Session(engine, expire_on_commit=False) as s:
        admin = actor_for(history.world.admin)
        user = s.get(type(history.world.admin), history.world.users["reviewer"].id)
        assert user is not None
        token = identity.issue_token(s, actor=admin, user=user, name="ci").record
        identity.revoke_token(s, actor=admin, token_id=token.id or 0)
        s.commit()
    assert _deep(engine).ok
    # Un-revoking a token, widening its expiry, granting a role behind the service's back: each named.
    tamper(engine, "UPDATE api_tokens SET revoked_at = NULL WHERE id = :i", i=token.id)
    assert [(p.table, p.kind, p.row_id) for p in _deep(engine).problems] == [("api_tokens", "edited", token.id)]
    tamper(engine, "UPDATE api_tokens SET revoked_at = created_at, expires_at = created_at WHERE id = :i", i=token.id)
    assert ("api_tokens", "edited", token.id) in [(p.table, p.kind, p.row_id) for p in _deep(engine).problems]
    tamper(
        engine,
        "INSERT INTO memberships (user_id, project_id, role, granted_at) VALUES (:u, :p, 'admin', :t)",
        u=history.world.users["annotator"].id,
        p=history.world.project.id,
        t="2026-01-01 00:00:00.000000",
    )
    assert ("memberships", "inserted") in [(p.table, p.kind) for p in _deep(engine).problems]
