"""/api/stories: the user's stories as documents, saved with optimistic concurrency and revisions,
and the studio around them: context budget, alternatives, undo/redo, export, backup and import."""
from __future__ import annotations

import io
import json
import re

from flask import Blueprint, jsonify, request, send_file

from taleweaver.generations import rows as generations
from taleweaver.settings import llm_service
from taleweaver.stories import prompting
from taleweaver.stories import store as stories_store
from taleweaver.stories import studio
from taleweaver.web.auth import current_user_id
from taleweaver.storage.db import get_db, write_transaction
from taleweaver.errors import ApiError, validation_error
from taleweaver.web.request_body import json_object
from taleweaver.settings.store import BACKEND_TYPES

bp = Blueprint("stories", __name__, url_prefix="/api/stories")

MAX_ID = 2**63 - 1  # SQLite's largest INTEGER
MAX_TITLE = 200
MAX_PREMISE = 20_000
MAX_CONTENT = 500_000
MAX_LABEL = 100
MAX_SETTINGS = 20_000  # characters of the settings object as JSON
MAX_MEMORY = 20_000  # memory and author's note, each
MAX_QUERY = 200
SORTS = {
    "updated": "updated_at DESC, id DESC",
    "created": "created_at DESC, id DESC",
    "title": "lower(title) ASC, id ASC",
}

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


def _auto_title(body: dict) -> bool:
    """`auto_title`: the title is the one derived from the premise (or the one sent as such), kept
    unique among the user's stories, and follows the premise until a title is given."""
    value = body.get("auto_title")
    if value is not None and not isinstance(value, bool):
        raise validation_error("auto_title", "auto_title must be true or false.")
    return bool(value)


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
        "auto_title": bool(row["auto_title"]),
        "memory": row["memory"],
        "authors_note": row["authors_note"],
        "alternatives": stories_store.alternatives_view(stories_store.alternatives_of(row)),
        "history": stories_store.history_view(conn, story_id, row["history_position"]),
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
    """The user's stories, most recently edited first (or `sort=created|title`), those whose
    title, premise or text contain `q` when it is given."""
    conn = get_db()
    sort = request.args.get("sort", "updated")
    if sort not in SORTS:
        raise validation_error("sort", f"sort must be one of {', '.join(SORTS)}.")
    query = (request.args.get("q") or "").strip()
    if len(query) > MAX_QUERY:
        raise validation_error("q", f"The search text is longer than {MAX_QUERY} characters.")
    where, args = "user_id = ?", [current_user_id()]
    if query:
        pattern = f"%{stories_store.like_escape(query)}%"
        # lower() on both sides: LIKE ignores case in SQLite (ASCII) but not in PostgreSQL.
        where += (r" AND (lower(title) LIKE lower(?) ESCAPE '\' OR lower(premise) LIKE lower(?) ESCAPE '\'"
                  r" OR lower(content) LIKE lower(?) ESCAPE '\')")
        args += [pattern] * 3
    rows = conn.execute(
        f"SELECT {stories_store.SUMMARY_COLUMNS} FROM stories WHERE {where} ORDER BY {SORTS[sort]}", args
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
    conn = get_db()
    given = (_text(body, "title", MAX_TITLE) or "").strip()
    auto_title = _auto_title(body) or not given
    title = given or stories_store.short_title(premise, content)
    if auto_title:
        title = stories_store.unique_title(conn, current_user_id(), title)
    memory = _text(body, "memory", MAX_MEMORY) or ""
    authors_note = _text(body, "authors_note", MAX_MEMORY) or ""
    genre = _text(body, "genre", MAX_LABEL) or ""
    length = _text(body, "length", MAX_LABEL) or ""
    settings = _settings(body) or "{}"
    backend_type = body.get("backend_type")
    if backend_type is not None and backend_type not in BACKEND_TYPES:
        raise validation_error("backend_type", f"backend_type must be one of {', '.join(BACKEND_TYPES)}, or null.")
    model = _text(body, "model", 256) or None
    stamp = stories_store.now_stamp()
    with write_transaction(conn):
        cursor = conn.execute(
            """INSERT INTO stories (user_id, title, premise, genre, length, settings_json, content, word_count,
                   backend_type, model, revision, created_at, updated_at, memory, authors_note, auto_title)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?)""",
            (current_user_id(), title, premise, genre, length, settings, content,
             stories_store.word_count(content), backend_type, model, stamp, stamp, memory, authors_note,
             int(auto_title)),
        )
        stories_store.add_revision(conn, cursor.lastrowid, "edit")
        stories_store.record_history(conn, cursor.lastrowid, "created")
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
                         ("content", MAX_CONTENT), ("memory", MAX_MEMORY), ("authors_note", MAX_MEMORY)):
        value = _text(body, field, limit)
        if value is not None:
            changes[field] = value
    auto_title = _auto_title(body)
    if "title" in changes:
        changes["title"] = changes["title"].strip()
        if not changes["title"] and not auto_title:
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
    with write_transaction(conn):
        row = _row(story_id)
        _check_base(conn, row, base_revision)
        premise_changed = changes.get("premise", row["premise"]) != row["premise"]
        if auto_title or (row["auto_title"] and premise_changed and "title" not in changes):
            wanted = changes.get("title") or stories_store.short_title(
                changes.get("premise", row["premise"]), changes.get("content", row["content"]))
            changes["title"] = stories_store.unique_title(conn, current_user_id(), wanted, exclude_id=story_id)
            changes["auto_title"] = 1
        elif "title" in changes:
            changes["auto_title"] = 0
        changes = {k: v for k, v in changes.items() if row[k] != v}
        running = _running_generation(conn, story_id) if "content" in changes else None
        if running is not None:
            raise _generation_running(running)
        if changes:
            if "content" in changes:
                changes["word_count"] = stories_store.word_count(changes["content"])
                alternatives = stories_store.after_edit(
                    stories_store.alternatives_of(row), row["content"], changes["content"])
                changes["alternatives_json"] = json.dumps(alternatives) if alternatives else None
            assignments = ", ".join(f"{column} = ?" for column in changes)
            conn.execute(
                f"UPDATE stories SET {assignments}, revision = revision + 1, updated_at = ? WHERE id = ?",
                (*changes.values(), stories_store.now_stamp(), story_id),
            )
            stories_store.add_revision(conn, story_id, "edit")
            if "content" in changes:
                stories_store.record_history(conn, story_id, "edit")
    return jsonify(story_document(story_id))


@bp.delete("/<int:story_id>")
def delete_story(story_id: int):
    _row(story_id)
    conn = get_db()
    # Under the write lock, as a generation's writes of the story are: deleting the story (then,
    # by cascade, its generations) while a job writes its generation (then the story) would
    # otherwise take the two rows' locks in opposite orders (a deadlock on PostgreSQL).
    with write_transaction(conn):
        conn.execute("DELETE FROM stories WHERE id = ? AND user_id = ?", (story_id, current_user_id()))
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
    _base_revision(body)  # a malformed body is a 400 before a missing story is a 404
    _row(story_id)
    old = _revision(story_id, revision)

    def restore(conn, row):
        conn.execute(
            "UPDATE stories SET content = ?, word_count = ?, revision = revision + 1, updated_at = ? WHERE id = ?",
            (old["content"], old["word_count"], stories_store.now_stamp(), story_id),
        )
        stories_store.add_revision(conn, story_id, "restore")
        stories_store.keep_alternatives(conn, story_id, stories_store.after_edit(
            stories_store.alternatives_of(row), row["content"], old["content"]))
        stories_store.record_history(conn, story_id, "restore")

    return jsonify(_studio_write(story_id, body, restore))


# -- the studio: context budget, alternatives, undo and redo ------------------------------------

def _studio_write(story_id: int, body: dict, change) -> dict:
    """Apply `change(conn, row)` to the story in one write transaction, on top of the body's
    base_revision and never while a generation writes it; the story document after."""
    base_revision = _base_revision(body)
    conn = get_db()
    _row(story_id)
    generations.running_for_story(conn, story_id)
    with write_transaction(conn):
        row = _row(story_id)
        _check_base(conn, row, base_revision)
        running = _running_generation(conn, story_id)
        if running is not None:
            raise _generation_running(running)
        change(conn, row)
    return story_document(story_id)


def _write_state(conn, story_id: int, content: str, alternatives_json: str | None, reason: str) -> None:
    conn.execute(
        "UPDATE stories SET content = ?, word_count = ?, alternatives_json = ? WHERE id = ?",
        (content, stories_store.word_count(content), alternatives_json, story_id),
    )
    stories_store.bump_revision(conn, story_id, reason)


@bp.get("/<int:story_id>/context")
def context_budget(story_id: int):
    """How much of the model's context the story's next passage would use, and what of the story
    text would be trimmed (`action`, `model` and `max_tokens` as the generation would send them)."""
    row = _row(story_id)
    action = request.args.get("action", "continue")
    if action not in prompting.ACTIONS:
        raise validation_error("action", f"action must be one of {', '.join(prompting.ACTIONS)}.")
    max_tokens = request.args.get("max_tokens")
    if max_tokens is not None:
        if not max_tokens.isdigit() or not 1 <= int(max_tokens) <= 1_000_000:
            raise validation_error("max_tokens", "max_tokens must be a whole number of tokens (1 or more).")
        max_tokens = int(max_tokens)
    user_id = current_user_id()
    service = llm_service.get_active_llm_service(user_id)
    active = llm_service.active_backend(user_id)
    model = request.args.get("model") or active.default_model
    prompt = studio.build_prompt(row, action, service, model, max_tokens)
    return jsonify({"action": action, "backend_type": active.backend_type, "model": model, **prompt.budget})


@bp.post("/<int:story_id>/alternatives")
def choose_alternative(story_id: int):
    """Put version `index` (from 0) of the last generated passage in the text; the passage as it
    was (edits included) stays a version, so nothing is lost."""
    body = json_object()
    index = body.get("index")

    def choose(conn, row):
        alternatives = stories_store.alternatives_of(row)
        if alternatives is None or alternatives["start"] > len(row["content"]):
            raise ApiError(409, "no_alternatives", "This story has no generated passage with versions to choose from.")
        alternatives = stories_store.with_current_tail(alternatives, row["content"])
        count = len(alternatives["versions"])
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
            raise validation_error("index", f"index must be a version number from 0 to {count - 1}.")
        alternatives = {**alternatives, "chosen": index}
        content = row["content"][: alternatives["start"]] + alternatives["versions"][index]
        _write_state(conn, story_id, content, json.dumps(alternatives), "edit")
        stories_store.record_history(conn, story_id, "alternative")

    return jsonify(_studio_write(story_id, body, choose))


def _step(story_id: int, direction: int):
    body = json_object()

    def step(conn, row):
        target = stories_store.history_step(conn, story_id, row["history_position"] + direction)
        if target is None or stories_store.history_step(conn, story_id, row["history_position"]) is None:
            raise ApiError(409, "nothing_to_undo" if direction < 0 else "nothing_to_redo",
                           "There is nothing to undo." if direction < 0 else "There is nothing to redo.")
        _write_state(conn, story_id, target["content"], target["alternatives_json"], "restore")
        conn.execute("UPDATE stories SET history_position = history_position + ? WHERE id = ?", (direction, story_id))

    return jsonify(_studio_write(story_id, body, step))


@bp.post("/<int:story_id>/undo")
def undo(story_id: int):
    """Go back one step (an edit, a generation, a regeneration, a version chosen, a restore)."""
    return _step(story_id, -1)


@bp.post("/<int:story_id>/redo")
def redo(story_id: int):
    """Go forward again one step that was undone."""
    return _step(story_id, +1)


# -- export and import --------------------------------------------------------------------------

BACKUP_FORMAT = "taleweaver-library"
BACKUP_VERSION = 1
MAX_IMPORT_STORIES = 10_000
_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")


def _file_name(title: str, extension: str) -> str:
    stem = re.sub(r"[^\w\- ]+", "", title, flags=re.UNICODE).strip().replace(" ", "-")[:80] or "story"
    return f"{stem}.{extension}"


@bp.get("/<int:story_id>/export")
def export_story(story_id: int):
    """The story as a Markdown (`format=markdown`, the default) or plain text (`format=text`) download."""
    row = _row(story_id)
    kind = request.args.get("format", "markdown")
    if kind == "markdown":
        parts = [f"# {row['title']}"]
        if row["premise"].strip():
            parts.append("> " + row["premise"].strip().replace("\n", "\n> "))
        parts.append(row["content"].strip())
        data, mimetype, extension = "\n\n".join(parts) + "\n", "text/markdown", "md"
    elif kind == "text":
        data, mimetype, extension = f"{row['title']}\n\n{row['content'].strip()}\n", "text/plain", "txt"
    else:
        raise validation_error("format", "format must be markdown or text.")
    return send_file(io.BytesIO(data.encode("utf-8")), mimetype=f"{mimetype}; charset=utf-8", as_attachment=True,
                     download_name=_file_name(row["title"], extension))


def _backup_entry(row) -> dict:
    alternatives = stories_store.alternatives_of(row)
    return {
        "title": row["title"],
        "premise": row["premise"],
        "genre": row["genre"],
        "length": row["length"],
        "settings": stories_store.settings_of(row),
        "memory": row["memory"],
        "authors_note": row["authors_note"],
        "content": row["content"],
        "alternatives": alternatives,
        "backend_type": row["backend_type"],
        "model": row["model"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


@bp.get("/backup")
def backup():
    """The whole library as one JSON file that POST /api/stories/import takes back, here or elsewhere."""
    rows = get_db().execute(
        "SELECT * FROM stories WHERE user_id = ? ORDER BY created_at, id", (current_user_id(),)
    ).fetchall()
    body = {"format": BACKUP_FORMAT, "version": BACKUP_VERSION, "exported_at": stories_store.now_stamp(),
            "stories": [_backup_entry(row) for row in rows]}
    data = json.dumps(body, ensure_ascii=False, indent=1).encode("utf-8")
    return send_file(io.BytesIO(data), mimetype="application/json", as_attachment=True,
                     download_name=f"taleweaver-library-{body['exported_at'][:10]}.json")


def _imported_alternatives(value, content: str, field: str) -> str | None:
    if value is None:
        return None
    versions = value.get("versions") if isinstance(value, dict) else None
    start, chosen = (value.get("start"), value.get("chosen")) if isinstance(value, dict) else (None, None)
    if (not isinstance(versions, list) or not versions or len(versions) > stories_store.MAX_VERSIONS
            or not all(isinstance(v, str) and len(v) <= MAX_CONTENT for v in versions)
            or isinstance(start, bool) or not isinstance(start, int) or not 0 <= start <= len(content)
            or isinstance(chosen, bool) or not isinstance(chosen, int) or not 0 <= chosen < len(versions)):
        raise validation_error(field, f"{field} must be {{start, versions: [text, ...], chosen}} within the text.")
    return json.dumps({"start": start, "versions": versions, "chosen": chosen})


def _imported_story(entry, index: int) -> dict:
    where = f"stories[{index}]"
    if not isinstance(entry, dict):
        raise validation_error(where, f"{where} must be a story object.")
    values = {}
    for field, limit in (("title", MAX_TITLE), ("premise", MAX_PREMISE), ("genre", MAX_LABEL),
                         ("length", MAX_LABEL), ("content", MAX_CONTENT), ("memory", MAX_MEMORY),
                         ("authors_note", MAX_MEMORY)):
        try:
            values[field] = _text(entry, field, limit) or ""
        except ApiError as error:
            raise validation_error(f"{where}.{field}", error.message) from None
    if not values["title"].strip() and not values["premise"].strip() and not values["content"].strip():
        raise validation_error(where, f"{where} has no title, premise or text.")
    try:
        values["settings_json"] = _settings(entry) or "{}"
    except ApiError as error:
        raise validation_error(f"{where}.settings", error.message) from None
    values["alternatives_json"] = _imported_alternatives(entry.get("alternatives"), values["content"],
                                                         f"{where}.alternatives")
    for field in ("backend_type", "model", "created_at", "updated_at"):
        if entry.get(field) is not None and not isinstance(entry[field], str):
            raise validation_error(f"{where}.{field}", f"{where}.{field} must be text or null.")
    # A backup from a newer Taleweaver may name a backend or a time format this one does not know:
    # the story is kept, without them.
    backend_type = entry.get("backend_type")
    values["backend_type"] = backend_type if backend_type in BACKEND_TYPES else None
    model = entry.get("model")
    values["model"] = model if isinstance(model, str) and len(model) <= 256 else None
    for stamp in ("created_at", "updated_at"):
        value = entry.get(stamp)
        values[stamp] = value if isinstance(value, str) and _STAMP.match(value) else stories_store.now_stamp()
    return values


@bp.post("/import")
def import_library():
    """Add the stories of a backup (GET /api/stories/backup) to the library: always as new
    stories, never over an existing one; a title already taken gets a number after it."""
    body = json_object()
    if body.get("format") != BACKUP_FORMAT:
        raise validation_error("format", f"This is not a Taleweaver library backup (format {BACKUP_FORMAT!r}).")
    if body.get("exported_at") is not None and not isinstance(body["exported_at"], str):
        raise validation_error("exported_at", "exported_at must be a time stamp (text).")
    if type(body.get("version")) is not int or body["version"] != BACKUP_VERSION:
        raise validation_error("version", f"This backup has version {body.get('version')!r}; this server reads "
                                          f"version {BACKUP_VERSION}.")
    entries = body.get("stories")
    if not isinstance(entries, list) or len(entries) > MAX_IMPORT_STORIES:
        raise validation_error("stories", f"stories must be a list of at most {MAX_IMPORT_STORIES:,} stories.")
    stories = [_imported_story(entry, index) for index, entry in enumerate(entries)]
    conn = get_db()
    user_id = current_user_id()
    imported = []
    with write_transaction(conn):
        for values in stories:
            title = values["title"].strip() or stories_store.short_title(values["premise"], values["content"])
            values["title"] = stories_store.unique_title(conn, user_id, title)
            values["word_count"] = stories_store.word_count(values["content"])
            columns = ", ".join(values)
            cursor = conn.execute(
                f"INSERT INTO stories (user_id, revision, {columns}) VALUES (?, 1, {', '.join('?' * len(values))})",
                (user_id, *values.values()),
            )
            stories_store.add_revision(conn, cursor.lastrowid, "edit")
            stories_store.record_history(conn, cursor.lastrowid, "imported")
            imported.append({"id": cursor.lastrowid, "title": values["title"]})
    response = jsonify({"imported": len(imported), "stories": imported})
    response.status_code = 201
    return response
