#!/usr/bin/env bash
# Rebuild tests/fixtures/workspace-rev<REV>.sql.gz: the demo's database as a previous release wrote it.
#   scripts/make-upgrade-fixture.sh <git revision of that release> <alembic revision it ends at>
# e.g. scripts/make-upgrade-fixture.sh e4732fc 0003   (needs .venv; about 5 minutes)
set -euo pipefail
commit=${1:?git revision of the previous release}
rev=${2:?its alembic head, e.g. 0003}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$tmp/src" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git -C "$root" worktree add --detach "$tmp/src" "$commit" >/dev/null
(cd "$tmp/src" && PYTHONPATH="$tmp/src" "$root/.venv/bin/python" -c \
  "import sys; sys.argv=['labelgate','demo','--no-serve','--images','10','--workspace','$tmp/ws']; \
from service.cli.main import main; main()" >/dev/null)
"$root/.venv/bin/python" - "$tmp/ws/labelgate.db" "$root/tests/fixtures/workspace-rev$rev.sql.gz" <<'PY'
import gzip, sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
(rev,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
print(f"revision {rev}")
data = "\n".join(conn.iterdump()).encode()
with open(sys.argv[2], "wb") as f:
    f.write(gzip.compress(data, 9, mtime=0))
PY
