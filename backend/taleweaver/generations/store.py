"""The generations table and a running generation's pieces: every statement a generation runs on
them (a story's own rows are written through taleweaver.stories.store). Each takes the caller's
connection, inside the caller's transaction when there is one.

A running generation's text is persisted by appending (docs/STORAGE.md): `generations.text` (empty
while its job runs) followed by its pieces in order is its text so far; when it ends, the whole
text is written into `generations.text` and the pieces go."""
from __future__ import annotations

import json
import sqlite3

from taleweaver.storage import dialect as db_dialect

# A heartbeat is written, and its age read, by the database's clock (EPOCH_NOW): instances on
# one PostgreSQL judge each other's jobs by it, and their own clocks may disagree by more than
# registry.STALE_SECONDS (a VM resumed from sleep, WSL after the laptop slept).
HEARTBEAT_AGE = f"{db_dialect.EPOCH_NOW} - heartbeat_at AS heartbeat_age"
# How far the pieces of generation `g` reach into its text and reasoning (0 and 0 without any).
_PIECES_END = ("coalesce((SELECT {column} FROM generation_pieces WHERE generation_id = {g}.id "
               "ORDER BY seq DESC LIMIT 1), 0)")
TEXT_LENGTH = "length({g}.text) + " + _PIECES_END.format(column="text_end", g="{g}")
REASONING_LENGTH = "length({g}.reasoning) + " + _PIECES_END.format(column="reasoning_end", g="{g}")
_VIEW_COLUMNS = (
    "id, story_id, user_id, status, backend_type, model, params_json, started_at, first_token_at, "
    f"finished_at, {TEXT_LENGTH.format(g='generations')} AS text_length, finish_reason, usage_json, error_json, "
    f"owner, heartbeat_at, {HEARTBEAT_AGE}, action, prefix_length, counted_tokens, context_json"
)
_HEARTBEAT = (f"UPDATE generations SET heartbeat_at = {db_dialect.EPOCH_NOW} "
              "WHERE id = ? AND status = 'running' AND owner = ?")
_HEARTBEAT_AND_COUNTS = (f"UPDATE generations SET heartbeat_at = {db_dialect.EPOCH_NOW}, first_token_at = ?, "
                         "counted_tokens = ? WHERE id = ? AND status = 'running' AND owner = ?")
_APPEND = ("INSERT INTO generation_pieces (generation_id, seq, text, reasoning, text_end, reasoning_end) "
           "VALUES (?, ?, ?, ?, ?, ?)")
# What a follower on another worker or instance reads at each look: the outcome once there is
# one, and the text past its cursor in generations.text (an ended generation's); the pieces past
# it come from pieces_after().
_TAIL = f"""SELECT status, owner, {HEARTBEAT_AGE}, length(text) AS n, length(reasoning) AS r,
                   substr(text, ? + 1) AS tail, substr(reasoning, ? + 1) AS rtail,
                   finish_reason, usage_json, error_json
            FROM generations WHERE id = ?"""
_PIECES_AFTER = """SELECT seq, text, reasoning, text_end, reasoning_end FROM generation_pieces
                   WHERE generation_id = ? AND seq > ? AND (text_end > ? OR reasoning_end > ?) ORDER BY seq"""


def view_row(conn: sqlite3.Connection, generation_id: int, user_id: int | None = None) -> sqlite3.Row | None:
    """The generation without its text (of that user, when given), as it is in the database."""
    sql = f"SELECT {_VIEW_COLUMNS} FROM generations WHERE id = ?"
    args: tuple = (generation_id,)
    if user_id is not None:
        sql += " AND user_id = ?"
        args += (user_id,)
    return conn.execute(sql, args).fetchone()


def running_id(conn: sqlite3.Connection, story_id: int) -> int | None:
    """The story's generation marked running, if there is one."""
    row = conn.execute("SELECT id FROM generations WHERE story_id = ? AND status = 'running'", (story_id,)).fetchone()
    return row["id"] if row else None


def last_id(conn: sqlite3.Connection, story_id: int) -> int | None:
    row = conn.execute("SELECT id FROM generations WHERE story_id = ? ORDER BY id DESC LIMIT 1", (story_id,)).fetchone()
    return row["id"] if row else None


def running_with_owners(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Every generation marked running, with its owner and the age of its heartbeat."""
    return conn.execute(f"SELECT id, owner, {HEARTBEAT_AGE} FROM generations WHERE status = 'running'").fetchall()


def insert(conn: sqlite3.Connection, *, story_id: int, user_id: int, backend_type: str | None, model: str | None,
           params: dict, owner: str, started_at: float, action: str | None, prefix_length: int,
           context: dict | None) -> int:
    """A new running generation; its id."""
    cursor = conn.execute(
        f"""INSERT INTO generations (story_id, user_id, backend_type, model, params_json, owner,
               started_at, heartbeat_at, action, prefix_length, context_json)
           VALUES (?, ?, ?, ?, ?, ?, ?, {db_dialect.EPOCH_NOW}, ?, ?, ?)""",
        (story_id, user_id, backend_type, model, json.dumps(params), owner, started_at, action, prefix_length,
         json.dumps(context) if context else None),
    )
    return cursor.lastrowid


def running_for_end(conn: sqlite3.Connection, generation_id: int) -> sqlite3.Row | None:
    """What ending a generation needs of it, while it is still marked running."""
    return conn.execute(
        f"""SELECT story_id, owner, {HEARTBEAT_AGE}, action, prefix_length, backend_type, model,
                  length(text) AS stored_length
           FROM generations WHERE id = ? AND status = 'running'""",
        (generation_id,),
    ).fetchone()


def record_end(conn: sqlite3.Connection, generation_id: int, status: str, finished_at: float, *,
               finish_reason, usage, error, text: str, reasoning: str | None,
               counted_tokens: int | None, first_token_at: float | None) -> None:
    """The generation's final state and whole text; its counts too when the caller has them."""
    sets = ["status = ?", "finished_at = ?", f"heartbeat_at = {db_dialect.EPOCH_NOW}", "finish_reason = ?",
            "usage_json = ?", "error_json = ?", "text = ?", "reasoning = ?"]
    args = [status, finished_at, finish_reason, json.dumps(usage) if usage else None,
            json.dumps(error) if error else None, text, reasoning or ""]
    if counted_tokens is not None:
        sets += ["counted_tokens = ?", "first_token_at = coalesce(first_token_at, ?)"]
        args += [counted_tokens, first_token_at]
    conn.execute(f"UPDATE generations SET {', '.join(sets)} WHERE id = ?", (*args, generation_id))


def prune(conn: sqlite3.Connection, story_id: int, keep: int) -> None:
    """Only the story's newest `keep` ended generations stay."""
    conn.execute(
        """DELETE FROM generations WHERE story_id = ? AND status != 'running' AND id NOT IN (
               SELECT id FROM generations WHERE story_id = ? AND status != 'running' ORDER BY id DESC LIMIT ?)""",
        (story_id, story_id, keep),
    )


def full_text(conn: sqlite3.Connection, generation_id: int) -> tuple[str, str]:
    """The generation's text and reasoning as persisted (with a running one's pieces)."""
    row = conn.execute("SELECT text, reasoning FROM generations WHERE id = ?", (generation_id,)).fetchone()
    if row is None:
        return "", ""
    pieces = conn.execute("SELECT text, reasoning FROM generation_pieces WHERE generation_id = ? ORDER BY seq",
                          (generation_id,)).fetchall()
    return (row["text"] + "".join(piece["text"] for piece in pieces),
            row["reasoning"] + "".join(piece["reasoning"] for piece in pieces))


def forget_pieces(conn: sqlite3.Connection, generation_id: int) -> None:
    """An ended generation's pieces, once its whole text is in its row."""
    conn.execute("DELETE FROM generation_pieces WHERE generation_id = ?", (generation_id,))


def request_stop(conn: sqlite3.Connection, generation_id: int) -> None:
    """Mark the generation to be stopped: its job's worker sees it at its writer's next round."""
    conn.execute("UPDATE generations SET stop_requested = 1 WHERE id = ? AND status = 'running'", (generation_id,))


def states(conn: sqlite3.Connection, generation_ids: tuple[int, ...]) -> list[sqlite3.Row]:
    """Status, stop request and owner of each of these generations."""
    return conn.execute(
        f"SELECT id, status, stop_requested, owner FROM generations WHERE id IN ({', '.join('?' * len(generation_ids))})",
        generation_ids,
    ).fetchall()


def heartbeat(conn: sqlite3.Connection, generation_id: int, owner: str) -> None:
    """The running job of `owner` is still alive."""
    conn.execute(_HEARTBEAT, (generation_id, owner))


def append(conn: sqlite3.Connection, generation_id: int, owner: str, piece: tuple,
           first_token_at: float | None, counted_tokens: int) -> bool:
    """The running job's new text as its next piece, (seq, text, reasoning, text_end,
    reasoning_end), with a heartbeat and its counts; False (nothing written) when it is no longer
    that job's."""
    updated = conn.execute(_HEARTBEAT_AND_COUNTS, (first_token_at, counted_tokens, generation_id, owner))
    if updated.rowcount != 1:
        return False
    conn.execute(_APPEND, (generation_id, *piece))
    return True


def start_and_model(conn: sqlite3.Connection, generation_id: int) -> sqlite3.Row | None:
    return conn.execute("SELECT started_at, model FROM generations WHERE id = ?", (generation_id,)).fetchone()


def tail(conn: sqlite3.Connection, generation_id: int, after: int, reasoning_after: int) -> sqlite3.Row | None:
    """The text and reasoning of generations.text past those offsets, with the status, owner,
    heartbeat and outcome."""
    return conn.execute(_TAIL, (after, reasoning_after, generation_id)).fetchone()


def pieces_after(conn: sqlite3.Connection, generation_id: int, seq: int, text_after: int,
                 reasoning_after: int) -> list[sqlite3.Row]:
    """A running generation's pieces after piece `seq` that reach past those offsets (counted
    from the end of generations.text), in order."""
    return conn.execute(_PIECES_AFTER, (generation_id, seq, text_after, reasoning_after)).fetchall()


def status_and_length(conn: sqlite3.Connection, generation_id: int) -> sqlite3.Row | None:
    return conn.execute(f"SELECT status, {TEXT_LENGTH.format(g='generations')} AS n FROM generations WHERE id = ?",
                        (generation_id,)).fetchone()


def reasoning_length(conn: sqlite3.Connection, generation_id: int) -> int:
    row = conn.execute(f"SELECT {REASONING_LENGTH.format(g='generations')} FROM generations WHERE id = ?",
                       (generation_id,)).fetchone()
    return row[0] if row else 0


def note_probabilities(conn: sqlite3.Connection, generation_id: int, note: str | None) -> None:
    """Why the generation, which asked for token probabilities, has none (None: it has them)."""
    conn.execute("UPDATE generations SET probabilities_note = ? WHERE id = ?", (note, generation_id))


def probabilities_note(conn: sqlite3.Connection, story_id: int) -> str | None:
    """Why the story's newest ended generation has no token probabilities, when it asked for them."""
    row = conn.execute("SELECT probabilities_note FROM generations WHERE story_id = ? AND status != 'running' "
                       "ORDER BY id DESC LIMIT 1", (story_id,)).fetchone()
    return row["probabilities_note"] if row else None
