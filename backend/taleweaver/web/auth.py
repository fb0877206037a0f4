"""Who is making the request: the built-in local user, or a logged-in user's bearer token."""
from __future__ import annotations

import secrets
import time

import click
import gevent
from flask import current_app, g, request
from gevent import monkey
from werkzeug.security import check_password_hash, generate_password_hash

from taleweaver.accounts import store as accounts
from taleweaver.errors import ApiError
from taleweaver.storage.db import IntegrityError

# Paths that answer without a login in multi-user mode.
PUBLIC_PATHS = {"/api/auth/mode", "/api/auth/login", "/api/health", "/api/openapi.json"}


def _off_the_loop(function, *args):
    """Run a CPU-heavy C call (password hashing, ~0.1 s) where it does not stall the other
    requests: under gevent, in its pool of real threads; with real threads, right here."""
    if not monkey.is_module_patched("threading"):
        return function(*args)
    return gevent.get_hub().threadpool.apply(function, args)


def multi_user() -> bool:
    return current_app.config.get("AUTH_MODE") == "multi"


def current_user_id() -> int:
    """The id of the user this request acts for."""
    if "user_id" not in g:
        g.user_id = accounts.local_user_id() if not multi_user() else _user_from_token()
    return g.user_id


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _user_from_token() -> int:
    token = _bearer_token()
    if not token:
        raise ApiError(401, "unauthorized", "Log in first: this server has user accounts.")
    user_id = accounts.user_of_token(token)
    if user_id is None:
        raise ApiError(401, "unauthorized", "Your session has ended or is not valid; log in again.")
    return user_id


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
    count, oldest = accounts.recent_failures(key, 60)
    if count >= limit:
        retry = int(60 - (time.time() - oldest)) + 1
        error = ApiError(429, "rate_limited", f"Too many failed logins; try again in {retry} s.")
        error.retry_after = retry
        raise error


def record_failure(key: str) -> None:
    accounts.record_failure(key)


def login(username: str, password: str) -> tuple[str, dict]:
    """A new bearer token for valid credentials."""
    row = accounts.user_named(username)
    if row is None or not row["password_hash"] or not _off_the_loop(check_password_hash, row["password_hash"], password):
        raise ApiError(401, "invalid_credentials", "Wrong username or password.")
    token = secrets.token_urlsafe(32)
    accounts.add_token(row["id"], token)
    return token, {"id": row["id"], "username": row["username"]}


def logout() -> None:
    token = _bearer_token()
    if token:
        accounts.forget_token(token)


def create_user(username: str, password: str) -> int:
    """Add an account for multi-user mode."""
    return accounts.add_user(username, _off_the_loop(generate_password_hash, password))


def signed_in_user() -> dict:
    """The user this request acts for: {"id", "username"}."""
    row = accounts.user_by_id(current_user_id())
    return {"id": row["id"], "username": row["username"]}


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
