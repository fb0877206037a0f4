"""Stories as documents: rows, revisions and their pruning, in plain SQL shared by the API and
the generation jobs (which call these with their own connection)."""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone

# Revisions kept per story: the newest KEEP_RECENT, plus the last revision of each older clock
# hour for at most KEEP_HOURLY such hours.
KEEP_RECENT = 50
KEEP_HOURLY = 200

SUMMARY_COLUMNS = (
    "id, title, premise, genre, length, word_count, revision, created_at, updated_at, "
    "substr(content, 1, 200) AS excerpt"
)


def now_stamp() -> str:
    """UTC time with milliseconds, so that "most recently edited" orders edits within a second."""
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def word_count(text: str) -> int:
    return len(text.split())


def title_from(premise: str, content: str) -> str:
    """A title for a story that has none: the first line of its premise, else of its text."""
    for source in (premise, content):
        for line in source.strip().splitlines():
            if line.strip():
                line = line.strip()
                return line if len(line) <= 80 else line[:80].rsplit(" ", 1)[0].rstrip(" ,.;:") + "…"
    return "Untitled story"


def story_row(conn: sqlite3.Connection, story_id: int, user_id: int) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM stories WHERE id = ? AND user_id = ?", (story_id, user_id)).fetchone()


def add_revision(conn: sqlite3.Connection, story_id: int, reason: str) -> None:
    """Record the story as it is now as its current revision, then prune old revisions."""
    conn.execute(
        """INSERT OR REPLACE INTO story_revisions
               (story_id, revision, title, premise, content, word_count, reason, created_at)
           SELECT id, revision, title, premise, content, word_count, ?, updated_at FROM stories WHERE id = ?""",
        (reason, story_id),
    )
    prune_revisions(conn, story_id)


def prune_revisions(conn: sqlite3.Connection, story_id: int) -> None:
    """Keep the newest KEEP_RECENT revisions and one per older hour (its last), KEEP_HOURLY at most."""
    rows = conn.execute(
        "SELECT id, created_at FROM story_revisions WHERE story_id = ? ORDER BY revision DESC", (story_id,)
    ).fetchall()
    hours_kept: set[str] = set()
    doomed = []
    for row in rows[KEEP_RECENT:]:
        hour = row["created_at"][:13]
        if hour not in hours_kept and len(hours_kept) < KEEP_HOURLY:
            hours_kept.add(hour)
        else:
            doomed.append((row["id"],))
    if doomed:
        conn.executemany("DELETE FROM story_revisions WHERE id = ?", doomed)


def set_content(conn: sqlite3.Connection, story_id: int, content: str) -> None:
    """Write a story's text (used by a generation as its text arrives; no new revision)."""
    conn.execute(
        "UPDATE stories SET content = ?, word_count = ?, updated_at = ? WHERE id = ?",
        (content, word_count(content), now_stamp(), story_id),
    )


def bump_revision(conn: sqlite3.Connection, story_id: int, reason: str) -> None:
    """The story's current state becomes a new revision."""
    conn.execute(
        "UPDATE stories SET revision = revision + 1, updated_at = ? WHERE id = ?", (now_stamp(), story_id)
    )
    add_revision(conn, story_id, reason)


def settings_of(row) -> dict:
    try:
        value = json.loads(row["settings_json"] or "{}")
    except ValueError:
        value = {}
    return value if isinstance(value, dict) else {}
