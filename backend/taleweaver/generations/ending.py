"""How a generation ends, whoever ends it (its job, a Stop its job did not answer, a reader that
found its job dead): in one transaction its outcome and whole text (its pieces then go), its
story's text, a new revision and undo step, and the story's oldest ended generations pruned."""
from __future__ import annotations

import time

from taleweaver.generations import probabilities as generation_probabilities
from taleweaver.generations import store
from taleweaver.storage import db
from taleweaver.stories import insertion, marks, rewriting, sizes
from taleweaver.stories import probabilities as story_probabilities
from taleweaver.stories import store as stories_store

KEEP_ENDED_PER_STORY = 20  # ended generations kept per story (the newest)

INTERRUPTED_ERROR = {
    "code": "interrupted",
    "message": "The server stopped while this was being written; the text written until then is kept.",
    "hint": "Generate again (or Continue) to go on from where it stopped.",
}


def end(conn, generation_id: int, status: str, *, text: str | None = None, reasoning: str | None = None,
        content: str | None = None, finish_reason=None, usage=None, error=None,
        expect_owner: str | None = None, counted_tokens: int | None = None,
        first_token_at: float | None = None,
        probabilities: generation_probabilities.Collector | None = None) -> bool:
    """End a running generation as `status` (finished, stopped, failed or interrupted), with the
    final text, the story's text and counts when the caller has them, else with what is
    persisted; with the token `probabilities` its job collected, lined up with the text (a
    continuation's, regeneration's or reroll's). False when it had already ended (or, with
    expect_owner, belongs to another process)."""
    now = time.time()
    with db.write_transaction(conn):
        row = store.running_for_end(conn, generation_id)
        if row is None or (expect_owner is not None and row["owner"] != expect_owner):
            return False  # nothing was written: the transaction ends with nothing in it
        # An interrupted job ended at its last heartbeat: its age (by the database's clock) taken
        # from this process's now, so the time is on the clock its start was measured by when it
        # ran here, even with the database's clock elsewhere.
        finished_at = now if status != "interrupted" else now - max(0.0, row["heartbeat_age"])
        story_id = row["story_id"]
        if text is None:
            text, reasoning = store.full_text(conn, generation_id)
        if content is None:
            content = _story_text(conn, row, text)
        store.record_end(conn, generation_id, status, finished_at, finish_reason=finish_reason, usage=usage,
                         error=error, text=text, reasoning=reasoning, counted_tokens=counted_tokens,
                         first_token_at=first_token_at)
        store.forget_pieces(conn, generation_id)
        stories_store.set_content(conn, story_id, content)
        _into_story(conn, row, text)
        if probabilities is not None and row["action"] not in (insertion.ACTION, rewriting.ACTION):
            story_probabilities.keep_generated(conn, story_id, text, probabilities.runs(text))
            store.note_probabilities(conn, generation_id, probabilities.note)
        store.prune(conn, story_id, KEEP_ENDED_PER_STORY)
    return True


def _into_story(conn, row, text: str) -> None:
    """What the generation's text does to its story: a rewrite's becomes the newest version of
    the story's proposal (its text stays as it is); any other's is in the text, the story's new
    passage (or a version of it), with a revision and an undo step."""
    story_id = row["story_id"]
    if row["action"] == rewriting.ACTION:
        rewriting.ended(conn, story_id, text)
        sizes.refresh(conn, story_id)
        return
    before = marks.current(conn, story_id)
    changed = stories_store.passage_ended(conn, story_id, row["action"], row["prefix_length"], text)
    if text:
        stories_store.remember_writer(conn, story_id, row["backend_type"], row["model"])
        content = stories_store.content_of(conn, story_id)
        start = row["prefix_length"] if row["prefix_length"] is not None else len(content) - len(text)
        marks.keep_for(conn, story_id, content, marks.written(before, row["action"], start, len(text)))
    if text or changed:
        stories_store.bump_revision(conn, story_id, "generation")
        stories_store.record_history(conn, story_id, "regenerate" if row["action"] == "regenerate" else "generation")


def _story_text(conn, row, text: str) -> str:
    """The story's text with the generation's persisted text: the text it continued (its first
    prefix_length characters; of a generation recorded without one, what precedes the text its
    job wrote into the story itself) and the generation's text, followed by the rest of the text
    for an insert (the story's text is not written while a generation runs)."""
    current = stories_store.content_of(conn, row["story_id"])
    start = row["prefix_length"] if row["prefix_length"] is not None else len(current) - row["stored_length"]
    if row["action"] == rewriting.ACTION:
        return current
    return current[:start] + text + (current[start:] if row["action"] == insertion.ACTION else "")


def interrupt(conn, generation_id: int) -> bool:
    """Mark a generation whose job died `interrupted`, keeping its text in the story."""
    return end(conn, generation_id, "interrupted", error=INTERRUPTED_ERROR)
