#!/usr/bin/env bash
# Installs what the tests need and runs every suite: backend unit/API tests (the spec's §6
# suite among them), frontend unit tests and checks, whole-system and browser tests. The
# backend and whole-system suites run twice: on SQLite, and on a throwaway PostgreSQL cluster
# (tests/postgres_cluster.py: initdb in a temporary directory, a Unix socket, removed after).
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh --dev
PY="$PWD/.venv/bin/python"

. scripts/loopback_only.sh

with_postgres() { "$PY" -m tests.postgres_cluster -- "$@"; }

# A PostgreSQL pass runs beside its SQLite pass, its output kept in a file and shown after it.
beside_start() {
  BESIDE_LOG=$(mktemp)
  (with_postgres sh -c ". scripts/loopback_only.sh; $1" "$PY" >"$BESIDE_LOG" 2>&1) &
  BESIDE_PID=$!
}
beside_finish() {  # waits for it, shows its output under the heading $1; its exit status
  local status=0
  wait "$BESIDE_PID" || status=$?
  echo "==> $1"
  cat "$BESIDE_LOG"; rm -f "$BESIDE_LOG"
  return "$status"
}

# The backend's layers (backend/.importlinter): a lower layer never imports a higher one, and no
# module imports another in a cycle. Breaking either fails here, before any suite runs.
echo "==> backend layers contract (lint-imports)"
(cd backend && "$PWD/../.venv/bin/lint-imports" --no-cache) || exit 1

# The backend suite's PostgreSQL pass mostly waits on the database server, so running it beside
# the SQLite pass keeps the whole run within its time budget on two cores.
echo "==> backend tests (SQLite, and PostgreSQL alongside: its log is shown after)"
beside_start 'cd backend && loopback_only "$0" -m pytest tests/ -q --tb=short -p no:cacheprovider'
backend_status=0
(cd backend && loopback_only "$PY" -m pytest tests/ -v --tb=short -p no:cacheprovider) || backend_status=$?

# The frontend checks run while the PostgreSQL pass finishes (it outlasts the SQLite pass).
frontend_status=0
if [ -f frontend/package.json ]; then
  echo "==> frontend checks and tests"
  (cd frontend && npm run --silent check:api && npm run --silent typecheck && npm run --silent lint && npm test --silent) || frontend_status=$?
fi

pg_status=0
beside_finish "backend tests on PostgreSQL" || pg_status=$?
[ "$backend_status" = 0 ] && [ "$pg_status" = 0 ] && [ "$frontend_status" = 0 ] || exit 1

# The whole-system tests' PostgreSQL pass runs beside the SQLite pass too, each in its own
# loopback network namespace (their servers' ports cannot meet): one after the other they took
# 512 s of a 15-minute budget here, side by side 340-358 s.
echo "==> whole-system and browser tests (SQLite, and on PostgreSQL alongside: its log is shown after)"
beside_start 'loopback_only "$0" -m pytest tests/system -v --tb=short -p no:cacheprovider'
system_status=0
loopback_only "$PY" -m pytest tests/ -v --tb=short -p no:cacheprovider || system_status=$?

system_pg_status=0
beside_finish "whole-system tests on PostgreSQL (three instances behind nginx among them)" || system_pg_status=$?
[ "$system_status" = 0 ] && [ "$system_pg_status" = 0 ] || exit 1
