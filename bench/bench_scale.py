"""Benchmark: the record at scale (issue 16, item 2) on a workspace built by ``bench/scale_workspace.py``.

Every figure is measured on that workspace (100k images and 1M imported labels at its default size), on the
database it was built on (SQLite, or its own PostgreSQL schema). Each run of each step is a fresh Python
process (``--step``), whose peak resident memory is read from ``os.wait4`` (``ru_maxrss``; the child's own
peak, imports and database reads included). The time is the step's own call, measured inside the child:

- **import**: ``lineage.formats.import_annotations`` of the workspace's 1M-label COCO file into ``scale@v1``
  (``reimport``; read, hash, parse, validate, write every row, audit), then the transaction is rolled back
  so the workspace stays as built (the commit is not timed; the generator prints a committed figure);
- **gate**: ``lineage.gates.evaluate_version`` of ``scale@v1`` under policy ``scale@1`` against golden set
  ``scale-golden@1`` (building the inputs from the record, every gate, storing the evaluation), committed;
- **release**: once, untimed: the version made a candidate and signed by the compliance officer; then
  ``lineage.release.releases.release`` (evidence checks, state change, git tag, signed bundle) plus
  ``write_bundle_file``, timed, then rolled back and the tag deleted (so it can run again);
- **export FMT**: ``lineage.formats.export_version`` of ``scale@v1`` in each export format, labels only
  (no image copies), to a temporary folder.

Reported: the median seconds of ``--runs`` runs, the throughput where it means something, and the largest
peak RSS of the runs; targets of the issue alongside. ``--profile STEP`` runs the step once under cProfile
and prints the functions with the most cumulative and own time.

    python bench/scale_workspace.py --out /tmp/scale --db sqlite          # once (minutes)
    python bench/bench_scale.py --workspace /tmp/scale --runs 3 --json /tmp/scale/bench.json
    python bench/bench_scale.py --workspace /tmp/scale --profile gate
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for p in (str(ROOT), str(BENCH)):
    if p not in sys.path:
        sys.path.insert(0, p)

from _common import cpu_model  # noqa: E402
from scale_workspace import load_state  # noqa: E402

EXPORT_FORMATS = ("coco", "yolo", "voc", "cvat")  # the box formats; classes-* are for classify schemas
TARGETS = {"import": 100_000.0, "gate": 60.0, "release": 30.0, "export": 30.0}  # labels/s; seconds
MEMORY_TARGET_MB = 2048.0
RESULT = "RESULT "


def machine() -> str:
    import sqlite3

    return (
        f"{platform.system()} {platform.machine()}, {cpu_model()}, {os.cpu_count()} logical cores, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )


# --- the steps, each run in a child process ---------------------------------------------------------------


def _open(state: dict[str, Any]) -> tuple[Any, Any, Any]:
    from sqlmodel import Session

    from lineage.db import make_engine
    from service.settings import Settings

    settings = Settings(workspace=Path(state["workspace"]), database_url=state["database_url"], env="dev")
    engine = make_engine(state["database_url"])
    return settings, engine, Session(engine, expire_on_commit=False)


def _actor(session: Any, user_id: int) -> Any:
    from lineage.context import Actor
    from lineage.models import User

    user = session.get(User, user_id)
    return Actor(user_id=user.id, username=user.username, is_admin=user.is_admin)


def _version(session: Any, state: dict[str, Any]) -> tuple[Any, Any]:
    from lineage.models import Dataset, DatasetVersion

    v = session.get(DatasetVersion, state["version_id"])
    return session.get(Dataset, v.dataset_id), v


def _timed(fn: Callable[[], Any], profile: Path | None) -> tuple[float, Any]:
    if profile is None:
        t0 = time.perf_counter()
        out = fn()
        return time.perf_counter() - t0, out
    import cProfile

    prof = cProfile.Profile()
    t0 = time.perf_counter()
    out = prof.runcall(fn)
    elapsed = time.perf_counter() - t0
    prof.dump_stats(str(profile))
    return elapsed, out


def step_import(state: dict[str, Any], profile: Path | None) -> dict[str, Any]:
    from lineage.formats import import_annotations

    _, engine, s = _open(state)
    with s:
        _, v = _version(s, state)
        ml = _actor(s, state["users"]["ml"])
        path = Path(state["coco_path"])
        elapsed, result = _timed(
            lambda: import_annotations(s, actor=ml, version=v, fmt="coco", path=path, reimport=True), profile
        )
        s.rollback()
    engine.dispose()
    return {"seconds": elapsed, "labels": result.annotations, "labels_per_s": result.annotations / elapsed}


def step_gate(state: dict[str, Any], profile: Path | None) -> dict[str, Any]:
    from lineage.gates import get_policy
    from lineage.gates.evaluations import evaluate_version

    _, engine, s = _open(state)
    with s:
        _, v = _version(s, state)
        ml = _actor(s, state["users"]["ml"])
        policy = get_policy(s, project_id=state["project_id"], ref=state["policy"])

        def run() -> Any:
            outcome = evaluate_version(s, actor=ml, version=v, policy_record=policy)
            s.commit()
            return outcome

        elapsed, outcome = _timed(run, profile)
        blocking = [g.name for g in outcome.report.blocking]
    engine.dispose()
    return {"seconds": elapsed, "passed": outcome.report.passed, "blocking": blocking}


def step_prepare(state: dict[str, Any], profile: Path | None) -> dict[str, Any]:
    """Untimed: make ``scale@v1`` a candidate and have the compliance officer sign it (idempotent)."""
    from lineage.datasets import change_state
    from lineage.models import VersionState
    from lineage.release.approvals import Meaning, sign_version
    from lineage.release.four_eyes import approvals_for, version_content_hash

    settings, engine, s = _open(state)
    with s:
        _, v = _version(s, state)
        ml = _actor(s, state["users"]["ml"])
        if VersionState(v.state) is VersionState.draft:
            change_state(s, actor=ml, version=v, to=VersionState.candidate, repo_dir=settings.repo_dir)
            s.commit()
        current = version_content_hash(s, v)
        if not any(a.content_hash == current for a in approvals_for(s, v)):
            officer = _actor(s, state["users"]["officer"])
            sign_version(s, actor=officer, version=v, secret=state["signing_secret"], meaning=Meaning.approval)
            s.commit()
        out = {"seconds": 0.0, "state": str(v.state)}
    engine.dispose()
    return out


def step_release(state: dict[str, Any], profile: Path | None) -> dict[str, Any]:
    from lineage.datasets.catalog import release_tag_name
    from lineage.datasets.dvcrepo import DvcError, git
    from lineage.openlineage import workspace_emitter
    from lineage.release.bundle import load_private_key
    from lineage.release.releases import release, write_bundle_file

    settings, engine, s = _open(state)
    with s, tempfile.TemporaryDirectory(prefix="scale-release-") as tmp:
        ds, v = _version(s, state)
        ml = _actor(s, state["users"]["ml"])
        key = load_private_key(settings.signing_key_path)

        def run() -> Any:
            record = release(
                s, actor=ml, version=v, repo_dir=settings.repo_dir, signing_key=key,
                emitter=workspace_emitter(settings.workspace),
            )  # fmt: skip
            return write_bundle_file(record, Path(tmp) / "bundle.json")

        try:
            elapsed, path = _timed(run, profile)
            size = path.stat().st_size
        finally:
            s.rollback()
            with contextlib.suppress(DvcError):  # the rolled-back release's tag
                git(settings.repo_dir, "tag", "-d", release_tag_name(ds, v))
    engine.dispose()
    return {"seconds": elapsed, "bundle_bytes": size}


def step_export(state: dict[str, Any], profile: Path | None, fmt: str) -> dict[str, Any]:
    from lineage.errors import LabelgateError
    from lineage.formats import export_version

    _, engine, s = _open(state)
    with s, tempfile.TemporaryDirectory(prefix=f"scale-export-{fmt}-") as tmp:
        ds, v = _version(s, state)
        out = Path(tmp) / ("annotations.json" if fmt == "coco" else fmt)
        try:
            elapsed, result = _timed(lambda: export_version(s, dataset=ds, version=v, fmt=fmt, out=out), profile)
        except LabelgateError as exc:
            return {"seconds": None, "refused": str(exc)}
        size = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file())
    engine.dispose()
    return {"seconds": elapsed, "annotations": result.annotations, "bytes": size}


def run_step(name: str, state: dict[str, Any], profile: Path | None) -> dict[str, Any]:
    if name.startswith("export:"):
        return step_export(state, profile, name.split(":", 1)[1])
    return {"import": step_import, "gate": step_gate, "prepare": step_prepare, "release": step_release}[name](
        state, profile
    )


# --- the parent: child processes, medians, the table ----------------------------------------------------------


def child(workspace: Path, step: str, profile: Path | None = None) -> dict[str, Any]:
    """Run ``step`` in a fresh process; its result with ``peak_rss_mb`` (the child's ``ru_maxrss``)."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--workspace", str(workspace), "--step", step]
    if profile is not None:
        argv += ["--profile-out", str(profile)]
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    lines = [ln for ln in text.splitlines() if ln.startswith(RESULT)]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"step {step} failed (exit {proc.returncode}):\n{text[-3000:]}")
    result = dict(json.loads(lines[-1][len(RESULT) :]))
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # KiB on Linux
    return result


def measure(workspace: Path, step: str, runs: int) -> dict[str, Any]:
    results = [child(workspace, step) for _ in range(runs)]
    first = results[0]
    if first.get("seconds") is None:
        return {"step": step, "refused": first.get("refused"), "peak_rss_mb": max(r["peak_rss_mb"] for r in results)}
    secs = [float(r["seconds"]) for r in results]
    summary = {k: v for k, v in first.items() if k not in ("seconds", "peak_rss_mb", "labels_per_s")}
    summary.update(
        step=step,
        seconds=statistics.median(secs),
        runs=[round(x, 2) for x in secs],
        peak_rss_mb=max(r["peak_rss_mb"] for r in results),
    )
    if "labels" in first:
        summary["labels_per_s"] = first["labels"] / summary["seconds"]
    return summary


def verdict(row: dict[str, Any]) -> str:
    if row.get("refused"):
        return "refused"
    step = row["step"]
    family = "export" if step.startswith("export:") else step
    if family not in TARGETS:
        return ""
    target = TARGETS[family]
    ok = row["labels_per_s"] >= target if family == "import" else row["seconds"] <= target
    mem_ok = row["peak_rss_mb"] <= MEMORY_TARGET_MB
    return ("met" if ok else "MISSED") + ("" if mem_ok else ", memory MISSED")


def target_text(step: str) -> str:
    family = "export" if step.startswith("export:") else step
    if family == "import":
        return ">= 100,000 labels/s"
    return f"<= {TARGETS[family]:.0f} s" if family in TARGETS else ""


def table(rows: list[dict[str, Any]]) -> str:
    head = f"{'step':<22} {'median s':>9} {'rate':>16} {'peak RSS MB':>12}  {'target':<20} verdict"
    lines = [head, "-" * len(head)]
    for r in rows:
        if r.get("refused"):
            lines.append(
                f"{r['step']:<22} {'-':>9} {'-':>16} {r['peak_rss_mb']:>12.0f}  {'':<20} refused: {r['refused']}"
            )
            continue
        rate = f"{r['labels_per_s']:,.0f} labels/s" if "labels_per_s" in r else ""
        lines.append(
            f"{r['step']:<22} {r['seconds']:>9.2f} {rate:>16} {r['peak_rss_mb']:>12.0f}  "
            f"{target_text(r['step']):<20} {verdict(r)}"
        )
    return "\n".join(lines)


def print_profile(path: Path, top: int) -> None:
    import pstats

    stats = pstats.Stats(str(path))
    total = max(stats.total_tt, 1e-9)  # type: ignore[attr-defined]
    print(f"profile: {total:.1f} s of own time in all functions")
    for key, title in (("cumulative", "cumulative time"), ("tottime", "own time")):
        print(f"\ntop {top} by {title}:")
        stats.sort_stats(key).print_stats(top)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workspace", type=Path, required=True, help="the --out folder of bench/scale_workspace.py")
    ap.add_argument("--runs", type=int, default=3, help="runs per step (median; default 3)")
    ap.add_argument("--steps", default="import,gate,release,export", help="comma-separated: import,gate,release,export")
    ap.add_argument("--formats", default=",".join(EXPORT_FORMATS), help="export formats")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument(
        "--profile", metavar="STEP", help="run STEP (import, gate, release, export:FMT) once under cProfile"
    )
    ap.add_argument("--top", type=int, default=30, help="functions shown by --profile")
    ap.add_argument("--step", help=argparse.SUPPRESS)  # the child's entry point
    ap.add_argument("--profile-out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    state = load_state(args.workspace)
    if args.step:
        print(RESULT + json.dumps(run_step(args.step, state, args.profile_out), default=str), flush=True)
        return
    print(f"machine: {machine()}")
    print(f"workspace: {args.workspace} on {state['db']}; {json.dumps(state['counts'])}")
    if args.profile:
        if args.profile == "release":
            child(args.workspace, "prepare")
        with tempfile.TemporaryDirectory() as tmp:
            prof = Path(tmp) / "step.prof"
            result = child(args.workspace, args.profile, prof)
            print(f"{args.profile}: {result}")
            print_profile(prof, args.top)
        return
    print(f"method: one fresh process per run, median of {args.runs} runs, peak RSS = largest ru_maxrss of the runs")
    steps = [x.strip() for x in args.steps.split(",") if x.strip()]
    rows: list[dict[str, Any]] = []
    for step in steps:
        if step == "release":
            child(args.workspace, "prepare")
        names = [f"export:{f}" for f in args.formats.split(",") if f] if step == "export" else [step]
        for name in names:
            t0 = time.perf_counter()
            row = measure(args.workspace, name, args.runs)
            print(f"  {name}: {json.dumps(row, default=str)} ({time.perf_counter() - t0:.0f} s wall)", flush=True)
            rows.append(row)
    print()
    print(table(rows))
    if args.json:
        args.json.write_text(
            json.dumps({"machine": machine(), "workspace": state, "results": rows}, indent=1, default=str) + "\n"
        )


if __name__ == "__main__":
    main()
