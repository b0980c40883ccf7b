"""Thumbnails of an item's image (issue 15): ``GET /projects/{id}/items/{item_id}/image?max_side=N`` answers a
downscaled copy read from DVC (JPEG for a JPEG item, else PNG; never enlarged), with caching headers; a bad
``max_side`` is 422, an unknown item or a non-member 404. Also the routes the lineage-from-the-image page
reads: a version's items page and one item's labels with their chains."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine
from sqlmodel import Session, select

from lineage import datasets
from lineage.labels.annotations import NewLabel, Provenance, add_annotations
from lineage.labels.reviews import review_annotation
from lineage.models import Item, ProvenanceKind, ReviewDecision
from service.settings import Settings
from service.workspace import init_workspace
from tests.factories import World, actor_for, make_world

API = "/api/v1"


@dataclass
class Env:
    client: TestClient
    world: World
    items: dict[str, int]

    def url(self, uri: str, tail: str = "/image") -> str:
        return f"{API}/projects/{self.world.project.id}/items/{self.items[uri]}{tail}"


@pytest.fixture
def env(settings: Settings, engine: Engine, client: TestClient) -> Iterator[Env]:
    """Project alpha, dataset ``pics@v1`` committed with DVC: a 400×300 PNG, a 120×80 JPEG, a 50×40 PNG."""
    init_workspace(settings)
    pics = settings.workspace / "incoming" / "pics"
    pics.mkdir(parents=True)
    Image.new("RGB", (400, 300), (10, 90, 200)).save(pics / "big.png")
    Image.new("RGB", (120, 80), (200, 30, 30)).save(pics / "photo.jpg", quality=95)
    Image.new("RGB", (50, 40), (0, 200, 0)).save(pics / "small.png")
    with Session(engine, expire_on_commit=False) as s:
        world = make_world(s)
        ml = actor_for(world.users["ml_engineer"])
        ds = datasets.create_dataset(s, actor=ml, project_id=world.project.id or 0, name="pics")
        v = datasets.create_version(s, actor=ml, dataset=ds, version="v1", repo_dir=settings.repo_dir, source_dir=pics)
        items = {i.uri: i.id or 0 for i in s.exec(select(Item).where(Item.dataset_version_id == v.id))}
        ids = add_annotations(
            s,
            actor=ml,
            version=v,
            labels=[NewLabel(item_id=items["big.png"], category="car", x=1, y=2, w=30, h=40)],
            provenance=Provenance(kind=ProvenanceKind.human, annotator_id=world.users["annotator"].id),
        )
        review_annotation(
            s, actor=actor_for(world.users["reviewer"]), annotation_id=ids[0], decision=ReviewDecision.accept,
            comment="tight box, right class",
        )  # fmt: skip
        s.commit()
    yield Env(client, world, items)


def _picture(body: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(body))
    picture.load()
    return picture


@pytest.mark.parametrize(("max_side", "size"), [(64, (64, 48)), (200, (200, 150)), (1024, (400, 300))])
def test_a_thumbnail_honours_max_side_and_is_never_enlarged(env: Env, max_side: int, size: tuple[int, int]) -> None:
    r = env.client.get(env.url("big.png"), params={"max_side": max_side}, headers=env.world.headers("reviewer"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    picture = _picture(r.content)
    assert (picture.format, picture.size) == ("PNG", size)
    assert picture.convert("RGB").getpixel((size[0] // 2, size[1] // 2)) == (10, 90, 200)
    assert "max-age" in r.headers["cache-control"] and r.headers["etag"].startswith('"')


def test_a_jpeg_item_gets_a_jpeg_thumbnail_and_without_max_side_the_committed_bytes(
    env: Env, settings: Settings
) -> None:
    h = env.world.headers("annotator")
    r = env.client.get(env.url("photo.jpg"), params={"max_side": 64}, headers=h)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert _picture(r.content).size == (64, 43)
    whole = env.client.get(env.url("photo.jpg"), headers=h)
    assert whole.content == (settings.workspace / "incoming" / "pics" / "photo.jpg").read_bytes()
    assert whole.headers["etag"] != r.headers["etag"]  # the ETag names the bytes served


@pytest.mark.parametrize("bad", ["63", "1025", "0", "-5", "big", "12.5"])
def test_a_bad_max_side_is_422_naming_it(env: Env, bad: str) -> None:
    r = env.client.get(env.url("big.png"), params={"max_side": bad}, headers=env.world.headers("admin"))
    assert r.status_code == 422, r.text
    assert "max_side" in r.text


def test_an_unknown_item_or_a_non_member_is_404(env: Env) -> None:
    pid, other = env.world.project.id, env.world.other_project.id
    unknown = env.client.get(
        f"{API}/projects/{pid}/items/999999/image", params={"max_side": 64}, headers=env.world.headers("admin")
    )
    assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "item_id"
    outsider = env.client.get(env.url("big.png"), params={"max_side": 64}, headers=env.world.headers("outsider"))
    assert outsider.status_code == 404  # a member of project beta only: alpha's existence does not leak
    elsewhere = f"{API}/projects/{other}/items/{env.items['big.png']}/image"
    assert env.client.get(elsewhere, params={"max_side": 64}, headers=env.world.headers("outsider")).status_code == 404


def test_the_version_s_items_page_and_an_item_s_labels_with_their_chains(env: Env) -> None:
    h = env.world.headers("compliance_officer")
    base = f"{API}/projects/{env.world.project.id}/datasets/pics/versions/v1/items"
    page = env.client.get(base, params={"limit": 2}, headers=h).json()
    assert page["total"] == 3 and [(i["uri"], i["labels"]) for i in page["items"]] == [("big.png", 1), ("photo.jpg", 0)]
    assert env.client.get(base, params={"offset": 2}, headers=h).json()["items"][0]["uri"] == "small.png"
    assert env.client.get(base, params={"limit": 0}, headers=h).status_code == 422
    found = env.client.get(env.url("big.png", "/lineage"), headers=h).json()
    assert (found["uri"], found["version"], found["total"]) == ("big.png", "pics@v1", 1)
    (label,) = found["labels"]
    assert (label["category"], label["x"], label["w"], label["kind"]) == ("car", 1.0, 30.0, "human")
    (step,) = label["lineage"]["history"]
    assert step["author"] == "annotator_user"
    assert [(r["reviewer"], r["comment"]) for r in step["reviews"]] == [("reviewer_user", "tight box, right class")]
    assert [v["version"] for v in label["lineage"]["versions"]] == ["pics@v1"]
    assert env.client.get(env.url("big.png", "/lineage"), headers=env.world.headers("outsider")).status_code == 404
