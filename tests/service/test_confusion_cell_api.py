"""The items behind a confusion-matrix cell (``GET .../evaluations/{id}/confusion-cell``) on the gate scenario
(``tests.factories.make_gate_world``: DVC-versioned images, a golden set, detector-labelled versions), on
SQLite and PostgreSQL: per-item counts sum to the stored matrix's cell, unknown classes are refused naming the
valid ones, another project's evaluation is 404, and annotators never see the golden labels."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from service.api.app import create_app
from service.settings import Settings
from service.workspace import init_workspace
from tests.factories import World, make_gate_world

SECRET = "correct horse battery"


@dataclass
class Cells:
    client: TestClient
    world: World
    evaluation: dict[str, Any]

    def get(self, truth: str, predicted: str, who: str = "ml_engineer", project: int | None = None) -> Any:
        pid = self.world.project.id if project is None else project
        return self.client.get(
            f"/api/v1/projects/{pid}/evaluations/{self.evaluation['id']}/confusion-cell",
            params={"truth": truth, "predicted": predicted},
            headers=self.world.headers(who),
        )


@pytest.fixture
def cells(settings: Settings, engine: Engine, tmp_path: Path) -> Iterator[Cells]:
    init_workspace(settings)
    with Session(engine, expire_on_commit=False) as s:
        world, _ = make_gate_world(s, repo_dir=settings.repo_dir, work_dir=tmp_path / "work", secret=SECRET)
        s.commit()
    with TestClient(create_app(settings, engine=engine)) as client:
        r = client.post(
            f"/api/v1/projects/{world.project.id}/datasets/street/versions/v2/evaluations",
            json={"policy": "default"},
            headers=world.headers("ci"),
        )
        assert r.status_code == 201, r.text
        yield Cells(client, world, r.json())


def test_every_cell_s_items_sum_to_the_stored_matrix(cells: Cells) -> None:
    cm = cells.evaluation["evidence"]["confusion_matrix"]
    labels, matrix = cm["labels"], cm["matrix"]
    nonzero = [(g, p) for g in range(len(labels)) for p in range(len(labels)) if matrix[g][p]]
    assert len(nonzero) >= 3 and any(g != p for g, p in nonzero)  # the weak version confuses and misses
    for g, p in nonzero:
        r = cells.get(labels[g], labels[p])
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["stale"] is False and body["stored_count"] == matrix[g][p]
        assert sum(i["count"] for i in body["items"]) == matrix[g][p] == body["count"]
        assert body["total_items"] == len(body["items"]) and all(i["count"] > 0 for i in body["items"])
        counts = [i["count"] for i in body["items"]]
        assert counts == sorted(counts, reverse=True)
        for item in body["items"]:
            assert item["uri"] and item["in_version"]
            if labels[g] != "background":  # a golden object of the class is on the item
                assert labels[g] in {a["category"] for a in item["ground_truth"]}
            if labels[p] != "background":  # and a prediction of the predicted class, at the threshold
                found = [a for a in item["predictions"] if a["category"] == labels[p]]
                assert found and all(a["confidence"] >= body["threshold"] for a in found)
                assert {a["kind"] for a in item["predictions"]} == {"model"}


def test_an_empty_cell_lists_no_item(cells: Cells) -> None:
    cm = cells.evaluation["evidence"]["confusion_matrix"]
    labels, matrix = cm["labels"], cm["matrix"]
    empty = [(g, p) for g in range(len(labels) - 1) for p in range(len(labels)) if not matrix[g][p]]
    assert empty
    body = cells.get(labels[empty[0][0]], labels[empty[0][1]]).json()
    assert body["items"] == [] and body["count"] == 0 == body["stored_count"]


def test_an_unknown_class_is_refused_naming_the_valid_ones(cells: Cells) -> None:
    labels = cells.evaluation["evidence"]["confusion_matrix"]["labels"]
    r = cells.get("zebra", labels[0])
    assert r.status_code == 422
    body = r.json()
    text = str(body)
    assert "zebra" in text and all(n in text for n in labels) and "Traceback" not in text
    r = cells.get(labels[0], "unicorn")
    assert r.status_code == 422 and "unicorn" in r.text and "predicted" in r.text
    assert cells.get("background", "background").status_code == 422


def test_another_project_s_evaluation_is_not_found(cells: Cells) -> None:
    labels = cells.evaluation["evidence"]["confusion_matrix"]["labels"]
    r = cells.get(labels[0], labels[0], who="outsider", project=cells.world.other_project.id)
    assert r.status_code == 404
    r = cells.get(labels[0], labels[0], who="admin", project=cells.world.other_project.id)
    assert r.status_code == 404


def test_annotators_never_see_the_golden_labels(cells: Cells) -> None:
    labels = cells.evaluation["evidence"]["confusion_matrix"]["labels"]
    r = cells.get(labels[0], labels[0], who="annotator")
    assert r.status_code == 404 and "ground_truth" not in r.text
    assert cells.get(labels[0], labels[0], who="reviewer").status_code == 200
