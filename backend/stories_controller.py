"""/api/stories: the user's stories as documents, saved with optimistic concurrency and revisions."""
from __future__ import annotations

import json

from flask import Blueprint, jsonify

import generations
import stories_store
from auth import current_user_id
from db import get_db
from errors import ApiError, validation_error
from request_body import json_object
from settings_store import BACKEND_TYPES

bp = Blueprint("stories", __name__, url_prefix="/api/stories")

MAX_ID = 2**63 - 1  # SQLite's largest INTEGER
MAX_TITLE = 200
MAX_PREMISE = 20_000
MAX_CONTENT = 500_000
MAX_LABEL = 100
MAX_SETTINGS = 20_000  # characters of the settings object as JSON

_NOT_FOUND = "That story does not exist (it may have been deleted)."


def _text(body: dict, field: str, limit: int) -> str | None:
    """A text field of the body, or None when it is absent."""
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise validation_error(field, f"{field} must be text.")
    if len(value) > limit:
        raise validation_error(field, f"{field} is longer than {limit:,} characters.")
    return value


def _premise(body: dict) -> str | None:
    """`premise`, or its older name `prompt`."""
    premise = _text(body, "premise", MAX_PREMISE)
    prompt = _text(body, "prompt", MAX_PREMISE)
    if premise is not None and prompt is not None and premise != prompt:
        raise validation_error("premise", "Send the premise once: prompt is another name for premise.")
    return premise if premise is not None else prompt


def _settings(body: dict) -> str | None:
    """The generation settings object as stored JSON, or None when absent."""
    if "settings" not in body or body["settings"] is None:
        return None
    value = body["settings"]
    if not isinstance(value, dict):
        raise validation_error("settings", "settings must be an object.")
    encoded = json.dumps(value, separators=(",", ":"), sort_keys=True)
    if len(encoded) > MAX_SETTINGS:
        raise validation_error("settings", f"settings are longer than {MAX_SETTINGS:,} characters as JSON.")
    return encoded


def _story_id(story_id: int) -> int:
    if story_id > MAX_ID:
        raise ApiError(404, "not_found", _NOT_FOUND)
    return story_id


def _row(story_id: int):
    row = stories_store.story_row(get_db(), _story_id(story_id), current_user_id())
    if row is None:
        raise ApiError(404, "not_found", _NOT_FOUND)
    return row


def _summary(row, status: str | None) -> dict:
    return {
        "id": row["id"],
        "title": row["title"],
        "premise": row["premise"],
        "prompt": row["premise"],
        "genre": row["genre"],
        "length": row["length"],
        "word_count": row["word_count"],
        "revision": row["revision"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "generation_status": status,
        "excerpt": row["excerpt"] if "excerpt" in row.keys() else row["content"][:200],
    }


def story_document(story_id: int) -> dict:
    """The full story as the API answers it, with its running and last generation."""
    conn = get_db()
    active_row = generations.running_for_story(conn, story_id)
    if active_row is not None and active_row["status"] != "running":
        active_row = None
    last_row = generations.last_for_story(conn, story_id)
    row = _row(story_id)
    story = _summary(row, last_row["status"] if last_row else None)
    story.update({
        "content": row["content"],
        "settings": stories_store.settings_of(row),
        "backend_type": row["backend_type"],
        "model": row["model"],
        "active_generation": generations.view(active_row) if active_row else None,
        "last_generation": generations.view(last_row) if last_row else None,
    })
    if active_row is not None:
        # The rows above are read one after another while the job goes on writing. The text and
        # the running generation's length are read again in one statement (one snapshot), so a
        # page that shows this text and follows from text_length neither doubles nor skips a word.
        snapshot = conn.execute(
            """SELECT s.content, s.word_count, length(g.text) AS text_length
               FROM stories s JOIN generations g ON g.story_id = s.id WHERE s.id = ? AND g.id = ?""",
            (story_id, active_row["id"]),
        ).fetchone()
        if snapshot is not None:
            story["content"], story["word_count"] = snapshot["content"], snapshot["word_count"]
            for key in ("active_generation", "last_generation"):
                if story[key] and story[key]["id"] == active_row["id"]:
                    story[key]["text_length"] = snapshot["text_length"]
    return story


@bp.get("")
def list_stories():
    """The user's stories, most recently edited first."""
    conn = get_db()
    rows = conn.execute(
        f"SELECT {stories_store.SUMMARY_COLUMNS} FROM stories WHERE user_id = ? ORDER BY updated_at DESC, id DESC",
        (current_user_id(),),
    ).fetchall()
    statuses = {}
    for last in conn.execute(
        """SELECT g.id, g.story_id, g.status FROM generations g
           JOIN (SELECT story_id, max(id) AS id FROM generations WHERE user_id = ? GROUP BY story_id) newest
           ON g.id = newest.id""",
        (current_user_id(),),
    ).fetchall():
        status = last["status"]
        if status == "running":  # unless its job died: then it is interrupted now
            checked = generations.get_row(conn, last["id"])
            status = checked["status"] if checked else None
        statuses[last["story_id"]] = status
    return jsonify({"stories": [_summary(row, statuses.get(row["id"])) for row in rows]})


@bp.post("")
def create_story():
    """A new story from its first keystroke: a premise, or some text."""
    body = json_object()
    premise = _premise(body) or ""
    content = _text(body, "content", MAX_CONTENT) or ""
    if not premise.strip() and not content.strip():
        raise validation_error("premise", "Write a premise or some text first: an empty story is not saved.")
    title = (_text(body, "title", MAX_TITLE) or "").strip() or stories_store.title_from(premise, content)
    genre = _text(body, "genre", MAX_LABEL) or ""
    length = _text(body, "length", MAX_LABEL) or ""
    settings = _settings(body) or "{}"
    backend_type = body.get("backend_type")
    if backend_type is not None and backend_type not in BACKEND_TYPES:
        raise validation_error("backend_type", f"backend_type must be one of {', '.join(BACKEND_TYPES)}, or null.")
    model = _text(body, "model", 256) or None
    stamp = stories_store.now_stamp()
    conn = get_db()
    conn.execute("BEGIN IMMEDIATE")
    try:
        cursor = conn.execute(
            """INSERT INTO stories (user_id, title, premise, genre, length, settings_json, content, word_count,
                   backend_type, model, revision, created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)""",
            (current_user_id(), title, premise, genre, length, settings, content,
             stories_store.word_count(content), backend_type, model, stamp, stamp),
        )
        stories_store.add_revision(conn, cursor.lastrowid, "edit")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    response = jsonify(story_document(cursor.lastrowid))
    response.status_code = 201
    return response


@bp.get("/<int:story_id>")
def get_story(story_id: int):
    _row(story_id)
    return jsonify(story_document(story_id))


def _base_revision(body: dict) -> int:
    value = body.get("base_revision")
    if value is None:
        raise validation_error(
            "base_revision", "base_revision is required: send the revision this save is based on."
        )
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise validation_error("base_revision", "base_revision must be a revision number (a positive integer).")
    return value


def _conflict(current: int) -> ApiError:
    error = ApiError(
        409, "revision_conflict",
        f"This story was changed elsewhere (another tab or device) and is now at revision {current}; "
        "nothing was saved. Reload it, or keep your text as a copy.",
    )
    error.extra = {"current_revision": current}
    return error


def _generation_running(generation_id: int) -> ApiError:
    error = ApiError(
        409, "generation_running",
        "A generation is writing this story's text right now; stop it or wait until it ends, then edit.",
    )
    error.extra = {"generation_id": generation_id}
    return error


def _check_base(conn, row, base_revision: int) -> None:
    if row["revision"] != base_revision:
        raise _conflict(row["revision"])


def _running_generation(conn, story_id: int):
    """The id of the story's running generation (call inside the write transaction, after
    generations.running_for_story has marked a dead one interrupted)."""
    row = conn.execute(
        "SELECT id FROM generations WHERE story_id = ? AND status = 'running'", (story_id,)
    ).fetchone()
    return row["id"] if row else None


@bp.patch("/<int:story_id>")
def update_story(story_id: int):
    """Save changes made on top of `base_revision`; a stale base is refused and nothing is written."""
    body = json_object()
    base_revision = _base_revision(body)
    changes: dict = {}
    for field, limit in (("title", MAX_TITLE), ("genre", MAX_LABEL), ("length", MAX_LABEL),
                         ("content", MAX_CONTENT)):
        value = _text(body, field, limit)
        if value is not None:
            changes[field] = value
    if "title" in changes:
        changes["title"] = changes["title"].strip()
        if not changes["title"]:
            raise validation_error("title", "A title cannot be empty.")
    premise = _premise(body)
    if premise is not None:
        changes["premise"] = premise
    settings = _settings(body)
    if settings is not None:
        changes["settings_json"] = settings
    conn = get_db()
    _row(story_id)
    generations.running_for_story(conn, story_id)
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = _row(story_id)
        _check_base(conn, row, base_revision)
        changes = {k: v for k, v in changes.items() if row[k] != v}
        running = _running_generation(conn, story_id) if "content" in changes else None
        if running is not None:
            raise _generation_running(running)
        if changes:
            if "content" in changes:
                changes["word_count"] = stories_store.word_count(changes["content"])
            assignments = ", ".join(f"{column} = ?" for column in changes)
            conn.execute(
                f"UPDATE stories SET {assignments}, revision = revision + 1, updated_at = ? WHERE id = ?",
                (*changes.values(), stories_store.now_stamp(), story_id),
            )
            stories_store.add_revision(conn, story_id, "edit")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return jsonify(story_document(story_id))


@bp.delete("/<int:story_id>")
def delete_story(story_id: int):
    _row(story_id)
    get_db().execute("DELETE FROM stories WHERE id = ? AND user_id = ?", (story_id, current_user_id()))
    return "", 204


@bp.get("/<int:story_id>/revisions")
def list_revisions(story_id: int):
    """The story's kept revisions, newest first."""
    _row(story_id)
    rows = get_db().execute(
        """SELECT revision, created_at, word_count, title, reason FROM story_revisions
           WHERE story_id = ? ORDER BY revision DESC""",
        (story_id,),
    ).fetchall()
    return jsonify({"revisions": [dict(row) for row in rows]})


def _revision(story_id: int, revision: int):
    row = None
    if revision <= MAX_ID:
        row = get_db().execute(
            """SELECT revision, created_at, word_count, title, premise, content, reason FROM story_revisions
               WHERE story_id = ? AND revision = ?""",
            (story_id, revision),
        ).fetchone()
    if row is None:
        raise ApiError(
            404, "revision_not_found",
            f"Revision {revision} of this story is not kept (older revisions are thinned out); "
            "pick one from the list of revisions.",
        )
    return row


@bp.get("/<int:story_id>/revisions/<int:revision>")
def get_revision(story_id: int, revision: int):
    _row(story_id)
    return jsonify(dict(_revision(story_id, revision)))


@bp.post("/<int:story_id>/revisions/<int:revision>/restore")
def restore_revision(story_id: int, revision: int):
    """The revision's text becomes the story's text, as a new revision (nothing is lost)."""
    body = json_object()
    base_revision = _base_revision(body)
    conn = get_db()
    _row(story_id)
    old = _revision(story_id, revision)
    generations.running_for_story(conn, story_id)
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = _row(story_id)
        _check_base(conn, row, base_revision)
        running = _running_generation(conn, story_id)
        if running is not None:
            raise _generation_running(running)
        conn.execute(
            "UPDATE stories SET content = ?, word_count = ?, revision = revision + 1, updated_at = ? WHERE id = ?",
            (old["content"], old["word_count"], stories_store.now_stamp(), story_id),
        )
        stories_store.add_revision(conn, story_id, "restore")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return jsonify(story_document(story_id))
