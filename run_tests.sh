#!/usr/bin/env bash
# Installs what the tests need and runs every suite: backend unit/API tests (the spec's §6
# suite among them), frontend unit tests and checks, whole-system and browser tests.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh --dev
PY="$PWD/.venv/bin/python"

# Whole-system and browser tests run in a network namespace of their own that has only the
# loopback interface, so no test can send traffic anywhere but 127.0.0.0/8.
loopback_only() {
  if [ "${TALEWEAVER_NO_NETNS:-0}" != 1 ] && unshare -n true 2>/dev/null && command -v ip >/dev/null; then
    unshare -n sh -c 'ip link set lo up && exec "$@"' sh "$@"
  else
    echo "(no network namespace here: tests run on the host network, loopback addresses only)"
    "$@"
  fi
}

echo "==> backend tests"
(cd backend && loopback_only "$PY" -m pytest tests/ -v --tb=short -p no:cacheprovider)

if [ -f frontend/package.json ]; then
  echo "==> frontend checks and tests"
  (cd frontend && npm run --silent check:api && npm run --silent typecheck && npm run --silent lint && npm test --silent)
fi

echo "==> whole-system and browser tests"
loopback_only "$PY" -m pytest tests/ -v --tb=short -p no:cacheprovider
