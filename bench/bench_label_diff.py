"""Benchmark: the label diff of a 1M-label version to its child (a script, not a test).

Build (untimed): v1 gets N box labels through the real COCO import; v2 is its child holding a copy of every
live label (the inheritance rows, written with one INSERT ... SELECT for speed), then about 1 % of v2's labels
are corrected (half moved beyond the IoU threshold, half given another class), 0.5 % rejected (tombstones)
and 1 % added. Timed: ``lineage.reports.diff.label_diff(v1 -> v2)`` in a fresh process, with that process's
peak resident memory (VmHWM) before and after.

    python bench/bench_label_diff.py --n 1000000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine
from bench_import import make_coco, prepare_db, timed_import
from sqlalchemy import text
from sqlmodel import Session

from lineage.db import make_engine
from lineage.models import DatasetVersion

COLS = (
    "category, geometry_type, x, y, w, h, geometry, attributes, kind, annotator_id, model_version_id, weights_sha256, "
    "confidence, threshold, autolabel_run_id, source_sha256, source_format, generator_config_hash"
)


def build(url: str, n: int, images: int, tmp: Path) -> tuple[int, int]:
    actor, v1 = prepare_db(url, images=images)
    coco = tmp / "coco.json"
    make_coco(coco, n=n, images=images)
    timed_import(url, coco, actor, v1, 50_000)
    engine = make_engine(url)
    with Session(engine) as s:
        parent = s.get(DatasetVersion, v1)
        assert parent is not None
        child = DatasetVersion(dataset_id=parent.dataset_id, version="v2", parent_id=v1,
                               schema_version_id=parent.schema_version_id, item_count=images,
                               created_by=actor.user_id)  # fmt: skip
        s.add(child)
        s.flush()
        v2 = child.id or 0
        s.execute(text("INSERT INTO items (dataset_version_id, uri, sha256, size_bytes, width, height) "
                       "SELECT :v2, uri, sha256, size_bytes, width, height FROM items WHERE dataset_version_id = :v1"),
                  {"v1": v1, "v2": v2})  # fmt: skip
        now = "2026-01-01 00:00:00.000000"
        s.execute(text(f"INSERT INTO annotations (dataset_version_id, item_id, {COLS}, origin_id, created_at) "
                       f"SELECT :v2, ci.id, {', '.join('a.' + c.strip() for c in COLS.split(','))}, a.id, :now "
                       "FROM annotations a JOIN items pi ON pi.id = a.item_id "
                       "JOIN items ci ON ci.dataset_version_id = :v2 AND ci.uri = pi.uri "
                       "WHERE a.dataset_version_id = :v1"), {"v1": v1, "v2": v2, "now": now})  # fmt: skip
        human = {"v2": v2, "u": actor.user_id, "now": now}
        # 0.5 % moved 300 px right (beyond any IoU), 0.5 % relabelled, 0.5 % rejected, 1 % added
        for every, select in (
            (200, "a.category, 'box', a.x + 300, a.y, a.w, a.h"),
            (201, "CASE a.category WHEN 'car' THEN 'bus' ELSE 'car' END, 'box', a.x, a.y, a.w, a.h"),
            (199, "a.category, 'deleted', NULL, NULL, NULL, NULL"),
        ):
            s.execute(text("INSERT INTO annotations (dataset_version_id, item_id, category, geometry_type, x, y, w, h, "
                           "kind, annotator_id, supersedes_id, created_at) "
                           f"SELECT :v2, a.item_id, {select}, 'human', :u, a.id, :now FROM annotations a "
                           "WHERE a.dataset_version_id = :v2 AND a.supersedes_id IS NULL "
                           f"AND a.origin_id % {every} = 0 "
                           "AND NOT EXISTS (SELECT 1 FROM annotations s WHERE s.supersedes_id = a.id)"),
                      human)  # fmt: skip
        s.execute(text("INSERT INTO annotations (dataset_version_id, item_id, category, geometry_type, x, y, w, h, "
                       "kind, annotator_id, created_at) "
                       "SELECT :v2, a.item_id, 'dog', 'box', 1, 1, 3, 3, 'human', :u, :now FROM annotations a "
                       "WHERE a.dataset_version_id = :v2 AND a.origin_id % 100 = 7"), human)  # fmt: skip
        s.commit()
    engine.dispose()
    return v1, v2


def _hwm_mib() -> int:
    """Peak resident memory of this process (VmHWM; unlike ``ru_maxrss`` not inherited across exec), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def measure(url: str, v1: int, v2: int) -> None:
    from lineage.reports.diff import label_diff

    engine = make_engine(url)
    before = _hwm_mib()
    with Session(engine) as s:
        old, new = s.get(DatasetVersion, v1), s.get(DatasetVersion, v2)
        assert old is not None and new is not None
        t0 = time.perf_counter()
        d = label_diff(s, dataset="bench", old=old, new=new)
        elapsed = time.perf_counter() - t0
    after = _hwm_mib()
    print(json.dumps({"seconds": round(elapsed, 2), "rss_before_mib": before, "peak_rss_mib": after,
                      "totals": d.to_dict()["totals"]}))  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--images", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--measure", nargs=3, metavar=("URL", "V1", "V2"))
    args = ap.parse_args()
    if args.measure:
        measure(args.measure[0], int(args.measure[1]), int(args.measure[2]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        t0 = time.perf_counter()
        v1, v2 = build(url, args.n, args.images, Path(tmp))
        print(f"built {args.n} labels in v1 and its child v2 in {time.perf_counter() - t0:.1f}s; {machine()}")
        for _ in range(args.runs):
            out = subprocess.run([sys.executable, __file__, "--measure", url, str(v1), str(v2)], check=True,
                                 capture_output=True, text=True)  # fmt: skip
            print(out.stdout.strip())


if __name__ == "__main__":
    main()
