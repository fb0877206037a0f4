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
import psycopg.conninfo
from flask import current_app, g
from psycopg_pool import ConnectionPool, PoolTimeout

from taleweaver.storage import dialect as db_dialect
from taleweaver.storage.crypto import redact

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
_pools: dict[tuple, object] = {}
_pools_lock = threading.Lock()

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
        return PostgresConnection(psycopg.connect(path, autocommit=True, row_factory=_row_factory))
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


# -- PostgreSQL -------------------------------------------------------------------------------
class Row:
    """A PostgreSQL row readable like sqlite3.Row: by column name, by index, and as a dict."""

    __slots__ = ("_values", "_index")

    def __init__(self, values, index: dict[str, int]):
        self._values, self._index = values, index

    def __getitem__(self, key):
        if isinstance(key, str):
            return self._values[self._index[key]]
        return self._values[key]

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self):
        return iter(self._values)

    def __eq__(self, other) -> bool:
        return tuple(self) == tuple(other)

    def __repr__(self) -> str:
        return f"Row({dict(zip(self._index, self._values))!r})"

    def keys(self) -> list[str]:
        return list(self._index)


def _row_factory(cursor):
    index = {column.name: position for position, column in enumerate(cursor.description or ())}
    return lambda values: Row(values, index)


class PostgresCursor:
    """The result of one statement, with sqlite3's `lastrowid`."""

    def __init__(self, cursor, lastrowid=None):
        self._cursor, self.lastrowid = cursor, lastrowid

    def fetchone(self):
        return self._cursor.fetchone() if self._cursor.description and self.lastrowid is None else None

    def fetchall(self):
        return self._cursor.fetchall() if self._cursor.description and self.lastrowid is None else []

    def __iter__(self):
        return iter(self.fetchall())

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount


# Per database (its DSN, schema included): the tables whose rows get an id, so that an INSERT
# into one returns it (sqlite3's lastrowid). Forgotten after every migration.
_id_tables: dict[str, frozenset] = {}


class PostgresConnection:
    """A pooled psycopg connection that takes SQLite's SQL, as the stores write it."""

    def __init__(self, raw):
        self.raw = raw

    def execute(self, sql: str, params=()) -> PostgresCursor:
        *leading, last = db_dialect.POSTGRES.statements(sql)
        for statement in leading:
            self.raw.execute(statement)
        table = db_dialect.insert_target(sql)
        if table is None or table not in self._tables_with_ids():
            return PostgresCursor(self.raw.execute(last, tuple(params)))
        cursor = self.raw.execute(last.rstrip().rstrip(";") + " RETURNING id", tuple(params))
        ids = cursor.fetchall()
        return PostgresCursor(cursor, ids[-1][0] if ids else 0)

    def _tables_with_ids(self) -> frozenset:
        dsn = self.raw.info.dsn
        tables = _id_tables.get(dsn)
        if tables is None:
            tables = frozenset(row[0] for row in self.raw.execute(
                "SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema()"
                " AND column_name = 'id' AND is_identity = 'YES'"))
            _id_tables[dsn] = tables
        return tables

    def executemany(self, sql: str, seq_of_params) -> None:
        (statement,) = db_dialect.POSTGRES.statements(sql)
        with self.raw.cursor() as cursor:
            cursor.executemany(statement, [tuple(p) for p in seq_of_params])

    # In a transaction that may be rolled back: not on a connection the server cut (its status
    # is UNKNOWN), which the pool discards when it is given back.
    _OPEN = frozenset((psycopg.pq.TransactionStatus.INTRANS, psycopg.pq.TransactionStatus.INERROR,
                       psycopg.pq.TransactionStatus.ACTIVE))

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status in self._OPEN

    def commit(self) -> None:
        if self.in_transaction:
            self.raw.execute("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self.raw.execute("ROLLBACK")

    def close(self) -> None:
        self.raw.close()


class DatabaseUnavailable(Exception):
    """The database cannot be reached or written, or stayed busy: a message that says which
    database (never a password) and what to do. Answered with 503 and its code."""

    def __init__(self, message: str, hint: str, code: str = "database_unavailable", retry_after: str | None = None):
        super().__init__(message)
        self.message, self.hint, self.code, self.retry_after = message, hint, code, retry_after


def _conninfo(url: str) -> dict | None:
    try:
        return psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return None


def where(url: str) -> str:
    """'PostgreSQL database 'x' on host:port as user u', from the URL without its password."""
    info = _conninfo(url)
    if info is None:
        return "the PostgreSQL database of TALEWEAVER_DATABASE_URL"
    host = info.get("host") or "localhost (Unix socket)"
    port = f":{info['port']}" if info.get("port") else ""
    user = f" as user {info['user']!r}" if info.get("user") else ""
    return f"PostgreSQL database {info.get('dbname', '?')!r} on {host}{port}{user}"


def _reason(url: str, exc: Exception) -> str:
    """psycopg's reason on one line, with the URL's password masked should it ever appear."""
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    password = (_conninfo(url) or {}).get("password")
    if password:
        text = text.replace(password, "****")
    return redact(text)


CONNECT_CHECK_SECONDS = 5
RETRY_AFTER_SECONDS = "5"  # what a 503 database_busy tells a client to wait


# What PostgreSQL answers when it is up but every connection slot is taken: busy, not down.
_SERVER_FULL = ("too many clients", "remaining connection slots")


def probe(url: str) -> DatabaseUnavailable | None:
    """One fresh connection, outside the pool (at most CONNECT_CHECK_SECONDS): why the database
    cannot be reached, or None when it answers (a server with no connection slot left answers
    too: it is up, and busy)."""
    try:
        psycopg.connect(url, connect_timeout=CONNECT_CHECK_SECONDS).close()
    except psycopg.Error as failure:
        reason = _reason(url, failure)
        if any(text in reason for text in _SERVER_FULL):
            return None
        return DatabaseUnavailable(
            f"Cannot connect to the {where(url)}: {reason}",
            "Check that PostgreSQL is running and reachable from the Taleweaver server, and that "
            "TALEWEAVER_DATABASE_URL (host, port, user, password, database name) is right.",
        )
    return None


# A request's probe answers the requests of this process that ask within PROBE_SHARED_SECONDS,
# so that many requests waiting at once make one fresh connection, not one each (a busy pool
# is exactly when PostgreSQL's connection slots are short).
PROBE_SHARED_SECONDS = 1.0
_probes: dict[str, tuple[float, DatabaseUnavailable | None]] = {}
_probe_lock = threading.Lock()


def _probe_shared(url: str) -> DatabaseUnavailable | None:
    with _probe_lock:
        when, trouble = _probes.get(url, (None, None))
        if when is None or time.monotonic() - when > PROBE_SHARED_SECONDS:
            trouble = probe(url)
            _probes[url] = (time.monotonic(), trouble)
        return trouble


def found_gone(url: str) -> bool:
    """Whether this process's last probe of the database found it unreachable: until one finds
    it back, requests ask it directly (refused at once) rather than each waiting on the pool."""
    return _probes.get(url, (None, None))[1] is not None


def connection_lost(url: str, exc: Exception) -> DatabaseUnavailable:
    """A query that failed because of the server or the connection (PostgreSQL restarted, the
    connection was cut): the pool replaces that connection, so trying again works once the
    database is back."""
    return DatabaseUnavailable(
        f"The {where(url)} did not complete this request: {_reason(url, exc)}",
        "Try again in a moment: Taleweaver reconnects by itself. If it keeps happening, check that "
        "PostgreSQL is running and reachable from the Taleweaver server.",
    )


def startup_warning(app) -> str | None:
    """Why the PostgreSQL database cannot be reached as the server starts (it may come up after
    it: the server serves anyway), or None."""
    url = database_url(app)
    trouble = probe(url) if url else None
    if trouble is None:
        return None
    return (f"{trouble.message} {trouble.hint} Until it can be reached, requests are answered "
            "with 503 database_unavailable.")


def unreachable(url: str, exc: Exception) -> DatabaseUnavailable:
    """What to tell the user when no connection came: a fresh connection is tried once to tell
    a database that cannot be reached (its reason) from a pool whose connections stayed busy."""
    trouble = _probe_shared(url)
    if trouble is not None:
        return trouble
    return DatabaseUnavailable(
        f"Every connection of this Taleweaver process to the {where(url)} stayed in use "
        f"({type(exc).__name__}: {_reason(url, exc)}).",
        "Try again in a moment. If it keeps happening, raise TALEWEAVER_DATABASE_POOL_SIZE "
        "(and PostgreSQL's max_connections to match).",
        code="database_busy", retry_after=RETRY_AFTER_SECONDS,
    )


# What SQLite says when the file, not the SQL, is the trouble (sqlite3.OperationalError's text).
_SQLITE_TROUBLE = (
    (("database is locked", "database table is locked"), "database_busy",
     "The SQLite database {path} stayed locked by another writer for {busy:g} s; nothing was changed.",
     "Try again in a moment. If another program has the file open (a backup tool, a database "
     "browser), close it."),
    (("database or disk is full",), "database_full",
     "The disk that holds the SQLite database {path} is full; nothing was saved.",
     "Free some space on that disk, then try again: what you typed is still on the page."),
    (("unable to open database file", "readonly database", "disk i/o error"), "database_unavailable",
     "Taleweaver cannot write its SQLite database {path} ({reason}); nothing was saved.",
     "Check that the folder exists, that the user running Taleweaver may write the file, and "
     "that the disk is mounted read-write (TALEWEAVER_DATABASE names another file)."),
)


def sqlite_trouble(exc: sqlite3.OperationalError, path: str) -> DatabaseUnavailable | None:
    """A clear DatabaseUnavailable for a locked, full or unwritable SQLite file; None for
    anything else (an error in the SQL itself is Taleweaver's, answered as internal)."""
    reason = str(exc)
    lowered = reason.lower()
    for needles, code, message, hint in _SQLITE_TROUBLE:
        if any(needle in lowered for needle in needles):
            return DatabaseUnavailable(message.format(path=path, reason=reason, busy=SQLITE_BUSY_SECONDS), hint, code=code,
                                       retry_after=RETRY_AFTER_SECONDS if code == "database_busy" else None)
    return None


# How long a request waits on the pool before it asks the database directly whether it is up:
# a pool that lost its connections to a stopped database keeps trying to reconnect and counts
# those tries as connections on the way, so by itself it would make the request wait its whole
# timeout (30 s) for an answer that is known in milliseconds. When the database answers, the
# pool was only busy, and the request waits out the rest of the timeout.
PROBE_AFTER_SECONDS = 2.0


def _getconn(url: str, app=None):
    """A connection from the pool; a clear DatabaseUnavailable when none comes."""
    if found_gone(url):
        trouble = _probe_shared(url)
        if trouble is not None:
            raise trouble  # still gone; once a probe finds it back, the pool reconnects
    pool = _pool(url, app)
    first = min(pool.timeout, (app or current_app).config.get("DATABASE_PROBE_AFTER", PROBE_AFTER_SECONDS))
    try:
        return pool.getconn(timeout=first)
    except (PoolTimeout, psycopg.OperationalError) as exc:
        problem = unreachable(url, exc)
    if problem.code == "database_busy" and pool.timeout > first:
        try:
            return pool.getconn(timeout=pool.timeout - first)
        except (PoolTimeout, psycopg.OperationalError) as exc:
            problem = unreachable(url, exc)
    raise problem


def _pool(url: str, app=None):
    """This process's connection pool for the URL (made after gunicorn forks the worker)."""
    key = (url, os.getpid())
    pool = _pools.get(key)
    if pool is None:
        with _pools_lock:
            pool = _pools.get(key)
            if pool is None:
                pool = ConnectionPool(
                    url,
                    min_size=1,
                    max_size=(app or current_app).config.get("DATABASE_POOL_SIZE", 10),
                    kwargs={"autocommit": True, "row_factory": _row_factory},
                    timeout=(app or current_app).config.get("DATABASE_POOL_TIMEOUT", 30),
                    open=True,
                    name="taleweaver",
                )
                _pools[key] = pool
    return pool


def _checkout_postgres(url: str, app=None) -> PostgresConnection:
    raw = _getconn(url, app)
    conn = PostgresConnection(raw)
    if url not in _migrated:
        with _migrate_lock:
            if url not in _migrated:
                migrate(conn)
                _migrated.add(url)
    return conn


def close_pools() -> None:
    """Close this process's PostgreSQL pools (tests that switch databases, and shutdown)."""
    with _pools_lock:
        for pool in _pools.values():
            pool.close()
        _pools.clear()
        _probes.clear()
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
                    _id_tables.pop(conn.raw.info.dsn, None)
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
        _pool(database_url(app), app).putconn(conn.raw)
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
        conn = PostgresConnection(_getconn(url))
        try:
            version = migrate(conn)
        finally:
            _pool(url).putconn(conn.raw)
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
