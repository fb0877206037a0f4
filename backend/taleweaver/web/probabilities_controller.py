"""/api/stories/<id>/probabilities: the token probabilities of the story's last generated passage
where its text still stands, and why its newest generation has none when it asked for them."""
from __future__ import annotations

from flask import Blueprint, jsonify

from taleweaver.generations import store as generations_store
from taleweaver.storage.db import get_db
from taleweaver.stories import probabilities
from taleweaver.web import story_requests as fields

bp = Blueprint("probabilities", __name__)


@bp.get("/<int:story_id>/probabilities")
def story_probabilities(story_id: int):
    row = fields.row(story_id)
    conn = get_db()
    return jsonify({
        "revision": row["revision"],
        "tokens": probabilities.for_story(conn, row),
        "note": generations_store.probabilities_note(conn, story_id),
    })
