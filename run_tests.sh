#!/usr/bin/env bash
# Installs what the tests need and runs every suite: backend unit/API tests (the spec's §6
# suite among them), frontend unit tests and checks, whole-system and browser tests.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh --dev
PY="$PWD/.venv/bin/python"

echo "==> backend tests"
(cd backend && "$PY" -m pytest tests/ -v --tb=short -p no:cacheprovider)

if [ -f frontend/package.json ]; then
  echo "==> frontend checks and tests"
  (cd frontend && npm run --silent typecheck && npm run --silent lint && npm test --silent)
fi

echo "==> whole-system and browser tests"
"$PY" -m pytest tests/ -v --tb=short -p no:cacheprovider
