#!/usr/bin/env bash
# Installs what Taleweaver needs on a fresh machine. Used by run.sh and run_tests.sh.
#   scripts/setup.sh          runtime: Python venv + packages, frontend build
#   scripts/setup.sh --dev    also test tools, frontend dev deps, Debian chromium
set -euo pipefail
cd "$(dirname "$0")/.."
DEV=0
[ "${1:-}" = "--dev" ] && DEV=1

say() { printf '==> %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "Need root to run: $* (install it by hand or run as root)" >&2; return 1; fi
}

apt_install() {
  if ! command -v apt-get >/dev/null; then
    echo "Please install: $* (no apt-get on this machine)" >&2; return 1
  fi
  if [ ! -f /tmp/.taleweaver-apt-updated ]; then
    as_root apt-get update -qq && touch /tmp/.taleweaver-apt-updated
  fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

PYTHON=${PYTHON:-python3}
if ! command -v "$PYTHON" >/dev/null; then
  say "installing python3"; apt_install python3 python3-venv python3-pip
fi
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$PYTHON" -m venv .venv || { apt_install python3-venv && "$PYTHON" -m venv .venv; }
fi
REQ=requirements.txt
[ "$DEV" = 1 ] && REQ=requirements-dev.txt
STAMP=.venv/.installed-$(cat "$REQ" requirements.txt requirements.lock 2>/dev/null | sha1sum | cut -c1-12)-$DEV
if [ ! -f "$STAMP" ]; then
  say "installing Python packages ($REQ)"
  .venv/bin/python -m pip install -q --disable-pip-version-check -r "$REQ" -c requirements.lock
  touch "$STAMP"
fi

if [ -f frontend/package.json ]; then
  if ! command -v npm >/dev/null; then
    say "installing Node.js"; apt_install nodejs npm
  fi
  if [ ! -d frontend/node_modules ] || [ frontend/package-lock.json -nt frontend/node_modules/.package-lock.json ]; then
    say "installing frontend packages"
    (cd frontend && npm ci --no-audit --no-fund --loglevel=error)
  fi
  if [ ! -f frontend/dist/index.html ] || [ -n "$(find frontend/src frontend/index.html frontend/package.json -newer frontend/dist/index.html 2>/dev/null | head -1)" ]; then
    say "building the frontend"
    (cd frontend && npm run build --silent)
  fi
fi

if [ "$DEV" = 1 ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  say "installing Debian postgresql for the PostgreSQL test pass"
  apt_install postgresql
fi
if [ "$DEV" = 1 ] && ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  say "installing Debian nginx for the many-instances test"
  apt_install nginx
fi
if [ "$DEV" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  say "installing Debian chromium for the browser tests"
  apt_install chromium
fi
