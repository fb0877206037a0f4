"""PostgreSQL for the stores: a pooled connection that takes SQLite's SQL (db_dialect translates
it) and reads rows as sqlite3.Row does; the pool of each process; and, when no connection comes,
whether the database is gone (probed directly, once for the requests asking together) or busy."""
from __future__ import annotations

import os
import threading
import time

import psycopg
import psycopg.conninfo
from flask import current_app
from psycopg_pool import ConnectionPool, PoolTimeout

from taleweaver.storage import dialect as db_dialect
from taleweaver.storage.crypto import redact
from taleweaver.storage.trouble import RETRY_AFTER_SECONDS, DatabaseUnavailable

_pools: dict[tuple, object] = {}
_pools_lock = threading.Lock()


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


def row_factory(cursor):
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


def forget_tables(conn: PostgresConnection) -> None:
    """After a migration: the tables whose rows get an id are looked up again."""
    _id_tables.pop(conn.raw.info.dsn, None)


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


# How long a request waits on the pool before it asks the database directly whether it is up:
# a pool that lost its connections to a stopped database keeps trying to reconnect and counts
# those tries as connections on the way, so by itself it would make the request wait its whole
# timeout (30 s) for an answer that is known in milliseconds. When the database answers, the
# pool was only busy, and the request waits out the rest of the timeout.
PROBE_AFTER_SECONDS = 2.0


def getconn(url: str, app=None):
    """A connection from the pool; a clear DatabaseUnavailable when none comes."""
    if found_gone(url):
        trouble = _probe_shared(url)
        if trouble is not None:
            raise trouble  # still gone; once a probe finds it back, the pool reconnects
    pool = pool_for(url, app)
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


def pool_for(url: str, app=None):
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
                    kwargs={"autocommit": True, "row_factory": row_factory},
                    timeout=(app or current_app).config.get("DATABASE_POOL_TIMEOUT", 30),
                    open=True,
                    name="taleweaver",
                )
                _pools[key] = pool
    return pool


def close_pools() -> None:
    """Close this process's PostgreSQL pools (tests that switch databases, and shutdown)."""
    with _pools_lock:
        for pool in _pools.values():
            pool.close()
        _pools.clear()
        _probes.clear()
