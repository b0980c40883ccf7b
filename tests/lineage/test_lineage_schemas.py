"""Label schemas: canonical hash, diff (added / removed / renamed / redefined), versions committed to git."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlmodel import Session, col, select

from lineage import schemas
from lineage.context import Actor
from lineage.datasets import dvcrepo
from lineage.errors import Conflict, InvalidInput, NotFound
from lineage.models import AuditEvent
from lineage.schemas import LabelClass, diff_classes, parse_classes
from service.settings import Settings
from tests.factories import World


def C(name: str, **kw: object) -> LabelClass:
    return LabelClass(name=name, **kw)  # type: ignore[arg-type]


def test_content_hash_is_sha256_of_the_canonical_json() -> None:
    classes = [C("cat", description="a cat"), C("dog", attributes={"occluded": {"type": "bool"}})]
    canonical = (
        '[{"attributes":{},"description":"a cat","geometry":"box","name":"cat"},'
        '{"attributes":{"occluded":{"type":"bool"}},"description":"","geometry":"box","name":"dog"}]'
    )
    assert schemas.classes_hash(classes) == hashlib.sha256(canonical.encode()).hexdigest()
    assert schemas.classes_hash(list(reversed(classes))) != schemas.classes_hash(classes)  # order = class ids


def test_diff_of_identical_and_empty_lists_is_empty() -> None:
    assert not diff_classes([], []).changed
    same = [C("a"), C("b")]
    assert not diff_classes(same, list(same)).changed
    assert diff_classes([], same).added == ["a", "b"]


def test_diff_names_added_removed_renamed_redefined_and_reordered() -> None:
    old = [C("cat"), C("dog", description="a dog"), C("car", geometry="box"), C("tree", description="a tree")]
    new = [
        C("hound", description="a dog"),  # dog renamed: same definition
        C("cat"),
        C("car", geometry="polygon"),  # redefined
        C("bird", description="a bird"),  # added; tree removed
    ]
    d = diff_classes(old, new)
    assert d.added == ["bird"]
    assert d.removed == ["tree"]
    assert d.renamed == [{"from": "dog", "to": "hound"}]
    assert [(r["name"], r["fields"]) for r in d.redefined] == [("car", ["geometry"])]
    assert d.reordered is False  # cat, car keep their relative order
    assert diff_classes([C("a"), C("b")], [C("b"), C("a")]).reordered is True


def test_a_changed_definition_is_not_a_rename() -> None:
    d = diff_classes([C("dog", description="a dog")], [C("hound", description="a hound")])
    assert d.renamed == [] and d.added == ["hound"] and d.removed == ["dog"]


def test_bare_classes_are_renamed_only_in_place() -> None:
    in_place = diff_classes([C("cat"), C("dog")], [C("cat"), C("hound")])
    assert in_place.renamed == [{"from": "dog", "to": "hound"}]
    moved = diff_classes([C("cat"), C("dog")], [C("hound"), C("cat")])
    assert moved.renamed == [] and moved.added == ["hound"] and moved.removed == ["dog"]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ([], "classes"),
        ([{"name": "a"}, {"name": "a"}], "classes[1].name"),
        ([{"name": "a", "geometry": "cube"}], "classes[0].geometry"),
        ([{"name": "a", "colour": "red"}], "classes[0].colour"),
        ([{"name": " a"}], "classes[0].name"),
        ([{"description": "no name"}], "classes[0].name"),
    ],
)
def test_bad_classes_are_refused_naming_the_field(raw: object, field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_classes(raw)
    assert exc.value.field == field


def test_create_publish_commit_and_audit(session: Session, world: World, ml: Actor, workspace: Settings) -> None:
    pid = world.project.id or 0
    v1 = schemas.create_schema(
        session, actor=ml, project_id=pid, name="animals", classes=[C("cat"), C("dog")], repo_dir=workspace.repo_dir
    )
    v2 = schemas.publish_schema_version(
        session,
        actor=ml,
        project_id=pid,
        name="animals",
        classes=[C("cat"), C("hound"), C("bird")],
        repo_dir=workspace.repo_dir,
    )
    session.commit()
    assert (v1.version, v1.parent_id, v2.version, v2.parent_id) == (1, None, 2, v1.id)
    assert v2.diff["renamed"] == [{"from": "dog", "to": "hound"}] and v2.diff["added"] == ["bird"]
    assert v2.content_hash == schemas.classes_hash([C("cat"), C("hound"), C("bird")])
    # each version is a file committed at its recorded revision
    for v in (v1, v2):
        assert v.git_revision is not None
        text = dvcrepo.git(workspace.repo_dir, "show", f"{v.git_revision}:schemas/p{pid}/animals/v{v.version}.json")
        body = json.loads(text)
        assert body["content_hash"] == v.content_hash and body["classes"] == v.classes
    assert v1.git_revision != v2.git_revision
    actions = [
        (e.action, e.actor, e.request_id)
        for e in session.exec(select(AuditEvent).where(col(AuditEvent.action).startswith("schema.")))
    ]
    assert actions == [
        ("schema.create", "ml_engineer_user", "req-ml"),
        ("schema.publish", "ml_engineer_user", "req-ml"),
        ("schema.publish", "ml_engineer_user", "req-ml"),
    ]
    got = schemas.diff_schema_versions(session, project_id=pid, name="animals", from_version=2, to_version=1)
    assert got.renamed == [{"from": "hound", "to": "dog"}] and got.removed == ["bird"]
    assert schemas.resolve_schema_ref(session, project_id=pid, ref="animals").version == 2
    assert schemas.resolve_schema_ref(session, project_id=pid, ref="animals@1").id == v1.id


def test_publishing_identical_classes_or_a_duplicate_name_conflicts(
    session: Session, world: World, ml: Actor, workspace: Settings
) -> None:
    pid = world.project.id or 0
    schemas.create_schema(session, actor=ml, project_id=pid, name="s", classes=[C("a")], repo_dir=workspace.repo_dir)
    with pytest.raises(Conflict):
        schemas.publish_schema_version(
            session, actor=ml, project_id=pid, name="s", classes=[C("a")], repo_dir=workspace.repo_dir
        )
    with pytest.raises(Conflict):
        schemas.create_schema(
            session, actor=ml, project_id=pid, name="s", classes=[C("b")], repo_dir=workspace.repo_dir
        )
    with pytest.raises(NotFound):
        schemas.get_schema_version(session, project_id=pid, name="s", version=9)
    with pytest.raises(NotFound):  # schemas are per project
        schemas.get_schema(session, project_id=world.other_project.id or 0, name="s")
