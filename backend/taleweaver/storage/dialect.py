"""Every difference between SQLite and PostgreSQL that Taleweaver's SQL meets, in one place.

The stores and migrations are written once, in SQLite's dialect (`?` placeholders,
`INSERT OR IGNORE`, `BEGIN IMMEDIATE`, `strftime(...)` defaults). `PostgresDialect` translates
each statement the first time it is seen; `SQLiteDialect` passes them through. Each dialect also
knows how its database records the schema version and how one migrating process keeps the
others out.
"""
from __future__ import annotations

import functools
import re
import sqlite3

# Any 64-bit number no other program on the server is likely to pick: pg_advisory_lock's key.
MIGRATION_LOCK_KEY = 0x7A1E_3EA4_0000_0001
# One writer at a time, as SQLite's BEGIN IMMEDIATE gives: the stores' read-modify-write
# transactions (one active backend per user, key rotation) rely on it.
WRITE_LOCK_KEY = 0x7A1E_3EA4_0000_0002

_STRFTIME_NOW = re.compile(r"strftime\('%Y-%m-%dT%H:%M:%SZ',\s*'now'\)")
# Now as a Unix time in seconds, by the database's clock (heartbeats are compared across
# instances whose own clocks may disagree): SQLite's form, and PostgreSQL's for it.
EPOCH_NOW = "((julianday('now') - 2440587.5) * 86400.0)"
_PG_EPOCH_NOW = "(EXTRACT(EPOCH FROM clock_timestamp())::double precision)"
_PG_NOW = "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
_INSERT_OR_IGNORE = re.compile(r"^\s*INSERT\s+OR\s+IGNORE\s+INTO\b", re.IGNORECASE)
_INSERT_OR_REPLACE = re.compile(r"^\s*INSERT\s+OR\s+REPLACE\s+INTO\s+(\w+)\s*\(([^)]*)\)", re.IGNORECASE)
# SQLite's INSERT OR REPLACE finds the conflicting unique key itself; PostgreSQL's ON CONFLICT
# must name it: the key of each table the stores replace rows of.
REPLACE_KEYS = {"story_revisions": ("story_id", "revision")}
_BEGIN_IMMEDIATE = re.compile(r"^\s*BEGIN\s+IMMEDIATE\s*;?\s*$", re.IGNORECASE)
_AUTOINCREMENT_KEY = re.compile(r"\bINTEGER\s+PRIMARY\s+KEY\s+AUTOINCREMENT\b", re.IGNORECASE)
_REAL = re.compile(r"\bREAL\b")
_BLOB = re.compile(r"\bBLOB\b")
# A text's size in bytes: SQLite's length() of it as a BLOB, PostgreSQL's octet_length().
_BYTES_OF = re.compile(r"\blength\(CAST\(([\w.]+) AS BLOB\)\)")


_INSERT_TARGET = re.compile(r"^\s*INSERT\s+(?:OR\s+\w+\s+)?INTO\s+(\w+)", re.IGNORECASE)


@functools.lru_cache(maxsize=1024)
def insert_target(sql: str) -> str | None:
    """The table an INSERT statement writes to (None for any other statement)."""
    match = _INSERT_TARGET.match(sql)
    return match.group(1) if match and "RETURNING" not in sql.upper() else None


def split_statements(script: str) -> list[str]:
    """The statements of a migration script, split where sqlite3 says one is complete
    (its rules, semicolons outside quotes and comments, hold for PostgreSQL's SQL too)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        if not current and line.strip().startswith("--"):
            continue
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return statements


def _outside_quotes(sql: str, replace) -> str:
    """`sql` with `replace` applied to the parts outside '...' and "..." literals."""
    parts = re.split(r"('(?:[^']|'')*'|\"(?:[^\"]|\"\")*\")", sql)
    return "".join(part if index % 2 else replace(part) for index, part in enumerate(parts))


class SQLiteDialect:
    """The embedded default: statements are already in its dialect."""

    name = "sqlite"

    def statements(self, sql: str) -> tuple[str, ...]:
        return (sql,)

    def migration_statement(self, sql: str) -> str:
        return sql

    def begin_migration(self, conn) -> int:
        """Take the database for migrating (other processes wait) and return its schema version."""
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("BEGIN IMMEDIATE")
        return conn.execute("PRAGMA user_version").fetchone()[0]

    def set_version(self, conn, version: int) -> None:
        conn.execute(f"PRAGMA user_version = {int(version)}")

    def after_migration(self, conn) -> None:
        """Nothing to repair: SQLite's AUTOINCREMENT follows explicitly inserted ids by itself."""

    def check_references_now(self, conn) -> None:
        """Nothing to do: SQLite's ALTER TABLE does not mind references checked at commit."""

    def new_ids(self, conn, table: str, count: int) -> list[int]:
        """`count` ids for rows about to be inserted into the table (in a write transaction, whose
        lock keeps them free: AUTOINCREMENT then moves past them by itself)."""
        row = conn.execute(
            f"SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = ?), 0), "
            f"coalesce((SELECT max(id) FROM {table}), 0))", (table,)).fetchone()
        return list(range(row[0] + 1, row[0] + 1 + count))


class PostgresDialect:
    """PostgreSQL through psycopg 3: `%s` placeholders, ON CONFLICT, advisory locks."""

    name = "postgresql"

    @functools.lru_cache(maxsize=1024)
    def statements(self, sql: str) -> tuple[str, ...]:
        """A store's statement as the statements PostgreSQL runs for it (translated once, then cached)."""
        if _BEGIN_IMMEDIATE.match(sql):
            return ("BEGIN", f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")
        ignore = bool(_INSERT_OR_IGNORE.match(sql))
        if ignore:
            sql = _INSERT_OR_IGNORE.sub("INSERT INTO", sql, count=1).rstrip().rstrip(";")
        on_conflict = ""
        replace = _INSERT_OR_REPLACE.match(sql)
        if replace:
            table, columns = replace.group(1), [c.strip() for c in replace.group(2).split(",")]
            if table not in REPLACE_KEYS:
                raise ValueError(f"INSERT OR REPLACE INTO {table}: add its unique key to db_dialect.REPLACE_KEYS")
            key = REPLACE_KEYS[table]
            updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in key)
            on_conflict = f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
            sql = sql[:replace.start()] + f"INSERT INTO {table} ({replace.group(2)})" + sql[replace.end():]
            sql = sql.rstrip().rstrip(";")
        sql = sql.replace(EPOCH_NOW, _PG_EPOCH_NOW)
        sql = _BYTES_OF.sub(r"octet_length(\1)", sql)
        # psycopg reads % everywhere as the start of a placeholder, even inside literals.
        sql = sql.replace("%", "%%")
        sql = _outside_quotes(sql, lambda part: part.replace("?", "%s"))
        if ignore:
            sql += " ON CONFLICT DO NOTHING"
        return (sql + on_conflict,)

    def migration_statement(self, sql: str) -> str:
        """A migration's DDL in PostgreSQL's types and functions."""
        sql = _AUTOINCREMENT_KEY.sub("INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", sql)
        sql = _STRFTIME_NOW.sub(lambda _: _PG_NOW, sql)
        # SQLite's REAL is an 8-byte float; PostgreSQL's is 4 bytes (a Unix time to ~2 minutes).
        sql = _outside_quotes(sql, lambda part: _BLOB.sub("BYTEA", _REAL.sub("DOUBLE PRECISION", part)))
        return sql

    def begin_migration(self, conn) -> int:
        """Take the advisory lock, so exactly one instance migrates at a time; the others wait
        here and then find the schema current. DDL is transactional: a failure leaves nothing."""
        conn.execute("BEGIN")
        conn.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK_KEY,))
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        if row is None:
            conn.execute("INSERT INTO schema_version (version) VALUES (0)")
            return 0
        return row[0]

    def set_version(self, conn, version: int) -> None:
        conn.execute("UPDATE schema_version SET version = ?", (int(version),))

    def check_references_now(self, conn) -> None:
        """Check the references deferred to the commit now: PostgreSQL refuses to ALTER a table
        with checks still pending."""
        conn.execute("SET CONSTRAINTS ALL IMMEDIATE")

    def new_ids(self, conn, table: str, count: int) -> list[int]:
        """`count` ids for rows about to be inserted into the table, taken from its sequence."""
        return [row[0] for row in conn.execute(
            "SELECT nextval(pg_get_serial_sequence(?, 'id')) FROM generate_series(1, ?)", (table, count))]

    def after_migration(self, conn) -> None:
        """Move every identity sequence past the ids a migration copied in (a table rebuilt
        with its rows keeps their ids, and PostgreSQL's sequence does not follow by itself)."""
        tables = conn.execute(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND column_name = 'id' AND is_identity = 'YES'"
        ).fetchall()
        for (table,) in tables:
            conn.execute(
                f'SELECT setval(pg_get_serial_sequence(?, \'id\'), coalesce(max(id), 0) + 1, false) FROM "{table}"',
                (table,),
            )


SQLITE = SQLiteDialect()
POSTGRES = PostgresDialect()


def for_url(url: str | None):
    """The dialect of a TALEWEAVER_DATABASE_URL (None: the SQLite file)."""
    if not url:
        return SQLITE
    if url.startswith(("postgresql://", "postgres://")):
        return POSTGRES
    raise ValueError(
        "TALEWEAVER_DATABASE_URL must start with postgresql:// (for example "
        "postgresql://taleweaver@db.example/taleweaver); leave it unset to use the SQLite file."
    )
