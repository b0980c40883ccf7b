"""The demo's chapter beyond boxes: a classification dataset and a segmentation dataset, each blocked by its
policy, fixed and passed.

Both work on generated images of one to three filled shapes (circle, square, triangle) whose exact outlines
are known. For each task the story, every step a verb taken by a demo user:

1. mia publishes a schema (``tag`` classes for the classification, ``polygon`` classes for the
   segmentation), a golden dataset with the expert labels (registered as a golden set) and a dataset whose
   ``v1`` holds alice's and bob's deliveries (a class-per-item CSV; COCO polygons);
2. ci-bot checks ``v1`` against the task's policy (``policies/shape-tags.yaml``: golden-set error as the
   misclassification rate, Krippendorff's alpha over the items; ``policies/shape-masks.yaml``: golden-set
   error and alpha with objects matched by mask IoU): bob confused classes (or drew sloppy polygons), so
   the gate blocks and names him;
3. bob re-delivers against the clarified guideline into ``v2`` (a child of ``v1``, without ``v1``'s labels),
   and the same check passes.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageDraw

from lineage.models import VersionState
from lineage.schemas import GeometryType, LabelClass
from service import actions
from service.api.schemas.gates import evaluation_public
from service.gate_report import report_from_public

if TYPE_CHECKING:
    from service.demo.story import DemoState

__all__ = ["SHAPES", "Drawn", "draw_shapes", "tasks_chapter"]

SHAPES = ("circle", "square", "triangle")
_COLOURS = {"circle": (220, 70, 60), "square": (60, 150, 220), "triangle": (240, 190, 40)}
_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Drawn:
    """One shape drawn on an image: its class and its outline (a flat ``[x1, y1, x2, y2, ...]`` in px)."""

    cls: str
    polygon: list[float]


def _outline(cls: str, cx: float, cy: float, r: float) -> list[float]:
    if cls == "circle":
        angles = np.linspace(0, 2 * math.pi, 24, endpoint=False)
    elif cls == "square":
        angles = np.array([0.25, 0.75, 1.25, 1.75]) * math.pi
    else:
        angles = np.array([-0.5, 1 / 6, 5 / 6]) * math.pi
    pts = np.column_stack([cx + r * np.cos(angles), cy + r * np.sin(angles)])
    return [round(float(v), 2) for v in pts.reshape(-1)]


def draw_shapes(folder: Path, *, n: int, seed: int, size: int = 96, max_shapes: int = 3) -> dict[str, list[Drawn]]:
    """``n`` PNG images under ``folder`` (``img_000.png``, ...), each with 1..``max_shapes`` non-overlapping
    shapes on a noisy background; returns file name → shapes drawn, in drawing order."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out: dict[str, list[Drawn]] = {}
    for i in range(n):
        base = rng.integers(70, 120, size=(size // 8 + 1, size // 8 + 1, 3), dtype=np.uint8)
        canvas = Image.fromarray(base).resize((size, size), Image.Resampling.NEAREST)
        draw = ImageDraw.Draw(canvas)
        placed: list[tuple[float, float, float]] = []
        shapes: list[Drawn] = []
        for _ in range(int(rng.integers(1, max_shapes + 1))):
            for _attempt in range(20):
                r = float(rng.uniform(0.12, 0.2) * size)
                cx, cy = (float(v) for v in rng.uniform(r + 2, size - r - 2, size=2))
                if all(math.hypot(cx - x, cy - y) > r + q + 3 for x, y, q in placed):
                    break
            else:
                continue
            cls = SHAPES[int(rng.integers(len(SHAPES)))]
            poly = _outline(cls, cx, cy, r)
            draw.polygon(list(zip(poly[::2], poly[1::2], strict=True)), fill=_COLOURS[cls])
            placed.append((cx, cy, r))
            shapes.append(Drawn(cls, poly))
        name = f"img_{i:03d}.png"
        canvas.save(folder / name)
        out[name] = shapes
    return out


# --- deliveries ------------------------------------------------------------------------------------------


def _tags_csv(truth: dict[str, list[Drawn]], *, confuse: float, seed: int) -> str:
    """item,class rows (the largest shape's class), with a share ``confuse`` of the items given another class."""
    rng = np.random.default_rng(seed)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["item", "class"])
    for name, shapes in truth.items():
        cls = shapes[0].cls
        if rng.random() < confuse:
            cls = SHAPES[(SHAPES.index(cls) + int(rng.integers(1, len(SHAPES)))) % len(SHAPES)]
        w.writerow([name, cls])
    return buf.getvalue()


def _polygons_coco(truth: dict[str, list[Drawn]], *, size: int, sloppy: float, seed: int) -> dict[str, Any]:
    """A COCO document of the shapes' polygons; a share ``sloppy`` of them shifted by most of their size."""
    rng = np.random.default_rng(seed)
    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    for i, (name, shapes) in enumerate(truth.items(), start=1):
        images.append({"id": i, "file_name": name, "width": size, "height": size})
        for d in shapes:
            pts = np.asarray(d.polygon).reshape(-1, 2)
            span = float(np.ptp(pts[:, 0]))
            shift = rng.normal(0, 0.6, size=2) if rng.random() >= sloppy else rng.choice([-1, 1], 2) * 0.7 * span
            pts = np.round(np.clip(pts + shift, 0, size), 2)
            x0, y0 = pts.min(axis=0)
            x1, y1 = pts.max(axis=0)
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": SHAPES.index(d.cls) + 1,
                    "segmentation": [[float(v) for v in pts.reshape(-1)]],
                    "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                    "iscrowd": 0,
                }
            )
    cats = [{"id": k + 1, "name": c} for k, c in enumerate(SHAPES)]
    return {"images": images, "annotations": anns, "categories": cats}


# --- the chapter -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Task:
    """One task's walk through the story."""

    title: str
    dataset: str
    geometry: GeometryType
    fmt: str
    policy_file: str
    deliver: Callable[[dict[str, list[Drawn]], str, bool], tuple[str, str]]  # truth, who, fixed → (file name, text)


def _deliver_tags(truth: dict[str, list[Drawn]], who: str, fixed: bool) -> tuple[str, str]:
    confuse = 0.0 if who == "expert" else (0.35 if who == "bob" and not fixed else 0.03)
    return f"{who}{'-fixed' if fixed else ''}.csv", _tags_csv(truth, confuse=confuse, seed=hash_seed(who, fixed))


def _deliver_masks(truth: dict[str, list[Drawn]], who: str, fixed: bool) -> tuple[str, str]:
    sloppy = 0.0 if who == "expert" else (0.4 if who == "bob" and not fixed else 0.02)
    doc = _polygons_coco(truth, size=96, sloppy=sloppy, seed=hash_seed(who, fixed))
    return f"{who}{'-fixed' if fixed else ''}.json", json.dumps(doc)


def hash_seed(who: str, fixed: bool) -> int:
    """A stable seed per delivery (Python's ``hash`` of a string changes between runs)."""
    return sum(ord(c) for c in who) * 7 + int(fixed)


TASKS = (
    _Task("classification (image tags)", "shape-tags", "tag", "classes-csv", "policies/shape-tags.yaml", _deliver_tags),
    _Task("segmentation (polygons)", "shape-masks", "polygon", "coco", "policies/shape-masks.yaml", _deliver_masks),
)


def _import(state: DemoState, task: _Task, version: str, folder: Path, truth: dict[str, list[Drawn]], who: str) -> None:
    fixed = version != "v1"
    name, text = task.deliver(truth, who, fixed)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    annotator = None if who == "expert" else who
    dataset = f"{task.dataset}-golden" if who == "expert" else task.dataset
    with state.as_("mia") as ctx:
        actions.import_labels(ctx, state.project_id, dataset, version, fmt=task.fmt, path=path, annotator=annotator)


def _check(state: DemoState, task: _Task, version: str, policy: str, say: Callable[[str], None]) -> bool:
    with state.as_("mia") as ctx:
        actions.change_state(
            ctx, state.project_id, task.dataset, version, state=VersionState.candidate, reason="ready for gates"
        )
    with state.as_("ci-bot") as ctx:
        evaluation = evaluation_public(actions.evaluate(ctx, state.project_id, task.dataset, version, policy=policy))
    report, _ = report_from_public(evaluation)
    say(f"{task.dataset}@{version}: {'PASSED' if report.passed else 'BLOCKED'} (evaluation #{evaluation.id})")
    for g in report.gates:
        say(f"  {'✓' if g.passed else '✗'} {g.name}: {g.explanation}")
    return report.passed


def run_task(state: DemoState, task: _Task, say: Callable[[str], None], *, n_images: int) -> tuple[bool, bool]:
    """One task's story; returns (v1 passed, v2 passed)."""
    folder = state.settings.workspace / "generated" / task.dataset
    truth = draw_shapes(
        folder / "images", n=n_images, seed=len(task.dataset), max_shapes=1 if task.geometry == "tag" else 3
    )
    pid = state.project_id
    classes = [LabelClass(name=c, geometry=task.geometry) for c in SHAPES]
    with state.as_("mia") as ctx:
        actions.create_schema(ctx, pid, name=task.dataset, classes=classes)
        actions.create_dataset(ctx, pid, name=f"{task.dataset}-golden", description="expert labels", is_golden=True)
        actions.create_version(
            ctx, pid, f"{task.dataset}-golden", version="v1", schema=task.dataset, source_dir=folder / "images"
        )
    _import(state, task, "v1", folder, truth, "expert")
    with state.as_("mia") as ctx:
        actions.register_golden(ctx, pid, name=f"{task.dataset}-golden", dataset=f"{task.dataset}-golden", version="v1")
        actions.create_dataset(ctx, pid, name=task.dataset, description=task.title)
        actions.create_version(ctx, pid, task.dataset, version="v1", schema=task.dataset, source_dir=folder / "images")
        policy = actions.store_policy(ctx, pid, yaml_text=(_ROOT / task.policy_file).read_text(encoding="utf-8"))
    ref = f"{policy.name}@{policy.version}"
    say(
        f"{task.title}: schema {task.dataset} ({task.geometry} classes), "
        f"golden set {task.dataset}-golden@1, policy {ref}"
    )
    for who in ("alice", "bob"):
        _import(state, task, "v1", folder, truth, who)
    first = _check(state, task, "v1", ref, say)
    with state.as_("mia") as ctx:
        actions.create_version(ctx, pid, task.dataset, version="v2", parent="v1", inherit_labels=False)
    say("bob re-delivers against the clarified guideline; v2 holds the new deliveries")
    for who in ("alice", "bob"):
        _import(state, task, "v2", folder, truth, who)
    return first, _check(state, task, "v2", ref, say)


def tasks_chapter(state: DemoState, say: Callable[[str], None], *, n_images: int = 40) -> dict[str, tuple[bool, bool]]:
    """Both tasks' stories; dataset name → (v1 passed, v2 passed)."""
    return {task.dataset: run_task(state, task, say, n_images=n_images) for task in TASKS}
