#!/usr/bin/env bash
# The PostgreSQL server the tests run against, made ready on this machine: prints its
# SQLAlchemy URL on standard output, or nothing (status 1) when there is none to be had.
#
# KOKUDAKA_TEST_POSTGRES_URL names a server to use as it is (a stopped local cluster is
# started). Otherwise the local server on loopback port KOKUDAKA_TEST_POSTGRES_PORT (5432):
# - PostgreSQL not installed: installed with apt-get when running as root (Debian's package
#   creates a cluster);
# - a cluster stopped: started;
# - the postgres role not admitted over loopback without a password (Debian's default
#   pg_hba.conf asks for one): a test role kokudaka_test is created through the local
#   socket and used with its password. It can create and drop the tests' databases.
# Messages go to standard error.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PORT="${KOKUDAKA_TEST_POSTGRES_PORT:-5432}"
TEST_ROLE=kokudaka_test
TEST_PASSWORD=kokudaka-test

reachable() {
  "$PY" - "$1" <<'PY' >/dev/null 2>&1
import sys
from sqlalchemy import create_engine, text
engine = create_engine(sys.argv[1], connect_args={"connect_timeout": 3})
with engine.connect() as conn:
    conn.execute(text("select 1"))
PY
}

as_root() { [ "$(id -u)" -eq 0 ]; }

start_clusters() {
  command -v pg_lsclusters >/dev/null 2>&1 || return 0
  pg_lsclusters --no-header | while read -r version cluster _port status _rest; do
    if [ "$status" != "online" ]; then
      echo "starting PostgreSQL cluster $version/$cluster" >&2
      pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start >&2 || true
    fi
  done
}

wait_for() {
  for _ in $(seq 1 30); do reachable "$1" && return 0; sleep 1; done
  return 1
}

if [ -n "${KOKUDAKA_TEST_POSTGRES_URL:-}" ]; then
  url="$KOKUDAKA_TEST_POSTGRES_URL"
  if ! reachable "$url"; then
    start_clusters
    wait_for "$url" || exit 1
  fi
  echo "$url"
  exit 0
fi

trusted="postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
with_password="postgresql+psycopg://$TEST_ROLE:$TEST_PASSWORD@127.0.0.1:$PORT/postgres"
for url in "$trusted" "$with_password"; do
  if reachable "$url"; then echo "$url"; exit 0; fi
done

if ! command -v pg_lsclusters >/dev/null 2>&1; then
  if as_root && command -v apt-get >/dev/null 2>&1; then
    echo "installing PostgreSQL for the tests (apt-get install postgresql)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  else
    echo "PostgreSQL is not installed (as root, make test installs it with apt-get)" >&2
    exit 1
  fi
fi
start_clusters
for _ in $(seq 1 15); do
  for url in "$trusted" "$with_password"; do
    if reachable "$url"; then echo "$url"; exit 0; fi
  done
  # The server answers on its socket before the password is set up: make the role.
  if as_root && command -v runuser >/dev/null 2>&1 \
    && runuser -u postgres -- psql -p "$PORT" -qAt -c "select 1" >/dev/null 2>&1; then
    echo "creating the PostgreSQL role $TEST_ROLE for the tests" >&2
    runuser -u postgres -- psql -p "$PORT" -q -v ON_ERROR_STOP=1 >&2 <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$TEST_ROLE') THEN
    CREATE ROLE $TEST_ROLE LOGIN CREATEDB PASSWORD '$TEST_PASSWORD';
  ELSE
    ALTER ROLE $TEST_ROLE LOGIN CREATEDB PASSWORD '$TEST_PASSWORD';
  END IF;
END \$\$;
SQL
    if wait_for "$with_password"; then echo "$with_password"; exit 0; fi
  fi
  sleep 1
done
echo "no PostgreSQL reachable on 127.0.0.1:$PORT" >&2
exit 1
