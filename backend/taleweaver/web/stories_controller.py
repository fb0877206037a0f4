"""/api/stories: the user's stories as documents, saved with optimistic concurrency and revisions;
the studio (studio_controller) and the library (library_controller) are registered under it."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from taleweaver.errors import ApiError, validation_error
from taleweaver.generations import rows as generations
from taleweaver.settings.store import BACKEND_TYPES
from taleweaver.storage.db import get_db, write_transaction
from taleweaver.stories import library, marks, sizes
from taleweaver.stories import store as stories_store
from taleweaver.web import library_controller, probabilities_controller, studio_controller
from taleweaver.web import story_requests as fields
from taleweaver.web.auth import current_user_id
from taleweaver.web.request_body import json_object

bp = Blueprint("stories", __name__, url_prefix="/api/stories")
bp.register_blueprint(studio_controller.bp)
bp.register_blueprint(library_controller.bp)
bp.register_blueprint(probabilities_controller.bp)

MAX_QUERY = 200
# What a save stores beside the working copy of a text: a revision's and an undo step's chunks.
KEPT_COPIES = 2


@bp.get("")
def list_stories():
    """The user's stories, most recently edited first (or `sort=created|title`), those whose
    title, premise or text contain `q` when it is given."""
    conn = get_db()
    sort = request.args.get("sort", "updated")
    if sort not in library.SORTS:
        raise validation_error("sort", f"sort must be one of {', '.join(library.SORTS)}.")
    query = (request.args.get("q") or "").strip()
    if len(query) > MAX_QUERY:
        raise validation_error("q", f"The search text is longer than {MAX_QUERY} characters.")
    rows = library.summaries(conn, current_user_id(), query, sort)
    statuses = {}
    for last in library.newest_generations(conn, current_user_id()):
        status = last["status"]
        if status == "running":  # unless its job died: then it is interrupted now
            checked = generations.get_row(conn, last["id"])
            status = checked["status"] if checked else None
        statuses[last["story_id"]] = status
    return jsonify({"stories": [fields.summary(row, statuses.get(row["id"])) for row in rows]})


def _size(*values: str) -> int:
    return sum(len(value.encode("utf-8")) for value in values)


@bp.post("")
def create_story():
    """A new story from its first keystroke: a premise, or some text."""
    body = json_object()
    premise = fields.premise(body) or ""
    content = fields.text(body, "content", fields.MAX_CONTENT) or ""
    if not premise.strip() and not content.strip():
        raise validation_error("premise", "Write a premise or some text first: an empty story is not saved.")
    conn = get_db()
    given = (fields.text(body, "title", fields.MAX_TITLE) or "").strip()
    auto_title = fields.auto_title(body) or not given
    title = given or stories_store.short_title(premise, content)
    if auto_title:
        title = stories_store.unique_title(conn, current_user_id(), title)
    backend_type = body.get("backend_type")
    if backend_type is not None and backend_type not in BACKEND_TYPES:
        raise validation_error("backend_type", f"backend_type must be one of {', '.join(BACKEND_TYPES)}, or null.")
    values = {
        "title": title, "premise": premise, "content": content,
        "genre": fields.text(body, "genre", fields.MAX_LABEL) or "",
        "length": fields.text(body, "length", fields.MAX_LABEL) or "",
        "settings_json": fields.settings(body) or "{}",
        "memory": fields.text(body, "memory", fields.MAX_MEMORY) or "",
        "authors_note": fields.text(body, "authors_note", fields.MAX_MEMORY) or "",
        "backend_type": backend_type, "model": fields.text(body, "model", 256) or None,
        "auto_title": int(auto_title),
    }
    values["created_at"] = values["updated_at"] = stories_store.now_stamp()
    fields.check_quota(_size(*(v for v in values.values() if isinstance(v, str))) + KEPT_COPIES * _size(content))
    with write_transaction(conn):
        story_id = stories_store.create(conn, current_user_id(), values)
    response = jsonify(fields.story_document(story_id))
    response.status_code = 201
    return response


@bp.get("/<int:story_id>")
def get_story(story_id: int):
    fields.row(story_id)
    return jsonify(fields.story_document(story_id))


def _changes(body: dict) -> tuple[dict, bool]:
    """The fields a save changes (as sent), and whether the title is to be derived."""
    changes: dict = {}
    for field, limit in (("title", fields.MAX_TITLE), ("genre", fields.MAX_LABEL), ("length", fields.MAX_LABEL),
                         ("content", fields.MAX_CONTENT), ("memory", fields.MAX_MEMORY),
                         ("authors_note", fields.MAX_MEMORY)):
        value = fields.text(body, field, limit)
        if value is not None:
            changes[field] = value
    auto_title = fields.auto_title(body)
    if "title" in changes:
        changes["title"] = changes["title"].strip()
        if not changes["title"] and not auto_title:
            raise validation_error("title", "A title cannot be empty.")
    premise = fields.premise(body)
    if premise is not None:
        changes["premise"] = premise
    settings = fields.settings(body)
    if settings is not None:
        changes["settings_json"] = settings
    return changes, auto_title


@bp.patch("/<int:story_id>")
def update_story(story_id: int):
    """Save changes made on top of `base_revision`; a stale base is refused and nothing is written."""
    body = json_object()
    base_revision = fields.base_revision(body)
    changes, auto_title = _changes(body)
    current = fields.row(story_id)
    growth = sum(_size(value) - _size(current[key]) for key, value in changes.items() if key != "title")
    fields.check_quota(growth + KEPT_COPIES * (_size(changes.get("content", "")) - _size(current["content"]))
                       if "content" in changes else growth)

    def save(conn, row):
        wanted = dict(changes)
        premise_changed = wanted.get("premise", row["premise"]) != row["premise"]
        if auto_title or (row["auto_title"] and premise_changed and "title" not in wanted):
            title = wanted.get("title") or stories_store.short_title(
                wanted.get("premise", row["premise"]), wanted.get("content", row["content"]))
            wanted["title"] = stories_store.unique_title(conn, current_user_id(), title, exclude_id=story_id)
            wanted["auto_title"] = 1
        elif "title" in wanted:
            wanted["auto_title"] = 0
        wanted = {k: v for k, v in wanted.items() if row[k] != v}
        running = stories_store.running_generation(conn, story_id) if "content" in wanted else None
        if running is not None:
            raise fields.generation_running(running)
        _save_marks(conn, row, wanted, body.get("marks"))
        if wanted:
            stories_store.update(conn, row, wanted)

    fields.guarded_write(story_id, base_revision, save, content_changes=False)
    return jsonify(fields.story_document(story_id))


def _save_marks(conn, row, wanted: dict, sent) -> None:
    """The marks the page sent with the text (what the model wrote, mapped through the writer's
    edits) become the marks of the text it saves (before the undo step that keeps it is recorded)."""
    if sent is None:
        return
    content = wanted.get("content", row["content"])
    ranges = marks.checked(sent, len(content))
    if "content" in wanted:
        marks.keep_for(conn, row["id"], content, ranges)
    elif ranges != marks.current(conn, row["id"]):
        marks.keep_current(conn, row["id"], ranges)
        sizes.refresh(conn, row["id"])


@bp.delete("/<int:story_id>")
def delete_story(story_id: int):
    fields.row(story_id)
    conn = get_db()
    # Under the write lock, as a generation's writes of the story are: deleting the story (then,
    # by cascade, its generations) while a job writes its generation (then the story) would
    # otherwise take the two rows' locks in opposite orders (a deadlock on PostgreSQL).
    with write_transaction(conn):
        stories_store.delete(conn, story_id, current_user_id())
    return "", 204


@bp.get("/<int:story_id>/revisions")
def list_revisions(story_id: int):
    """The story's kept revisions, newest first."""
    fields.row(story_id)
    return jsonify({"revisions": stories_store.revisions(get_db(), story_id)})


def _revision(story_id: int, revision: int) -> dict:
    found = stories_store.revision(get_db(), story_id, revision) if revision <= fields.MAX_ID else None
    if found is None:
        raise ApiError(
            404, "revision_not_found",
            f"Revision {revision} of this story is not kept (older revisions are thinned out); "
            "pick one from the list of revisions.",
        )
    return found


@bp.get("/<int:story_id>/revisions/<int:revision>")
def get_revision(story_id: int, revision: int):
    fields.row(story_id)
    return jsonify(_revision(story_id, revision))


@bp.post("/<int:story_id>/revisions/<int:revision>/restore")
def restore_revision(story_id: int, revision: int):
    """The revision's text becomes the story's text, as a new revision (nothing is lost)."""
    body = json_object()
    base = fields.base_revision(body)  # a malformed body is a 400 before a missing story is a 404
    current = fields.row(story_id)
    old = _revision(story_id, revision)
    fields.check_quota(_size(old["content"]) - _size(current["content"]))

    def restore(conn, row):
        passage = studio_controller.passage_after_edit(conn, row, old["content"])
        stories_store.write_state(conn, story_id, old["content"], passage, "restore")
        stories_store.record_history(conn, story_id, "restore")

    fields.guarded_write(story_id, base, restore)
    return jsonify(fields.story_document(story_id))
