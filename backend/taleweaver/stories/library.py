"""The user's library: search and sort, the backup written a story at a time, and the import,
staged in short transactions and then shown in one (docs/STORAGE.md)."""
from __future__ import annotations

import time

from taleweaver.storage import texts
from taleweaver.storage.db import dialect_of, write_transaction
from taleweaver.stories import marks, passages, probabilities, sizes, store

SORTS = {
    "updated": "updated_at DESC, id DESC",
    "created": "created_at DESC, id DESC",
    "title": "lower(title) ASC, id ASC",
}
# An import not finished after this long was left by a process that died: the next import of
# the user deletes what it had staged.
ABANDONED_IMPORT_SECONDS = 3600
DELETE_BATCH = 200  # stories deleted per transaction when an import is undone


def summaries(conn, user_id: int, query: str, sort: str) -> list:
    """The user's stories (not those of an import still being staged), those whose title,
    premise or text contain `query` when it is given, in the order `sort` names."""
    where, args = "user_id = ? AND import_id IS NULL", [user_id]
    if query:
        pattern = f"%{store.like_escape(query)}%"
        # lower() on both sides: LIKE ignores case in SQLite (ASCII) but not in PostgreSQL.
        where += (r" AND (lower(title) LIKE lower(?) ESCAPE '\' OR lower(premise) LIKE lower(?) ESCAPE '\'"
                  r" OR lower(content) LIKE lower(?) ESCAPE '\')")
        args += [pattern] * 3
    return conn.execute(f"SELECT {store.SUMMARY_COLUMNS} FROM stories WHERE {where} ORDER BY {SORTS[sort]}",
                        args).fetchall()


def newest_generations(conn, user_id: int) -> list:
    """(id, story_id, status) of the newest generation of each of the user's stories."""
    return conn.execute(
        """SELECT g.id, g.story_id, g.status FROM generations g
           JOIN (SELECT story_id, max(id) AS id FROM generations WHERE user_id = ? GROUP BY story_id) newest
           ON g.id = newest.id""",
        (user_id,),
    ).fetchall()


# -- backup ---------------------------------------------------------------------------------------

def story_ids(conn, user_id: int) -> list[int]:
    """The ids of the user's stories in the backup's order (oldest first)."""
    return [row["id"] for row in conn.execute(
        "SELECT id FROM stories WHERE user_id = ? AND import_id IS NULL ORDER BY created_at, id", (user_id,))]


def backup_entry(conn, story_id: int, user_id: int) -> dict | None:
    """One story as the backup holds it (None when it was deleted since the ids were read)."""
    row = store.story_row(conn, story_id, user_id)
    if row is None:
        return None
    passage = passages.current(conn, row)
    alternatives = None
    if passage is not None:
        alternatives = {"start": passage["start"], "versions": passages.versions(conn, passage),
                        "chosen": passage["chosen"]}
        kept = probabilities.backup(conn, passage)
        if kept is not None:
            alternatives["probabilities"] = kept
    entry = {key: row[key] for key in ("title", "premise", "genre", "length")}
    entry.update({"settings": store.settings_of(row), "memory": row["memory"], "authors_note": row["authors_note"],
                  "content": row["content"], "alternatives": alternatives,
                  "marks": marks.current(conn, story_id), "backend_type": row["backend_type"],
                  "model": row["model"], "created_at": row["created_at"], "updated_at": row["updated_at"]})
    return entry


# -- import ----------------------------------------------------------------------------------------

def begin_import(conn, user_id: int) -> int:
    """A new import of the user (what an abandoned one had staged is deleted first)."""
    for row in conn.execute("SELECT id FROM imports WHERE user_id = ? AND started_at < ?",
                            (user_id, time.time() - ABANDONED_IMPORT_SECONDS)).fetchall():
        undo_import(conn, row["id"])
    with write_transaction(conn):
        return conn.execute("INSERT INTO imports (user_id, started_at) VALUES (?, ?)",
                            (user_id, time.time())).lastrowid


def stage(conn, user_id: int, import_id: int, entries: list[tuple]) -> list[int]:
    """Write a batch of imported stories, hidden until the import is finished, in a few statements
    for them all (in the caller's write transaction): each entry is the story's columns,
    {"start", "versions", "chosen"} of its last passage (or None) and, optionally, the marks of
    what the model wrote in its text (marks.py). The new stories' ids, in order;
    each has its text kept once, its first revision and its first undo step, as store.create makes."""
    sql, stamp = dialect_of(conn), store.now_stamp()
    story_ids = sql.new_ids(conn, "stories", len(entries))
    node_ids = sql.new_ids(conn, "history_nodes", len(entries))
    with_passage = [index for index, (_, alternatives, *_) in enumerate(entries) if alternatives is not None]
    passage_ids = dict(zip(with_passage, sql.new_ids(conn, "story_passages", len(with_passage)) if with_passage else []))
    words = [store.word_count(values["content"]) for values, *_ in entries]
    columns = ", ".join(entries[0][0])
    # The stories first: their chunks and texts refer to them (their own references to their
    # passage and first step are checked at commit).
    conn.executemany(
        f"""INSERT INTO stories (id, user_id, import_id, revision, word_count, passage_id, history_node_id, {columns})
            VALUES (?, ?, ?, 1, ?, ?, ?, {', '.join('?' * len(entries[0][0]))})""",
        [(story_id, user_id, import_id, count, passage_ids.get(index), node_id, *values.values())
         for index, (story_id, node_id, count, (values, *_)) in enumerate(zip(story_ids, node_ids, words, entries))])
    items = [(story_id, text) for story_id, (values, alternatives, *_) in zip(story_ids, entries)
             for text in [*(alternatives or {}).get("versions", []), values["content"]]]
    kept = iter(texts.keep_new(conn, items))
    passage_rows, version_rows, revisions, steps, mark_rows = [], [], [], [], []
    for index, (story_id, node_id, count, (values, alternatives, *ranges)) in enumerate(
            zip(story_ids, node_ids, words, entries)):
        versions = [next(kept) for _ in (alternatives or {}).get("versions", [])]
        text_id, added = next(kept)
        mark_rows += [(text_id, start, stop, marks.MODEL) for start, stop in (ranges[0] if ranges else [])]
        passage_id = passage_ids.get(index)
        if passage_id is not None:
            version_ids = [version_id for version_id, _ in versions]
            passage_rows.append((passage_id, story_id, alternatives["start"], alternatives["chosen"],
                                 texts.passage_digest(alternatives["start"], None, alternatives["chosen"], version_ids)))
            version_rows += [(passage_id, position, version_id) for position, version_id in enumerate(version_ids)]
            added += sum(size for _, size in versions) + texts.REFERENCE_BYTES * (1 + len(version_ids))
        revisions.append((story_id, values["title"], values["premise"], text_id, count, values["updated_at"]))
        steps.append((node_id, story_id, text_id, passage_id, added + texts.REFERENCE_BYTES, stamp))
    conn.executemany("INSERT INTO story_passages (id, story_id, start, stop, chosen, digest) VALUES (?, ?, ?, NULL, ?, ?)",
                     passage_rows)
    conn.executemany("INSERT INTO passage_versions (passage_id, position, text_id) VALUES (?, ?, ?)", version_rows)
    conn.executemany("INSERT INTO text_marks (text_id, start, stop, author) VALUES (?, ?, ?, ?)", mark_rows)
    conn.executemany("""INSERT INTO story_revisions (story_id, revision, title, premise, text_id, word_count, reason,
                            created_at) VALUES (?, 1, ?, ?, ?, ?, 'edit', ?)""", revisions)
    conn.executemany("""INSERT INTO history_nodes (id, story_id, parent_id, text_id, passage_id, label, added_bytes,
                            created_at) VALUES (?, ?, NULL, ?, ?, 'imported', ?, ?)""", steps)
    for story_id, (_, alternatives, *_) in zip(story_ids, entries):
        if alternatives is not None and alternatives.get("probabilities") is not None:
            probabilities.restore(conn, story_id, alternatives["versions"], alternatives["probabilities"])
    sizes.measure(conn, "import_id = ? AND stored_bytes < 0", (import_id,))
    return story_ids


def staged_bytes(conn, import_id: int) -> int:
    return int(conn.execute("SELECT coalesce(sum(stored_bytes), 0) FROM stories WHERE import_id = ?",
                            (import_id,)).fetchone()[0])


def finish_import(conn, import_id: int) -> None:
    """Show every staged story at once (one short transaction)."""
    with write_transaction(conn):
        conn.execute("UPDATE stories SET import_id = NULL WHERE import_id = ?", (import_id,))
        conn.execute("DELETE FROM imports WHERE id = ?", (import_id,))


def undo_import(conn, import_id: int) -> None:
    """Delete what the import staged, DELETE_BATCH stories per short transaction, then the import."""
    while True:
        with write_transaction(conn):
            batch = [(row["id"],) for row in conn.execute(
                "SELECT id FROM stories WHERE import_id = ? LIMIT ?", (import_id, DELETE_BATCH))]
            conn.executemany("DELETE FROM stories WHERE id = ?", batch)
            if not batch:
                conn.execute("DELETE FROM imports WHERE id = ?", (import_id,))
                return
