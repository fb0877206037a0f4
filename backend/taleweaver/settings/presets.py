"""Each user's named sampler presets, kept on the server and bounded (MAX_PRESETS a user, each
name and settings small): the samplers of llm/samplers.py under their request names, which the
Story page applies to a story's settings."""
from __future__ import annotations

import json

from taleweaver.errors import ApiError, validation_error
from taleweaver.llm.samplers import SAMPLERS
from taleweaver.settings.store import now_iso
from taleweaver.storage.db import get_db, write_transaction

MAX_PRESETS = 50
MAX_NAME = 80
MAX_STOP = 4  # stop strings, as OpenAI takes at most
MAX_STOP_CHARS = 100


def _number(name: str, value, kind: str):
    whole = isinstance(value, int) and not isinstance(value, bool)
    if kind == "integer" and not (whole and value >= 0):
        raise validation_error(f"settings.{name}", f"settings.{name} must be a whole number (0 or more).")
    if kind == "number" and not (whole or isinstance(value, float)):
        raise validation_error(f"settings.{name}", f"settings.{name} must be a number.")
    return value


def _stop(value) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_STOP or not all(
            isinstance(item, str) and 0 < len(item) <= MAX_STOP_CHARS for item in value):
        raise validation_error("settings.stop", f"settings.stop must be a list of at most {MAX_STOP} strings "
                               f"of 1 to {MAX_STOP_CHARS} characters.")
    return value


def validated_settings(value) -> dict:
    """The preset's samplers (only the known ones, each of its type), or a 400 naming the field."""
    if not isinstance(value, dict):
        raise validation_error("settings", "settings must be an object of sampler settings.")
    unknown = sorted(set(value) - set(SAMPLERS))
    if unknown:
        raise validation_error("settings", f"A preset keeps only sampler settings ({', '.join(SAMPLERS)}); "
                               f"not {', '.join(unknown)}.")
    return {name: _stop(item) if SAMPLERS[name] == "stop" else _number(name, item, SAMPLERS[name])
            for name, item in value.items() if item is not None}


def validated_name(value) -> str:
    if not isinstance(value, str) or not 0 < len(value.strip()) <= MAX_NAME:
        raise validation_error("name", f"A preset's name is text of 1 to {MAX_NAME} characters.")
    return value.strip()


def _view(row) -> dict:
    return {"id": row["id"], "name": row["name"], "settings": json.loads(row["settings_json"]),
            "updated_at": row["updated_at"]}


def listed(user_id: int) -> list[dict]:
    rows = get_db().execute("SELECT * FROM sampler_presets WHERE user_id = ? ORDER BY name", (user_id,))
    return [_view(row) for row in rows]


def _taken(conn, user_id: int, name: str, other_than: int | None = None) -> ApiError | None:
    row = conn.execute("SELECT id FROM sampler_presets WHERE user_id = ? AND name = ? AND id != ?",
                       (user_id, name, other_than or 0)).fetchone()
    return ApiError(409, "preset_exists", f"You have a preset named {name!r} already; choose another name.",
                    field="name") if row else None


def save_many(user_id: int, presets: list[tuple[str, dict]]) -> list[dict]:
    """New presets (each name not taken), within MAX_PRESETS; all or none."""
    conn = get_db()
    with write_transaction(conn):
        count = conn.execute("SELECT count(*) FROM sampler_presets WHERE user_id = ?", (user_id,)).fetchone()[0]
        if count + len(presets) > MAX_PRESETS:
            raise ApiError(400, "too_many_presets", f"You can keep {MAX_PRESETS} presets; you have {count}. "
                           "Delete some first.")
        ids = []
        for name, settings in presets:
            taken = _taken(conn, user_id, name)
            if taken:
                raise taken
            ids.append(conn.execute(
                "INSERT INTO sampler_presets (user_id, name, settings_json, updated_at) VALUES (?, ?, ?, ?)",
                (user_id, name, json.dumps(settings), now_iso())).lastrowid)
    return [_view(row) for row in conn.execute(
        f"SELECT * FROM sampler_presets WHERE id IN ({', '.join('?' * len(ids))}) ORDER BY name", ids)] if ids else []


def update(user_id: int, preset_id: int, name: str | None, settings: dict | None) -> dict:
    """Rename the preset or change its settings; 404 when it is not the user's."""
    conn = get_db()
    with write_transaction(conn):
        row = conn.execute("SELECT * FROM sampler_presets WHERE id = ? AND user_id = ?", (preset_id, user_id)).fetchone()
        if row is None:
            raise ApiError(404, "preset_not_found", "That preset does not exist (it may have been deleted).")
        taken = _taken(conn, user_id, name, preset_id) if name is not None else None
        if taken:
            raise taken
        conn.execute("UPDATE sampler_presets SET name = ?, settings_json = ?, updated_at = ? WHERE id = ?",
                     (name if name is not None else row["name"],
                      json.dumps(settings) if settings is not None else row["settings_json"], now_iso(), preset_id))
        return _view(conn.execute("SELECT * FROM sampler_presets WHERE id = ?", (preset_id,)).fetchone())


def delete(user_id: int, preset_id: int) -> None:
    conn = get_db()
    with write_transaction(conn):
        gone = conn.execute("DELETE FROM sampler_presets WHERE id = ? AND user_id = ?", (preset_id, user_id)).rowcount
    if not gone:
        raise ApiError(404, "preset_not_found", "That preset does not exist (it may have been deleted).")
