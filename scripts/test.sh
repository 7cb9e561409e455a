#!/usr/bin/env bash
# The whole suite: static checks, then pytest on SQLite and on PostgreSQL side by side.
#
# PostgreSQL: scripts/postgres.sh makes a server ready (installed, started, a role the tests
# can sign in with) and names it. Outside CI the PostgreSQL run is skipped, with a notice,
# when there is none; in CI (CI=true) that fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

scripts/lint.sh
scripts/browser-deps.sh

run_pytest() {
  local status=0
  "$BIN/python" -m pytest "$@" || status=$?
  # Exit status 5 means no test ran: that is a failure of the suite, not a pass.
  if [ "$status" -ne 0 ]; then
    echo "pytest failed with status $status" >&2
  fi
  return "$status"
}

if PG_URL="$(scripts/postgres.sh)"; then
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
  echo "PostgreSQL is required in CI and none could be made ready (scripts/postgres.sh)" >&2
  exit 1
else
  echo "== tests on SQLite"
  run_pytest -p no:cacheprovider
  echo "NOTICE: no PostgreSQL could be made ready (scripts/postgres.sh); ran on SQLite only"
fi
