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

# Three lanes run side by side, each stopping at its first failing suite: the SQLite lane (backend,
# frontend checks, whole-system tests) in the foreground; in the background the PostgreSQL
# backend suite, and the PostgreSQL whole-system suite followed by the browser tests (on SQLite),
# each suite in its own loopback network namespace (their servers' ports cannot meet) and each
# PostgreSQL pass on a throwaway cluster of its own (a Unix socket only). The background lanes'
# output is kept in files and shown after. The suites mostly wait (on the database server, on
# fake backends' pacing, on a browser), so on two cores three lanes finish sooner than two: with
# two, the run used one core on average (990 s of CPU in 1,037 s).
declare -a LANE_PIDS=() LANE_LOGS=() LANE_NAMES=()
lane() {  # lane NAME COMMAND: runs COMMAND in the background, its output kept for later
  local log
  log=$(mktemp)
  (eval "$2") >"$log" 2>&1 &
  LANE_PIDS+=("$!") LANE_LOGS+=("$log") LANE_NAMES+=("$1")
}
finish_lanes() {  # waits for every background lane, shows its output; fails if one failed
  local status=0 i
  for i in "${!LANE_PIDS[@]}"; do
    wait "${LANE_PIDS[$i]}" || status=1
    echo "==> ${LANE_NAMES[$i]}"
    cat "${LANE_LOGS[$i]}"; rm -f "${LANE_LOGS[$i]}"
  done
  return "$status"
}
lane "backend tests on PostgreSQL" \
  "with_postgres sh -c '. scripts/loopback_only.sh; cd backend && loopback_only \"\$0\" -m pytest tests/ -q --tb=short -p no:cacheprovider' \"\$PY\""
lane "whole-system tests on PostgreSQL (three instances behind nginx among them), then browser tests (SQLite)" \
  "with_postgres sh -c '. scripts/loopback_only.sh; loopback_only \"\$0\" -m pytest tests/system -v --tb=short -p no:cacheprovider' \"\$PY\" \
   && echo '==> browser tests (SQLite)' \
   && loopback_only \"\$PY\" -m pytest tests/browser -v --tb=short -p no:cacheprovider"

# The backend's layers (backend/.importlinter): a lower layer never imports a higher one, and no
# module imports another in a cycle. Breaking either fails here, before the SQLite suites run.
sqlite_lane() {
  echo "==> backend layers contract (lint-imports)"
  (cd backend && "$PWD/../.venv/bin/lint-imports" --no-cache) || return 1
  echo "==> backend tests (SQLite)"
  (cd backend && loopback_only "$PY" -m pytest tests/ -v --tb=short -p no:cacheprovider) || return 1
  if [ -f frontend/package.json ]; then
    echo "==> frontend checks and tests"
    (cd frontend && npm run --silent check:api && npm run --silent typecheck && npm run --silent lint && npm test --silent) || return 1
  fi
  echo "==> whole-system tests (SQLite)"
  loopback_only "$PY" -m pytest tests/ --ignore=tests/browser -v --tb=short -p no:cacheprovider
}

sqlite_status=0
sqlite_lane || sqlite_status=$?
lanes_status=0
finish_lanes || lanes_status=$?
[ "$sqlite_status" = 0 ] && [ "$lanes_status" = 0 ] || exit 1
