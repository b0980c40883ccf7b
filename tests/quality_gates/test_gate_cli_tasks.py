"""``gate check`` offline for every task through typer's CliRunner: the task comes from ``--gt`` (COCO masks →
segment, COCO keypoints → pose, a classification CSV/JSON → classify); 0 when the gates pass, 1 when one
blocks, 2 for hostile files (naming the file and the record) and for a missing or wrong ``--sigmas``."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools.cocoeval import COCOeval
from typer.testing import CliRunner

from service.cli.gate import gate_app

from .shape_data import POSE_SIGMAS, pose_data, segment_data
from .test_gates_segment import _coco

runner = CliRunner()


def _write(d: Path, files: dict[str, Any]) -> None:
    for name, content in files.items():
        (d / name).write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")


def _check(d: Path, policy: str, *extra: str) -> Any:
    (d / "policy.yaml").write_text(policy, encoding="utf-8")
    return runner.invoke(gate_app, ["check", "--policy", str(d / "policy.yaml"), *extra])


SEG_PASS = "name: m\ntask: segment\ngates:\n  map: {min: 0.05}\n  golden_set_error: {max: 0.9}\n"
SEG_BLOCK = "name: m\ntask: segment\ngates:\n  map: {min: 0.99}\n  krippendorff_alpha: {min: 0.0}\n"


@pytest.fixture
def seg_dir(tmp_path: Path) -> Path:
    d = segment_data(0)
    _write(tmp_path, {"golden.json": d["golden"], "pred.json": d["pred"], "alice.json": d["alice"],
                      "bob.json": d["bob"]})  # fmt: skip
    return tmp_path


def _seg_args(d: Path, pred: str = "pred.json") -> list[str]:
    return ["--gt", str(d / "golden.json"), "--pred", str(d / pred), "--annotations", f"alice={d / 'alice.json'}",
            "--annotations", f"bob={d / 'bob.json'}"]  # fmt: skip


def test_segment_pass_block_and_json(seg_dir: Path) -> None:
    res = _check(seg_dir, SEG_PASS, *_seg_args(seg_dir))
    assert res.exit_code == 0, res.output
    res = _check(seg_dir, SEG_BLOCK, *_seg_args(seg_dir), "--format", "json")
    assert res.exit_code == 1, res.output
    body = json.loads(res.stdout)
    assert body["task"] == "segment" and "COCO segm" in body["gates"][1]["explanation"]
    assert body["golden_set"]["items"] == 8


def test_segment_hostile_files_exit_2_naming_the_record(seg_dir: Path) -> None:
    pred = json.loads((seg_dir / "pred.json").read_text())
    pred[4]["segmentation"]["counts"] = "not an rle ::"
    _write(seg_dir, {"bad.json": pred})
    res = _check(seg_dir, SEG_PASS, *_seg_args(seg_dir, "bad.json"))
    assert res.exit_code == 2 and "bad.json" in res.stderr and "[4].segmentation" in res.stderr, res.output
    pred = json.loads((seg_dir / "pred.json").read_text())
    pred[0]["score"] = float("nan")
    (seg_dir / "nan.json").write_text(json.dumps(pred))
    res = _check(seg_dir, SEG_PASS, *_seg_args(seg_dir, "nan.json"))
    assert res.exit_code == 2 and "[0].score" in res.stderr, res.output
    res = _check(seg_dir, SEG_PASS.replace("task: segment\n", ""), *_seg_args(seg_dir))
    assert res.exit_code == 2 and "task: segment" in res.stderr and "Traceback" not in res.output


POSE = "name: p\ntask: pose\ngates:\n  map: {min: MIN}\n  krippendorff_alpha: {min: 0.0}\n"


@pytest.fixture
def pose_dir(tmp_path: Path) -> Path:
    d = pose_data(0)
    _write(tmp_path, {"golden.json": d["golden"], "pred.json": d["pred"], "alice.json": d["alice"],
                      "bob.json": d["bob"]})  # fmt: skip
    return tmp_path


def test_pose_needs_sigmas_for_other_than_17_points(pose_dir: Path) -> None:
    args = _seg_args(pose_dir)
    res = _check(pose_dir, POSE.replace("MIN", "0.1"), *args)
    assert res.exit_code == 2 and "--sigmas" in res.stderr, res.output
    res = _check(pose_dir, POSE.replace("MIN", "0.1"), *args, "--sigmas", "0.1,0.2")
    assert res.exit_code == 2 and "--sigmas" in res.stderr and "2 values for 5-point" in res.stderr
    sig = ",".join(map(str, POSE_SIGMAS))
    assert _check(pose_dir, POSE.replace("MIN", "0.1"), *args, "--sigmas", sig).exit_code == 0
    res = _check(pose_dir, POSE.replace("MIN", "0.99"), *args, "--sigmas", sig, "--format", "json")
    assert res.exit_code == 1 and json.loads(res.stdout)["task"] == "pose"
    assert "COCO keypoints" in res.stdout


def test_pose_hostile_keypoints_exit_2(pose_dir: Path) -> None:
    pred = json.loads((pose_dir / "pred.json").read_text())
    pred[2]["keypoints"] = pred[2]["keypoints"][:6]
    _write(pose_dir, {"bad.json": pred})
    res = _check(pose_dir, POSE.replace("MIN", "0.1"), *_seg_args(pose_dir, "bad.json"), "--sigmas", "1,1,1,1,1")
    assert res.exit_code == 2 and "bad.json" in res.stderr and "[2].keypoints" in res.stderr, res.output


def _csv(rows: list[tuple[str, ...]], header: str) -> str:
    return header + "\n" + "\n".join(",".join(r) for r in rows) + "\n"


@pytest.fixture
def class_dir(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    names = ["cat", "dog", "emu"]
    items = [f"{i:03d}.jpg" for i in range(120)]
    truth = {i: names[int(rng.integers(3))] for i in items}

    def noisy(p: float) -> dict[str, str]:
        return {i: (c if rng.random() > p else names[int(rng.integers(3))]) for i, c in truth.items()}

    pred = noisy(0.1)
    _write(tmp_path, {
        "golden.csv": _csv([(i, c) for i, c in truth.items()], "item,class"),
        "pred.csv": _csv([(i, c, f"{rng.uniform(0.5, 1):.3f}") for i, c in pred.items()], "item,class,score"),
        "alice.csv": _csv([(i, c) for i, c in noisy(0.05).items()], "item,class"),
        "bob.json": noisy(0.1),
        "parent.csv": _csv([(i, c) for i, c in noisy(0.2).items()], "item,class"),
        "classes.txt": "cat\ndog\nemu\nyak\n",
        "multi.json": {i: [c, "dog"] if c != "dog" else [c] for i, c in truth.items()},
        "multi_pred.json": {i: {c: 0.9, "dog": 0.7} for i, c in truth.items()},
    })  # fmt: skip
    return tmp_path


CLS = """\
name: c
task: classify
gates:
  accuracy: {min: MIN, threshold: 0.5}
  golden_set_error: {max: 0.5}
  krippendorff_alpha: {min: 0.3}
  hamming_loss: {max: 0.5}
  class_drift_psi: {max: 5}
"""


def _cls_args(d: Path, pred: str = "pred.csv") -> list[str]:
    return ["--gt", str(d / "golden.csv"), "--pred", str(d / pred), "--annotations", f"alice={d / 'alice.csv'}",
            "--annotations", f"bob={d / 'bob.json'}", "--parent", str(d / "parent.csv")]  # fmt: skip


def test_classify_pass_block_and_reports(class_dir: Path) -> None:
    res = _check(class_dir, CLS.replace("MIN", "0.5"), *_cls_args(class_dir))
    assert res.exit_code == 0, res.output
    res = _check(class_dir, CLS.replace("MIN", "0.99"), *_cls_args(class_dir), "--format", "json",
                 "--classes", str(class_dir / "classes.txt"))  # fmt: skip
    assert res.exit_code == 1, res.output
    body = json.loads(res.stdout)
    assert body["task"] == "classify" and set(body["per_class"]) == {"cat", "dog", "emu", "yak"}
    assert body["golden_set"]["items"] == 120 and body["metrics"]["accuracy"] < 0.99
    assert body["evidence"]["confusion_matrix"]["labels"][-1] == "background"
    res = _check(class_dir, CLS.replace("MIN", "0.99"), *_cls_args(class_dir), "--format", "junit")
    assert res.exit_code == 1 and "<failure" in res.stdout


def test_classify_multi_label(class_dir: Path) -> None:
    policy = "name: c\ntask: classify\ngates:\n  hamming_loss: {max: 0.2, threshold: 0.5}\n  f1: {min: 0.9}\n"
    args = ["--gt", str(class_dir / "multi.json"), "--pred", str(class_dir / "multi_pred.json")]
    res = _check(class_dir, policy, *args, "--multi-label", "--format", "json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["metrics"]["hamming_loss"] == 0.0
    res = _check(class_dir, policy, *args)  # single-label: an item with two classes is refused
    assert res.exit_code == 2 and "multi.json" in res.stderr and "single-label" in res.stderr, res.output


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("unknown.csv", "item,class,score\n000.jpg,yak,0.9\n", "line 2"),
        ("dup.csv", "item,class,score\n000.jpg,cat,0.9\n000.jpg,cat,0.8\n", "line 3"),
        ("score.csv", "item,class,score\n000.jpg,cat,1.5\n", "line 2"),
        ("header.csv", "image,label\n000.jpg,cat\n", "line 1"),
        ("bad.json", '{"000.jpg": {"cat": "high"}}', "000.jpg"),
        ("empty.csv", "", "is empty"),
    ],
)
def test_classify_hostile_files_exit_2(class_dir: Path, name: str, content: str, fragment: str) -> None:
    (class_dir / name).write_text(content, encoding="utf-8")
    res = _check(class_dir, CLS.replace("MIN", "0.5"), *_cls_args(class_dir, name))
    assert res.exit_code == 2, res.output
    assert name in res.stderr and fragment in res.stderr and "Traceback" not in res.output, res.stderr


def test_a_detect_policy_on_classification_files_is_refused(class_dir: Path) -> None:
    res = _check(class_dir, "name: d\ngates:\n  map: {min: 0.5}\n", *_cls_args(class_dir))
    assert res.exit_code == 2 and "task: classify" in res.stderr, res.output


def test_text_and_junit_name_the_task(class_dir: Path) -> None:
    res = _check(class_dir, CLS.replace("MIN", "0.5"), *_cls_args(class_dir))
    assert res.exit_code == 0 and "task: classify" in res.stdout and "accuracy=" in res.stdout, res.output
    res = _check(class_dir, CLS.replace("MIN", "0.5"), *_cls_args(class_dir), "--format", "junit")
    assert '<property name="task" value="classify"' in res.stdout


REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["segment.yaml", "pose.yaml", "classify.yaml"])
def test_the_example_policies_parse_with_their_task(name: str) -> None:
    from quality_gates.policy import parse_policy

    policy = parse_policy((REPO / "policies" / name).read_text(encoding="utf-8"))
    assert policy.task == name.removesuffix(".yaml")


def _seventeen(d: dict[str, Any]) -> dict[str, Any]:
    """The 5-point objects as 17-point ones (points repeated), so the COCO person sigmas apply."""

    def grow(kp: list[float]) -> list[float]:
        pts = [kp[i : i + 3] for i in range(0, len(kp), 3)]
        return [v for j in range(17) for v in pts[j % len(pts)]]

    out: dict[str, Any] = json.loads(json.dumps(d))
    for key in ("golden", "alice", "bob"):
        for a in out[key]["annotations"]:
            a["keypoints"] = grow(a["keypoints"])
            a["num_keypoints"] = sum(1 for v in a["keypoints"][2::3] if v > 0)
    for p in out["pred"]:
        p["keypoints"] = grow(p["keypoints"])
    return out


def test_seventeen_points_default_to_the_coco_person_sigmas(tmp_path: Path) -> None:
    d = _seventeen(pose_data(1))
    _write(tmp_path, {"golden.json": d["golden"], "pred.json": d["pred"], "alice.json": d["alice"],
                      "bob.json": d["bob"]})  # fmt: skip
    res = _check(tmp_path, POSE.replace("MIN", "0.0"), *_seg_args(tmp_path), "--format", "json")
    assert res.exit_code == 0, res.output
    got = next(g for g in json.loads(res.stdout)["gates"] if g["name"] == "map")["evidence"]["coco_stats"]
    gt = _coco(d["golden"])
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(gt, gt.loadRes(copy.deepcopy(d["pred"])), "keypoints")  # the default: person sigmas
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    np.testing.assert_allclose(list(got.values()), ev.stats, rtol=0, atol=1e-9)
