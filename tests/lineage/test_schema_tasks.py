"""Schemas beyond boxes: tag and keypoint classes, the multi-label option, the task a schema makes, hashes of
versions published before these existed, and diffs that show geometry, keypoint and option changes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from lineage import schemas
from lineage.context import Actor
from lineage.errors import Conflict, InvalidInput
from lineage.schema_classes import KeypointSpec, LabelClass, SchemaOptions, diff_classes, parse_schema, schema_task
from service.settings import Settings
from tests.factories import World
from tests.lineage.test_lineage_cli import cli_ws, ok, run  # noqa: F401  (cli_ws is a fixture)

PERSON = {"names": ["head", "hip", "foot"], "skeleton": [[0, 1], [1, 2]], "sigmas": [0.026, 0.107, 0.089]}


def kp_class(name: str = "person", **spec: Any) -> LabelClass:
    return LabelClass(name=name, geometry="keypoints", keypoints=KeypointSpec(**{**PERSON, **spec}))


@pytest.mark.parametrize(
    ("geometries", "task"),
    [
        (["tag", "tag"], "classify"),
        (["polygon", "mask"], "segment"),
        (["mask"], "segment"),
        (["keypoints"], "pose"),
        (["box", "box"], "detect"),
        (["box", "polygon"], "detect"),
        (["tag", "box"], "detect"),
        (["point"], "detect"),
    ],
)
def test_the_task_follows_the_classes_geometry(geometries: list[str], task: str) -> None:
    classes = [
        kp_class(f"c{i}") if g == "keypoints" else LabelClass(name=f"c{i}", geometry=g)  # type: ignore[arg-type]
        for i, g in enumerate(geometries)
    ]
    assert schema_task(classes) == task


def test_hash_of_a_box_schema_is_unchanged_by_the_new_fields() -> None:
    """Versions published before keypoints and options existed keep their content hash: the canonical JSON of
    exactly the four fields they had, written out here by hand."""
    classes = [LabelClass(name="cat", description="a cat"), LabelClass(name="tag", geometry="tag")]
    canonical = (
        '[{"attributes":{},"description":"a cat","geometry":"box","name":"cat"},'
        '{"attributes":{},"description":"","geometry":"tag","name":"tag"}]'
    )
    expected = hashlib.sha256(canonical.encode()).hexdigest()
    assert schemas.classes_hash(classes) == expected
    assert schemas.schema_hash(classes, SchemaOptions()) == expected
    assert schemas.schema_hash(classes, SchemaOptions(multi_label=True)) != expected


def test_keypoints_are_part_of_the_hash_and_the_definition() -> None:
    a, b = kp_class(), kp_class(sigmas=[0.026, 0.107, 0.09])
    assert schemas.classes_hash([a]) != schemas.classes_hash([b])
    d = diff_classes([a], [b])
    assert [(r["name"], r["fields"]) for r in d.redefined] == [("person", ["keypoints"])]
    assert d.redefined[0]["after"]["keypoints"]["sigmas"] == (0.026, 0.107, 0.09)


def test_a_geometry_change_is_named_in_the_diff() -> None:
    d = diff_classes([LabelClass(name="car", geometry="box")], [LabelClass(name="car", geometry="mask")])
    assert [(r["name"], r["fields"]) for r in d.redefined] == [("car", ["geometry"])]
    d = diff_classes([LabelClass(name="car", geometry="box")], [kp_class("car")])
    assert d.redefined[0]["fields"] == ["geometry", "keypoints"]


def test_an_option_change_is_a_change_of_its_own() -> None:
    tags = [LabelClass(name="cat", geometry="tag"), LabelClass(name="dog", geometry="tag")]
    d = diff_classes(tags, tags, old_options=SchemaOptions(), new_options=SchemaOptions(multi_label=True))
    assert d.changed and d.options == {"multi_label": {"before": False, "after": True}}
    assert d.as_dict()["options"] == {"multi_label": {"before": False, "after": True}}
    assert "options" not in diff_classes(tags, tags).as_dict()  # stored diffs keep their earlier shape


@pytest.mark.parametrize(
    ("raw", "field", "says"),
    [
        ({"name": "p", "geometry": "keypoints"}, "classes[0]", "needs 'keypoints'"),
        ({"name": "p", "geometry": "box", "keypoints": PERSON}, "classes[0]", "only for keypoints classes"),
        ({"name": "p", "geometry": "keypoints", "keypoints": {**PERSON, "sigmas": [0.1]}}, "keypoints", "1 sigmas"),
        ({"name": "p", "geometry": "keypoints", "keypoints": {**PERSON, "sigmas": [0.1, 0, 0.2]}}, "", "sigma 1"),
        ({"name": "p", "geometry": "keypoints", "keypoints": {**PERSON, "skeleton": [[0, 3]]}}, "", "edge (0, 3)"),
        ({"name": "p", "geometry": "keypoints", "keypoints": {**PERSON, "skeleton": [[1, 1]]}}, "", "edge (1, 1)"),
        ({"name": "p", "geometry": "keypoints", "keypoints": {**PERSON, "names": ["a", "a", "b"]}}, "", "twice"),
        ({"name": "p", "geometry": "keypoints", "keypoints": {**PERSON, "names": [" a", "b", "c"]}}, "", "spaces"),
        ({"name": "p", "geometry": "keypoints", "keypoints": {**PERSON, "extra": 1}}, "extra", "Extra inputs"),
        ({"name": "p", "geometry": "blob"}, "geometry", "'tag'"),
    ],
)
def test_bad_keypoint_specs_are_refused_naming_the_field(raw: dict[str, Any], field: str, says: str) -> None:
    with pytest.raises(InvalidInput) as err:
        schemas.parse_classes([raw])
    assert err.value.field is not None and err.value.field.startswith("classes[0]")
    assert field in err.value.field
    assert says in err.value.message


def test_schema_files_carry_the_multi_label_option() -> None:
    classes, options = parse_schema({"classes": [{"name": "a", "geometry": "tag"}], "multi_label": True})
    assert options.multi_label and [c.name for c in classes] == ["a"]
    with pytest.raises(InvalidInput, match="classification schemas"):
        parse_schema({"classes": [{"name": "a"}], "multi_label": True})
    with pytest.raises(InvalidInput, match="true or false"):
        parse_schema({"classes": [{"name": "a", "geometry": "tag"}], "multi_label": "yes"})
    with pytest.raises(InvalidInput, match="unknown key 'multilabel'"):
        parse_schema({"classes": [{"name": "a", "geometry": "tag"}], "multilabel": True})


def test_options_are_stored_hashed_inherited_and_diffed(
    session: Session, world: World, ml: Actor, workspace: Settings
) -> None:
    pid = world.project.id or 0
    tags = [LabelClass(name="cat", geometry="tag"), LabelClass(name="dog", geometry="tag")]
    v1 = schemas.create_schema(
        session,
        actor=ml,
        project_id=pid,
        name="pets",
        classes=tags,
        options=SchemaOptions(multi_label=True),
        repo_dir=workspace.repo_dir,
    )
    assert v1.options == {"multi_label": True}
    assert schemas.version_options(v1).multi_label and schemas.version_task(v1) == "classify"
    assert v1.content_hash == schemas.schema_hash(tags, SchemaOptions(multi_label=True))
    # The same classes with the same (inherited) options are no new version; switching the option is one.
    with pytest.raises(Conflict):
        schemas.publish_schema_version(
            session, actor=ml, project_id=pid, name="pets", classes=tags, repo_dir=workspace.repo_dir
        )
    v2 = schemas.publish_schema_version(
        session,
        actor=ml,
        project_id=pid,
        name="pets",
        classes=tags,
        options=SchemaOptions(multi_label=False),
        repo_dir=workspace.repo_dir,
    )
    assert v2.options is None and not schemas.version_options(v2).multi_label
    assert v2.diff["options"] == {"multi_label": {"before": True, "after": False}}
    assert schemas.diff_schema_versions(session, project_id=pid, name="pets", from_version=1, to_version=2).changed
    with pytest.raises(InvalidInput, match="classification schemas"):
        schemas.create_schema(
            session,
            actor=ml,
            project_id=pid,
            name="boxes",
            classes=[LabelClass(name="car")],
            options=SchemaOptions(multi_label=True),
            repo_dir=workspace.repo_dir,
        )


@pytest.mark.usefixtures("cli_ws")
def test_cli_creates_a_multi_label_schema_and_prints_the_option_diff(tmp_path: Path) -> None:
    ok("init")
    ok("project", "create", "demo")
    first = tmp_path / "pets.yaml"
    first.write_text(json.dumps({"classes": [{"name": "cat", "geometry": "tag"}], "multi_label": True}))
    ok("schema", "create", "pets", "--classes", first)
    second = tmp_path / "pets2.yaml"
    second.write_text(json.dumps({"classes": [{"name": "cat", "geometry": "tag"}], "multi_label": False}))
    assert "option    multi_label: True -> False" in ok("schema", "publish", "pets", "--classes", second)
    bad = tmp_path / "bad.yaml"
    bad.write_text(json.dumps([{"name": "p", "geometry": "keypoints", "keypoints": {**PERSON, "sigmas": [1]}}]))
    code, out = run("schema", "create", "people", "--classes", bad)
    assert code == 2
    assert "1 sigmas for 3 points" in out
