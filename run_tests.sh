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

# Two lanes run side by side, each stopping at its first failing suite: the SQLite lane (backend,
# frontend checks, whole-system and browser tests) in the foreground, and the PostgreSQL lane
# (backend, then whole-system tests, each on a throwaway cluster, in its own loopback network
# namespace so their servers' ports cannot meet), its output kept in a file and shown after.
# Without a barrier between the backend and the whole-system suites, neither lane waits for the
# other's slower half: the PostgreSQL backend pass (mostly waiting on the database server) used to
# hold back the SQLite whole-system pass by about two minutes.
PG_LOG=$(mktemp)
(
  with_postgres sh -c '. scripts/loopback_only.sh; cd backend && loopback_only "$0" -m pytest tests/ -q --tb=short -p no:cacheprovider' "$PY" \
    && echo "==> whole-system tests on PostgreSQL (three instances behind nginx among them)" \
    && with_postgres sh -c '. scripts/loopback_only.sh; loopback_only "$0" -m pytest tests/system -v --tb=short -p no:cacheprovider' "$PY"
) >"$PG_LOG" 2>&1 &
PG_PID=$!
pg_lane() {  # waits for the PostgreSQL lane, shows its output; its exit status
  local status=0
  wait "$PG_PID" || status=$?
  echo "==> the PostgreSQL lane: backend tests, then whole-system tests"
  cat "$PG_LOG"; rm -f "$PG_LOG"
  return "$status"
}

# The backend's layers (backend/.importlinter): a lower layer never imports a higher one, and no
# module imports another in a cycle. Breaking either fails here, before any suite runs.
sqlite_lane() {
  echo "==> backend layers contract (lint-imports)"
  (cd backend && "$PWD/../.venv/bin/lint-imports" --no-cache) || return 1
  echo "==> backend tests (SQLite)"
  (cd backend && loopback_only "$PY" -m pytest tests/ -v --tb=short -p no:cacheprovider) || return 1
  if [ -f frontend/package.json ]; then
    echo "==> frontend checks and tests"
    (cd frontend && npm run --silent check:api && npm run --silent typecheck && npm run --silent lint && npm test --silent) || return 1
  fi
  echo "==> whole-system and browser tests (SQLite)"
  loopback_only "$PY" -m pytest tests/ -v --tb=short -p no:cacheprovider
}

sqlite_status=0
sqlite_lane || sqlite_status=$?
pg_status=0
pg_lane || pg_status=$?
[ "$sqlite_status" = 0 ] && [ "$pg_status" = 0 ] || exit 1
