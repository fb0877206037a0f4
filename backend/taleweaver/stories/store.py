"""Stories as documents: rows, revisions and their pruning, the last passage's versions and the
undo history, in plain SQL shared by the API and the generation jobs (which call these with their
own connection). Texts are kept once (docs/STORAGE.md): revisions, steps and versions refer to them."""
from __future__ import annotations

import json
import re
import sqlite3
from datetime import datetime, timezone

from taleweaver.storage import texts
from taleweaver.storage.db import write_transaction
from taleweaver.stories import history, insertion, passages, rewriting, sizes

# Revisions kept per story: the newest KEEP_RECENT, plus the last revision of each older clock
# hour for at most KEEP_HOURLY such hours.
KEEP_RECENT = 50
KEEP_HOURLY = 200
# The longest text a story keeps, in characters: a save and a generation stop there (so every
# story can be saved, backed up and imported again).
MAX_CONTENT = 500_000

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


def content_of(conn: sqlite3.Connection, story_id: int) -> str:
    """The story's text as it is now."""
    return conn.execute("SELECT content FROM stories WHERE id = ?", (story_id,)).fetchone()["content"]


def remember_writer(conn: sqlite3.Connection, story_id: int, backend_type: str | None, model: str | None) -> None:
    """The story remembers the backend and model that wrote into it last."""
    conn.execute("UPDATE stories SET backend_type = ?, model = ? WHERE id = ?", (backend_type, model, story_id))


def add_revision(conn: sqlite3.Connection, story_id: int, reason: str) -> None:
    """Record the story as it is now as its current revision, then prune old revisions."""
    content = conn.execute("SELECT content FROM stories WHERE id = ?", (story_id,)).fetchone()["content"]
    text_id, _ = texts.keep(conn, story_id, content)
    conn.execute(
        """INSERT OR REPLACE INTO story_revisions
               (story_id, revision, title, premise, text_id, word_count, reason, created_at)
           SELECT id, revision, title, premise, ?, word_count, ?, updated_at FROM stories WHERE id = ?""",
        (text_id, reason, story_id),
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
        history.forget_unreferenced(conn, story_id)


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


# -- writing a story --------------------------------------------------------------------------------

def create(conn, user_id: int, values: dict) -> int:
    """A new story of the user from `values` (column: value), with its first revision and undo
    step (in the caller's write transaction). Its id. (An import's stories: library.stage.)"""
    values = {**values, "word_count": word_count(values.get("content", ""))}
    columns = ", ".join(values)
    story_id = conn.execute(
        f"INSERT INTO stories (user_id, revision, {columns}) VALUES (?, 1, {', '.join('?' * len(values))})",
        (user_id, *values.values()),
    ).lastrowid
    text_id, size = texts.keep(conn, story_id, values.get("content", ""))
    conn.execute(
        """INSERT INTO story_revisions (story_id, revision, title, premise, text_id, word_count, reason, created_at)
           SELECT id, 1, title, premise, ?, word_count, 'edit', updated_at FROM stories WHERE id = ?""",
        (text_id, story_id),
    )
    node_id = history.first_step(conn, story_id, text_id, "created", size, now_stamp())
    conn.execute("UPDATE stories SET history_node_id = ? WHERE id = ?", (node_id, story_id))
    sizes.refresh(conn, story_id)
    return story_id


def update(conn, row, changes: dict) -> None:
    """Save `changes` (column: value, each different from the row's) as the story's next revision;
    an edit of the text keeps the last passage's versions while they still fit the text."""
    story_id = row["id"]
    if "content" in changes:
        changes["word_count"] = word_count(changes["content"])
        passage = passages.after_edit(conn, passages.current(conn, row), row["content"], changes["content"])
        changes["passage_id"] = passages.keep(conn, story_id, passage)[0]
    assignments = ", ".join(f"{column} = ?" for column in changes)
    conn.execute(f"UPDATE stories SET {assignments}, revision = revision + 1, updated_at = ? WHERE id = ?",
                 (*changes.values(), now_stamp(), story_id))
    add_revision(conn, story_id, "edit")
    if "content" in changes:
        record_history(conn, story_id, "edit")
    else:
        sizes.refresh(conn, story_id)


def write_state(conn, story_id: int, content: str, passage_id: int | None, reason: str) -> None:
    """The story's text and passage become these (a version chosen, an undo, a redo, a restore),
    as a new revision."""
    conn.execute("UPDATE stories SET content = ?, word_count = ?, passage_id = ? WHERE id = ?",
                 (content, word_count(content), passage_id, story_id))
    bump_revision(conn, story_id, reason)


def move_in_history(conn, story_id: int, node_id: int) -> None:
    """The story stands at that undo step now (after an undo or a redo wrote its state)."""
    conn.execute("UPDATE stories SET history_node_id = ? WHERE id = ?", (node_id, story_id))


def delete(conn, story_id: int, user_id: int) -> None:
    conn.execute("DELETE FROM stories WHERE id = ? AND user_id = ?", (story_id, user_id))


def revisions(conn, story_id: int) -> list[dict]:
    """The story's kept revisions, newest first (without their text)."""
    return [dict(row) for row in conn.execute(
        """SELECT revision, created_at, word_count, title, reason FROM story_revisions
           WHERE story_id = ? ORDER BY revision DESC""", (story_id,))]


def revision(conn, story_id: int, number: int) -> dict | None:
    """One kept revision with its text, or None."""
    row = conn.execute(
        """SELECT revision, created_at, word_count, title, premise, text_id, reason FROM story_revisions
           WHERE story_id = ? AND revision = ?""", (story_id, number)).fetchone()
    if row is None:
        return None
    kept = {key: row[key] for key in ("revision", "created_at", "word_count", "title", "premise")}
    return {**kept, "content": texts.read(conn, row["text_id"]), "reason": row["reason"]}


def running_generation(conn, story_id: int) -> int | None:
    """The id of the story's running generation."""
    row = conn.execute("SELECT id FROM generations WHERE story_id = ? AND status = 'running'", (story_id,)).fetchone()
    return row["id"] if row else None


def live_text(conn, story_id: int, generation_id: int) -> dict | None:
    """The story's text with its running generation's text so far, its word count and the
    generation's text length, as one consistent view while the job goes on writing: the story's
    row does not change while the generation runs (its text is the generation's prefix), and its
    pieces only grow until the generation ends, which writes the whole text into the story and
    deletes them in one transaction (so pieces read after it are none, and the view is the
    prefix with a text length of 0 — a follower from there gets all of it)."""
    row = conn.execute(
        """SELECT s.content, g.status, g.prefix_length, g.text, g.action
           FROM stories s JOIN generations g ON g.story_id = s.id WHERE s.id = ? AND g.id = ?""",
        (story_id, generation_id),
    ).fetchone()
    if row is None:
        return None
    content, generated = row["content"], row["text"]
    if row["status"] == "running":
        start = row["prefix_length"] if row["prefix_length"] is not None else len(content) - len(generated)
        generated += "".join(piece["text"] for piece in conn.execute(
            "SELECT text FROM generation_pieces WHERE generation_id = ? ORDER BY seq", (generation_id,)))
        if row["action"] != rewriting.ACTION:  # a rewrite's text is a proposal, beside the story's
            content = content[:start] + generated + (content[start:] if row["action"] == insertion.ACTION else "")
    return {"content": content, "word_count": word_count(content), "text_length": len(generated)}


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


def unique_titles(conn: sqlite3.Connection, user_id: int, titles: list[str], taken: dict[str, list]) -> list[str]:
    """unique_title of each title, for many stories added at once (an import, in batches): the
    user's taken titles are looked up once per distinct title, and the numbers go on from the
    last one given (`taken` keeps, per title, the names taken and the next number to try)."""
    result = []
    for title in titles:
        if title not in taken:
            taken[title] = [{row[0] for row in conn.execute(
                "SELECT title FROM stories WHERE user_id = ? AND (title = ? OR title LIKE ? ESCAPE '\\')",
                (user_id, title, like_escape(title) + " (%)"))}, 2]
        seen, number = taken[title]
        name = title
        while name in seen:
            name, number = f"{title} ({number})", number + 1
        seen.add(name)
        taken[title][1] = number
        result.append(name)
    return result


# -- the last generated passage and its versions -------------------------------------------------

def keep_alternatives(conn, story_id: int, passage: dict | None) -> None:
    """Make the passage (from stories.passages; None drops it) the story's last generated one, in
    the caller's write transaction or, outside one, in a transaction of its own."""
    if not conn.in_transaction:
        with write_transaction(conn):
            keep_alternatives(conn, story_id, passage)
        return
    passage_id, _ = passages.keep(conn, story_id, passage)
    conn.execute("UPDATE stories SET passage_id = ? WHERE id = ?", (passage_id, story_id))


def passage_ended(conn, story_id: int, action: str | None, prefix_length: int | None, text: str) -> bool:
    """After a generation of the story ended (in its transaction): the new passage becomes the
    last generated one (a regeneration adds a version of it); a regeneration that wrote nothing
    puts the chosen version back. True when the story's text or passage changed."""
    row = conn.execute("SELECT content, passage_id FROM stories WHERE id = ?", (story_id,)).fetchone()
    content, passage = row["content"], passages.current(conn, row)
    start = prefix_length if prefix_length is not None else len(content) - len(text)
    if action == "reroll" and passage is not None and passage["start"] <= start:
        # From a token of the passage: its text up to there, the alternative chosen and this text
        # are its newest version (the road not taken stays one).
        keep_alternatives(conn, story_id, passages.with_new_version(passage, content[passage["start"]:]))
        return True
    if action == "regenerate" and passage is not None and passage["start"] == start:
        if not text:
            set_content(conn, story_id, content[:start] + passages.version(conn, passage, passage["chosen"]))
            return True
        keep_alternatives(conn, story_id, passages.with_new_version(passage, content[start:]))
        return True
    if not text:
        return False
    if action == insertion.ACTION:  # the last passage stays the last; text written before it moves it on
        if passage is not None and passage["start"] >= start:
            keep_alternatives(conn, story_id, {**passage, "start": passage["start"] + len(text)})
        return True
    text_id, _ = texts.keep(conn, story_id, content[start:])
    keep_alternatives(conn, story_id, passages.first(text_id, start))
    return True


# -- undo history ---------------------------------------------------------------------------------

def record_history(conn, story_id: int, label: str) -> None:
    """The story's text and passage as they are now become the next undo step (in the caller's
    transaction), and what the story keeps is measured again."""
    history.record(conn, story_id, label, now_stamp())
    sizes.refresh(conn, story_id)
