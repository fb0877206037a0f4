"""/api/stories: the user's library of saved stories."""
from __future__ import annotations

from flask import Blueprint, jsonify

from auth import current_user_id
from db import get_db
from errors import ApiError, validation_error
from request_body import json_object
from settings_store import BACKEND_TYPES, now_iso

bp = Blueprint("stories", __name__, url_prefix="/api/stories")

MAX_ID = 2**63 - 1  # SQLite's largest INTEGER
MAX_TITLE = 200
MAX_PROMPT = 20_000
MAX_CONTENT = 500_000
_LIST_COLUMNS = "id, title, prompt, backend_type, model, created_at, updated_at, substr(content, 1, 200) AS excerpt"


def _text(body: dict, field: str, limit: int, required: bool = False) -> str:
    value = body.get(field)
    if value is None:
        if required:
            raise validation_error(field, f"{field} is required.")
        return ""
    if not isinstance(value, str):
        raise validation_error(field, f"{field} must be text.")
    if len(value) > limit:
        raise validation_error(field, f"{field} is longer than {limit:,} characters.")
    return value


def _story(story_id: int) -> dict:
    row = None
    if story_id <= MAX_ID:
        row = get_db().execute(
            "SELECT * FROM stories WHERE id = ? AND user_id = ?", (story_id, current_user_id())
        ).fetchone()
    if row is None:
        raise ApiError(404, "not_found", "That story does not exist (it may have been deleted).")
    story = dict(row)
    story.pop("user_id")
    return story


@bp.get("")
def list_stories():
    rows = get_db().execute(
        f"SELECT {_LIST_COLUMNS} FROM stories WHERE user_id = ? ORDER BY created_at DESC, id DESC",
        (current_user_id(),),
    ).fetchall()
    return jsonify({"stories": [dict(row) for row in rows]})


@bp.post("")
def create_story():
    body = json_object()
    content = _text(body, "content", MAX_CONTENT, required=True)
    if not content.strip():
        raise validation_error("content", "There is no story to save yet.")
    prompt = _text(body, "prompt", MAX_PROMPT)
    title = _text(body, "title", MAX_TITLE).strip() or content.strip().splitlines()[0][:80].strip()
    backend_type = body.get("backend_type")
    if backend_type is not None and backend_type not in BACKEND_TYPES:
        raise validation_error("backend_type", "backend_type must be lmstudio, ollama, chatgpt or null.")
    model = _text(body, "model", 256) or None
    stamp = now_iso()
    cursor = get_db().execute(
        """INSERT INTO stories (user_id, title, prompt, content, backend_type, model, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
        (current_user_id(), title, prompt, content, backend_type, model, stamp, stamp),
    )
    response = jsonify(_story(cursor.lastrowid))
    response.status_code = 201
    return response


@bp.get("/<int:story_id>")
def get_story(story_id: int):
    return jsonify(_story(story_id))


@bp.delete("/<int:story_id>")
def delete_story(story_id: int):
    _story(story_id)
    get_db().execute("DELETE FROM stories WHERE id = ? AND user_id = ?", (story_id, current_user_id()))
    return "", 204
