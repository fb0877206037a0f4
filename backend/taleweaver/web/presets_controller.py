"""/api/settings/presets: the user's named sampler presets: list, save, rename or change, delete,
and import many at once (an export is the list)."""
from __future__ import annotations

from flask import Blueprint, jsonify

from taleweaver.errors import validation_error
from taleweaver.settings import presets
from taleweaver.web.auth import current_user_id
from taleweaver.web.request_body import json_object

bp = Blueprint("presets", __name__, url_prefix="/api/settings/presets")

MAX_ID = 2**63 - 1


@bp.get("")
def list_presets():
    return jsonify({"presets": presets.listed(current_user_id())})


@bp.post("")
def save_preset():
    body = json_object()
    saved = presets.save_many(current_user_id(), [(presets.validated_name(body.get("name")),
                                                   presets.validated_settings(body.get("settings")))])
    response = jsonify(saved[0])
    response.status_code = 201
    return response


@bp.post("/import")
def import_presets():
    """Presets from an export ({"presets": [{name, settings}, ...]}), all or none."""
    body = json_object()
    items = body.get("presets")
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise validation_error("presets", "presets must be a list of {name, settings} objects (an export).")
    if len(items) > presets.MAX_PRESETS:
        raise validation_error("presets", f"An import holds at most {presets.MAX_PRESETS} presets.")
    parsed = [(presets.validated_name(item.get("name")), presets.validated_settings(item.get("settings")))
              for item in items]
    if len({name for name, _ in parsed}) != len(parsed):
        raise validation_error("presets", "Two presets of the import have the same name.")
    return jsonify({"presets": presets.save_many(current_user_id(), parsed)})


@bp.patch("/<int:preset_id>")
def change_preset(preset_id: int):
    body = json_object()
    name = presets.validated_name(body["name"]) if "name" in body else None
    settings = presets.validated_settings(body["settings"]) if "settings" in body else None
    if preset_id > MAX_ID:
        raise validation_error("preset_id", "That is not a preset's id.")
    return jsonify(presets.update(current_user_id(), preset_id, name, settings))


@bp.delete("/<int:preset_id>")
def delete_preset(preset_id: int):
    if preset_id > MAX_ID:
        raise validation_error("preset_id", "That is not a preset's id.")
    presets.delete(current_user_id(), preset_id)
    return "", 204
