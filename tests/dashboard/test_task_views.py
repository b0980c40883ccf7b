"""The pages per task: a gate report's plots titled by its task, a classify report's classification evidence
as figures and a per-class table, and labels drawn over their item wherever the dashboard shows an item's
labels (the lineage explorer's item browser, the review queue), hostile geometry named, never a crash."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pycocotools import mask as coco_mask
from sqlalchemy import Engine
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from lineage.models import (
    Annotation,
    Dataset,
    DatasetVersion,
    Item,
    LabelSchemaVersion,
    ProvenanceKind,
    ReviewQueueItem,
)
from quality_gates import REPORT_VERSION
from quality_gates.classification import ClassLabels, classification_report
from tests.dashboard.conftest import all_text, assert_clean, open_page, signed_in, table_with, texts
from tests.factories import World

ALPHA = 1
CURVES = {
    "cat": {"thresholds": [0.9, 0.6, 0.3], "precision": [1.0, 0.8, 0.6], "recall": [0.25, 0.75, 1.0]},
    "dog": {"thresholds": [0.8, 0.4], "precision": [1.0, 0.5], "recall": [0.5, 1.0]},
}


def report(task: str | None, **evidence: Any) -> dict[str, Any]:
    """A passing gate report (as the API gives it) with no gates and the given plot data and task."""
    found: dict[str, Any] = {
        "id": 9, "report_version": REPORT_VERSION, "passed": True, "policy_name": "p", "policy_version": 1,
        "policy_hash": "ab" * 32, "created_at": "2026-12-01T00:00:00Z", "gates": [], "metrics": {"threshold": 0.5},
        "per_class": {}, "evidence": evidence, "data_hashes": {},
    }  # fmt: skip
    if task is not None:
        found["task"] = task
    return found


def _section(evaluation: dict) -> None:  # type: ignore[type-arg]  # AppTest runs its source alone: builtins only
    from dashboard.views.dataset_version import _evaluation_section

    _evaluation_section(evaluation)


def section(evaluation: dict[str, Any]) -> AppTest:
    at = AppTest.from_function(_section, args=(evaluation,), default_timeout=30).run()
    assert_clean(at)
    return at


def titles(at: AppTest) -> list[str]:
    return [json.loads(e.proto.spec).get("title") for e in at.get("vega_lite_chart")]


def classification_evidence() -> dict[str, Any]:
    """The real classification evidence of 8 items, 3 classes: one class never predicted (F1 undefined)."""
    truth = ClassLabels.from_mapping(dict(enumerate([0, 0, 0, 0, 1, 1, 1, 2])), num_classes=3)
    pred = ClassLabels.from_mapping(dict(enumerate([0, 0, 0, 1, 1, 1, 1, 1])), num_classes=3)
    return classification_report(truth, pred).to_dict(["cat", "dog", "bird"])


def test_a_classify_report_shows_its_classification_evidence_and_class_confusion() -> None:
    evidence = classification_evidence()
    cm = {"labels": ["cat", "dog", "bird"], "matrix": evidence["confusion"], "iou": 0.0}
    at = section(report("classify", pr_curves=CURVES, confusion_matrix=cm, classification=evidence))
    assert titles(at) == ["Precision–recall per class (◆ threshold)", "Confusion matrix of classes"]
    assert "Task: image classification (tags); predictions judged per item." in texts(at, "caption")
    figures = {m.label: m.value for m in at.metric}
    assert figures["Accuracy"] == f"{evidence['accuracy']:.3f}" == "0.750"
    assert figures["Hamming loss"] == f"{evidence['hamming_loss']:.3f}"
    assert figures["Macro F1"] == f"{evidence['macro']['f1']:.3f}" and figures["Items judged"] == "8"
    rows = table_with(at, "support")
    assert [r["class"] for r in rows] == ["cat", "dog", "bird"]
    for row in rows:
        want = evidence["per_class"][row["class"]]
        assert row["support"] == want["support"]
        for key, column in (("precision", "precision"), ("recall", "recall"), ("f1", "F1")):
            got = row[column]
            assert (got is None or got != got) if want[key] is None else got == pytest.approx(want[key])


@pytest.mark.parametrize(
    ("task", "pr", "cm", "caption"),
    [
        ("segment", "Precision–recall, mask IoU (◆ threshold)", "Confusion matrix (mask IoU ≥ 0.5)", "by mask IoU"),
        ("pose", "Precision–recall, OKS (◆ threshold)", "Confusion matrix (OKS ≥ 0.5)", "by OKS"),
        (None, "Precision–recall (◆ threshold)", "Confusion matrix", "by IoU"),  # a report from before tasks
    ],
)
def test_plots_are_titled_by_the_task_s_matching(task: str | None, pr: str, cm: str, caption: str) -> None:
    matrix = {"labels": ["cat", "dog", "background"], "matrix": [[3, 0, 1], [0, 2, 0], [1, 0, 0]], "iou": 0.5}
    at = section(report(task, pr_curves=CURVES, confusion_matrix=matrix))
    assert titles(at) == [pr, cm]
    assert any(c.startswith("Task: ") and c.endswith(f"{caption}.") for c in texts(at, "caption"))
    assert not at.metric  # no classification evidence outside classify


def test_a_report_of_an_unknown_task_is_read_as_detection_and_says_so() -> None:
    at = section(report("depth", pr_curves=CURVES))
    assert titles(at) == ["Precision–recall (◆ threshold)"]
    assert any("the report names task 'depth', unknown to this dashboard" in c for c in texts(at, "caption"))


def test_a_malformed_confusion_matrix_is_a_warning() -> None:
    at = section(report("segment", confusion_matrix={"labels": ["cat", "background"], "matrix": [[1, 2, 3]]}))
    assert titles(at) == []
    (warning,) = texts(at, "warning")
    assert warning.startswith("Confusion matrix (mask IoU): the report's matrix does not read (confusion matrix")


def test_classification_evidence_without_a_table_is_named() -> None:
    at = section(report("classify", classification={"accuracy": None, "per_class": "?"}))
    assert {m.label: m.value for m in at.metric}["Accuracy"] == "n/a"
    assert "The classification evidence has no per-class table." in texts(at, "caption")


# ---- labels drawn over their item ---------------------------------------------------------------------------


def _show(labels: list) -> None:  # type: ignore[type-arg]  # AppTest runs its source alone: builtins only
    from dashboard import labelview

    labelview.show(labels, caption="item", size=(40, 40), classes=[{"name": "cat"}])


def test_hostile_labels_are_listed_under_the_image() -> None:
    labels = [
        {"id": 1, "category": "cat", "geometry_type": "polygon", "geometry": {"polygons": [[1, 1, 9, 1, 9, 9]]}},
        {"id": 2, "category": "cat", "geometry_type": "mask", "geometry": {"rle": {"size": [3, 3], "counts": "9"}}},
        {"id": 3, "category": "dog", "geometry_type": "keypoints"},
        {"id": 4, "category": "cat", "geometry_type": "tag", "confidence": 0.5},
        None,
    ]
    at = AppTest.from_function(_show, args=(labels,), default_timeout=30).run()
    assert_clean(at)
    assert at.image[0].captions == ["item"]
    (warning,) = texts(at, "warning")
    assert "label #2 (cat): geometry.rle.size [3, 3] differs" in warning
    assert "label #3 (dog): a keypoints label has no geometry; not drawn" in warning
    assert "label 5 (?): label 5 is not an object" not in warning and "label 5 is not an object" in warning
    assert "Tags of the image: cat 0.50" in texts(at, "caption")
    assert any("■</span> cat" in m for m in texts(at, "markdown"))


def _labelled_item(engine: Engine) -> dict[str, int]:
    """train@v2's item gets a polygon, a mask, a crowd mask of the wrong size, keypoints and a tag; the schema
    makes dog a keypoints class with a skeleton."""
    mask = np.zeros((64, 64), dtype=np.uint8)
    mask[30:50, 5:25] = 1
    counts = coco_mask.encode(np.asfortranarray(mask))["counts"].decode()
    small = coco_mask.encode(np.asfortranarray(mask[:32, :32]))["counts"].decode()  # not the item's size
    with Session(engine) as s:
        train = s.exec(select(Dataset).where(Dataset.name == "train")).one()
        v2 = s.exec(
            select(DatasetVersion).where(DatasetVersion.dataset_id == train.id, DatasetVersion.version == "v2")
        ).one()
        item = s.exec(select(Item).where(Item.dataset_version_id == v2.id)).one()
        sv = s.get(LabelSchemaVersion, v2.schema_version_id)
        assert sv is not None
        spec = {"names": ["a", "b"], "skeleton": [[0, 1]], "sigmas": [0.1, 0.1]}
        sv.classes = [
            {**c, "geometry": "keypoints", "keypoints": spec} if c["name"] == "dog" else c for c in sv.classes
        ]
        rows: list[tuple[str, str, dict[str, Any] | None, dict[str, Any] | None]] = [
            ("cat", "polygon", {"polygons": [[5, 5, 25, 5, 25, 25]]}, None),
            ("bird", "mask", {"rle": {"size": [64, 64], "counts": counts}}, None),
            ("bird", "mask", {"rle": {"size": [32, 32], "counts": small}}, {"coco": {"iscrowd": 1}}),
            ("dog", "keypoints", {"keypoints": [[40, 40, 2], [55, 55, 1]]}, None),
            ("cat", "tag", None, None),
        ]
        ids: dict[str, int] = {}
        for category, kind, geometry, attributes in rows:
            box = None if kind == "tag" else (1.0, 1.0, 2.0, 2.0)
            x, y, w, h = box or (None, None, None, None)
            a = Annotation(
                dataset_version_id=v2.id or 0, item_id=item.id or 0, category=category, geometry_type=kind,
                geometry=geometry, attributes=attributes, kind=ProvenanceKind.import_, source_sha256="2" * 64,
                source_format="coco", x=x, y=y, w=w, h=h,
            )  # fmt: skip
            s.add(a)
            s.flush()
            ids[f"{category}-{kind}-{len(ids)}"] = a.id or 0
        s.add(sv)
        s.commit()
        return {"item": item.id or 0, **ids}


def test_the_lineage_explorer_draws_an_item_s_labels_of_every_geometry(
    api_http: TestClient, world: World, engine: Engine
) -> None:
    ids = _labelled_item(engine)
    at = open_page(signed_in(api_http, world.tokens["reviewer"]), "lineage")
    at.selectbox(key=f"lin_items_dataset_{ALPHA}").set_value("train").run()
    at.selectbox(key=f"lin_items_version_{ALPHA}_train").set_value("v2").run()
    assert_clean(at)
    # The "From an image" tab draws its own thumbnails; this tab's drawing is the one captioned with the item.
    (image,) = [i for i in at.image if any(c.startswith(f"item #{ids['item']} of train@v2: ") for c in i.captions)]
    (caption,) = image.captions
    assert caption.endswith("labels (box, keypoints, mask, polygon, tag)"), caption
    (warning,) = texts(at, "warning")
    crowd = next(v for k, v in ids.items() if k.startswith("bird-mask-2"))
    assert f"label #{crowd} (bird): geometry.rle.size [32, 32] differs from the image's" in warning
    assert "its box is drawn" in warning  # the wrong-size mask's box stands in for it
    text = all_text(at)
    assert "Tags of the image: cat" in text
    assert "Keypoints: ● labelled and visible (v = 2)" in text and "No skeleton drawn" not in text  # dog's skeleton
    legend = next(m for m in texts(at, "markdown") if "■" in m)
    assert legend.index("> cat") < legend.index("> dog") < legend.index("> bird")  # the schema's class order
    assert "The item's image could not be read" in text  # seeded rows have no committed image


def test_the_review_queue_draws_an_entry_s_labels(gate_http: TestClient, gate_world: World, engine: Engine) -> None:
    with Session(engine) as s:
        v3 = s.exec(select(DatasetVersion).where(DatasetVersion.version == "v3")).one()
        item = s.exec(select(Item).where(Item.dataset_version_id == v3.id).order_by(Item.id)).first()  # type: ignore[arg-type]
        assert item is not None
        s.add(ReviewQueueItem(dataset_version_id=v3.id or 0, item_id=item.id or 0, reason="low_confidence"))
        s.commit()
        uri, width, height = item.uri, item.width, item.height
    at = open_page(signed_in(gate_http, gate_world.tokens["reviewer"]), "autolabel")
    assert_clean(at)
    (image,) = at.image
    assert image.captions == [f"{uri} ({width}×{height} px), routed: low_confidence"]
    assert not texts(at, "warning")


def test_a_real_classify_report_shows_its_gates_classification_table() -> None:
    """A report made by ``quality_gates.evaluate`` (classify, an accuracy gate), as the API serves it: the page
    reads the classification table from the gate's evidence, with the report's own figures."""
    from quality_gates import GateInputs, evaluate, parse_policy

    truth = ClassLabels.from_mapping(dict(enumerate([0, 0, 0, 0, 1, 1, 1, 2])), num_classes=3)
    scores = np.eye(3)[[0, 0, 0, 1, 1, 1, 1, 1]] * 0.9
    pred = ClassLabels(tuple(range(8)), scores > 0, 3, False, scores)
    policy = parse_policy("name: p\ntask: classify\ngates:\n  accuracy: {min: 0.9}\n")
    made = evaluate(policy, GateInputs(["cat", "dog", "bird"], task="classify", golden=truth, predictions=pred))
    as_api = {**report(None), **made.to_dict()}
    at = section(as_api)
    rows = {r["class"]: r for r in table_with(at, "support")}
    assert rows["cat"]["support"] == 4 and rows["bird"]["support"] == 1
    assert "0.750" in all_text(at)  # accuracy 6 of 8
