"""Labels beyond boxes through the API (issue 13): polygons, masks, keypoints and tags are added in bulk with
their geometry, their boxes implied by it, and bad geometry is refused naming the label, writing nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from lineage import datasets, schemas
from lineage.models import Annotation, Item
from lineage.schema_classes import KeypointSpec, LabelClass
from service.settings import Settings
from service.workspace import init_workspace
from tests.factories import World, actor_for, make_world

mask_api = pytest.importorskip("pycocotools.mask")

API = "/api/v1"


@dataclass
class Env:
    client: TestClient
    world: World
    engine: Engine

    @property
    def bulk(self) -> str:
        return f"{API}/projects/{self.world.project.id}/datasets/pics/versions/v1/annotations/bulk"

    def post(self, *labels: dict[str, Any]) -> Any:
        return self.client.post(self.bulk, json={"annotations": list(labels)}, headers=self.world.headers("admin"))

    def rows(self) -> list[Annotation]:
        with Session(self.engine) as s:
            return list(s.exec(select(Annotation).order_by(col(Annotation.id))))


@pytest.fixture
def env(settings: Settings, engine: Engine, client: TestClient) -> Iterator[Env]:
    init_workspace(settings)
    pics = settings.workspace / "incoming" / "pics"
    pics.mkdir(parents=True)
    Image.new("RGB", (40, 30), (10, 90, 200)).save(pics / "a.png")
    with Session(engine, expire_on_commit=False) as s:
        world = make_world(s)
        ml = actor_for(world.users["ml_engineer"])
        classes = [
            LabelClass(name="road", geometry="polygon"),
            LabelClass(name="car", geometry="mask"),
            LabelClass(
                name="person",
                geometry="keypoints",
                keypoints=KeypointSpec(names=("head", "foot"), skeleton=((0, 1),), sigmas=(0.05, 0.08)),
            ),
            LabelClass(name="night", geometry="tag"),
        ]
        pid = world.project.id or 0
        sv = schemas.create_schema(
            s, actor=ml, project_id=pid, name="mixed", classes=classes, repo_dir=settings.repo_dir
        )
        ds = datasets.create_dataset(s, actor=ml, project_id=pid, name="pics")
        datasets.create_version(
            s, actor=ml, dataset=ds, version="v1", repo_dir=settings.repo_dir, source_dir=pics, schema_version_id=sv.id
        )
        s.commit()
    yield Env(client, world, engine)


def _rle(bitmap: np.ndarray) -> dict[str, Any]:
    enc = mask_api.encode(np.asfortranarray(bitmap.astype(np.uint8)))
    return {"size": [int(v) for v in enc["size"]], "counts": enc["counts"].decode()}


def test_each_geometry_is_stored_with_the_box_it_implies(env: Env) -> None:
    bitmap = np.zeros((30, 40), dtype=np.uint8)
    bitmap[4:10, 7:19] = 1
    r = env.post(
        {"item_uri": "a.png", "category": "road", "geometry_type": "polygon",
         "geometry": {"polygons": [[1.5, 2, 10, 2, 10, 12.25], [20, 20, 30, 20, 25, 28]]}},
        {"item_uri": "a.png", "category": "car", "geometry_type": "mask", "geometry": {"rle": _rle(bitmap)}},
        {"item_uri": "a.png", "category": "person", "geometry_type": "keypoints",
         "geometry": {"keypoints": [[5, 6, 2], [0, 0, 0]]}, "bbox": [4, 5, 3, 9]},
        {"item_uri": "a.png", "category": "person", "geometry_type": "keypoints",
         "geometry": {"keypoints": [[5, 6, 2], [9, 16, 1]]}},
        {"item_uri": "a.png", "category": "night", "geometry_type": "tag"},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    boxes = [(a.geometry_type, a.x, a.y, a.w, a.h) for a in env.rows()]
    assert boxes == [
        ("polygon", 1.5, 2.0, 28.5, 26.0),
        ("mask", *mask_api.toBbox(_rle_bytes(bitmap)).tolist()),
        ("keypoints", 4.0, 5.0, 3.0, 9.0),
        ("keypoints", 5.0, 6.0, 4.0, 10.0),
        ("tag", None, None, None, None),
    ]


def _rle_bytes(bitmap: np.ndarray) -> dict[str, Any]:
    return dict(mask_api.encode(np.asfortranarray(bitmap.astype(np.uint8))))


@pytest.mark.parametrize(
    ("label", "field", "says"),
    [
        ({"category": "road", "geometry_type": "polygon", "geometry": {"polygons": [[1, 1, 5, 5]]}}, "geometry", "3"),
        ({"category": "road", "geometry_type": "box", "bbox": [1, 1, 2, 2]}, "geometry_type", "polygon"),
        ({"category": "car", "geometry_type": "mask", "geometry": {"rle": {"size": [31, 40], "counts": "0"}}},
         "geometry", ""),
        ({"category": "person", "geometry_type": "keypoints", "geometry": {"keypoints": [[1, 1, 2]]}}, "geometry", "2"),
        ({"category": "person", "geometry_type": "keypoints", "geometry": {"keypoints": [[1, 1, 3], [2, 2, 2]]}},
         "geometry", ""),
        ({"category": "night", "geometry_type": "tag", "bbox": [1, 1, 2, 2]}, "annotations.1", "leave bbox out"),
        ({"category": "night", "geometry_type": "tag", "geometry": {"polygons": []}}, "geometry", "no geometry"),
        ({"category": "road", "geometry_type": "polygon"}, "geometry", ""),
    ],
)  # fmt: skip
def test_bad_geometry_is_refused_naming_the_label_and_nothing_is_written(
    env: Env, label: dict[str, Any], field: str, says: str
) -> None:
    good = {"item_uri": "a.png", "category": "night", "geometry_type": "tag"}
    r = env.post(good, {"item_uri": "a.png", **label})
    assert r.status_code in (400, 422), r.text
    error = r.json()["error"]
    assert field in str(error["field"]) and says in error["message"], error
    assert env.rows() == []


def test_an_item_s_image_is_served_as_committed_and_drawn_under_its_labels(env: Env, settings: Settings) -> None:
    """``GET /projects/{id}/items/{item_id}/image`` answers the committed bytes to any member; an item of another
    project, an unknown one, or one of a golden dataset asked by an annotator is not found. The dashboard draws
    labels over those pixels."""
    from dashboard.client import Api
    from dashboard.labelview import item_picture
    from dashboard.overlay import draw_labels

    with Session(env.engine, expire_on_commit=False) as s:
        item = s.exec(select(Item).where(Item.uri == "a.png")).one()
    pid = env.world.project.id
    url = f"{API}/projects/{pid}/items/{item.id}/image"
    committed = (settings.workspace / "incoming" / "pics" / "a.png").read_bytes()
    for who in ("admin", "annotator", "compliance_officer"):
        r = env.client.get(url, headers=env.world.headers(who))
        assert r.status_code == 200 and r.headers["content-type"] == "image/png" and r.content == committed, who
    assert (
        env.client.get(f"{API}/projects/{pid}/items/999999/image", headers=env.world.headers("admin")).status_code
        == 404
    )
    assert env.client.get(url, headers={}).status_code == 401
    other = env.world.other_project.id
    assert env.client.get(
        f"{API}/projects/{other}/items/{item.id}/image", headers=env.world.headers("admin")
    ).status_code in (403, 404)
    # golden items stay hidden from annotators, as golden datasets do
    with Session(env.engine, expire_on_commit=False) as s:
        ml = actor_for(env.world.users["ml_engineer"])
        gold = datasets.create_dataset(s, actor=ml, project_id=pid or 0, name="gold", is_golden=True)
        gv = datasets.create_version(
            s, actor=ml, dataset=gold, version="v1", repo_dir=settings.repo_dir,
            source_dir=settings.workspace / "incoming" / "pics",
        )  # fmt: skip
        golden_item = s.exec(select(Item).where(Item.dataset_version_id == gv.id)).one()
        s.commit()
    golden_url = f"{API}/projects/{pid}/items/{golden_item.id}/image"
    assert env.client.get(golden_url, headers=env.world.headers("annotator")).status_code == 404
    assert env.client.get(golden_url, headers=env.world.headers("ml_engineer")).status_code == 200

    api = Api(env.client, env.world.tokens["admin"])  # the dashboard's client over the real API
    picture = item_picture(api, pid or 0, item.id)
    assert picture is not None and picture.size == (40, 30) and picture.getpixel((39, 0)) == (10, 90, 200)
    assert item_picture(api, pid or 0, 999999) is None
    polygon = {"id": 1, "category": "road", "geometry_type": "polygon",
               "geometry": {"polygons": [[0, 0, 20, 0, 20, 20, 0, 20]]}}  # fmt: skip
    drawn = draw_labels([polygon], image=picture, classes=[{"name": "road", "geometry": "polygon"}])
    assert drawn.image.size[0] >= 40 and drawn.image.getpixel((35, 25))[:3] == (10, 90, 200)  # outside: the pixels
    assert drawn.image.getpixel((10, 10))[:3] != (10, 90, 200)  # inside: the polygon's fill over them


def test_a_correction_replaces_a_polygon_and_its_box_follows(env: Env) -> None:
    r = env.post(
        {"item_uri": "a.png", "category": "road", "geometry_type": "polygon",
         "geometry": {"polygons": [[1, 1, 10, 1, 10, 10]]}, "attributes": {"coco": {"area": 40.5, "iscrowd": 0}}},
        {"item_uri": "a.png", "category": "night", "geometry_type": "tag"},
    )  # fmt: skip
    polygon_id, tag_id = r.json()["ids"]
    url = f"{API}/projects/{env.world.project.id}/annotations"
    fixed = env.client.post(
        f"{url}/{polygon_id}/corrections",
        json={"geometry": {"polygons": [[2, 3, 30, 3, 30, 20, 2, 20]]}, "reason": "traced the road again"},
        headers=env.world.headers("admin"),
    )
    assert fixed.status_code == 201, fixed.text
    new = fixed.json()
    assert (new["x"], new["y"], new["w"], new["h"]) == (2, 3, 28, 17) and new["supersedes_id"] == polygon_id
    assert new["attributes"] == {"coco": {"iscrowd": 0}}  # the source's area described the old outline
    bad = env.client.post(
        f"{url}/{new['id']}/corrections",
        json={"geometry": {"polygons": [[2, 3, 30, 3]]}},
        headers=env.world.headers("admin"),
    )
    assert bad.status_code == 422 and "3" in bad.json()["error"]["message"]
    retagged = env.client.post(
        f"{url}/{tag_id}/corrections", json={"category": "night"}, headers=env.world.headers("admin")
    )
    assert retagged.status_code == 201 and retagged.json()["geometry_type"] == "tag" and retagged.json()["x"] is None
    live = {a.id: a for a in env.rows() if a.geometry_type == "polygon"}
    assert live[new["id"]].geometry == {"polygons": [[2, 3, 30, 3, 30, 20, 2, 20]]}
