"""The database connection of each request (SQLite by default, PostgreSQL when
TALEWEAVER_DATABASE_URL names one), and the schema kept current by numbered migrations.

Stores call `get_db().execute(sql, params)` with SQLite's SQL and read rows by name or by
index on either database; `db_dialect` holds every difference between the two.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import sqlite3
import threading
import time

import click
import psycopg
from flask import current_app, g

from taleweaver.storage import dialect as db_dialect
from taleweaver.storage import postgres, trouble
from taleweaver.storage.postgres import PostgresConnection, connection_lost, probe, where
from taleweaver.storage.trouble import DatabaseUnavailable

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations")
LOCAL_USERNAME = "local"
# Idle SQLite connections kept per database file and process, for the next request to reuse.
SQLITE_IDLE_CONNECTIONS = 32
# How long a write waits for another writer's lock on the SQLite file before it is refused.
SQLITE_BUSY_SECONDS = 30
# The longest pause between two tries of a statement that found the SQLite file locked.
SQLITE_BUSY_PAUSE_MAX = 0.05

_migrated: set[str] = set()
_migrate_lock = threading.Lock()
_sqlite_idle: dict[tuple, list[sqlite3.Connection]] = {}

# What a UNIQUE or foreign-key violation raises, on either database.
IntegrityError = (sqlite3.IntegrityError, psycopg.IntegrityError)


def database_url(app=None) -> str | None:
    """The PostgreSQL URL the app runs on, or None for the SQLite file."""
    app = app or current_app
    return app.config.get("DATABASE_URL") or None


def database_path(app=None) -> str:
    """Which database the app uses, as a key for per-process caches: the PostgreSQL URL, or
    where the SQLite file is (app.config['DATABASE'], read when it is needed)."""
    app = app or current_app
    return database_url(app) or app.config.get("DATABASE") or os.path.join(app.instance_path, "taleweaver.db")


def dialect_of(conn):
    """The dialect of a connection (a store's bulk writes differ where SQL cannot hide it)."""
    return db_dialect.POSTGRES if isinstance(conn, PostgresConnection) else db_dialect.SQLITE


def dialect(app=None):
    return db_dialect.for_url(database_url(app))


# -- SQLite ----------------------------------------------------------------------------------
def _locked(exc: sqlite3.OperationalError) -> bool:
    return "database is locked" in str(exc) or "database table is locked" in str(exc)


class SQLiteConnection(sqlite3.Connection):
    """A connection that waits for another writer's lock in Python, not in SQLite: SQLite's busy
    handler sleeps in C, which under gevent stops every request and stream of the worker for as
    long as the lock is held (issue 25); time.sleep lets them run. A statement outside a
    transaction (BEGIN IMMEDIATE among them) that finds the file locked is tried again, with
    pauses growing to SQLITE_BUSY_PAUSE_MAX, for SQLITE_BUSY_SECONDS at most."""

    def execute(self, sql: str, params=()):
        return self._patiently(super().execute, sql, params)

    def executemany(self, sql: str, seq_of_params):
        return self._patiently(super().executemany, sql, seq_of_params)

    def _patiently(self, run, sql, params):
        deadline, pause = None, 0.001
        while True:
            try:
                return run(sql, params)
            except sqlite3.OperationalError as exc:
                # Inside a transaction a retry could not help (and BEGIN IMMEDIATE never gets there).
                if self.in_transaction or not _locked(exc):
                    raise
                deadline = deadline or time.monotonic() + SQLITE_BUSY_SECONDS
                if time.monotonic() >= deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, SQLITE_BUSY_PAUSE_MAX)


def connect(path: str):
    """A connection of its own, for work outside a request (a background job, the CLI), with
    the settings every use needs: to the SQLite file, or to the PostgreSQL URL that
    `database_path()` gives when the app runs on PostgreSQL. The caller closes it."""
    if db_dialect.for_url(path if "://" in path else None) is db_dialect.POSTGRES:
        return PostgresConnection(psycopg.connect(path, autocommit=True, row_factory=postgres.row_factory))
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    if not os.path.exists(path):
        # Settings hold encrypted keys and token hashes: only the owner reads the file
        # (SQLite gives its -wal and -shm files the same permissions).
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    conn = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False, factory=SQLiteConnection)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 0")  # SQLiteConnection waits instead
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def _sqlite_identity(path: str):
    try:
        return (path, os.stat(path).st_ino)
    except FileNotFoundError:
        return None


def _checkout_sqlite(path: str) -> tuple[sqlite3.Connection, tuple | None]:
    """An idle connection to the file, or a new one, and the file's identity (to give it back
    under). Kept per process, not per thread: under gevent every request is a greenlet of its
    own, so a thread-local one would never be reused."""
    identity = _sqlite_identity(path)
    idle = _sqlite_idle.get(identity) if identity else None
    if idle:
        try:
            conn = idle.pop()
        except IndexError:
            conn = None
        if conn is not None:
            return conn, identity
    conn = connect(path)
    if path not in _migrated or identity is None:
        with _migrate_lock:
            migrate(conn)
            _migrated.add(path)
    return conn, identity or _sqlite_identity(path)


def _return_sqlite(conn: sqlite3.Connection, identity) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")
    idle = _sqlite_idle.setdefault(identity, [])
    if identity == _sqlite_identity(identity[0]) and len(idle) < SQLITE_IDLE_CONNECTIONS:
        idle.append(conn)
    else:
        conn.close()


def sqlite_trouble(exc: sqlite3.OperationalError, path: str) -> DatabaseUnavailable | None:
    """A clear DatabaseUnavailable for a locked, full or unwritable SQLite file (None for an error
    in the SQL itself), saying how long a write waited."""
    return trouble.sqlite_trouble(exc, path, SQLITE_BUSY_SECONDS)


# -- PostgreSQL -------------------------------------------------------------------------------
def _checkout_postgres(url: str, app=None) -> PostgresConnection:
    raw = postgres.getconn(url, app)
    conn = PostgresConnection(raw)
    if url not in _migrated:
        with _migrate_lock:
            if url not in _migrated:
                migrate(conn)
                _migrated.add(url)
    return conn


def startup_warning(app) -> str | None:
    """Why the PostgreSQL database cannot be reached as the server starts (it may come up after
    it: the server serves anyway), or None."""
    url = database_url(app)
    trouble = probe(url) if url else None
    if trouble is None:
        return None
    return (f"{trouble.message} {trouble.hint} Until it can be reached, requests are answered "
            "with 503 database_unavailable.")


def close_pools() -> None:
    """Close this process's PostgreSQL pools (tests that switch databases, and shutdown)."""
    postgres.close_pools()
    _migrated.clear()


# -- migrations -----------------------------------------------------------------------------
def migrations() -> list[tuple[int, str]]:
    """(version, file) of every migration, in order: a SQL script, or a Python module whose
    upgrade(conn, dialect) moves data that SQL alone cannot (texts cut into chunks and digested)."""
    found = []
    for name in sorted(os.listdir(MIGRATIONS_DIR)):
        if name.endswith((".sql", ".py")) and name[:3].isdigit():
            if found and found[-1][0] == int(name[:3]):
                # Only one could ever run: the database records the number, not the file.
                raise RuntimeError(f"Two migrations are numbered {name[:3]}: renumber one of them.")
            found.append((int(name[:3]), os.path.join(MIGRATIONS_DIR, name)))
    return found


def _run_migration(conn, sql, path: str) -> None:
    if path.endswith(".py"):
        spec = importlib.util.spec_from_file_location(f"taleweaver_migration_{os.path.basename(path)[:3]}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.upgrade(conn, sql)
        return
    with open(path, encoding="utf-8") as handle:
        for statement in db_dialect.split_statements(handle.read()):
            conn.execute(sql.migration_statement(statement))


def migrate(conn) -> int:
    """Apply the migrations this database has not had yet; returns its schema version.
    One runner for both databases: the dialect says how the version is kept and locked."""
    sql = db_dialect.POSTGRES if isinstance(conn, PostgresConnection) else db_dialect.SQLITE
    version = sql.begin_migration(conn)
    try:
        for number, path in migrations():
            if number > version:
                _run_migration(conn, sql, path)
                sql.after_migration(conn)
                sql.set_version(conn, number)
                version = number
                if isinstance(conn, PostgresConnection):
                    postgres.forget_tables(conn)
        conn.execute("INSERT OR IGNORE INTO users (username) VALUES (?)", (LOCAL_USERNAME,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return version


# -- per request, and borrowed outside one -------------------------------------------------------
def _checkout(app):
    """A connection from this process's idle SQLite connections or its PostgreSQL pool, and
    what `_give_back` needs to return it (the SQLite file's identity)."""
    url = database_url(app)
    if url:
        return _checkout_postgres(url, app), None
    path = database_path(app)
    return _checkout_sqlite(path)


def _give_back(app, conn, identity) -> None:
    """Return a checked-out connection, never mid-transaction."""
    if isinstance(conn, PostgresConnection):
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        postgres.pool_for(database_url(app), app).putconn(conn.raw)
    elif identity is not None:
        _return_sqlite(conn, identity)
    else:
        conn.close()


def get_db():
    """The request's connection, taken from this process's idle SQLite connections or its
    PostgreSQL pool, because opening and configuring a connection costs more than most
    queries it runs. It goes back at the end of the request (or at `release_db()`)."""
    if "db" not in g:
        g.db, g.db_identity = _checkout(current_app)
    return g.db


def release_db(e=None) -> None:
    """Give the request's connection back, never mid-transaction: at the end of the request,
    or before a call that may wait minutes (an LLM answering) so the pool is not held by it."""
    conn = g.pop("db", None)
    identity = g.pop("db_identity", None)
    if conn is not None:
        _give_back(current_app, conn, identity)


@contextlib.contextmanager
def write_transaction(conn):
    """The block as one write transaction under the database's write lock (SQLite's BEGIN
    IMMEDIATE; PostgreSQL's translation in db_dialect): committed at its end, rolled back if it
    raises."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


@contextlib.contextmanager
def borrowed(app=None):
    """A connection for work outside a request's own (a generation job's persist, a follower's
    query), from the same idle list or pool as get_db(), held only inside the `with` block and
    given back at its end: code that waits between queries (for text, for a stop) holds none
    while it waits, and never uses one that was given back. Usable without an app context
    when `app` is given."""
    app = app or current_app._get_current_object()
    conn, identity = _checkout(app)
    try:
        yield conn
    finally:
        _give_back(app, conn, identity)


close_db = release_db


def init_db() -> int:
    """Create or upgrade the schema of the app's database in place (never drops data)."""
    url = database_url()
    if url:
        trouble = probe(url)  # at once, rather than after the pool's wait
        if trouble is not None:
            raise trouble
        conn = PostgresConnection(postgres.getconn(url))
        try:
            version = migrate(conn)
        finally:
            postgres.pool_for(url).putconn(conn.raw)
        _migrated.add(url)
        return version
    path = database_path()
    conn = connect(path)
    try:
        version = migrate(conn)
    finally:
        conn.close()
    _migrated.add(path)
    return version


def describe(app=None) -> str:
    """Where the database is, for messages: the file, or the PostgreSQL server without its password."""
    url = database_url(app)
    if not url:
        return database_path(app)
    return where(url)


@click.command("init-db")
def init_db_command():
    """Create the database, or migrate an existing one to the current schema."""
    try:
        version = init_db()
    except DatabaseUnavailable as exc:
        raise click.ClickException(f"{exc.message}\n{exc.hint}") from None
    click.echo(f"Database ready: {describe()} (schema version {version}).")


def init_app(app) -> None:
    app.teardown_appcontext(release_db)
    app.cli.add_command(init_db_command)
