"""/api/stories/...: the library as files and figures: a story's download, the backup of every
story (streamed: memory stays flat whatever the library's size), its import (streamed, staged,
all or nothing) and how much of the storage quota the user's stories use."""
from __future__ import annotations

import io
import json
import re
import time

from flask import Blueprint, Response, current_app, jsonify, request, send_file

from taleweaver.errors import ApiError, validation_error
from taleweaver.settings.store import BACKEND_TYPES
from taleweaver.storage import db
from taleweaver.storage.db import get_db, write_transaction
from taleweaver.stories import library, marks, passages, sizes
from taleweaver.stories import store as stories_store
from taleweaver.web import story_requests as fields
from taleweaver.web.auth import current_user_id
from taleweaver.web.request_body import LIST_START, streamed_object

bp = Blueprint("library", __name__)

BACKUP_FORMAT = "taleweaver-library"
BACKUP_VERSION = 1
_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")
# An imported story as JSON: its text and 20 versions, each character at most 6 bytes (\uXXXX).
# The text and the versions have no other bound here: a backup holds them as the server kept them
# (a generation may have written past the 500,000 characters a save takes), and it imports again.
MAX_ENTRY_BYTES = 64 * 2**20
# Imported stories written per transaction: each transaction stays short (tens of ms), and other
# requests write between two of them.
STAGE_STORIES = 100
STAGE_BYTES = 4 * 2**20


def _file_name(title: str, extension: str) -> str:
    stem = re.sub(r"[^\w\- ]+", "", title, flags=re.UNICODE).strip().replace(" ", "-")[:80] or "story"
    return f"{stem}.{extension}"


@bp.get("/<int:story_id>/export")
def export_story(story_id: int):
    """The story as a Markdown (`format=markdown`, the default) or plain text (`format=text`) download."""
    row = fields.row(story_id)
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


@bp.get("/storage")
def storage_use():
    """How many bytes the user's stories keep, of what quota (0: none)."""
    use = sizes.usage(get_db(), current_user_id())
    return jsonify({**use, "quota_bytes": current_app.config.get("STORAGE_QUOTA", 0)})


@bp.get("/backup")
def backup():
    """The whole library as one JSON file that POST /api/stories/import takes back, here or
    elsewhere; written a story at a time, each read with a connection borrowed for it alone."""
    app, user_id = current_app._get_current_object(), current_user_id()
    story_ids = library.story_ids(get_db(), user_id)
    db.release_db()
    exported_at = stories_store.now_stamp()

    def body():
        yield json.dumps({"format": BACKUP_FORMAT, "version": BACKUP_VERSION, "exported_at": exported_at})[:-1].encode()
        yield b', "stories": ['
        separator = b"\n"
        for story_id in story_ids:
            with db.borrowed(app) as conn:
                entry = library.backup_entry(conn, story_id, user_id)
            if entry is not None:
                yield separator + json.dumps(entry, ensure_ascii=False).encode("utf-8")
                separator = b",\n"
        yield b"\n]}\n"

    name = f"taleweaver-library-{exported_at[:10]}.json"
    return Response(body(), mimetype="application/json",
                    headers={"Content-Disposition": f"attachment; filename={name}"})


def _imported_alternatives(value, content: str, field: str) -> dict | None:
    if value is None:
        return None
    versions = value.get("versions") if isinstance(value, dict) else None
    start, chosen = (value.get("start"), value.get("chosen")) if isinstance(value, dict) else (None, None)
    if (not isinstance(versions, list) or not versions or len(versions) > passages.MAX_VERSIONS
            or not all(isinstance(v, str) for v in versions)
            or isinstance(start, bool) or not isinstance(start, int) or not 0 <= start <= len(content)
            or isinstance(chosen, bool) or not isinstance(chosen, int) or not 0 <= chosen < len(versions)):
        raise validation_error(field, f"{field} must be {{start, versions: [text, ...], chosen}} within the text.")
    return {"start": start, "versions": versions, "chosen": chosen, "probabilities": value.get("probabilities")}


def _imported_story(entry, index: int) -> tuple[dict, dict | None, list]:
    """The columns of one story of a backup, the versions of its last passage and the marks of
    what the model wrote in its text."""
    where = f"stories[{index}]"
    if not isinstance(entry, dict):
        raise validation_error(where, f"{where} must be a story object.")
    values = {}
    for field, limit in (("title", fields.MAX_TITLE), ("premise", fields.MAX_PREMISE), ("genre", fields.MAX_LABEL),
                         ("length", fields.MAX_LABEL), ("content", MAX_ENTRY_BYTES),
                         ("memory", fields.MAX_MEMORY), ("authors_note", fields.MAX_MEMORY)):
        try:
            values[field] = fields.text(entry, field, limit) or ""
        except ApiError as error:
            raise validation_error(f"{where}.{field}", error.message) from None
    if not values["title"].strip() and not values["premise"].strip() and not values["content"].strip():
        raise validation_error(where, f"{where} has no title, premise or text.")
    try:
        values["settings_json"] = fields.settings(entry) or "{}"
    except ApiError as error:
        raise validation_error(f"{where}.settings", error.message) from None
    alternatives = _imported_alternatives(entry.get("alternatives"), values["content"], f"{where}.alternatives")
    try:
        ranges = marks.checked(entry.get("marks") or [], len(values["content"]))
    except ApiError as error:
        raise validation_error(f"{where}.marks", error.message) from None
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
        values[stamp] = value if isinstance(value, str) and _STAMP.fullmatch(value) else stories_store.now_stamp()
    values["title"] = values["title"].strip() or stories_store.short_title(values["premise"], values["content"])
    return values, alternatives, ranges


def _check_header(header: dict) -> None:
    if header.get("format") != BACKUP_FORMAT:
        raise validation_error("format", f"This is not a Taleweaver library backup (format {BACKUP_FORMAT!r}).")
    if header.get("exported_at") is not None and not isinstance(header["exported_at"], str):
        raise validation_error("exported_at", "exported_at must be a time stamp (text).")
    if type(header.get("version")) is not int or header["version"] != BACKUP_VERSION:
        raise validation_error("version", f"This backup has version {header.get('version')!r}; this server reads "
                                          f"version {BACKUP_VERSION}.")


class _Staging:
    """An import's stories, written a batch per short transaction under its import id."""

    def __init__(self, conn, user_id: int, import_id: int):
        self.conn, self.user_id, self.import_id = conn, user_id, import_id
        self.quota = current_app.config.get("STORAGE_QUOTA", 0)
        self.used = sizes.usage(conn, user_id)["used_bytes"]
        self.batch: list[tuple[dict, dict | None, list]] = []
        self.batch_bytes = 0
        self.taken: dict[str, list] = {}
        self.imported: list[dict] = []

    def add(self, values: dict, alternatives: dict | None, ranges: list) -> None:
        self.batch.append((values, alternatives, ranges))
        self.batch_bytes += len(values["content"]) + sum(map(len, (alternatives or {}).get("versions", [])))
        if len(self.batch) >= STAGE_STORIES or self.batch_bytes >= STAGE_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self.batch:
            return
        titles = stories_store.unique_titles(self.conn, self.user_id, [v["title"] for v, *_ in self.batch], self.taken)
        entries = [({**values, "title": title}, alternatives, ranges)
                   for (values, alternatives, ranges), title in zip(self.batch, titles)]
        with write_transaction(self.conn):
            story_ids = library.stage(self.conn, self.user_id, self.import_id, entries)
        self.imported += [{"id": story_id, "title": title} for story_id, title in zip(story_ids, titles)]
        self.batch, self.batch_bytes = [], 0
        staged = library.staged_bytes(self.conn, self.import_id)
        if self.quota > 0 and self.used + staged > self.quota:
            raise sizes.quota_exceeded(self.used, staged, self.quota)
        time.sleep(0)  # other requests of this worker run between two batches (gevent)


@bp.post("/import")
def import_library():
    """Add the stories of a backup (GET /api/stories/backup) to the library: always as new
    stories, never over an existing one; a title already taken gets a number after it. All or
    nothing: the stories appear at once when every one is written, or none does."""
    request.max_content_length = current_app.config.get("MAX_IMPORT_BODY")
    conn, user_id = get_db(), current_user_id()
    import_id = library.begin_import(conn, user_id)
    try:
        staging, header, index = _Staging(conn, user_id, import_id), {}, -1
        for key, value in streamed_object("stories", MAX_ENTRY_BYTES):
            if key != "stories":
                header[key] = value
            elif value is LIST_START:
                index = 0
                if "format" in header:
                    _check_header(header)  # a file that is not a backup is refused before any story is written
            else:
                staging.add(*_imported_story(value, index))
                index += 1
        _check_header(header)
        if index < 0:
            raise validation_error("stories", "stories must be a list of stories.")
        staging.flush()
        library.finish_import(conn, import_id)
    except BaseException:
        library.undo_import(conn, import_id)
        raise
    response = jsonify({"imported": len(staging.imported), "stories": staging.imported})
    response.status_code = 201
    return response
