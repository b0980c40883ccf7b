#!/usr/bin/env bash
# Start the local PostgreSQL cluster if it is installed and down. The database tests run against it
# (LABELGATE_TEST_PG_URL, default postgresql://postgres@127.0.0.1:5432/test); under CI=true they fail,
# rather than skip, when it cannot be reached.
set -uo pipefail
if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  exit 0
fi
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  version=$(ls /etc/postgresql | sort -V | tail -1)
  echo "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p 5432 && exit 0
    sleep 1
  done
fi
echo "warning: PostgreSQL is not reachable on 127.0.0.1:5432; its tests will skip (or fail under CI=true)" >&2
