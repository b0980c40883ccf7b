"""Benchmark: the offline classification gate (``gate check`` with ``task: classify``) over N items.

Method: seeded synthetic CSV files are written once to a folder: a single-label golden set of ``--items``
items over 10 classes (``item,class``), the model's predictions (``item,class,score``, 90% right, every
item), two annotators' labels of every golden item (95% and 85% right) and a parent version's labels. The
policy configures every classification gate (golden-set error, Krippendorff's alpha, precision, recall,
F1, accuracy, Hamming loss, PSI, Jensen–Shannon). Three figures, each the median of ``--repeats`` runs:

1. the whole offline gate: a fresh Python process running ``gate check`` with a JSON report to a file
   (interpreter start-up, imports, reading and validating the five files, the evaluation, the report);
2. in one process, the files read into ``GateInputs`` (``service.cli.gate_offline.offline_inputs``:
   ``quality_gates.classfile`` parsing and the conversion to ``ClassLabels``);
3. in one process, ``quality_gates.evaluate`` on those inputs (every gate, the report's metrics, its plot
   data and the inputs' content hashes).

    python bench/bench_classification_gate.py --items 1000000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import machine  # the bench folder is the script's path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

POLICY = """\
name: bench-classify
task: classify
gates:
  golden_set_error: {max: 0.2}
  krippendorff_alpha: {min: 0.5}
  precision: {min: 0.5, threshold: 0.3}
  recall: {min: 0.5, threshold: 0.3}
  f1: {min: 0.5, threshold: 0.3}
  accuracy: {min: 0.5, threshold: 0.3}
  hamming_loss: {max: 0.2, threshold: 0.3}
  class_drift_psi: {max: 0.5}
  class_drift_js: {max: 0.5}
"""

NAMES = tuple(f"class_{k:02d}" for k in range(10))
FILES = ("golden", "pred", "alice", "bob", "parent")


def _labels(rng: np.random.Generator, truth: np.ndarray, right: float) -> np.ndarray:
    other = rng.integers(0, len(NAMES), len(truth))
    return np.where(rng.random(len(truth)) < right, truth, other)


def write_files(folder: Path, n: int, seed: int) -> dict[str, Path]:
    rng = np.random.default_rng(seed)
    items = np.char.add(np.char.add("img/", np.char.zfill(np.arange(n).astype(str), 8)), ".jpg")
    names = np.array(NAMES)
    truth = rng.choice(len(NAMES), n, p=np.linspace(2, 1, len(NAMES)) / np.linspace(2, 1, len(NAMES)).sum())
    paths = {k: folder / f"{k}.csv" for k in FILES}
    (folder / "policy.yaml").write_text(POLICY)

    def write(path: Path, cls: np.ndarray, score: np.ndarray | None = None) -> None:
        cols = [items, names[cls]] + ([np.char.mod("%.4f", score)] if score is not None else [])
        body = "\n".join(",".join(row) for row in zip(*cols, strict=True))
        path.write_text(("item,class,score\n" if score is not None else "item,class\n") + body + "\n")

    write(paths["golden"], truth)
    write(paths["pred"], _labels(rng, truth, 0.9), rng.uniform(0.05, 1.0, n))
    write(paths["alice"], _labels(rng, truth, 0.95))
    write(paths["bob"], _labels(rng, truth, 0.85))
    write(paths["parent"], _labels(rng, truth, 0.8))
    return paths


def argv(files: dict[str, Path], policy: Path, report: Path) -> list[str]:
    return [
        "check", "--policy", str(policy), "--gt", str(files["golden"]), "--pred", str(files["pred"]),
        "--annotations", f"alice={files['alice']}", "--annotations", f"bob={files['bob']}",
        "--parent", str(files["parent"]), "--format", "json", "--output", str(report),
    ]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=1_000_000, help="items in the golden set")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each figure (median reported), >= 1")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", type=Path, default=None, help="keep (and reuse) the generated files here")
    args = ap.parse_args()

    from quality_gates.evaluate import evaluate
    from quality_gates.policy import parse_policy
    from service.cli.gate_offline import offline_inputs

    print(f"machine: {machine()}")
    print(f"method: median of {args.repeats} runs each; see the module docstring for what each figure covers")
    with tempfile.TemporaryDirectory(prefix="labelgate-bench-") as tmp:
        folder = args.data_dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        stamp = folder / f"generated-classify-{args.items}-{args.seed}"
        t0 = time.perf_counter()
        files = write_files(folder, args.items, args.seed) if not stamp.exists() else {
            k: folder / f"{k}.csv" for k in FILES}  # fmt: skip
        stamp.touch()
        sizes = ", ".join(f"{k} {p.stat().st_size / 1e6:.1f} MB" for k, p in files.items())
        print(f"data: {args.items} items, {len(NAMES)} classes; ready in {time.perf_counter() - t0:.1f} s; {sizes}")
        policy_path, report = folder / "policy.yaml", folder / "report.json"
        code = f"from service.cli.gate import gate_app; gate_app({argv(files, policy_path, report)!r})"
        whole, read, judge = [], [], []
        for _ in range(args.repeats):
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
            whole.append(time.perf_counter() - t)
            if proc.returncode not in (0, 1):
                raise SystemExit(f"gate check failed with exit {proc.returncode}:\n{proc.stderr[-2000:]}")
        policy = parse_policy(POLICY)
        for _ in range(args.repeats):
            t = time.perf_counter()
            inputs = offline_inputs(
                policy, gt_path=files["golden"], pred_path=files["pred"],
                annotation_paths={"alice": files["alice"], "bob": files["bob"]}, parent_path=files["parent"],
            )  # fmt: skip
            read.append(time.perf_counter() - t)
            t = time.perf_counter()
            result = evaluate(policy, inputs)
            judge.append(time.perf_counter() - t)
        rep = json.loads(report.read_text())
        assert rep["passed"] == result.passed
        print(
            f"verdict: {'passed' if rep['passed'] else 'blocked'}; gates: "
            + ", ".join(f"{g['name']}={g['value']:.4f}" for g in rep["gates"] if g["value"] is not None)
        )
        for label, times in (("whole offline gate (fresh process)", whole), ("reading the files", read),
                             ("evaluate()", judge)):  # fmt: skip
            runs = ", ".join(f"{x:.2f}" for x in times)
            print(f"{label}: median {statistics.median(times):.2f} s (runs: {runs}) for {args.items} items")


if __name__ == "__main__":
    main()
