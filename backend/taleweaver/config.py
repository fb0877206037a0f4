"""Every setting of the server, read from the environment with a default."""
from __future__ import annotations

import os
from pathlib import Path

# backend/, where the spec's modules, openapi.json, gunicorn.conf.py and instance/ live.
BACKEND_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = BACKEND_DIR.parent


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value and value.strip() else default


_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def _size(name: str, default: int) -> int:
    """A size in bytes: a number, or one with a unit (500MB, 1GB, 2GiB)."""
    value = (os.environ.get(name) or "").strip().lower().replace(" ", "")
    if not value:
        return default
    number = value.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = value[len(number):]
    if unit not in _UNITS or not number:
        raise ValueError(f"{name} must be a size in bytes, such as 1000000000, 500MB or 2GiB (not {value!r}).")
    return int(float(number) * _UNITS[unit])


def from_environment() -> dict:
    """The Flask config mapping built from TALEWEAVER_* environment variables."""
    auth_mode = os.environ.get("TALEWEAVER_AUTH_MODE", "single").strip().lower()
    return {
        # None means "<instance folder>/taleweaver.db", resolved when the app is created.
        "DATABASE": os.environ.get("TALEWEAVER_DATABASE") or None,
        # postgresql://user:password@host/dbname: PostgreSQL instead of the SQLite file, so that
        # several instances share users, settings and stories (they then share SECRET_KEYS too).
        "DATABASE_URL": os.environ.get("TALEWEAVER_DATABASE_URL") or None,
        # PostgreSQL connections per worker process (requests hold one only while they query).
        "DATABASE_POOL_SIZE": _int("TALEWEAVER_DATABASE_POOL_SIZE", 10),
        "AUTH_MODE": auth_mode,
        "CORS_ORIGINS": _list(
            "TALEWEAVER_CORS_ORIGINS", ["http://localhost:3000", "http://127.0.0.1:3000"]
        ),
        # Host names this server answers to beyond localhost and the bound address ("*": any).
        "ALLOWED_HOSTS": _list("TALEWEAVER_ALLOWED_HOSTS", []),
        "BIND_HOST": os.environ.get("TALEWEAVER_HOST", "127.0.0.1"),
        # Origins of an API server that the built frontend calls, when not its own (CSP connect-src).
        "API_ORIGINS": _list("TALEWEAVER_API_ORIGINS", []),
        "SECRET_KEYS": _list("TALEWEAVER_SECRET_KEYS", []),
        "SECRET_KEY_FILE": os.environ.get("TALEWEAVER_SECRET_KEY_FILE") or None,
        "MAX_API_BODY": _int("TALEWEAVER_MAX_API_BODY", 1024 * 1024),
        "MAX_PROXY_BODY": _int("TALEWEAVER_MAX_PROXY_BODY", 20 * 1024 * 1024),
        # A library's backup, read as a stream (its stories are also bounded by the quota).
        "MAX_IMPORT_BODY": _size("TALEWEAVER_MAX_IMPORT_BODY", 2 * 2**30),
        # Every byte kept for one user's stories (docs/STORAGE.md); 0: no quota.
        "STORAGE_QUOTA": _size("TALEWEAVER_STORAGE_QUOTA", 10**9),
        # What one story's undo steps may bring in before the oldest go.
        "HISTORY_BYTES": _size("TALEWEAVER_HISTORY_BYTES", 64 * 2**20),
        # Story generations and proxied streams one user may run at once, counted by every worker
        # and instance (0: no cap); the single local user keeps the server's whole capacity.
        "USER_STREAMS": _int("TALEWEAVER_USER_STREAMS", 8 if auth_mode == "multi" else 0),
        "FRONTEND_DIST": os.environ.get("TALEWEAVER_FRONTEND_DIST") or None,
        "STATUS_CACHE_SECONDS": float(os.environ.get("TALEWEAVER_STATUS_CACHE_SECONDS", "5")),
        "MODELS_CACHE_SECONDS": float(os.environ.get("TALEWEAVER_MODELS_CACHE_SECONDS", "10")),
        "STATUS_PROBE_TIMEOUT": float(os.environ.get("TALEWEAVER_STATUS_PROBE_TIMEOUT", "2")),
        # Multi-user SSRF guard: hosts/networks users may point the server at.
        "ALLOWED_BACKEND_HOSTS": _list(
            "TALEWEAVER_ALLOWED_BACKEND_HOSTS",
            ["127.0.0.0/8", "::1", "localhost", "wsl-host", "api.openai.com"],
        ),
        "WSL_FALLBACK": _bool("TALEWEAVER_WSL_FALLBACK", True),
        "LOGIN_ATTEMPTS_PER_MINUTE": _int("TALEWEAVER_LOGIN_ATTEMPTS_PER_MINUTE", 10),
        "ALLOW_REMOTE_SINGLE_USER": _bool("TALEWEAVER_ALLOW_REMOTE_SINGLE_USER", False),
        "LOG_LEVEL": os.environ.get("TALEWEAVER_LOG_LEVEL", "INFO").upper(),
    }
