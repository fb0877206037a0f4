"""What a story keeps, in bytes, and the user's storage quota (docs/STORAGE.md): every story
keeps its own total (`stories.stored_bytes`, measured again at the end of each write of it); a
user's use is the sum over their stories."""
from __future__ import annotations

from taleweaver.errors import ApiError
from taleweaver.storage import texts
from taleweaver.storage.db import write_transaction

ROW_BYTES = texts.REFERENCE_BYTES  # a row of references beside the text it refers to
MEASURE_BATCH = 100  # stories measured per transaction when a user's use is asked for

# An ended generation's text no longer changes: it is measured once.
_MEASURE_ENDED_GENERATIONS = f"""
UPDATE generations SET stored_bytes = length(CAST(text AS BLOB)) + length(CAST(reasoning AS BLOB))
    + length(CAST(params_json AS BLOB)) + coalesce(length(CAST(context_json AS BLOB)), 0)
    + coalesce(length(CAST(usage_json AS BLOB)), 0) + coalesce(length(CAST(error_json AS BLOB)), 0) + {ROW_BYTES}
WHERE story_id IN (SELECT id FROM stories WHERE {{where}}) AND stored_bytes IS NULL AND status != 'running'"""

_MEASURE_STORIES = f"""
UPDATE stories SET stored_bytes = {ROW_BYTES} + length(CAST(content AS BLOB)) + length(CAST(premise AS BLOB))
    + length(CAST(title AS BLOB)) + length(CAST(memory AS BLOB)) + length(CAST(authors_note AS BLOB))
    + length(CAST(settings_json AS BLOB))
    + (SELECT coalesce(sum(bytes), 0) FROM text_chunks WHERE story_id = stories.id)
    + (SELECT coalesce(sum(bytes), 0) FROM texts WHERE story_id = stories.id)
    + (SELECT coalesce(sum(length(CAST(top_json AS BLOB))), 0) + count(*) * {ROW_BYTES} FROM token_probabilities
       WHERE text_id IN (SELECT id FROM texts WHERE story_id = stories.id))
    + (SELECT coalesce(sum(length(CAST(title AS BLOB)) + length(CAST(premise AS BLOB))), 0) + count(*) * {ROW_BYTES}
       FROM story_revisions WHERE story_id = stories.id)
    + (SELECT count(*) * {ROW_BYTES} FROM history_nodes WHERE story_id = stories.id)
    + (SELECT count(*) * {ROW_BYTES} FROM story_passages WHERE story_id = stories.id)
    + (SELECT count(*) * {ROW_BYTES} FROM passage_versions
       WHERE passage_id IN (SELECT id FROM story_passages WHERE story_id = stories.id))
    + (SELECT count(*) * {ROW_BYTES} FROM text_marks
       WHERE text_id IN (SELECT id FROM texts WHERE story_id = stories.id))
    + (SELECT coalesce(sum(stored_bytes), 0) FROM generations WHERE story_id = stories.id AND stored_bytes IS NOT NULL)
    + (SELECT coalesce(sum(length(CAST(text AS BLOB)) + length(CAST(reasoning AS BLOB))), 0)
       FROM generations WHERE story_id = stories.id AND stored_bytes IS NULL)
WHERE {{where}}"""


def measure(conn, where: str, params: tuple) -> None:
    """Measure what the stories `where` names keep now (in the caller's write transaction)."""
    conn.execute(_MEASURE_ENDED_GENERATIONS.format(where=where), params)
    conn.execute(_MEASURE_STORIES.format(where=where), params)


def refresh(conn, story_id: int) -> None:
    """Measure what the story keeps now (in the caller's write transaction)."""
    measure(conn, "id = ?", (story_id,))


def usage(conn, user_id: int) -> dict:
    """{"used_bytes", "stories"} of the user; stories not measured yet (a database migrated from
    before the quota) are measured first, a batch per short write transaction."""
    while True:
        unmeasured = [row["id"] for row in conn.execute(
            "SELECT id FROM stories WHERE user_id = ? AND stored_bytes < 0 LIMIT ?", (user_id, MEASURE_BATCH))]
        if not unmeasured:
            break
        with write_transaction(conn):
            measure(conn, f"id IN ({', '.join('?' * len(unmeasured))})", tuple(unmeasured))
    row = conn.execute("SELECT coalesce(sum(stored_bytes), 0) AS used, count(*) AS n FROM stories WHERE user_id = ?",
                       (user_id,)).fetchone()
    return {"used_bytes": int(row["used"]), "stories": row["n"]}


def readable(size: int) -> str:
    """A byte count as people read it (decimal units, as the quota's default of 1 GB)."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if abs(size) >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def check_quota(conn, user_id: int, growth: int, quota: int) -> None:
    """Refuse (507 quota_exceeded) a write that adds `growth` bytes past the user's quota; a write
    that adds nothing is never refused, so a user over the quota can always delete and shorten."""
    if quota <= 0 or growth <= 0:
        return
    used = usage(conn, user_id)["used_bytes"]
    if used + growth > quota:
        raise quota_exceeded(used, growth, quota)


def quota_exceeded(used: int, growth: int, quota: int) -> ApiError:
    """507: `growth` more bytes on top of `used` would pass the quota; what to do about it."""
    error = ApiError(
        507, "quota_exceeded",
        f"Saving this needs about {readable(growth)} more, and your stories already keep {readable(used)} "
        f"of your storage quota of {readable(quota)}; nothing was saved.",
        hint="Delete stories you no longer need (their revisions, undo steps and versions go with them), "
        "or ask the server's operator to raise TALEWEAVER_STORAGE_QUOTA.",
    )
    error.extra = {"used_bytes": used, "quota_bytes": quota, "needed_bytes": growth}
    return error
