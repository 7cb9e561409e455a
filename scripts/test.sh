#!/usr/bin/env bash
# The whole suite: static checks, then pytest on SQLite and on PostgreSQL side by side.
#
# PostgreSQL: KOKUDAKA_TEST_POSTGRES_URL names a server (default: the local one on
# loopback). If a local cluster is installed but stopped it is started. Outside CI the
# PostgreSQL run is skipped, with a notice, when no server can be reached; in CI
# (CI=true) an unreachable PostgreSQL fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PG_URL="${KOKUDAKA_TEST_POSTGRES_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/postgres}"

scripts/lint.sh
scripts/browser-deps.sh

pg_reachable() {
  "$BIN/python" - "$PG_URL" <<'PY' >/dev/null 2>&1
import sys
from sqlalchemy import create_engine, text
engine = create_engine(sys.argv[1], connect_args={"connect_timeout": 3})
with engine.connect() as conn:
    conn.execute(text("select 1"))
PY
}

start_local_postgres() {
  command -v pg_lsclusters >/dev/null 2>&1 || return 1
  pg_lsclusters --no-header | while read -r version cluster _port status _rest; do
    if [ "$status" != "online" ]; then
      echo "starting PostgreSQL cluster $version/$cluster"
      pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start || true
    fi
  done
  for _ in $(seq 1 30); do pg_reachable && return 0; sleep 1; done
  return 1
}

run_pytest() {
  local status=0
  "$BIN/python" -m pytest "$@" || status=$?
  # Exit status 5 means no test ran: that is a failure of the suite, not a pass.
  if [ "$status" -ne 0 ]; then
    echo "pytest failed with status $status" >&2
  fi
  return "$status"
}

if pg_reachable || start_local_postgres; then
  # The two databases' runs go side by side: most of a run's time is spent waiting
  # (on the chain's blocks, on servers starting), not on the CPU. PostgreSQL's output
  # is kept and printed after SQLite's, so neither is interleaved.
  pg_log="$(mktemp)"
  trap 'rm -f "$pg_log"' EXIT
  KOKUDAKA_TEST_DATABASE_URL="$PG_URL" run_pytest -p no:cacheprovider >"$pg_log" 2>&1 &
  pg_pid=$!
  echo "== tests on SQLite (PostgreSQL's run goes on beside it; its output follows)"
  sqlite_status=0
  run_pytest -p no:cacheprovider || sqlite_status=$?
  pg_status=0
  wait "$pg_pid" || pg_status=$?
  echo "== tests on PostgreSQL"
  cat "$pg_log"
  if [ "$sqlite_status" -ne 0 ] || [ "$pg_status" -ne 0 ]; then
    echo "FAILED: SQLite run status $sqlite_status, PostgreSQL run status $pg_status" >&2
    exit 1
  fi
elif [ "${CI:-}" = "true" ]; then
  echo "PostgreSQL is required in CI and could not be reached at $PG_URL" >&2
  exit 1
else
  echo "== tests on SQLite"
  run_pytest -p no:cacheprovider
  echo "NOTICE: no PostgreSQL reachable at $PG_URL; ran on SQLite only"
fi
