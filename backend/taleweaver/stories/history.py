"""A story's undo history as a tree of steps (docs/STORAGE.md): each step refers to a kept text
and passage, and is a child of the step it was made on. Undo walks to the parent; redo to the
newest child, which is where the last undo came from unless an edit since made a newer one
(then, as before the tree, there is nothing to redo). Bounded per story by steps and by bytes."""
from __future__ import annotations

from flask import current_app, has_app_context

from taleweaver.storage import texts

HISTORY_STEPS = 100  # undo steps kept per story
HISTORY_BYTES = 64 * 2**20  # bytes a story's steps may bring in (TALEWEAVER_HISTORY_BYTES)


def bytes_bound() -> int:
    """The per-story bound on history bytes (a generation may end outside a request)."""
    if has_app_context():
        return current_app.config.get("HISTORY_BYTES", HISTORY_BYTES)
    return HISTORY_BYTES


def record(conn, story_id: int, label: str, stamp: str) -> None:
    """The story's text and passage as they are now become a step after the current one (in the
    caller's transaction); nothing is recorded when they are the current step's."""
    row = conn.execute("SELECT content, passage_id, history_node_id FROM stories WHERE id = ?", (story_id,)).fetchone()
    current = conn.execute(
        """SELECT n.text_id, n.passage_id, t.digest FROM history_nodes n JOIN texts t ON t.id = n.text_id
           WHERE n.id = ? AND n.story_id = ?""",
        (row["history_node_id"], story_id),
    ).fetchone()
    if current is not None and current["passage_id"] == row["passage_id"] and current["digest"] == texts.digest(row["content"]):
        return
    text_id, _ = texts.keep(conn, story_id, row["content"])
    before = _texts_of(conn, current["text_id"], current["passage_id"]) if current is not None else []
    added = texts.bytes_beyond(conn, _texts_of(conn, text_id, row["passage_id"]), before)
    node_id = conn.execute(
        """INSERT INTO history_nodes (story_id, parent_id, text_id, passage_id, label, added_bytes, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)""",
        (story_id, row["history_node_id"] if current is not None else None, text_id, row["passage_id"], label,
         added + texts.REFERENCE_BYTES, stamp),
    ).lastrowid
    conn.execute("UPDATE stories SET history_node_id = ? WHERE id = ?", (node_id, story_id))
    _prune(conn, story_id, node_id)


def first_step(conn, story_id: int, text_id: int, label: str, added_bytes: int, stamp: str) -> int:
    """The first step of a new story's history (its text kept already, bringing in `added_bytes`):
    its id."""
    return conn.execute(
        """INSERT INTO history_nodes (story_id, parent_id, text_id, passage_id, label, added_bytes, created_at)
           VALUES (?, NULL, ?, NULL, ?, ?, ?)""",
        (story_id, text_id, label, added_bytes + texts.REFERENCE_BYTES, stamp),
    ).lastrowid


def _texts_of(conn, text_id: int, passage_id: int | None) -> list[int]:
    """The texts a step keeps: its text and its passage's versions."""
    passage = texts.passage(conn, passage_id)
    return [text_id, *(passage["text_ids"] if passage else [])]


def _prune(conn, story_id: int, current_id: int) -> None:
    """The oldest steps go while there are more than HISTORY_STEPS or they brought in more than
    the bytes bound; never the current one."""
    nodes = conn.execute("SELECT id, added_bytes FROM history_nodes WHERE story_id = ? ORDER BY id",
                         (story_id,)).fetchall()
    steps, total, limit = len(nodes), sum(node["added_bytes"] for node in nodes), bytes_bound()
    doomed = []
    for node in nodes:
        if steps <= HISTORY_STEPS and total <= limit:
            break
        if node["id"] != current_id:
            doomed.append((node["id"],))
            steps, total = steps - 1, total - node["added_bytes"]
    if doomed:
        conn.executemany("DELETE FROM history_nodes WHERE id = ?", doomed)
        forget_unreferenced(conn, story_id)


def forget_unreferenced(conn, story_id: int) -> None:
    """Delete the story's passages, texts and chunks that no revision, step or passage refers to
    any more (after revisions were thinned or steps pruned)."""
    conn.execute(
        """DELETE FROM story_passages WHERE story_id = ?
           AND id NOT IN (SELECT passage_id FROM history_nodes WHERE story_id = ? AND passage_id IS NOT NULL)
           AND id NOT IN (SELECT passage_id FROM stories WHERE id = ? AND passage_id IS NOT NULL)
           AND id NOT IN (SELECT proposal_id FROM stories WHERE id = ? AND proposal_id IS NOT NULL)""",
        (story_id, story_id, story_id, story_id),
    )
    conn.execute(
        """DELETE FROM texts WHERE story_id = ?
           AND id NOT IN (SELECT text_id FROM story_revisions WHERE story_id = ? AND text_id IS NOT NULL)
           AND id NOT IN (SELECT text_id FROM history_nodes WHERE story_id = ?)
           AND id NOT IN (SELECT text_id FROM passage_versions
                          WHERE passage_id IN (SELECT id FROM story_passages WHERE story_id = ?))""",
        (story_id, story_id, story_id, story_id),
    )
    texts.drop_unused_chunks(conn, story_id)


def view(conn, story_id: int, node_id: int | None) -> dict:
    """Where the story stands in its undo history, and what an undo or a redo would do."""
    node = conn.execute(
        """SELECT n.id, n.label, p.id AS parent FROM history_nodes n LEFT JOIN history_nodes p ON p.id = n.parent_id
           WHERE n.id = ? AND n.story_id = ?""",
        (node_id, story_id),
    ).fetchone()
    child = _newest_child(conn, node_id)
    steps = conn.execute("SELECT count(*) FROM history_nodes WHERE story_id = ?", (story_id,)).fetchone()[0]
    can_undo = node is not None and node["parent"] is not None
    return {
        "position": node_id or 0,
        "can_undo": can_undo,
        "can_redo": node is not None and child is not None,
        "undo_label": node["label"] if can_undo else None,
        "redo_label": child["label"] if node is not None and child is not None else None,
        "steps": steps,
    }


def _newest_child(conn, node_id: int | None):
    return conn.execute(
        "SELECT id, text_id, passage_id, label FROM history_nodes WHERE parent_id = ? ORDER BY id DESC LIMIT 1",
        (node_id,),
    ).fetchone()


def neighbour(conn, story_id: int, node_id: int | None, direction: int):
    """The step an undo (-1) or a redo (+1) goes to: (id, text_id, passage_id), or None."""
    if direction > 0:
        return _newest_child(conn, node_id)
    return conn.execute(
        """SELECT p.id, p.text_id, p.passage_id FROM history_nodes n JOIN history_nodes p ON p.id = n.parent_id
           WHERE n.id = ? AND n.story_id = ?""",
        (node_id, story_id),
    ).fetchone()
