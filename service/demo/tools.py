"""The demo's chapter on where labels are made: a round of labelling done in Label Studio and CVAT reaches
the record with each label's real author and times, and the record says who was fast, who needed rework
and what changed since the last release.

Every step is a verb taken by a demo user:

1. mia opens ``street@v4`` (a child of the released ``v3``, its labels inherited);
2. alice and bob label eight of its images in Label Studio (bob marks two of his annotations as ground
   truth; the street detector pre-labelled three images); mia imports the tool's JSON export: authors are
   mapped by email, each label keeps its time and lead time. The same export again writes nothing; the
   export after alice fixed a box supersedes only that box;
3. carol labels three more images in CVAT; mia imports the job's XML export (its assignee is the author);
4. the annotator KPIs of ``v4`` (seconds per image and per object, labels per hour, rework), the diff
   since the release ("what changed, and who changed it"), and a golden set seeded from bob's ground truth.

The exports are written here exactly as the tools write them (Label Studio 1.23's JSON export, CVAT's
"CVAT for images 1.1"); no tool runs in the demo.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import quoteattr

import numpy as np

from service import actions
from service.actions.diff import version_diff
from service.actions.kpis import annotator_kpis

if TYPE_CHECKING:
    from service.demo.story import DemoState

__all__ = ["tools_chapter"]

_START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
_LS_IDS = {"alice": 3, "bob": 4}  # Label Studio's own user ids


def _stamp(minutes: float) -> str:
    return (_START + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _rect(rid: str, box: list[float], cls: str, width: int, height: int, **extra: Any) -> dict[str, Any]:
    x, y, w, h = box
    value = {"x": 100 * x / width, "y": 100 * y / height, "width": 100 * w / width, "height": 100 * h / height}
    return {
        "id": rid,
        "type": "rectanglelabels",
        "from_name": "label",
        "to_name": "image",
        "original_width": width,
        "original_height": height,
        "image_rotation": 0,
        "value": {**value, "rotation": 0, "rectanglelabels": [cls]},
        **extra,
    }


def label_studio_export(coco: dict[str, Any], users: dict[str, str], *, fixed: bool = False) -> list[dict[str, Any]]:
    """Label Studio's JSON export of eight images labelled by alice and bob (``users``: username -> email)
    and pre-labelled on three by the detector; ``fixed``: alice's later save, one box moved."""
    rng = np.random.default_rng(14)
    names = {c["id"]: c["name"] for c in coco["categories"]}
    boxes: dict[int, list[dict[str, Any]]] = {}
    for a in coco["annotations"]:
        boxes.setdefault(a["image_id"], []).append(a)
    tasks = []
    for n, image in enumerate([i for i in coco["images"] if boxes.get(i["id"])][:8]):
        w, h = image["width"], image["height"]
        anns = []
        for k, (who, jitter) in enumerate((("alice", 1.0), ("bob", 3.0))):
            result = []
            for j, a in enumerate(boxes[image["id"]]):
                x, y, bw, bh = a["bbox"]
                dx, dy = rng.normal(0, jitter, 2)
                nx, ny = min(max(0.0, x + dx), w - bw), min(max(0.0, y + dy), h - bh)
                if fixed and who == "alice" and n == 0 and j == 0:
                    nx = max(0.0, nx - 2)
                result.append(
                    _rect(f"{who[0]}{n}-{j}", [round(nx, 2), round(ny, 2), bw, bh], names[a["category_id"]], w, h)
                )
            lead = float(rng.uniform(25, 60)) if who == "alice" else float(rng.uniform(45, 120))
            created = 10 * n + 4 * k
            anns.append(
                {
                    "id": 100 + 2 * n + k,
                    "completed_by": {"id": _LS_IDS[who], "email": users[who], "first_name": who.title()},
                    "result": result,
                    "was_cancelled": False,
                    "ground_truth": who == "bob" and n < 2,
                    "created_at": _stamp(created),
                    "updated_at": _stamp(created + (90 if fixed and who == "alice" and n == 0 else 1)),
                    "lead_time": round(lead, 3),
                    "project": 7,
                }
            )
        predictions = []
        if n < 3:
            result = [
                _rect(
                    f"p{n}-{j}", a["bbox"], names[a["category_id"]], w, h, score=round(float(rng.uniform(0.5, 0.95)), 3)
                )
                for j, a in enumerate(boxes[image["id"]])
            ]
            predictions.append({"id": 500 + n, "model_version": "street-detector@2", "score": 0.8, "result": result})
        tasks.append(
            {
                "id": 1000 + n,
                "data": {"image": f"/data/upload/7/{n:08x}-{image['file_name']}"},
                "annotations": anns,
                "predictions": predictions,
                "project": 7,
            }
        )
    return tasks


def cvat_job(coco: dict[str, Any], *, assignee: str, email: str, skip: int = 8, count: int = 3) -> bytes:
    """A CVAT job's "CVAT for images 1.1" export: ``count`` images after the first ``skip``, by ``assignee``."""
    names = {c["id"]: c["name"] for c in coco["categories"]}
    boxes: dict[int, list[dict[str, Any]]] = {}
    for a in coco["annotations"]:
        boxes.setdefault(a["image_id"], []).append(a)
    images = [i for i in coco["images"] if boxes.get(i["id"])][skip : skip + count]
    labels = "".join(
        f"<label><name>{name}</name><attributes></attributes></label>" for name in sorted(set(names.values()))
    )
    body = []
    for frame, image in enumerate(images):
        shapes = "".join(
            f'<box label={quoteattr(names[a["category_id"]])} source="manual" occluded="0" '
            f'xtl="{a["bbox"][0]:.2f}" ytl="{a["bbox"][1]:.2f}" xbr="{a["bbox"][0] + a["bbox"][2]:.2f}" '
            f'ybr="{a["bbox"][1] + a["bbox"][3]:.2f}" z_order="0"></box>'
            for a in boxes[image["id"]]
        )
        body.append(
            f'<image id="{frame}" name={quoteattr(image["file_name"])} width="{image["width"]}" '
            f'height="{image["height"]}">{shapes}</image>'
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<annotations><version>1.1</version><meta><job><id>21</id>'
        f"<size>{len(images)}</size><mode>annotation</mode><overlap>0</overlap><bugtracker></bugtracker>"
        "<created>2026-11-30 09:00:00.000000+00:00</created><updated>2026-11-30 11:30:00.000000+00:00</updated>"
        f"<subset>default</subset><start_frame>0</start_frame><stop_frame>{len(images) - 1}</stop_frame>"
        f"<frame_filter></frame_filter><segments><segment><id>21</id><start>0</start><stop>{len(images) - 1}</stop>"
        "<url>http://cvat.local/api/jobs/21</url></segment></segments>"
        f"<owner><username>mia</username><email>mia@street.example</email></owner>"
        f"<assignee><username>{assignee}</username><email>{email}</email></assignee>"
        f"<labels>{labels}</labels></job><dumped>2026-11-30 12:00:00.000000+00:00</dumped></meta>"
        + "".join(body)
        + "</annotations>"
    ).encode()


def _review(state: DemoState, pid: int) -> None:
    """rex reviews the round: accepts alice's Label Studio boxes on the first image, rejects three of bob's."""
    from lineage.models import ReviewDecision

    with state.as_("rex") as ctx:
        page = actions.live_labels(ctx, pid, "street", "v4", limit=5000)
        tool = [a for a in page["items"] if isinstance(a.attributes, dict) and "made" in a.attributes]
        alice = [a for a in tool if a.annotator_id == state.users["alice"].id][:5]
        bob = [a for a in tool if a.annotator_id == state.users["bob"].id][:3]
        for a in alice:
            actions.review(ctx, pid, a.id or 0, decision=ReviewDecision.accept, comment="matches the guideline")
        for a in bob:
            actions.review(ctx, pid, a.id or 0, decision=ReviewDecision.reject, comment="box includes the shadow")


def _fmt(value: Any, unit: str = "", digits: int = 0) -> str:
    return "—" if value is None else f"{value:.{digits}f}{unit}"


def tools_chapter(state: DemoState, say: Callable[[str], None]) -> None:
    pid = state.project_id
    with state.as_("mia") as ctx:
        actions.create_version(ctx, pid, "street", version="v4", parent="v3")
        coco = actions.coco_document(ctx, pid, "street", "v1")  # one set of boxes per image to label from
    say("mia opened street@v4 (a child of the released v3, its labels inherited) for a round in Label Studio and CVAT")
    emails = {u: state.users[u].email or f"{u}@street.example" for u in ("alice", "bob", "carol")}
    first = json.dumps(label_studio_export(coco, emails)).encode()
    with state.as_("mia") as ctx:
        result = actions.import_labels(
            ctx, pid, "street", "v4", fmt="labelstudio", upload=first, source_name="label-studio-export.json"
        )
    work = result.work or {}
    say(
        f"Label Studio export imported: {work.get('units_added')} annotations and predictions, "
        f"{result.annotations} labels, each under its author (by email: "
        + ", ".join(f"Label Studio user {k} -> {v}" for k, v in sorted(work.get("authors", {}).items()))
        + "), with its time and lead time; the detector's pre-labels as street-detector@2's"
    )
    with state.as_("mia") as ctx:
        again = actions.import_labels(
            ctx, pid, "street", "v4", fmt="labelstudio", upload=first, source_name="label-studio-export.json"
        )
    skipped = (again.work or {}).get("units_skipped")
    say(f"the same export again: {again.status.replace('_', ' ')}, nothing written ({skipped} units on the record)")
    fixed = json.dumps(label_studio_export(coco, emails, fixed=True)).encode()
    with state.as_("mia") as ctx:
        later = actions.import_labels(
            ctx, pid, "street", "v4", fmt="labelstudio", upload=fixed, source_name="label-studio-export-2.json"
        )
    lw = later.work or {}
    say(
        f"the export after alice fixed a box: {lw.get('units_updated')} annotation updated, "
        f"{lw.get('units_skipped')} unchanged; her new labels supersede the old ones (nothing overwritten)"
    )
    with state.as_("mia") as ctx:
        carol = actions.import_labels(
            ctx, pid, "street", "v4", fmt="cvat", upload=cvat_job(coco, assignee="carol", email=emails["carol"]),
            source_name="cvat-job-21.xml",
        )  # fmt: skip
    say(f"CVAT job 21 (assignee carol) imported: {carol.annotations} labels under carol's name")
    _review(state, pid)
    with state.as_("mia") as ctx:
        kpis = annotator_kpis(ctx, pid, "street", "v4", trend=False)
    for a in kpis["annotators"]:
        why = (a.get("reasons") or {}).get("seconds_per_image")
        say(
            f"KPIs {a['annotator']:>6}: {_fmt(a.get('seconds_per_image'), ' s', 1)} per image, "
            f"{_fmt(a.get('seconds_per_object'), ' s', 1)} per object, "
            f"{_fmt(a.get('labels_per_hour'), '', 0)} labels/h, "
            f"rework {_fmt(None if a.get('rework_rate') is None else 100 * a['rework_rate'], ' %', 1)}"
            + (f" ({why})" if why else "")
        )
    with state.as_("cora") as ctx:
        diff = version_diff(ctx, pid, "street", to_version="v4")
    t = diff.totals
    say(
        f"what changed since {'the last release' if diff.baseline == 'release' else 'its parent'} "
        f"({diff.dataset}@{diff.from_version} -> @{diff.to_version}): "
        f"{t.added} added, {t.changed} changed, {t.removed} removed, {t.unchanged} unchanged; by "
        + ", ".join(f"{a.author} +{a.added}" for a in diff.authors if a.added)
    )
    with state.as_("mia") as ctx:
        golden = actions.seed_golden(ctx, pid, name="street-gt", dataset="street", version="v4")
    say(
        f"bob's ground truth seeded golden set {golden['name']}@{golden['version']} ({golden['items']} images, "
        f"{golden['labels']} labels), hidden from annotators like every golden set"
    )
