#!/usr/bin/env bash
# Installs what is missing, builds the frontend and serves Taleweaver on http://127.0.0.1:5000
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
.venv/bin/flask --app backend/app init-db
echo "==> Taleweaver on http://${TALEWEAVER_HOST:-127.0.0.1}:${TALEWEAVER_PORT:-5000}"
exec .venv/bin/gunicorn --config backend/gunicorn.conf.py "app:create_app()"
