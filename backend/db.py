"""The SQLite connection of each request, and the schema kept current by numbered migrations."""
from __future__ import annotations

import os
import sqlite3
import threading

import click
from flask import current_app, g

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations")
LOCAL_USERNAME = "local"

_migrated: set[str] = set()
_migrate_lock = threading.Lock()
_thread = threading.local()


def database_path(app=None) -> str:
    """Where the app's database file is: app.config['DATABASE'], read when it is needed."""
    app = app or current_app
    return app.config.get("DATABASE") or os.path.join(app.instance_path, "taleweaver.db")


def connect(path: str) -> sqlite3.Connection:
    """A connection with the settings every use needs."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    if not os.path.exists(path):
        # Settings hold encrypted keys and token hashes: only the owner reads the file
        # (SQLite gives its -wal and -shm files the same permissions).
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def migrations() -> list[tuple[int, str]]:
    """(version, file) of every migration, in order."""
    found = []
    for name in sorted(os.listdir(MIGRATIONS_DIR)):
        if name.endswith(".sql") and name[:3].isdigit():
            if found and found[-1][0] == int(name[:3]):
                # Only one could ever run: the database records the number, not the file.
                raise RuntimeError(f"Two migrations are numbered {name[:3]}: renumber one of them.")
            found.append((int(name[:3]), os.path.join(MIGRATIONS_DIR, name)))
    return found


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the migrations this database has not had yet; returns its schema version."""
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for number, path in migrations():
            if number > version:
                with open(path, encoding="utf-8") as handle:
                    for statement in _statements(handle.read()):
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")
                version = number
        conn.execute("INSERT OR IGNORE INTO users (username) VALUES (?)", (LOCAL_USERNAME,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return version


def _statements(script: str) -> list[str]:
    """The statements of a migration script, split where sqlite3 says one is complete."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        if not current and line.strip().startswith("--"):
            continue
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return statements


def get_db() -> sqlite3.Connection:
    """The request's connection: each thread keeps one open per database file and reuses it,
    because opening and configuring a connection costs more than most queries it runs."""
    if "db" not in g:
        path = database_path()
        try:
            identity = (path, os.stat(path).st_ino)
        except FileNotFoundError:
            identity = None
        conn = getattr(_thread, "conn", None)
        if conn is None or identity is None or _thread.identity != identity:
            if conn is not None:
                conn.close()
            conn = connect(path)
            if path not in _migrated or identity is None:
                with _migrate_lock:
                    migrate(conn)
                    _migrated.add(path)
            _thread.conn, _thread.identity = conn, (path, os.stat(path).st_ino)
        g.db = conn
    return g.db


def close_db(e=None) -> None:
    """End of request: the connection stays open for the thread's next request, never mid-transaction."""
    conn = g.pop("db", None)
    if conn is not None and conn.in_transaction:
        conn.execute("ROLLBACK")


def init_db() -> int:
    """Create or upgrade the schema of the app's database in place (never drops data)."""
    path = database_path()
    conn = connect(path)
    try:
        version = migrate(conn)
    finally:
        conn.close()
    _migrated.add(path)
    return version


@click.command("init-db")
def init_db_command():
    """Create the database, or migrate an existing one to the current schema."""
    version = init_db()
    click.echo(f"Database ready at {database_path()} (schema version {version}).")


def init_app(app) -> None:
    app.teardown_appcontext(close_db)
    app.cli.add_command(init_db_command)
