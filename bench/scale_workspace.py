"""Seeded scale workspace: N small images, one version with ~10 imported boxes per image, a golden set labelled
by three annotators, a simulated model run and a gate policy (issue 16, "the record at 1M labels").

What it builds, through the project's own functions (``service.workspace.init_workspace``,
``lineage.datasets.create_version``, ``lineage.formats.import_annotations``, ``lineage.labels.add_annotations``,
``lineage.gates.register_golden_set`` / ``store_policy``):

- ``--images`` 64x64 PNG images (flat background, the boxes drawn in their class colour, the image number in
  its first pixels, so every file is unique), written with numpy + Pillow from ``--seed``;
- a project ``scale`` with an admin, an ML engineer, a reviewer, a compliance officer (with a signing secret)
  and three annotators; a label schema ``scale-objects`` of ``--classes`` box classes;
- a golden dataset ``scale-golden@g1`` holding the first ``--golden`` images with their true boxes (COCO
  import), registered as golden set ``scale-golden@1``;
- dataset ``scale@v1`` holding all images, with exactly ``--labels-per-image`` true boxes per image imported
  from one COCO file (kind ``import``);
- on the golden images of ``scale@v1``: three annotators' labels (``human``, their own ``add_annotations``
  calls, 5,000 per call) and a simulated detector's (a registered ``ModelVersion`` and a finished
  ``AutoLabelRun`` written directly, as ``service.demo.scenario`` does; ``model`` labels scored >= 0.3),
  part of them accepted by the reviewer and routed to the review queue;
- gate policy ``scale@1`` (golden-set error, Krippendorff's alpha, precision, recall, mAP, expectations,
  review coverage; one compliance-officer approval, four-eyes).

``OUT/scale.json`` records what the benchmark (``bench/bench_scale.py``) needs: the database URL, the names,
the users and the signing secret, the counts and the manifest hashes (the same ``--seed`` and sizes give the
same hashes). PostgreSQL gets a fresh schema per build (named in ``scale.json``; ``--drop OUT`` removes it).

    python bench/scale_workspace.py --out /tmp/scale --db sqlite --images 100000 --labels-per-image 10 --seed 0
    python bench/scale_workspace.py --out /tmp/scale-pg --db postgresql --images 100000 --seed 0
    python bench/scale_workspace.py --drop /tmp/scale-pg
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

__all__ = ["ScaleSpec", "build_scale_workspace", "drop_workspace_schema", "load_state", "make_truth"]

PG_URL = os.environ.get("LABELGATE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
STATE_FILE = "scale.json"
SIGNING_SECRET = "scale-bench-signing-secret"  # a benchmark workspace's throwaway second factor
ANNOTATORS = ("ann_alice", "ann_bob", "ann_carol")
SIDE = 64  # px, width and height of every image
ADD_BATCH = 5000  # lineage.labels.annotations.MAX_BATCH
POLICY = """\
name: scale
golden: scale-golden@1
gates:
  golden_set_error: {max: 0.2, iou: 0.5}
  krippendorff_alpha: {min: 0.6, level: nominal}
  precision: {min: 0.5, iou: 0.5, baseline: golden, threshold: 0.5}
  recall: {min: 0.5, iou: 0.5, baseline: golden, threshold: 0.5}
  map: {min: 0.3}
  expectations: {suite: default}
  review_coverage: {min: 0.05}
release: {approvals: 1, approver_roles: [compliance_officer], four_eyes: true}
"""


@dataclass(frozen=True, slots=True)
class ScaleSpec:
    """The workspace's size. ``images`` (100,000), ``labels_per_image`` (10, exact), ``classes`` (10),
    ``golden`` (2,000 images, capped at ``images``), ``seed`` (0)."""

    images: int = 100_000
    labels_per_image: int = 10
    classes: int = 10
    golden: int = 2000
    seed: int = 0

    @property
    def golden_images(self) -> int:
        return min(self.golden, self.images)


@dataclass(frozen=True, slots=True)
class Truth:
    """The true boxes: one row per label, ``image`` 0-based, ``cat`` 0-based, ``box`` (x, y, w, h) px."""

    image: np.ndarray
    cat: np.ndarray
    box: np.ndarray
    class_names: list[str]


@dataclass
class Phases:
    """Wall time of each phase of the build, seconds, in order."""

    seconds: dict[str, float] = field(default_factory=dict)
    say: Callable[[str], None] = print

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - t0, 3)
        self.say(f"  {name}: {self.seconds[name]:.1f} s")


def class_names(n: int) -> list[str]:
    return [f"class_{k:02d}" for k in range(n)]


def make_truth(spec: ScaleSpec) -> Truth:
    """Exactly ``labels_per_image`` boxes per image, sides log-uniform in [4, 32] px, classes Zipf-like, 2 decimals."""
    rng = np.random.default_rng(spec.seed)
    n = spec.images * spec.labels_per_image
    image = np.repeat(np.arange(spec.images, dtype=np.int64), spec.labels_per_image)
    weights = 1.0 / np.arange(1, spec.classes + 1) ** 0.7
    cat = rng.choice(spec.classes, size=n, p=weights / weights.sum()).astype(np.int64)
    w = np.round(np.exp(rng.uniform(np.log(4), np.log(32), n)), 2)
    h = np.round(np.clip(w * np.exp(rng.normal(0, 0.3, n)), 4, 48), 2)
    x = np.floor(rng.uniform(0, 1, n) * (SIDE - w) * 100) / 100
    y = np.floor(rng.uniform(0, 1, n) * (SIDE - h) * 100) / 100
    box = np.stack([x, y, w, h], axis=1)
    _spread(rng, box.reshape(spec.images, spec.labels_per_image, 4))
    return Truth(image=image, cat=cat, box=box, class_names=class_names(spec.classes))


def _spread(rng: np.random.Generator, boxes: np.ndarray, max_iou: float = 0.5) -> None:
    """Move (in place) a box that overlaps an earlier box of its image by more than ``max_iou`` until none does,
    so no two labels of one annotator look like duplicates (the expectations suite flags IoU > 0.95)."""
    per = boxes.shape[1]
    later = np.triu(np.ones((per, per), dtype=bool), k=1)
    todo = np.arange(boxes.shape[0])  # the images still to check
    for _ in range(50):
        b = boxes[todo]
        x0, y0 = b[..., 0], b[..., 1]
        x1, y1 = x0 + b[..., 2], y0 + b[..., 3]
        iw = np.clip(np.minimum(x1[:, :, None], x1[:, None, :]) - np.maximum(x0[:, :, None], x0[:, None, :]), 0, None)
        ih = np.clip(np.minimum(y1[:, :, None], y1[:, None, :]) - np.maximum(y0[:, :, None], y0[:, None, :]), 0, None)
        inter = iw * ih
        area = b[..., 2] * b[..., 3]
        iou = inter / (area[:, :, None] + area[:, None, :] - inter)
        row, _, j = np.nonzero((iou > max_iou) & later)  # box j overlaps an earlier one: move j
        if len(row) == 0:
            return
        img = todo[row]
        sel = boxes[img, j]
        sel[:, 0] = np.floor(rng.uniform(0, 1, len(img)) * (SIDE - sel[:, 2]) * 100) / 100
        sel[:, 1] = np.floor(rng.uniform(0, 1, len(img)) * (SIDE - sel[:, 3]) * 100) / 100
        boxes[img, j] = sel
        todo = np.unique(img)
    raise RuntimeError(f"could not spread {per} boxes per {SIDE}x{SIDE} image apart; use fewer labels per image")


def file_name(i: int) -> str:
    return f"{i:07d}.png"


def coco_of(truth: Truth, images: int) -> dict[str, Any]:
    """The COCO instances dict of the true boxes on images ``0..images-1`` (ids from 1)."""
    keep = truth.image < images
    img, cat, box = truth.image[keep].tolist(), truth.cat[keep].tolist(), truth.box[keep].tolist()
    return {
        "images": [{"id": i + 1, "file_name": file_name(i), "width": SIDE, "height": SIDE} for i in range(images)],
        "categories": [{"id": k + 1, "name": nm} for k, nm in enumerate(truth.class_names)],
        "annotations": [
            {"id": k + 1, "image_id": i + 1, "category_id": c + 1, "bbox": b, "area": b[2] * b[3], "iscrowd": 0}
            for k, (i, c, b) in enumerate(zip(img, cat, box, strict=True))
        ],
    }


def _palette(classes: int) -> np.ndarray:
    rng = np.random.default_rng(12345)
    return rng.integers(30, 256, size=(classes, 3), dtype=np.uint8)


def write_images(truth: Truth, folder: Path, *, images: int, seed: int) -> int:
    """One 64x64 PNG per image (boxes filled in their class colour on a flat background); returns bytes written."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed + 1)
    background = rng.integers(0, 256, size=(images, 3), dtype=np.uint8)
    palette = _palette(len(truth.class_names))
    starts = np.searchsorted(truth.image, np.arange(images + 1))
    boxes = np.round(truth.box).astype(np.int64)
    total = 0
    canvas = np.empty((SIDE, SIDE, 3), dtype=np.uint8)
    for i in range(images):
        canvas[:] = background[i]
        for k in range(int(starts[i]), int(starts[i + 1])):
            x, y, w, h = boxes[k]
            canvas[y : y + max(h, 1), x : x + max(w, 1)] = palette[truth.cat[k]]
        canvas[0, 0:4] = np.frombuffer(i.to_bytes(12, "big"), dtype=np.uint8).reshape(4, 3)  # unique bytes
        buf = io.BytesIO()
        Image.fromarray(canvas).save(buf, format="PNG", compress_level=1)
        data = buf.getvalue()
        (folder / file_name(i)).write_bytes(data)
        total += len(data)
    return total


def _iou(a: list[float], b: list[float]) -> float:
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def suppress_duplicates(preds: list[dict[str, Any]], max_iou: float = 0.9) -> list[dict[str, Any]]:
    """Drop a detection whose box overlaps an earlier kept one of its image by more than ``max_iou`` (what a
    detector's non-maximum suppression does; the simulated false positives, up to the image's size, can
    coincide, and the expectations suite blocks boxes that overlap by more than 0.95)."""
    kept: list[dict[str, Any]] = []
    by_image: dict[int, list[list[float]]] = {}
    for p in preds:
        seen = by_image.setdefault(p["image_id"], [])
        if any(_iou(p["bbox"], b) > max_iou for b in seen):
            continue
        seen.append(p["bbox"])
        kept.append(p)
    return kept


def _orjson_bytes(doc: Any) -> bytes:
    try:
        import orjson

        return bytes(orjson.dumps(doc))
    except ImportError:  # pragma: no cover - orjson is a dependency of the importers
        return json.dumps(doc).encode()


def _database_url(kind: str, out: Path, pg_url: str) -> tuple[str, str | None]:
    if kind == "sqlite":
        return f"sqlite:///{out / 'labelgate.db'}", None
    from sqlalchemy import create_engine, text

    schema = f"scale_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    sep = "&" if "?" in pg_url else "?"
    return f"{pg_url}{sep}options=-csearch_path%3D{schema}", schema


def drop_workspace_schema(out: Path, pg_url: str = PG_URL) -> str | None:
    """Drop the PostgreSQL schema of the workspace at ``out`` (None for a SQLite one)."""
    schema = load_state(out).get("pg_schema")
    if not schema:
        return None
    from sqlalchemy import create_engine, text

    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    admin.dispose()
    return str(schema)


def load_state(out: Path) -> dict[str, Any]:
    """``OUT/scale.json`` as the generator wrote it."""
    return dict(json.loads((out / STATE_FILE).read_text(encoding="utf-8")))


def _actor(user: Any) -> Any:
    from lineage.context import Actor

    return Actor(user_id=user.id or 0, username=user.username, is_admin=user.is_admin)


def _chunks(seq: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


def _simulated_run(session: Any, *, actor: Any, project_id: int, version: Any, seed: int) -> Any:
    """A registered simulated model version and its finished auto-label run, written directly (as the demo's
    ``service.demo.scenario`` does for a detector that is not a real network)."""
    from lineage.audit.chain import record_event
    from lineage.models import AutoLabelRun, ModelVersion, RunState
    from lineage.models._base import utcnow

    config = f"scale-detector:seed={seed}"
    weights_sha = hashlib.sha256(config.encode()).hexdigest()
    model = ModelVersion(
        project_id=project_id, name="scale-detector", version="1", framework="simulated",
        weights_uri="simulated://scale-detector/1", weights_sha256=weights_sha, created_by=actor.user_id,
    )  # fmt: skip
    session.add(model)
    session.flush()
    run = AutoLabelRun(
        dataset_version_id=version.id or 0, model_version_id=model.id or 0, threshold=0.3, review_band_low=0.3,
        device="simulated", state=RunState.succeeded, items_total=version.item_count, items_done=version.item_count,
        created_by=actor.user_id, started_at=utcnow(), finished_at=utcnow(),
    )  # fmt: skip
    session.add(run)
    session.flush()
    record_event(
        session, actor, "model.register", ("model_version", str(model.id)), project_id=project_id,
        payload={"name": model.name, "version": model.version, "framework": "simulated", "weights_sha256": weights_sha},
        rows=[model],
    )  # fmt: skip
    return run, model


def build_scale_workspace(
    out: Path,
    *,
    db: str = "sqlite",
    spec: ScaleSpec = ScaleSpec(),
    pg_url: str = PG_URL,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Build the workspace (module docstring) in ``out`` (created; must not hold a workspace yet) on ``db``
    (``sqlite`` or ``postgresql``); returns and writes ``out/scale.json``."""
    from sqlmodel import Session, select

    from lineage import datasets, identity, schemas
    from lineage.db import make_engine
    from lineage.formats import import_annotations
    from lineage.gates import register_golden_set, store_policy
    from lineage.labels import NewLabel, Provenance, add_annotations, review_annotation
    from lineage.labels.labelset import manifest_hash
    from lineage.models import ProvenanceKind, ReviewDecision, ReviewQueueItem, Role, User
    from lineage.models._base import utcnow
    from lineage.schemas import LabelClass
    from service.demo.synthetic import make_annotator, make_predictions
    from service.settings import Settings
    from service.workspace import init_workspace

    if (out / STATE_FILE).exists():
        raise SystemExit(f"{out} already holds a scale workspace; choose another --out (or delete it)")
    out.mkdir(parents=True, exist_ok=True)
    phases = Phases(say=say)
    incoming = out / "incoming"
    with phases.phase("labels (numpy)"):
        truth = make_truth(spec)
        golden_coco = coco_of(truth, spec.golden_images)
        coco_path = incoming / "labels.json"
        incoming.mkdir(parents=True, exist_ok=True)
        coco_path.write_bytes(_orjson_bytes(coco_of(truth, spec.images)))
    with phases.phase("images (PNG)"):
        image_bytes = write_images(truth, incoming / "images", images=spec.images, seed=spec.seed)
        golden_dir = incoming / "golden"
        golden_dir.mkdir(parents=True, exist_ok=True)
        for i in range(spec.golden_images):
            os.link(incoming / "images" / file_name(i), golden_dir / file_name(i))
    url, pg_schema = _database_url(db, out, pg_url)
    settings = Settings(workspace=out / "ws", database_url=url, env="dev")
    with phases.phase("init workspace"):
        init_workspace(settings)
    engine = make_engine(url)
    state: dict[str, Any] = {
        "db": db,
        "database_url": url,
        "pg_schema": pg_schema,
        "workspace": str(settings.workspace),
    }
    try:
        with Session(engine, expire_on_commit=False) as s:
            admin = _actor(s.exec(select(User).where(User.is_admin == True)).one())  # noqa: E712
            project = identity.create_project(s, actor=admin, name="scale")
            users: dict[str, User] = {}
            roles = {"ml": Role.ml_engineer, "reviewer": Role.reviewer, "officer": Role.compliance_officer}
            roles.update({a: Role.annotator for a in ANNOTATORS})
            for name, role in roles.items():
                users[name] = identity.create_user(s, actor=admin, username=name, full_name=name.replace("_", " "))
                identity.add_member(s, actor=admin, project=project, user=users[name], role=role)
            identity.set_signing_secret(s, actor=admin, user=users["officer"], secret=SIGNING_SECRET, operator=True)
            ml = _actor(users["ml"])
            pid = project.id or 0
            schema = schemas.create_schema(
                s, actor=ml, project_id=pid, name="scale-objects", repo_dir=settings.repo_dir,
                classes=[LabelClass(name=n, description=f"synthetic {n}") for n in truth.class_names],
            )  # fmt: skip
            s.commit()
            with phases.phase(f"golden version ({spec.golden_images} images, DVC)"):
                gds = datasets.create_dataset(s, actor=ml, project_id=pid, name="scale-golden", is_golden=True)
                gv = datasets.create_version(
                    s, actor=ml, dataset=gds, version="g1", repo_dir=settings.repo_dir, source_dir=golden_dir,
                    schema_version_id=schema.id,
                )  # fmt: skip
                import_annotations(
                    s, actor=ml, version=gv, fmt="coco", data=_orjson_bytes(golden_coco), source_name="golden.json"
                )
                register_golden_set(s, actor=ml, project_id=pid, name="scale-golden", version=gv)
                s.commit()
            with phases.phase(f"version ({spec.images} images, DVC)"):
                ds = datasets.create_dataset(s, actor=ml, project_id=pid, name="scale")
                v = datasets.create_version(
                    s, actor=ml, dataset=ds, version="v1", repo_dir=settings.repo_dir,
                    source_dir=incoming / "images", schema_version_id=schema.id,
                )  # fmt: skip
                s.commit()
            t0 = time.perf_counter()
            with phases.phase(f"import ({len(truth.image)} labels, COCO)"):
                result = import_annotations(s, actor=ml, version=v, fmt="coco", path=coco_path)
                s.commit()
            import_s = time.perf_counter() - t0
            item_of = {i.uri: i.id or 0 for i in datasets.list_items(s, version_id=v.id or 0)}

            def item(image_id: int) -> int:
                return item_of[file_name(image_id - 1)]

            names = truth.class_names
            human = 0
            with phases.phase("annotators (3, golden images)"):
                care = [(0.01, 0.005, 0.01), (0.02, 0.01, 0.015), (0.015, 0.01, 0.01)]
                for k, who in enumerate(ANNOTATORS):
                    miss, conf, jit = care[k]
                    labelled = make_annotator(
                        golden_coco, miss_rate=miss, confusion=conf, jitter=jit, extra_per_image=0.0,
                        seed=spec.seed + 10 + k,
                    )  # fmt: skip
                    labels = [
                        NewLabel(item_id=item(a["image_id"]), category=names[a["category_id"] - 1],
                                 x=a["bbox"][0], y=a["bbox"][1], w=a["bbox"][2], h=a["bbox"][3])
                        for a in labelled["annotations"]
                    ]  # fmt: skip
                    prov = Provenance(kind=ProvenanceKind.human, annotator_id=users[who].id)
                    for chunk in _chunks(labels, ADD_BATCH):
                        add_annotations(s, actor=_actor(users[who]), version=v, labels=chunk, provenance=prov)
                    human += len(labels)
                s.commit()
            with phases.phase("model run (simulated, golden images)"):
                run, model = _simulated_run(s, actor=ml, project_id=pid, version=v, seed=spec.seed)
                preds = suppress_duplicates([
                    p for p in make_predictions(golden_coco, duplicate_rate=0.0, review_rate=0.5, seed=spec.seed + 20)
                    if p["score"] >= run.threshold
                ])  # fmt: skip
                prov = Provenance(
                    kind=ProvenanceKind.model, model_version_id=model.id, weights_sha256=model.weights_sha256,
                    threshold=run.threshold, autolabel_run_id=run.id,
                )  # fmt: skip
                model_ids: list[int] = []
                for chunk in _chunks(preds, ADD_BATCH):
                    labels = [
                        NewLabel(item_id=item(p["image_id"]), category=names[p["category_id"] - 1], x=p["bbox"][0],
                                 y=p["bbox"][1], w=p["bbox"][2], h=p["bbox"][3], confidence=p["score"])
                        for p in chunk
                    ]  # fmt: skip
                    model_ids += add_annotations(s, actor=ml, version=v, labels=labels, provenance=prov)
                reviewer = _actor(users["reviewer"])
                reviewed = 0
                routed: dict[int, bool] = {}
                for aid, p in zip(model_ids, preds, strict=True):
                    if p.get("reviewed"):
                        review_annotation(s, actor=reviewer, annotation_id=aid, decision=ReviewDecision.accept)
                        reviewed += 1
                    if p.get("routed"):
                        iid = item(p["image_id"])
                        routed[iid] = routed.get(iid, False) or bool(p.get("reviewed"))
                for iid, resolved in sorted(routed.items()):
                    s.add(
                        ReviewQueueItem(
                            dataset_version_id=v.id or 0, item_id=iid, autolabel_run_id=run.id,
                            reason="low_confidence", resolved_at=utcnow() if resolved else None,
                        )
                    )  # fmt: skip
                s.flush()
                s.commit()
            policy = store_policy(s, actor=ml, project_id=pid, yaml_text=POLICY)
            s.commit()
            with phases.phase("manifest hashes"):
                hashes = {
                    "scale@v1": manifest_hash(s, version_id=v.id or 0),
                    "scale-golden@g1": manifest_hash(s, version_id=gv.id or 0),
                }
            state.update(
                spec=asdict(spec),
                project_id=pid,
                dataset="scale",
                version="v1",
                version_id=v.id,
                golden_dataset="scale-golden",
                golden_version_id=gv.id,
                golden_set="scale-golden@1",
                policy=f"{policy.name}@{policy.version}",
                users={n: u.id for n, u in users.items()},
                admin_id=admin.user_id,
                signing_secret=SIGNING_SECRET,
                coco_path=str(coco_path),
                counts={
                    "images": spec.images,
                    "golden_images": spec.golden_images,
                    "imported_labels": result.annotations,
                    "golden_labels": len(golden_coco["annotations"]),
                    "human_labels": human,
                    "model_labels": len(model_ids),
                    "reviewed_model_labels": reviewed,
                    "review_queue_items": len(routed),
                    "image_bytes": image_bytes,
                },
                manifest_hashes=hashes,
                import_labels_per_s=round(result.annotations / import_s),
                phases=phases.seconds,
            )
    finally:
        engine.dispose()
    (out / STATE_FILE).write_text(json.dumps(state, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return state


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, help="the workspace folder to create")
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--images", type=int, default=100_000, help="images (default 100,000)")
    ap.add_argument("--labels-per-image", type=int, default=10, help="imported boxes per image (default 10)")
    ap.add_argument("--classes", type=int, default=10, help="box classes (default 10)")
    ap.add_argument("--golden", type=int, default=2000, help="golden images, labelled by 3 annotators (default 2,000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pg-url", default=PG_URL, help="PostgreSQL server (a fresh schema is created in it)")
    ap.add_argument("--drop", type=Path, metavar="OUT", help="drop the PostgreSQL schema of workspace OUT and exit")
    args = ap.parse_args()
    if args.drop is not None:
        print(f"dropped schema {drop_workspace_schema(args.drop, args.pg_url)}")
        return
    if args.out is None:
        ap.error("--out is required")
    spec = ScaleSpec(
        images=args.images, labels_per_image=args.labels_per_image, classes=args.classes, golden=args.golden,
        seed=args.seed,
    )  # fmt: skip
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import cpu_model

    print(f"machine: {cpu_model()}, {os.cpu_count()} logical cores")
    print(f"building {spec} on {args.db} in {args.out}")
    t0 = time.perf_counter()
    state = build_scale_workspace(args.out, db=args.db, spec=spec, pg_url=args.pg_url)
    print(f"done in {time.perf_counter() - t0:.1f} s: {json.dumps(state['counts'])}")
    print(f"import through the generator: {state['import_labels_per_s']:,} labels/s")
    print(f"manifest hashes: {json.dumps(state['manifest_hashes'])}")
    if state["pg_schema"]:
        print(f"PostgreSQL schema: {state['pg_schema']} (drop with --drop {args.out})")


if __name__ == "__main__":
    main()
