#!/usr/bin/env bash
# The backend suite with a coverage report (terminal and backend/htmlcov/).
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh --dev
cd backend
../.venv/bin/python -m pytest tests/ --cov=. --cov-report=html --cov-report=term
