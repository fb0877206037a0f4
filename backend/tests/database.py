"""Reading the app's database from a test, on SQLite or PostgreSQL alike."""
import contextlib

import db


def query(app, sql, params=()):
    """Every row of a query on the app's database, as tuples (a fresh app context, so the
    request connections of the code under test are not disturbed)."""
    with app.app_context():
        try:
            return [tuple(row) for row in db.get_db().execute(sql, params).fetchall()]
        finally:
            db.release_db()


def stored_bytes(app) -> bytes:
    """Everything the database holds, as it lies on disk (SQLite) or as the server keeps its
    rows (PostgreSQL: every table's rows as text), to look for plaintext secrets in."""
    url = db.database_url(app)
    if not url:
        data = b""
        for suffix in ("", "-wal"):
            try:
                with open(app.config["DATABASE"] + suffix, "rb") as handle:
                    data += handle.read()
            except FileNotFoundError:
                pass
        return data
    tables = [row[0] for row in query(
        app, "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")]
    return "\n".join(str(row) for table in tables for row in query(app, f'SELECT * FROM "{table}"')).encode()


@contextlib.contextmanager
def connection(app):
    """A connection of its own to the app's database (autocommit), closed afterwards."""
    conn = db.connect(db.database_path(app))
    try:
        yield conn
    finally:
        conn.close()
