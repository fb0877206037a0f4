"""Move every story's revisions, undo steps and versions into the texts kept once (007), keeping
each revision, step (redo steps included, as the branch after the current one) and version,
then drop the columns and the table that held copies."""
import json

from taleweaver.storage import texts


def _kept(conn, text_id: int, passage_id: int | None) -> list[int]:
    """The texts a step keeps: its text and its passage's versions."""
    passage = texts.passage(conn, passage_id)
    return [text_id, *(passage["text_ids"] if passage else [])]


def _passage(conn, story_id: int, alternatives_json) -> int | None:
    """The passage of a stored {"start", "versions", "chosen"}, or None (none, or unreadable)."""
    try:
        value = json.loads(alternatives_json) if alternatives_json else None
    except ValueError:
        return None
    versions = value.get("versions") if isinstance(value, dict) else None
    if not isinstance(versions, list) or not versions or not all(isinstance(v, str) for v in versions):
        return None
    start, chosen = value.get("start"), value.get("chosen")
    if not isinstance(start, int) or not isinstance(chosen, int) or not 0 <= chosen < len(versions):
        return None
    text_ids = [texts.keep(conn, story_id, version)[0] for version in versions]
    return texts.keep_passage(conn, story_id, start, None, chosen, text_ids)[0]


def _move_story(conn, story_id: int) -> None:
    story = conn.execute("SELECT content, alternatives_json, history_position FROM stories WHERE id = ?",
                         (story_id,)).fetchone()
    for revision in conn.execute("SELECT id FROM story_revisions WHERE story_id = ?", (story_id,)).fetchall():
        content = conn.execute("SELECT content FROM story_revisions WHERE id = ?", (revision["id"],)).fetchone()[0]
        conn.execute("UPDATE story_revisions SET text_id = ? WHERE id = ?",
                     (texts.keep(conn, story_id, content)[0], revision["id"]))
    parent = current = None
    parent_texts: list[int] = []
    steps = conn.execute("SELECT id, position FROM story_history WHERE story_id = ? ORDER BY position",
                         (story_id,)).fetchall()
    for step_id, position in steps:
        step = conn.execute("SELECT content, alternatives_json, label, created_at FROM story_history WHERE id = ?",
                            (step_id,)).fetchone()
        text_id, _ = texts.keep(conn, story_id, step["content"])
        passage_id = _passage(conn, story_id, step["alternatives_json"])
        kept = _kept(conn, text_id, passage_id)
        parent = conn.execute(
            """INSERT INTO history_nodes (story_id, parent_id, text_id, passage_id, label, added_bytes, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?)""",
            (story_id, parent, text_id, passage_id, step["label"],
             texts.bytes_beyond(conn, kept, parent_texts) + texts.REFERENCE_BYTES, step["created_at"]),
        ).lastrowid
        parent_texts = kept
        if position == story["history_position"]:
            current = parent
    if current is None:
        text_id, _ = texts.keep(conn, story_id, story["content"])
        current = conn.execute(
            """INSERT INTO history_nodes (story_id, parent_id, text_id, passage_id, label, added_bytes, created_at)
               VALUES (?, ?, ?, NULL, 'opened', ?, (SELECT updated_at FROM stories WHERE id = ?))""",
            (story_id, parent, text_id, texts.bytes_beyond(conn, [text_id], parent_texts) + texts.REFERENCE_BYTES,
             story_id),
        ).lastrowid
    conn.execute("UPDATE stories SET passage_id = ?, history_node_id = ? WHERE id = ?",
                 (_passage(conn, story_id, story["alternatives_json"]), current, story_id))


def upgrade(conn, dialect) -> None:
    for (story_id,) in conn.execute("SELECT id FROM stories ORDER BY id").fetchall():
        _move_story(conn, story_id)
    dialect.check_references_now(conn)
    conn.execute("DROP TABLE story_history")
    conn.execute("ALTER TABLE story_revisions DROP COLUMN content")
    conn.execute("ALTER TABLE stories DROP COLUMN alternatives_json")
    conn.execute("ALTER TABLE stories DROP COLUMN history_position")
