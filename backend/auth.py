"""Who is making the request: the built-in local user, or a logged-in user's bearer token."""
from __future__ import annotations

import hashlib
import secrets
import time

import click
from flask import current_app, g, request
from werkzeug.security import check_password_hash, generate_password_hash

from db import LOCAL_USERNAME, IntegrityError, database_path, get_db
from errors import ApiError

# Paths that answer without a login in multi-user mode.
PUBLIC_PATHS = {"/api/auth/mode", "/api/auth/login", "/api/health", "/api/openapi.json"}

_local_ids: dict[str, int] = {}


def _off_the_loop(function, *args):
    """Run a CPU-heavy C call (password hashing, ~0.1 s) where it does not stall the other
    requests: under gevent, in its pool of real threads; with real threads, right here."""
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - requirements.txt installs gevent
        return function(*args)
    if not monkey.is_module_patched("threading"):
        return function(*args)
    import gevent

    return gevent.get_hub().threadpool.apply(function, args)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def multi_user() -> bool:
    return current_app.config.get("AUTH_MODE") == "multi"


def local_user_id() -> int:
    """The id of the built-in user of single-user mode."""
    path = database_path()
    user_id = _local_ids.get(path)
    if user_id is None:
        db = get_db()
        db.execute("INSERT OR IGNORE INTO users (username) VALUES (?)", (LOCAL_USERNAME,))
        user_id = db.execute("SELECT id FROM users WHERE username = ?", (LOCAL_USERNAME,)).fetchone()[0]
        _local_ids[path] = user_id
    return user_id


def current_user_id() -> int:
    """The id of the user this request acts for."""
    if "user_id" not in g:
        g.user_id = local_user_id() if not multi_user() else _user_from_token()
    return g.user_id


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _user_from_token() -> int:
    token = _bearer_token()
    if not token:
        raise ApiError(401, "unauthorized", "Log in first: this server has user accounts.")
    row = get_db().execute(
        "SELECT user_id FROM tokens WHERE token_hash = ?", (hash_token(token),)
    ).fetchone()
    if row is None:
        raise ApiError(401, "unauthorized", "Your session has ended or is not valid; log in again.")
    return row["user_id"]


def require_login() -> None:
    """before_request: in multi-user mode every API and proxy call needs a valid token."""
    if not multi_user() or request.method == "OPTIONS":
        return
    path = request.path
    if path in PUBLIC_PATHS or not (path.startswith("/api/") or path.startswith("/proxy/")):
        return
    current_user_id()


def check_rate(key: str) -> None:
    """Refuse a login when this client failed too often in the last minute (any worker)."""
    limit = current_app.config.get("LOGIN_ATTEMPTS_PER_MINUTE", 10)
    now = time.time()
    count, oldest = get_db().execute(
        "SELECT count(*), min(failed_at) FROM login_failures WHERE attempt_key = ? AND failed_at > ?",
        (key, now - 60),
    ).fetchone()
    if count >= limit:
        retry = int(60 - (now - oldest)) + 1
        error = ApiError(429, "rate_limited", f"Too many failed logins; try again in {retry} s.")
        error.retry_after = retry
        raise error


def record_failure(key: str) -> None:
    db = get_db()
    now = time.time()
    db.execute("DELETE FROM login_failures WHERE failed_at < ?", (now - 3600,))
    db.execute("INSERT INTO login_failures (attempt_key, failed_at) VALUES (?, ?)", (key, now))


def login(username: str, password: str) -> tuple[str, dict]:
    """A new bearer token for valid credentials."""
    row = get_db().execute(
        "SELECT id, username, password_hash FROM users WHERE username = ?", (username,)
    ).fetchone()
    if row is None or not row["password_hash"] or not _off_the_loop(check_password_hash, row["password_hash"], password):
        raise ApiError(401, "invalid_credentials", "Wrong username or password.")
    token = secrets.token_urlsafe(32)
    get_db().execute(
        "INSERT INTO tokens (user_id, token_hash) VALUES (?, ?)", (row["id"], hash_token(token))
    )
    return token, {"id": row["id"], "username": row["username"]}


def logout() -> None:
    token = _bearer_token()
    if token:
        get_db().execute("DELETE FROM tokens WHERE token_hash = ?", (hash_token(token),))


def create_user(username: str, password: str) -> int:
    """Add an account for multi-user mode."""
    db = get_db()
    cursor = db.execute(
        "INSERT INTO users (username, password_hash) VALUES (?, ?)",
        (username, _off_the_loop(generate_password_hash, password)),
    )
    return cursor.lastrowid


@click.command("create-user")
@click.argument("username")
@click.password_option()
def create_user_command(username, password):
    """Create a user account for multi-user mode."""
    if len(password) < 8:
        raise click.ClickException("Choose a password of at least 8 characters.")
    try:
        create_user(username, password)
    except IntegrityError:
        raise click.ClickException(f"A user named {username!r} already exists.") from None
    click.echo(f"Created user {username!r}.")


def init_app(app) -> None:
    app.before_request(require_login)
    app.cli.add_command(create_user_command)
