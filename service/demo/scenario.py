"""A realistic labelling history in the record, for the demo and the integration tests.

``build_gate_scenario`` writes generated images, then: a label schema; a golden dataset (hidden from
annotators) whose version holds the expert labels, registered as golden set ``street-golden@1`` (the one
``policies/default.yaml`` names with ``golden: street-golden@1``); a dataset ``street`` with a
parent version ``v1`` (imported labels) and two children on the same images, each labelled by three
annotators with realistic disagreement and pre-labelled by a detector: ``v2`` by a weak one (the default
policy blocks it), ``v3`` by a good one (it passes). Model labels come from registered model versions and
auto-label run records of a *simulated* detector (``framework = "simulated"``, weights hash = hash of the
generator's configuration): the demo says so. Reviewed predictions get a reviewer's accept, routed ones a
resolved review-queue entry.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from sqlmodel import Session

from lineage import datasets, schemas
from lineage.audit.chain import record_event
from lineage.context import Actor
from lineage.formats.transfer import import_annotations
from lineage.gates import register_golden_set, store_policy
from lineage.labels import NewLabel, Provenance, add_annotations, review_annotation
from lineage.models import (
    AutoLabelRun,
    DatasetVersion,
    GatePolicy,
    GoldenSet,
    ModelVersion,
    ProvenanceKind,
    ReviewDecision,
    ReviewQueueItem,
    RunState,
    User,
)
from lineage.models._base import utcnow
from lineage.schemas import LabelClass
from service.demo.synthetic import make_demo

__all__ = ["DEFAULT_POLICY_PATH", "GOLDEN_SET_NAME", "GateScenario", "build_gate_scenario", "write_images"]

DEFAULT_POLICY_PATH = Path(__file__).resolve().parents[2] / "policies" / "default.yaml"
#: The street golden set's name; ``policies/default.yaml`` binds its first version (``golden: street-golden@1``).
GOLDEN_SET_NAME = "street-golden"
_PALETTE = [(220, 60, 60), (60, 160, 60), (60, 90, 220), (230, 170, 40), (150, 60, 190), (40, 170, 170)]


@dataclass(frozen=True, slots=True)
class GateScenario:
    project_id: int
    golden: GoldenSet
    parent: DatasetVersion
    blocked: DatasetVersion
    passing: DatasetVersion
    policy: GatePolicy
    image_dir: Path


def write_images(coco: dict[str, Any], folder: Path, *, seed: int) -> Path:
    """One PNG per COCO image, with its boxes drawn as filled shapes on a noisy background (unique bytes)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    by_image: dict[int, list[dict[str, Any]]] = {}
    for a in coco["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    for img in coco["images"]:
        w, h = int(img["width"]), int(img["height"])
        base = rng.integers(90, 140, size=(h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
        canvas = Image.fromarray(base).resize((w, h), Image.Resampling.NEAREST)
        draw = ImageDraw.Draw(canvas)
        for a in by_image.get(img["id"], []):
            x, y, bw, bh = a["bbox"]
            draw.rectangle([x, y, x + bw, y + bh], fill=_PALETTE[a["category_id"] % len(_PALETTE)])
        canvas.save(folder / img["file_name"].replace(".jpg", ".png"))
    return folder


def _as_png(coco: dict[str, Any]) -> bytes:
    data = json.loads(json.dumps(coco))
    for img in data["images"]:
        img["file_name"] = img["file_name"].replace(".jpg", ".png")
    return json.dumps(data).encode()


def _simulated_model(
    session: Session, *, actor: Actor, project_id: int, version: DatasetVersion, name: str, tag: str, config: str
) -> AutoLabelRun:
    """A registered model version and a finished auto-label run standing for a simulated detector."""
    weights_sha = hashlib.sha256(config.encode()).hexdigest()
    model = ModelVersion(
        project_id=project_id,
        name=name,
        version=tag,
        framework="simulated",
        weights_uri=f"simulated://{name}/{tag}",
        weights_sha256=weights_sha,
        created_by=actor.user_id,
    )
    session.add(model)
    session.flush()
    run = AutoLabelRun(
        dataset_version_id=version.id or 0,
        model_version_id=model.id or 0,
        threshold=0.3,
        review_band_low=0.3,
        device="simulated",
        state=RunState.succeeded,
        items_total=version.item_count,
        items_done=version.item_count,
        created_by=actor.user_id,
        started_at=utcnow(),
        finished_at=utcnow(),
    )
    session.add(run)
    session.flush()
    record_event(
        session,
        actor,
        "model.register",
        ("model_version", str(model.id)),
        project_id=project_id,
        payload={"name": name, "version": tag, "framework": "simulated", "weights_sha256": weights_sha},
        rows=[model],
    )
    return run


def _label_version(
    session: Session,
    *,
    ml: Actor,
    reviewer: Actor,
    annotators: dict[str, User],
    version: DatasetVersion,
    data: Any,
    predictions: list[dict[str, Any]],
    model_name: str,
    model_tag: str,
) -> None:
    for name, coco in data.annotators.items():
        import_annotations(
            session,
            actor=ml,
            version=version,
            fmt="coco",
            data=_as_png(coco),
            source_name=f"{name}.json",
            annotator_id=annotators[name].id,
        )
    run = _simulated_model(
        session,
        actor=ml,
        project_id=_project_of(session, version),
        version=version,
        name=model_name,
        tag=model_tag,
        config=f"{model_name}:{model_tag}:{len(predictions)}",
    )
    items = {i.uri: i for i in datasets.list_items(session, version_id=version.id or 0)}
    file_of = {img["id"]: img["file_name"].replace(".jpg", ".png") for img in data.golden["images"]}
    names = {c["id"]: c["name"] for c in data.golden["categories"]}
    labels = [
        NewLabel(
            item_id=items[file_of[p["image_id"]]].id or 0,
            category=names[p["category_id"]],
            x=p["bbox"][0],
            y=p["bbox"][1],
            w=p["bbox"][2],
            h=p["bbox"][3],
            confidence=p["score"],
        )
        for p in predictions
        if p["score"] >= run.threshold
    ]
    kept = [p for p in predictions if p["score"] >= run.threshold]
    provenance = Provenance(
        kind=ProvenanceKind.model,
        model_version_id=run.model_version_id,
        weights_sha256=session.get(ModelVersion, run.model_version_id).weights_sha256,  # type: ignore[union-attr]
        threshold=run.threshold,
        autolabel_run_id=run.id,
    )
    ids = add_annotations(session, actor=ml, version=version, labels=labels, provenance=provenance)
    routed_items: dict[int, bool] = {}
    for aid, p, label in zip(ids, kept, labels, strict=True):
        if p.get("reviewed"):
            review_annotation(session, actor=reviewer, annotation_id=aid, decision=ReviewDecision.accept)
        if p.get("routed"):
            routed_items[label.item_id] = routed_items.get(label.item_id, False) or bool(p.get("reviewed"))
    for item_id, resolved in routed_items.items():
        session.add(
            ReviewQueueItem(
                dataset_version_id=version.id or 0,
                item_id=item_id,
                autolabel_run_id=run.id,
                reason="low_confidence",
                resolved_at=utcnow() if resolved else None,
            )
        )
    session.flush()


def _project_of(session: Session, version: DatasetVersion) -> int:
    from lineage.models import Dataset

    dataset = session.get(Dataset, version.dataset_id)
    assert dataset is not None
    return dataset.project_id


def build_gate_scenario(
    session: Session,
    *,
    project_id: int,
    ml: Actor,
    reviewer: Actor,
    annotators: dict[str, User],
    repo_dir: Path,
    work_dir: Path,
    n_images: int = 60,
    seed: int = 7,
    policy_text: str | None = None,
) -> GateScenario:
    """Build the scenario (module docstring) in the caller's transaction; ``annotators`` maps the synthetic
    annotators ``alice``, ``bob`` and ``carol`` to users."""
    data = make_demo(n_images=n_images, n_classes=5, seed=seed)
    image_dir = write_images(data.golden, work_dir / "images", seed=seed)
    classes = [LabelClass(name=c["name"], description=f"a {c['name']}") for c in data.golden["categories"]]
    schema = schemas.create_schema(
        session, actor=ml, project_id=project_id, name="street-objects", classes=classes, repo_dir=repo_dir
    )
    golden_ds = datasets.create_dataset(session, actor=ml, project_id=project_id, name="golden", is_golden=True)
    golden_v = datasets.create_version(
        session,
        actor=ml,
        dataset=golden_ds,
        version="g1",
        repo_dir=repo_dir,
        source_dir=image_dir,
        schema_version_id=schema.id,
    )
    import_annotations(
        session, actor=ml, version=golden_v, fmt="coco", data=_as_png(data.golden), source_name="golden.json"
    )
    golden = register_golden_set(session, actor=ml, project_id=project_id, name=GOLDEN_SET_NAME, version=golden_v)
    street = datasets.create_dataset(session, actor=ml, project_id=project_id, name="street")
    v1 = datasets.create_version(
        session,
        actor=ml,
        dataset=street,
        version="v1",
        repo_dir=repo_dir,
        source_dir=image_dir,
        schema_version_id=schema.id,
    )
    import_annotations(session, actor=ml, version=v1, fmt="coco", data=_as_png(data.parent), source_name="v1.json")
    children = {}
    for tag, preds, model_tag in (("v2", data.bad_predictions, "1"), ("v3", data.good_predictions, "2")):
        child = datasets.create_version(
            session, actor=ml, dataset=street, version=tag, repo_dir=repo_dir, parent=v1, inherit_labels=False
        )
        _label_version(
            session,
            ml=ml,
            reviewer=reviewer,
            annotators=annotators,
            version=child,
            data=data,
            predictions=preds,
            model_name="street-detector",
            model_tag=model_tag,
        )
        children[tag] = child
    text = policy_text if policy_text is not None else DEFAULT_POLICY_PATH.read_text(encoding="utf-8")
    policy = store_policy(session, actor=ml, project_id=project_id, yaml_text=text)
    return GateScenario(
        project_id=project_id,
        golden=golden,
        parent=v1,
        blocked=children["v2"],
        passing=children["v3"],
        policy=policy,
        image_dir=image_dir,
    )
