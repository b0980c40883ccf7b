"""Benchmark: the dashboard's pages on a scale workspace (issue 16, item 4: each page <= 2 s).

Runs the browser test's scale variant (``tests/dashboard/test_browser_scale.py``) on the workspace that
``bench/scale_workspace.py`` built: the API (uvicorn) and the dashboard as processes, Chromium signing in as
the admin and as the compliance officer and visiting every page ``--visits`` times, plus the version page
of the workspace's version (``scale@v1``: its gates, plots and sign-off). A page's time runs from the click
in the navigation (or the version picked) until its heading shows and no script has run for 2 s
(Streamlit's app element tells whether its script runs); the quiet 2 s are not counted. The first visit of
a page after the servers start is reported apart ("cold"): it computes what later visits reuse.

    python bench/scale_workspace.py --out /tmp/scale --db sqlite        # once
    python bench/bench_dashboard.py --workspace /tmp/scale --visits 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from _common import cpu_model  # noqa: E402

RESULTS = ROOT / "artifacts" / "dashboard-scale.json"
TARGET_S = 2.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workspace", type=Path, required=True, help="the --out folder of bench/scale_workspace.py")
    ap.add_argument("--visits", type=int, default=3, help="visits of each page (default 3)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    env = {**os.environ, "LABELGATE_SCALE_WORKSPACE": str(args.workspace), "LABELGATE_SCALE_VISITS": str(args.visits)}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/dashboard/test_browser_scale.py"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, check=False)
    if proc.returncode != 0:
        sys.exit(f"the browser test failed (exit {proc.returncode}); no figures")
    data = json.loads(RESULTS.read_text())
    print(f"machine: {cpu_model()}, {os.cpu_count()} logical cores; workspace {data['workspace']} ({data['db']})")
    print(f"counts: {json.dumps(data['counts'], sort_keys=True)}")
    print(f"method: {data['visits']} visits per page and role; cold = first visit, warm = median of the others\n")
    print(f"{'role':<20}{'page':<18}{'cold s':>8}{'warm s':>8}  verdict (<= {TARGET_S:g} s warm)")
    figures = {}
    for role, pages in data["seconds"].items():
        for page, runs in pages.items():
            cold, rest = runs[0], runs[1:] or runs
            warm = statistics.median(rest)
            figures[f"{role}/{page}"] = {"cold_s": cold, "warm_s": warm, "runs": runs}
            verdict = "met" if warm <= TARGET_S else "MISSED"
            print(f"{role:<20}{page:<18}{cold:>8.2f}{warm:>8.2f}  {verdict}")
    if args.json:
        args.json.write_text(json.dumps({"source": data, "figures": figures}, indent=1))


if __name__ == "__main__":
    main()
