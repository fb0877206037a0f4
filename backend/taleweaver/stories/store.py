"""Stories as documents: rows, revisions and their pruning, in plain SQL shared by the API and
the generation jobs (which call these with their own connection)."""
from __future__ import annotations

import json
import re
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


def word_count_joined(head: str, head_words: int, tail: str) -> int:
    """word_count(head + tail), given head's count: a generation's job counts the story it
    continues once, not again at every write (on a long story that recount was most of a write)."""
    words = head_words + word_count(tail)
    if head and tail and not head[-1].isspace() and not tail[0].isspace():
        words -= 1  # the word that runs across the join counts once
    return words


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


def content_of(conn: sqlite3.Connection, story_id: int) -> str:
    """The story's text as it is now."""
    return conn.execute("SELECT content FROM stories WHERE id = ?", (story_id,)).fetchone()["content"]


def remember_writer(conn: sqlite3.Connection, story_id: int, backend_type: str | None, model: str | None) -> None:
    """The story remembers the backend and model that wrote into it last."""
    conn.execute("UPDATE stories SET backend_type = ?, model = ? WHERE id = ?", (backend_type, model, story_id))


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


def set_content(conn: sqlite3.Connection, story_id: int, content: str, words: int | None = None,
                stamp: str | None = None) -> None:
    """Write a story's text (used by a generation as its text arrives; no new revision), with its
    word count when the caller knows it, edited at `stamp` (now_stamp() unless given)."""
    conn.execute(
        "UPDATE stories SET content = ?, word_count = ?, updated_at = ? WHERE id = ?",
        (content, word_count(content) if words is None else words, stamp or now_stamp(), story_id),
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


# -- titles ------------------------------------------------------------------------------------

SHORT_TITLE_CHARS = 60


def short_title(premise: str, content: str) -> str:
    """A short title for a story that has none: the first sentence of its premise (else of its
    text), cut at a word to SHORT_TITLE_CHARS."""
    title = title_from(premise, content).rstrip("…")
    sentence = re.split(r"(?<=[.!?])\s", title, maxsplit=1)[0].rstrip(".")
    if len(sentence) > SHORT_TITLE_CHARS:
        sentence = sentence[:SHORT_TITLE_CHARS].rsplit(" ", 1)[0].rstrip(" ,.;:") + "…"
    return sentence or "Untitled story"


def unique_title(conn: sqlite3.Connection, user_id: int, title: str, exclude_id: int | None = None) -> str:
    """The title, or with " (2)", " (3)", ... after it when the user has a story of that title."""
    taken = {
        row[0] for row in conn.execute(
            "SELECT title FROM stories WHERE user_id = ? AND id != ? AND (title = ? OR title LIKE ? ESCAPE '\\')",
            (user_id, exclude_id or 0, title, like_escape(title) + " (%)"),
        )
    }
    if title not in taken:
        return title
    number = 2
    while f"{title} ({number})" in taken:
        number += 1
    return f"{title} ({number})"


def like_escape(text: str) -> str:
    """The text as a literal inside a LIKE pattern (with ESCAPE '\\')."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# -- the last generated passage and its alternatives --------------------------------------------

MAX_VERSIONS = 20  # alternatives kept of the last generated passage


def alternatives_of(row) -> dict | None:
    """{"start", "versions", "chosen"} of the story's last generated passage, or None."""
    try:
        value = json.loads(row["alternatives_json"]) if row["alternatives_json"] else None
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("versions"), list) or not value["versions"]:
        return None
    return value


def alternatives_view(alternatives: dict | None) -> dict | None:
    """The alternatives as the story document shows them (the texts stay on the server)."""
    if alternatives is None:
        return None
    return {"start": alternatives["start"], "chosen": alternatives["chosen"], "count": len(alternatives["versions"])}


def with_current_tail(alternatives: dict, content: str) -> dict:
    """The alternatives with the passage as it is in the text now (the user may have edited it)
    kept as a version of its own and chosen, so that flipping never loses an edit."""
    tail = content[alternatives["start"]:]
    versions = list(alternatives["versions"])
    if tail in versions:
        return {**alternatives, "chosen": versions.index(tail)}
    versions.append(tail)
    return {"start": alternatives["start"], "versions": versions[-MAX_VERSIONS:], "chosen": min(len(versions), MAX_VERSIONS) - 1}


def after_edit(alternatives: dict | None, old: str, new: str) -> dict | None:
    """The alternatives after the text changed from `old` to `new` by an edit: kept while the text
    before the passage is unchanged (or the passage still ends the text), else dropped."""
    if alternatives is None:
        return None
    start = alternatives["start"]
    if new[:start] == old[:start] and len(new) >= start:
        return alternatives
    chosen = alternatives["versions"][alternatives["chosen"]]
    if chosen and new.endswith(chosen):
        return {**alternatives, "start": len(new) - len(chosen)}
    return None


def keep_alternatives(conn, story_id: int, alternatives: dict | None) -> None:
    """Store the alternatives of the story's last generated passage (None drops them)."""
    conn.execute(
        "UPDATE stories SET alternatives_json = ? WHERE id = ?",
        (json.dumps(alternatives) if alternatives else None, story_id),
    )


def passage_ended(conn, story_id: int, action: str | None, prefix_length: int | None, text: str) -> bool:
    """After a generation of the story ended (in its transaction): the new passage becomes the
    last generated one (a regeneration adds a version of it); a regeneration that wrote nothing
    puts the chosen version back. True when the story's text or alternatives changed."""
    row = conn.execute("SELECT content, alternatives_json FROM stories WHERE id = ?", (story_id,)).fetchone()
    content, alternatives = row["content"], alternatives_of(row)
    start = prefix_length if prefix_length is not None else len(content) - len(text)
    if action == "regenerate" and alternatives is not None and alternatives["start"] == start:
        if not text:
            set_content(conn, story_id, content[:start] + alternatives["versions"][alternatives["chosen"]])
            return True
        versions = (alternatives["versions"] + [content[start:]])[-MAX_VERSIONS:]
        keep_alternatives(conn, story_id, {"start": start, "versions": versions, "chosen": len(versions) - 1})
        return True
    if not text:
        return False
    keep_alternatives(conn, story_id, {"start": start, "versions": [content[start:]], "chosen": 0})
    return True


# -- undo history -------------------------------------------------------------------------------

HISTORY_STEPS = 100  # undo steps kept per story


def record_history(conn, story_id: int, label: str) -> None:
    """The story's text and alternatives as they are now become the next undo step; the redo
    steps after the current one are dropped (in the caller's transaction)."""
    row = conn.execute(
        "SELECT content, alternatives_json, history_position FROM stories WHERE id = ?", (story_id,)
    ).fetchone()
    current = conn.execute(
        "SELECT content, alternatives_json FROM story_history WHERE story_id = ? AND position = ?",
        (story_id, row["history_position"]),
    ).fetchone()
    if current is not None and (current["content"], current["alternatives_json"]) == (row["content"], row["alternatives_json"]):
        return
    position = row["history_position"] + 1 if current is not None else 1
    conn.execute("DELETE FROM story_history WHERE story_id = ? AND position >= ?", (story_id, position))
    conn.execute(
        """INSERT INTO story_history (story_id, position, content, alternatives_json, label, created_at)
           VALUES (?, ?, ?, ?, ?, ?)""",
        (story_id, position, row["content"], row["alternatives_json"], label, now_stamp()),
    )
    conn.execute("UPDATE stories SET history_position = ? WHERE id = ?", (position, story_id))
    conn.execute(
        "DELETE FROM story_history WHERE story_id = ? AND position <= ?", (story_id, position - HISTORY_STEPS)
    )


def history_view(conn, story_id: int, position: int) -> dict:
    """Where the story stands in its undo history, and what an undo or a redo would do."""
    rows = conn.execute(
        "SELECT position, label FROM story_history WHERE story_id = ? ORDER BY position", (story_id,)
    ).fetchall()
    labels = {r["position"]: r["label"] for r in rows}
    first = rows[0]["position"] if rows else position
    last = rows[-1]["position"] if rows else position
    return {
        "position": position,
        "can_undo": position > first and position in labels,
        "can_redo": position < last,
        "undo_label": labels.get(position) if position > first else None,
        "redo_label": labels.get(position + 1),
        "steps": len(rows),
    }


def history_step(conn, story_id: int, position: int):
    return conn.execute(
        "SELECT content, alternatives_json, label FROM story_history WHERE story_id = ? AND position = ?",
        (story_id, position),
    ).fetchone()
