"""Sampler presets kept per user on the server: saved, renamed, changed, deleted, exported (the
list) and imported, bounded, and never another user's."""
from taleweaver.settings import presets
from tests.test_stories_and_generations import story_app, web  # noqa: F401 (fixtures)

WARM = {"temperature": 1.1, "top_p": 0.95, "min_p": 0.05, "repetition_penalty": 1.1, "stop": ["THE END"],
        "context_length": 8192}


def test_a_preset_is_saved_renamed_changed_exported_imported_and_deleted(web):
    saved = web.post("/api/settings/presets", json={"name": " Warm ", "settings": WARM})
    assert saved.status_code == 201 and saved.get_json()["name"] == "Warm"
    preset_id = saved.get_json()["id"]
    renamed = web.patch(f"/api/settings/presets/{preset_id}", json={"name": "Warmer", "settings": {**WARM, "seed": 7}})
    assert renamed.get_json()["name"] == "Warmer" and renamed.get_json()["settings"]["seed"] == 7
    exported = web.get("/api/settings/presets").get_json()
    assert [(p["name"], p["settings"]["min_p"]) for p in exported["presets"]] == [("Warmer", 0.05)]

    again = web.post("/api/settings/presets/import", json=exported)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "preset_exists"
    assert web.delete(f"/api/settings/presets/{preset_id}").status_code == 204
    imported = web.post("/api/settings/presets/import", json=exported)
    assert [p["name"] for p in imported.get_json()["presets"]] == ["Warmer"]
    assert web.delete(f"/api/settings/presets/{preset_id}").status_code == 404


def test_a_preset_keeps_only_samplers_of_their_types_and_the_count_is_bounded(web, monkeypatch):
    not_a_sampler = web.post("/api/settings/presets", json={"name": "x", "settings": {"lorebook": {}}})
    assert not_a_sampler.status_code == 400 and not_a_sampler.get_json()["error"]["field"] == "settings"
    wrong_type = web.post("/api/settings/presets", json={"name": "x", "settings": {"top_k": 1.5}})
    assert wrong_type.get_json()["error"]["field"] == "settings.top_k"
    monkeypatch.setattr(presets, "MAX_PRESETS", 2)
    for name in ("a", "b"):
        assert web.post("/api/settings/presets", json={"name": name, "settings": {}}).status_code == 201
    third = web.post("/api/settings/presets", json={"name": "c", "settings": {}})
    assert third.status_code == 400 and third.get_json()["error"]["code"] == "too_many_presets"
