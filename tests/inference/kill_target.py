"""Executes one run in a child process, pausing after each committed batch; the resume test SIGKILLs it.

python -m tests.inference.kill_target DB_URL REPO_DIR RUN_ID USER_ID USERNAME SIGNALS_DIR PAUSE_S
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from inference.runner import RunnerOptions, RunProgress, execute_run
from lineage.context import Actor
from lineage.db import make_engine


def main(argv: list[str]) -> None:
    db_url, repo_dir, run_id, user_id, username, signals, pause = argv
    engine = make_engine(db_url)

    def slow(_: RunProgress) -> None:
        time.sleep(float(pause))  # widens the window between commits so the kill lands mid-run

    execute_run(
        engine,
        run_id=int(run_id),
        actor=Actor(user_id=int(user_id), username=username, request_id="kill-target"),
        repo_dir=Path(repo_dir),
        options=RunnerOptions(signals_dir=Path(signals), on_progress=slow),
    )


if __name__ == "__main__":
    main(sys.argv[1:])
