"""What to tell the user when the database, not the request, is the trouble: the error, and
SQLite's own failures (a locked, full or unwritable file) in words that say what to do."""
from __future__ import annotations

import sqlite3

RETRY_AFTER_SECONDS = "5"  # what a 503 database_busy tells a client to wait


class DatabaseUnavailable(Exception):
    """The database cannot be reached or written, or stayed busy: a message that says which
    database (never a password) and what to do. Answered with 503 and its code."""

    def __init__(self, message: str, hint: str, code: str = "database_unavailable", retry_after: str | None = None):
        super().__init__(message)
        self.message, self.hint, self.code, self.retry_after = message, hint, code, retry_after


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


def sqlite_trouble(exc: sqlite3.OperationalError, path: str, busy_seconds: float) -> DatabaseUnavailable | None:
    """A clear DatabaseUnavailable for a locked, full or unwritable SQLite file; None for
    anything else (an error in the SQL itself is Taleweaver's, answered as internal)."""
    reason = str(exc)
    lowered = reason.lower()
    for needles, code, message, hint in _SQLITE_TROUBLE:
        if any(needle in lowered for needle in needles):
            return DatabaseUnavailable(message.format(path=path, reason=reason, busy=busy_seconds), hint, code=code,
                                       retry_after=RETRY_AFTER_SECONDS if code == "database_busy" else None)
    return None
