"""The labelgate side and the Label Studio side of the live tests, built the same way each time: a project
``alpha`` with annotators alice and bob (emails matching their Label Studio accounts), a version ``pets@v1``
of six images under a schema of boxes, a polygon class and two tags; a Label Studio project with the same
classes whose tasks name the version's images."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from lineage import datasets, identity
from lineage.models import DatasetVersion, LabelSchema, LabelSchemaVersion, Role, User
from lineage.schemas import LabelClass, classes_hash
from tests.factories import World, actor_for, make_world
from tests.labelstudio.server import LabelStudioServer, LsUser
from tests.lineage.conftest import make_images, quick_version

LABEL_CONFIG = """<View>
  <Image name="image" value="$image"/>
  <RectangleLabels name="box" toName="image"><Label value="car"/><Label value="person"/></RectangleLabels>
  <PolygonLabels name="area" toName="image"><Label value="road"/></PolygonLabels>
  <Choices name="weather" toName="image"><Choice value="sunny"/><Choice value="rainy"/></Choices>
</View>"""
CLASSES = [
    LabelClass(name="car"),
    LabelClass(name="person"),
    LabelClass(name="road", geometry="polygon"),
    LabelClass(name="sunny", geometry="tag"),
    LabelClass(name="rainy", geometry="tag"),
]
W, H = 640, 480
IMAGES = {f"images/{i:03d}.png": (W, H) for i in range(6)}


def box(rid: str, label: str, x: float, y: float, w: float, h: float) -> dict[str, Any]:
    """A rectangle result, in percent of the 640x480 image."""
    value = {"x": x, "y": y, "width": w, "height": h, "rotation": 0, "rectanglelabels": [label]}
    return {"id": rid, "from_name": "box", "to_name": "image", "type": "rectanglelabels", **_size(), "value": value}


def polygon(rid: str, label: str, points: list[list[float]]) -> dict[str, Any]:
    value = {"points": points, "closed": True, "polygonlabels": [label]}
    return {"id": rid, "from_name": "area", "to_name": "image", "type": "polygonlabels", **_size(), "value": value}


def choice(rid: str, label: str) -> dict[str, Any]:
    return {"id": rid, "from_name": "weather", "to_name": "image", "type": "choices", "value": {"choices": [label]}}


def _size() -> dict[str, int]:
    return {"original_width": W, "original_height": H}


@dataclass
class Scene:
    world: World
    version: DatasetVersion
    alice: User
    bob: User
    ls_alice: LsUser
    ls_bob: LsUser
    ls_project: int
    tasks: dict[str, int]  # image uri -> Label Studio task id


def labelgate_side(
    session: Session, tag: str, *, repo_dir: Path | None = None, image_dir: Path | None = None
) -> tuple[World, DatasetVersion, User, User]:
    """The labelgate side; with ``repo_dir``, ``pets@v1`` is a real version (its images in git + DVC, from
    ``image_dir``), so a golden set can be seeded from it; otherwise its rows only."""
    world = make_world(session)
    admin = actor_for(world.admin)
    people = []
    for name in ("alice", "bob"):
        user = identity.create_user(
            session, actor=admin, username=name, full_name=name.title(), email=f"{name}-{tag}@example.test"
        )
        identity.add_member(session, actor=admin, project=world.project, user=user, role=Role.annotator)
        people.append(user)
    schema = LabelSchema(project_id=world.project.id or 0, name="street")
    session.add(schema)
    session.flush()
    sv = LabelSchemaVersion(
        schema_id=schema.id or 0,
        version=1,
        classes=[c.model_dump() for c in CLASSES],
        content_hash=classes_hash(CLASSES),
        created_by=world.admin.id,
    )
    session.add(sv)
    session.flush()
    ml = actor_for(world.users["ml_engineer"])
    if repo_dir is not None and image_dir is not None:
        make_images(image_dir, IMAGES)
        dataset = datasets.create_dataset(session, actor=ml, project_id=world.project.id or 0, name="pets")
        version = datasets.create_version(
            session, actor=ml, dataset=dataset, version="v1", repo_dir=repo_dir, source_dir=image_dir,
            schema_version_id=sv.id,
        )  # fmt: skip
    else:
        _, version = quick_version(
            session, actor=ml, project_id=world.project.id or 0, items=IMAGES, schema_version_id=sv.id
        )
    session.commit()
    return world, version, people[0], people[1]


def build(
    session: Session, ls: LabelStudioServer, *, repo_dir: Path | None = None, image_dir: Path | None = None
) -> Scene:
    """Both sides, with a fresh Label Studio project and accounts (the server outlives one test)."""
    tag = uuid.uuid4().hex[:8]
    world, version, alice, bob = labelgate_side(session, tag, repo_dir=repo_dir, image_dir=image_dir)
    ls_alice = ls.user(alice.email or "")
    ls_bob = ls.user(bob.email or "")
    admin = ls.client()
    project = admin.projects.create(title=f"street {tag}", label_config=LABEL_CONFIG)
    admin.projects.import_tasks(id=project.id, request=[{"data": {"image": uri}} for uri in IMAGES])
    tasks = {t.data["image"]: t.id for t in admin.tasks.list(project=project.id, fields="task_only")}
    return Scene(world, version, alice, bob, ls_alice, ls_bob, project.id, tasks)


def unit_rows(session: Session, version_id: int) -> list[dict[str, Any]]:
    """Every Label Studio row of the version (live or not), in id order, with its ``made``."""
    import orjson

    rows = session.execute(
        text(
            "SELECT id, kind, annotator_id, category, geometry_type, supersedes_id, attributes, confidence"
            " FROM annotations WHERE dataset_version_id = :v AND source_format = 'labelstudio' ORDER BY id"
        ),
        {"v": version_id},
    )
    out = []
    for rid, kind, annotator, category, gtype, sup, attrs, confidence in rows:
        attrs = orjson.loads(attrs) if isinstance(attrs, str | bytes) else attrs
        out.append(
            {
                "id": rid,
                "kind": kind,
                "annotator_id": annotator,
                "category": category,
                "geometry_type": gtype,
                "supersedes_id": sup,
                "made": (attrs or {}).get("made", {}),
                "confidence": confidence,
            }
        )
    return out


def live(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows nothing supersedes and that are not tombstones."""
    superseded = {r["supersedes_id"] for r in rows if r["supersedes_id"] is not None}
    return [r for r in rows if r["id"] not in superseded and r["geometry_type"] != "deleted"]
