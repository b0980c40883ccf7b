"""Benchmark: a full offline ``labelgate gate check`` (every gate) over N images.

Method: seeded synthetic files are written once to a temporary folder: a golden set (``--images`` images,
~7 boxes each, 10 classes), model predictions with ``reviewed``/``routed`` flags, three annotators'
labels of every golden image and a parent version. Each timed run is a fresh Python process running
``gate check`` with a policy that configures all eleven gates (golden-set error, Krippendorff's alpha,
precision, recall, F1, mAP, AP50, PSI, Jensen–Shannon, the Great Expectations suite, review coverage) and
writes a JSON report; the wall time includes interpreter start-up, imports, reading and validating the
JSON files and the evaluation. The script prints the machine, the file sizes and the median of
``--repeats`` runs, and fails if the command does not exit with 0 or 1.

    python bench/bench_gate_check.py --images 100000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from service.demo.synthetic import make_annotator, make_coco_gt, make_predictions

ROOT = Path(__file__).resolve().parents[1]

POLICY = """\
name: bench-all-gates
gates:
  golden_set_error: {max: 0.2, iou: 0.5}
  krippendorff_alpha: {min: 0.5, level: nominal}
  precision: {min: 0.5, iou: 0.5, baseline: golden, threshold: 0.5}
  recall: {min: 0.5, iou: 0.5, baseline: golden, threshold: 0.5}
  f1: {min: 0.5, iou: 0.5, threshold: 0.5}
  map: {min: 0.3}
  ap50: {min: 0.5}
  class_drift_psi: {max: 0.5}
  class_drift_js: {max: 0.5}
  expectations: {suite: default}
  review_coverage: {min: 0.01}
release: {approvals: 1, approver_roles: [compliance_officer], four_eyes: true}
"""


from _common import cpu_model  # noqa: E402  (the bench folder is the script's path)


def machine() -> str:
    model = cpu_model()
    return f"{model}, {os.cpu_count()} logical cores, Python {platform.python_version()}"


def write_files(folder: Path, n_images: int, seed: int) -> dict[str, Path]:
    gt = make_coco_gt(n_images=n_images, n_classes=10, seed=seed)
    files = _names(folder)
    files["policy"].write_text(POLICY)
    files["gt"].write_text(json.dumps(gt))
    files["pred"].write_text(json.dumps(make_predictions(gt, review_rate=0.5, seed=seed + 1)))
    files["parent"].write_text(json.dumps(make_coco_gt(n_images=n_images, n_classes=10, seed=seed + 2)))
    for i, name in enumerate(("alice", "bob", "carol")):
        files[name].write_text(json.dumps(make_annotator(gt, seed=seed + 10 + i)))
    return files


def _names(folder: Path) -> dict[str, Path]:
    names = {"policy": "policy.yaml", "gt": "golden.json", "pred": "predictions.json", "parent": "parent.json"}
    names.update({n: f"{n}.json" for n in ("alice", "bob", "carol")})
    return {k: folder / v for k, v in names.items()}


def command(files: dict[str, Path], report: Path) -> list[str]:
    argv = [
        "check",
        "--policy",
        str(files["policy"]),
        "--gt",
        str(files["gt"]),
        "--pred",
        str(files["pred"]),
        "--parent",
        str(files["parent"]),
        "--format",
        "json",
        "--output",
        str(report),
    ]
    for name in ("alice", "bob", "carol"):
        argv += ["--annotations", f"{name}={files[name]}"]
    code = f"import sys; from service.cli.gate import gate_app; gate_app({argv!r})"
    return [sys.executable, "-c", code]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=100_000, help="images in the golden set")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs (median reported), >= 1")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", type=Path, default=None, help="keep (and reuse) the generated files here")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    print(
        "method: fresh process per run: `gate check` with all 11 gates, JSON report to a file; "
        f"median of {args.repeats} runs"
    )
    with tempfile.TemporaryDirectory(prefix="labelgate-bench-") as tmp:
        folder = args.data_dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        stamp = folder / f"generated-{args.images}-{args.seed}"
        files = write_files(folder, args.images, args.seed) if not stamp.exists() else _names(folder)
        stamp.touch()
        print(
            f"data: {args.images} images; generated or reused in {time.perf_counter() - t0:.1f} s; files: "
            + ", ".join(f"{k} {p.stat().st_size / 1e6:.1f} MB" for k, p in files.items() if k != "policy")
        )
        report = folder / "report.json"
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            proc = subprocess.run(command(files, report), cwd=ROOT, capture_output=True, text=True, check=False)
            times.append(time.perf_counter() - t)
            if proc.returncode not in (0, 1):
                raise SystemExit(f"gate check failed with exit {proc.returncode}:\n{proc.stderr[-2000:]}")
        rep = json.loads(report.read_text())
        print(
            f"verdict: {'passed' if rep['passed'] else 'blocked'}; gates: "
            + ", ".join(f"{g['name']}={g['value']:.3f}" for g in rep["gates"] if g["value"] is not None)
        )
        print(f"runs (s): {', '.join(f'{t:.1f}' for t in times)}")
        print(f"median wall time: {statistics.median(times):.1f} s for {args.images} images")


if __name__ == "__main__":
    main()
