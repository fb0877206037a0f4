"""Users, their login tokens (only hashes are kept) and failed logins, in plain SQL: the rows
behind single-user mode's built-in user and multi-user mode's accounts."""
from __future__ import annotations

import hashlib
import time

from taleweaver.storage.db import LOCAL_USERNAME, database_path, get_db

_local_ids: dict[str, int] = {}


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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


def user_of_token(token: str) -> int | None:
    """The user a bearer token belongs to, or None for an unknown (or logged-out) token."""
    row = get_db().execute("SELECT user_id FROM tokens WHERE token_hash = ?", (hash_token(token),)).fetchone()
    return row["user_id"] if row else None


def add_token(user_id: int, token: str) -> None:
    get_db().execute("INSERT INTO tokens (user_id, token_hash) VALUES (?, ?)", (user_id, hash_token(token)))


def forget_token(token: str) -> None:
    get_db().execute("DELETE FROM tokens WHERE token_hash = ?", (hash_token(token),))


def user_named(username: str):
    """The row (id, username, password_hash) of a user, or None."""
    return get_db().execute(
        "SELECT id, username, password_hash FROM users WHERE username = ?", (username,)
    ).fetchone()


def user_by_id(user_id: int):
    """The row (id, username) of a user, or None."""
    return get_db().execute("SELECT id, username FROM users WHERE id = ?", (user_id,)).fetchone()


def add_user(username: str, password_hash: str) -> int:
    return get_db().execute(
        "INSERT INTO users (username, password_hash) VALUES (?, ?)", (username, password_hash)
    ).lastrowid


def recent_failures(attempt_key: str, seconds: float) -> tuple[int, float | None]:
    """(how many logins failed for this key within `seconds`, when the oldest of them failed),
    counted in the database so that every worker and instance sees the same figure."""
    count, oldest = get_db().execute(
        "SELECT count(*), min(failed_at) FROM login_failures WHERE attempt_key = ? AND failed_at > ?",
        (attempt_key, time.time() - seconds),
    ).fetchone()
    return count, oldest


def record_failure(attempt_key: str) -> None:
    """A failed login, kept for an hour."""
    db = get_db()
    now = time.time()
    db.execute("DELETE FROM login_failures WHERE failed_at < ?", (now - 3600,))
    db.execute("INSERT INTO login_failures (attempt_key, failed_at) VALUES (?, ?)", (attempt_key, now))
