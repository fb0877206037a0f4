"""What the /api/stories controllers share: the fields of a story as a request sends them, the
user's story as a row and as the document the API answers, and a studio write's guard."""
from __future__ import annotations

import json

from flask import current_app

from taleweaver.errors import ApiError, validation_error
from taleweaver.generations import rows as generations
from taleweaver.storage.db import get_db, write_transaction
from taleweaver.stories import history, lorebook, marks, passages, rewriting, sizes, templates
from taleweaver.stories import store as stories_store
from taleweaver.web.auth import current_user_id

MAX_ID = 2**63 - 1  # SQLite's largest INTEGER
MAX_TITLE = 200
MAX_PREMISE = 20_000
MAX_CONTENT = stories_store.MAX_CONTENT
MAX_LABEL = 100
MAX_SETTINGS = 20_000  # characters of the settings object as JSON, its lorebook aside
MAX_MEMORY = 20_000  # memory and author's note, each

NOT_FOUND = "That story does not exist (it may have been deleted)."


def text(body: dict, field: str, limit: int) -> str | None:
    """A text field of the body, or None when it is absent."""
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise validation_error(field, f"{field} must be text.")
    if len(value) > limit:
        raise validation_error(field, f"{field} is longer than {limit:,} characters.")
    return value


def premise(body: dict) -> str | None:
    """`premise`, or its older name `prompt`."""
    value = text(body, "premise", MAX_PREMISE)
    prompt = text(body, "prompt", MAX_PREMISE)
    if value is not None and prompt is not None and value != prompt:
        raise validation_error("premise", "Send the premise once: prompt is another name for premise.")
    return value if value is not None else prompt


def settings(body: dict) -> str | None:
    """The generation settings object as stored JSON, or None when absent."""
    if "settings" not in body or body["settings"] is None:
        return None
    value = body["settings"]
    if not isinstance(value, dict):
        raise validation_error("settings", "settings must be an object.")
    rest = {key: item for key, item in value.items() if key != "lorebook"}
    if len(json.dumps(rest, separators=(",", ":"))) > MAX_SETTINGS:
        raise validation_error("settings", f"settings are longer than {MAX_SETTINGS:,} characters as JSON "
                               "(the lorebook has a bound of its own).")
    for name, allowed in (("mode", templates.MODES), ("template", templates.NAMES)):
        if value.get(name) is not None and value[name] not in allowed:
            raise validation_error(f"settings.{name}", f"settings.{name} must be one of {', '.join(allowed)}.")
    if "lorebook" in value:
        rest["lorebook"] = lorebook.validated(value["lorebook"])
    return json.dumps(rest, separators=(",", ":"), sort_keys=True)


def auto_title(body: dict) -> bool:
    """`auto_title`: the title is the one derived from the premise (or the one sent as such), kept
    unique among the user's stories, and follows the premise until a title is given."""
    value = body.get("auto_title")
    if value is not None and not isinstance(value, bool):
        raise validation_error("auto_title", "auto_title must be true or false.")
    return bool(value)


def base_revision(body: dict) -> int:
    value = body.get("base_revision")
    if value is None:
        raise validation_error(
            "base_revision", "base_revision is required: send the revision this save is based on."
        )
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise validation_error("base_revision", "base_revision must be a revision number (a positive integer).")
    return value


def row(story_id: int):
    """The user's story, or 404."""
    found = None
    if story_id <= MAX_ID:
        found = stories_store.story_row(get_db(), story_id, current_user_id())
    if found is None:
        raise ApiError(404, "not_found", NOT_FOUND)
    return found


def check_quota(growth: int) -> None:
    """507 quota_exceeded when `growth` more bytes would take the user past the storage quota."""
    sizes.check_quota(get_db(), current_user_id(), growth, current_app.config.get("STORAGE_QUOTA", 0))


def summary(found, status: str | None) -> dict:
    return {
        "id": found["id"],
        "title": found["title"],
        "premise": found["premise"],
        "prompt": found["premise"],
        "genre": found["genre"],
        "length": found["length"],
        "word_count": found["word_count"],
        "revision": found["revision"],
        "created_at": found["created_at"],
        "updated_at": found["updated_at"],
        "generation_status": status,
        "excerpt": found["excerpt"] if "excerpt" in found.keys() else found["content"][:200],
    }


def story_document(story_id: int) -> dict:
    """The full story as the API answers it, with its running and last generation."""
    conn = get_db()
    active_row = generations.running_for_story(conn, story_id)
    if active_row is not None and active_row["status"] != "running":
        active_row = None
    last_row = generations.last_for_story(conn, story_id)
    found = row(story_id)
    story = summary(found, last_row["status"] if last_row else None)
    story.update({
        "content": found["content"],
        "settings": stories_store.settings_of(found),
        "backend_type": found["backend_type"],
        "model": found["model"],
        "active_generation": generations.view(active_row) if active_row else None,
        "last_generation": generations.view(last_row) if last_row else None,
        "auto_title": bool(found["auto_title"]),
        "memory": found["memory"],
        "authors_note": found["authors_note"],
        "alternatives": passages.view(passages.current(conn, found)),
        "proposal": rewriting.view(conn, found),
        "marks": marks.current(conn, story_id),
        "history": history.view(conn, story_id, found["history_node_id"]),
    })
    if active_row is not None:
        # The rows above are read one after another while the job goes on writing. The text and
        # the running generation's length are read again in one statement (one snapshot), so a
        # page that shows this text and follows from text_length neither doubles nor skips a word.
        snapshot = stories_store.live_text(conn, story_id, active_row["id"])
        if snapshot is not None:
            story["content"], story["word_count"] = snapshot["content"], snapshot["word_count"]
            if active_row["action"] != rewriting.ACTION:  # the words so far are the model's, in place
                start = active_row["prefix_length"] if active_row["prefix_length"] is not None else (
                    len(snapshot["content"]) - snapshot["text_length"])
                story["marks"] = marks.written(story["marks"], active_row["action"], start, snapshot["text_length"])
            for key in ("active_generation", "last_generation"):
                if story[key] and story[key]["id"] == active_row["id"]:
                    story[key]["text_length"] = snapshot["text_length"]
    return story


def conflict(current: int) -> ApiError:
    error = ApiError(
        409, "revision_conflict",
        f"This story was changed elsewhere (another tab or device) and is now at revision {current}; "
        "nothing was saved. Reload it, or keep your text as a copy.",
    )
    error.extra = {"current_revision": current}
    return error


def generation_running(generation_id: int) -> ApiError:
    error = ApiError(
        409, "generation_running",
        "A generation is writing this story's text right now; stop it or wait until it ends, then edit.",
    )
    error.extra = {"generation_id": generation_id}
    return error


def guarded_write(story_id: int, base: int, change, content_changes: bool = True) -> None:
    """Apply `change(conn, row)` to the story in one write transaction, on top of revision `base`
    and (when it changes the text) never while a generation writes it."""
    conn = get_db()
    row(story_id)
    generations.running_for_story(conn, story_id)  # a dead job is marked interrupted first
    with write_transaction(conn):
        found = row(story_id)
        if found["revision"] != base:
            raise conflict(found["revision"])
        running = stories_store.running_generation(conn, story_id) if content_changes else None
        if running is not None:
            raise generation_running(running)
        change(conn, found)
