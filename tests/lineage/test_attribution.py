"""Who may attribute imported labels to whom, what the import's audit event says, and who counts as an
author of a version (``lineage.release.approvals.version_authors``), on SQLite and PostgreSQL.

The authorship tests write annotation rows by hand, each with the columns its insert path fills, so every
rule of the module doc is checked on its own: attributed annotator, row writer (``created_by``), run owner,
correcting reviewer, version creator, labels inherited (through ``origin_id`` and ``supersedes_id``), and
the legacy rule for rows without ``created_by``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, func, select

from lineage import identity
from lineage.context import Actor
from lineage.errors import InvalidInput, PermissionDenied
from lineage.formats import import_annotations
from lineage.labels.attribution import ANNOTATING_ROLES, check_attribution
from lineage.models import (
    Annotation,
    AuditEvent,
    AutoLabelRun,
    DatasetVersion,
    ModelVersion,
    ProvenanceKind,
    Review,
    ReviewDecision,
    Role,
    RunState,
    User,
)
from lineage.release.four_eyes import version_authors
from tests.factories import World, actor_for, make_user
from tests.lineage.conftest import items_of, quick_schema, quick_version

SIZES = {"a.jpg": (100, 80), "b.jpg": (64, 48)}
COCO = {
    "images": [
        {"id": 1, "file_name": "a.jpg", "width": 100, "height": 80},
        {"id": 2, "file_name": "b.jpg", "width": 64, "height": 48},
    ],
    "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1.0, 2.0, 30.0, 40.0]},
        {"id": 2, "image_id": 2, "category_id": 2, "bbox": [3.0, 4.0, 5.0, 6.0]},
    ],
}


@pytest.fixture
def target(session: Session, world: World, ml: Actor) -> DatasetVersion:
    sv = quick_schema(session, project_id=world.project.id or 0, name="s", classes=["cat", "dog"], user_id=ml.user_id)
    _, v = quick_version(session, actor=ml, project_id=world.project.id or 0, items=SIZES, schema_version_id=sv.id)
    return v


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(COCO))
    return path


def _count(session: Session, version: DatasetVersion) -> int:
    stmt = select(func.count()).select_from(Annotation).where(Annotation.dataset_version_id == version.id)
    return int(session.exec(stmt).one())


def _import_event(session: Session) -> dict[str, Any]:
    event = session.exec(
        select(AuditEvent).where(AuditEvent.action == "annotation.import").order_by(col(AuditEvent.seq).desc())
    ).first()
    assert event is not None
    return dict(event.payload)


# ---- attribution -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", sorted(r.value for r in ANNOTATING_ROLES))
def test_an_ml_engineer_attributes_to_members_with_an_annotating_role(
    session: Session, world: World, ml: Actor, target: DatasetVersion, source: Path, role: str
) -> None:
    annotator = world.users[role]
    result = import_annotations(session, actor=ml, version=target, fmt="coco", path=source, annotator_id=annotator.id)
    assert (result.kind, result.annotations) == ("human", 2)
    payload = _import_event(session)
    assert (payload["imported_by"], payload["attributed_to"]) == ("ml_engineer_user", annotator.username)
    assert payload["annotator_id"] == annotator.id


def test_an_import_without_attribution_records_the_importer_alone(
    session: Session, ml: Actor, target: DatasetVersion, source: Path
) -> None:
    result = import_annotations(session, actor=ml, version=target, fmt="coco", path=source)
    assert result.kind == "import"
    payload = _import_event(session)
    assert (payload["imported_by"], payload["attributed_to"]) == ("ml_engineer_user", None)


def test_a_global_admin_may_attribute(session: Session, world: World, target: DatasetVersion, source: Path) -> None:
    admin = actor_for(world.admin)
    annotator = world.users["annotator"]
    import_annotations(session, actor=admin, version=target, fmt="coco", path=source, annotator_id=annotator.id)
    assert (_import_event(session)["imported_by"], _import_event(session)["attributed_to"]) == (
        "root_admin",
        "annotator_user",
    )


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("outsider", "cannot attribute labels to 'outsider': not a member of project 'alpha'"),
        ("ghost", "cannot attribute labels to 'ghost': not a member of project 'alpha'"),
        ("root_admin", "cannot attribute labels to 'root_admin': not a member of project 'alpha'"),
        ("compliance_officer_user", "they hold compliance_officer, not an annotating role"),
        ("ci_user", "they hold ci, not an annotating role"),
    ],
)
def test_attribution_to_anyone_else_is_refused_naming_the_user_and_the_rule(
    session: Session, world: World, ml: Actor, target: DatasetVersion, source: Path, who: str, expected: str
) -> None:
    """A member of another project, an unknown name (the same answer: existence does not leak), a global admin
    who is not a member, and members whose roles do not label (the compliance officer, CI)."""
    with pytest.raises(InvalidInput) as refused:
        check_attribution(session, actor=ml, project_id=world.project.id or 0, annotator=who)
    assert expected in refused.value.message and refused.value.field == "annotator"
    assert "annotator, ml_engineer, reviewer" in refused.value.message  # the rule is named
    user = session.exec(select(User).where(User.username == who)).first()
    if user is not None:  # the import itself refuses too, and writes nothing
        with pytest.raises(InvalidInput):
            import_annotations(session, actor=ml, version=target, fmt="coco", path=source, annotator_id=user.id)
        assert _count(session, target) == 0


def test_a_deactivated_member_is_refused(session: Session, world: World, ml: Actor) -> None:
    user = world.users["annotator"]
    user.is_active = False
    session.add(user)
    session.flush()
    with pytest.raises(InvalidInput, match="deactivated"):
        check_attribution(session, actor=ml, project_id=world.project.id or 0, annotator=user.id or 0)


@pytest.mark.parametrize("caller", ["reviewer", "annotator", "compliance_officer", "ci", "outsider"])
def test_only_ml_engineers_and_admins_may_attribute(
    session: Session, world: World, target: DatasetVersion, source: Path, caller: str
) -> None:
    actor = actor_for(world.users[caller])
    with pytest.raises(PermissionDenied) as refused:
        check_attribution(session, actor=actor, project_id=world.project.id or 0, annotator="annotator_user")
    message = refused.value.message
    assert message.startswith(f"{caller}_user may not attribute labels" if caller != "outsider" else "outsider may")
    assert "needs the role ml_engineer (or admin)" in message
    with pytest.raises(PermissionDenied):
        import_annotations(
            session, actor=actor, version=target, fmt="coco", path=source, annotator_id=world.users["annotator"].id
        )
    assert _count(session, target) == 0


# ---- authorship ---------------------------------------------------------------------------------------------


def _row(version: DatasetVersion, item_id: int, **fields: Any) -> Annotation:
    base: dict[str, Any] = {"category": "cat", "x": 1.0, "y": 1.0, "w": 5.0, "h": 5.0}
    return Annotation(dataset_version_id=version.id or 0, item_id=item_id, **(base | fields))


def _run(session: Session, world: World, version: DatasetVersion, owner: User, tag: str) -> AutoLabelRun:
    model = ModelVersion(
        project_id=world.project.id or 0,
        name="det",
        version=tag,
        weights_uri="file:///w.pt",
        weights_sha256="0" * 64,
        created_by=owner.id or 0,
    )
    session.add(model)
    session.flush()
    run = AutoLabelRun(
        dataset_version_id=version.id or 0,
        model_version_id=model.id or 0,
        threshold=0.5,
        state=RunState.succeeded,
        created_by=owner.id or 0,
    )
    session.add(run)
    session.flush()
    return run


def _model_row(version: DatasetVersion, item_id: int, run: AutoLabelRun, **fields: Any) -> Annotation:
    return _row(
        version,
        item_id,
        kind=ProvenanceKind.model,
        model_version_id=run.model_version_id,
        weights_sha256="0" * 64,
        confidence=0.9,
        threshold=0.5,
        autolabel_run_id=run.id,
        **fields,
    )


def _add(session: Session, *rows: Annotation) -> list[Annotation]:
    for r in rows:
        session.add(r)
        session.flush()
    return list(rows)


@pytest.fixture
def people(session: Session, world: World) -> dict[str, User]:
    admin = actor_for(world.admin)
    found = {}
    for name in ("importer", "labeller", "owner", "corrector", "checker", "acceptor", "bystander", "legacy_maker"):
        found[name] = make_user(session, name)
        identity.add_member(session, actor=admin, project=world.project, user=found[name], role=Role.annotator)
    return found


def test_authors_are_every_writer_attributed_annotator_run_owner_corrector_and_the_creator(
    session: Session, world: World, ml: Actor, target: DatasetVersion, people: dict[str, User]
) -> None:
    v, p = target, people
    a, b = items_of(session, v)["a.jpg"], items_of(session, v)["b.jpg"]
    run = _run(session, world, v, p["owner"], "1")
    imported, model, _ = _add(
        session,
        # an import attributed to ``labeller``, written by ``importer``
        _row(
            v,
            a,
            kind=ProvenanceKind.human,
            annotator_id=p["labeller"].id,
            created_by=p["importer"].id,
            source_sha256="1" * 64,
            source_format="coco",
        ),
        # a model label the run's owner's job wrote
        _model_row(v, b, run, created_by=p["owner"].id),
        # a synthetic label whose writer is the only person on the row
        _row(v, b, kind=ProvenanceKind.synthetic, generator_config_hash="2" * 64, created_by=ml.user_id),
    )
    # ``corrector`` corrects the import (a new row superseding it: the old one stays an authored row)
    fixed = _add(
        session,
        _row(
            v,
            a,
            kind=ProvenanceKind.human,
            annotator_id=p["corrector"].id,
            created_by=p["corrector"].id,
            supersedes_id=imported.id,
            x=2.0,
        ),
    )[0]
    # ``checker`` corrects the model label through a review; ``acceptor`` only accepts
    corrected = _add(
        session,
        _row(v, b, kind=ProvenanceKind.human, annotator_id=p["checker"].id, supersedes_id=model.id, x=3.0),
    )[0]
    session.add(
        Review(
            annotation_id=model.id or 0,
            reviewer_id=p["checker"].id or 0,
            decision=ReviewDecision.correct,
            correction_id=corrected.id,
        )
    )
    session.add(Review(annotation_id=fixed.id or 0, reviewer_id=p["acceptor"].id or 0, decision=ReviewDecision.accept))
    session.flush()
    names = {u.id: u.username for u in session.exec(select(User))}
    authors = {names[i] for i in version_authors(session, v)}
    assert authors == {"importer", "labeller", "owner", "corrector", "checker", "ml_engineer_user"}
    assert "acceptor" not in authors and "bystander" not in authors


def test_a_correcting_review_makes_the_reviewer_an_author_even_without_the_row(
    session: Session, world: World, target: DatasetVersion, people: dict[str, User]
) -> None:
    """The reviewer of a ``correct`` decision counts by the review itself (a correction written by someone
    else on the reviewer's behalf still makes the reviewer an author)."""
    v, p = target, people
    a = items_of(session, v)["a.jpg"]
    old, new = _add(
        session,
        _row(v, a, kind=ProvenanceKind.human, annotator_id=p["labeller"].id, created_by=p["labeller"].id),
        _row(v, a, kind=ProvenanceKind.human, annotator_id=p["corrector"].id, created_by=p["corrector"].id, x=4.0),
    )
    session.add(
        Review(
            annotation_id=old.id or 0,
            reviewer_id=p["checker"].id or 0,
            decision=ReviewDecision.correct,
            correction_id=new.id,
        )
    )
    session.flush()
    assert p["checker"].id in version_authors(session, v)


def test_inherited_labels_bring_their_whole_history_s_authors(
    session: Session, world: World, ml: Actor, target: DatasetVersion, people: dict[str, User]
) -> None:
    """v1: ``labeller``'s label (written by ``importer``), corrected by ``corrector``; a model label of
    ``owner``'s run. v2 (created by the admin) inherits the live labels: their rows name only the corrector
    and the run, yet everyone behind them is an author of v2, and ``bystander``, who wrote nothing, is not."""
    p = people
    a = items_of(session, target)["a.jpg"]
    run = _run(session, world, target, p["owner"], "2")
    first, model = _add(
        session,
        _row(target, a, kind=ProvenanceKind.human, annotator_id=p["labeller"].id, created_by=p["importer"].id),
        _model_row(target, a, run, created_by=p["owner"].id),
    )
    second = _add(
        session,
        _row(
            target,
            a,
            kind=ProvenanceKind.human,
            annotator_id=p["corrector"].id,
            created_by=p["corrector"].id,
            supersedes_id=first.id,
            x=9.0,
        ),
    )[0]
    admin = actor_for(world.admin)
    _, child = quick_version(
        session, actor=admin, project_id=world.project.id or 0, items=SIZES, version="v2", parent=target
    )
    ca = items_of(session, child)["a.jpg"]
    # The copies as inherit_labels writes them (provenance copied, origin_id set); their created_by is the
    # child's creator here, which must not hide the original authors.
    _add(
        session,
        _row(
            child,
            ca,
            kind=ProvenanceKind.human,
            annotator_id=p["corrector"].id,
            created_by=admin.user_id,
            origin_id=second.id,
            x=9.0,
        ),
        _model_row(child, ca, run, created_by=admin.user_id, origin_id=model.id),
    )
    names = {u.id: u.username for u in session.exec(select(User))}
    authors = {names[i] for i in version_authors(session, child)}
    assert authors == {"root_admin", "corrector", "importer", "labeller", "owner"}
    assert "ml_engineer_user" not in authors  # created the parent only: not an author of the child's labels


def test_legacy_rows_without_a_writer_fall_back_to_the_creator_of_their_version(
    session: Session, world: World, target: DatasetVersion, people: dict[str, User]
) -> None:
    """Rows written before revision 0003 carry no ``created_by``: the creator of the version holding them is
    taken to have imported them (the rule before authorship was recorded), also through inheritance."""
    p = people
    a = items_of(session, target)["a.jpg"]
    legacy = _add(session, _row(target, a, kind=ProvenanceKind.import_, source_sha256="3" * 64, source_format="coco"))[
        0
    ]
    maker = actor_for(p["legacy_maker"])
    _, child = quick_version(
        session, actor=maker, project_id=world.project.id or 0, items=SIZES, version="v2", parent=target
    )
    _add(
        session,
        _row(
            child,
            items_of(session, child)["a.jpg"],
            kind=ProvenanceKind.import_,
            source_sha256="3" * 64,
            source_format="coco",
            origin_id=legacy.id,
        ),
    )
    assert version_authors(session, target) == {target.created_by}
    assert version_authors(session, child) == {p["legacy_maker"].id, target.created_by}


def test_an_empty_version_has_its_creator_as_its_only_author(session: Session, target: DatasetVersion) -> None:
    assert version_authors(session, target) == {target.created_by}
