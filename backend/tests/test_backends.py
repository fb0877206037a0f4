"""Backends as descriptors: the registry served to the Settings page, validation, masking and the
service factory driven by it, the openai_compatible type, and migration 003."""
from __future__ import annotations

import json
import os
import sqlite3

import pytest

from taleweaver.llm import registry as backends
from taleweaver.storage import crypto
import db
from taleweaver.storage import dialect as db_dialect
import llm_service
from taleweaver.settings import store as settings_store
from taleweaver.settings import validation
from taleweaver.llm.backends.openai_compatible_service import OpenAICompatibleService

KEY = "sk-local-server-key-123456"


def save(client, backend_type, config, **extra):
    return client.post("/api/settings/llm", json={"backend_type": backend_type, "config": config, **extra})


def test_backends_endpoint_lists_every_type_in_dropdown_order(client):
    body = client.get("/api/settings/llm/backends").get_json()
    assert [b["type"] for b in body["backends"]] == ["lmstudio", "ollama", "chatgpt", "openai_compatible"]
    labels = {b["type"]: b["label"] for b in body["backends"]}
    assert labels == {"lmstudio": "LM Studio", "ollama": "Ollama", "chatgpt": "ChatGPT",
                      "openai_compatible": "OpenAI-compatible server"}
    assert {b["type"]: b["local"] for b in body["backends"]} == {
        "lmstudio": True, "ollama": True, "chatgpt": False, "openai_compatible": True}


def test_every_field_has_the_nine_keys_and_a_known_kind(client):
    for backend in client.get("/api/settings/llm/backends").get_json()["backends"]:
        assert set(backend) == {"type", "label", "local", "description", "fields"}
        assert backend["description"]
        for field in backend["fields"]:
            assert set(field) == {"name", "label", "kind", "required", "secret", "default",
                                  "placeholder", "help", "advanced"}, field
            assert field["kind"] in ("url", "secret", "text", "seconds")
            assert field["secret"] == (field["kind"] == "secret")
        assert [f["name"] for f in backend["fields"] if f["kind"] == "seconds"] == [
            "connect_timeout", "first_token_timeout", "idle_timeout"]


def test_descriptor_fields_say_which_key_is_required_and_the_defaults(client):
    by_type = {b["type"]: {f["name"]: f for f in b["fields"]}
               for b in client.get("/api/settings/llm/backends").get_json()["backends"]}
    assert by_type["lmstudio"]["url"]["default"] == "http://localhost:1234"
    assert by_type["lmstudio"]["url"]["required"] is True
    assert by_type["lmstudio"]["connect_timeout"]["default"] == 5
    assert by_type["lmstudio"]["connect_timeout"]["advanced"] is True
    assert by_type["ollama"]["url"]["default"] == "http://localhost:11434"
    assert by_type["chatgpt"]["api_key"]["required"] is True and by_type["chatgpt"]["api_key"]["secret"] is True
    assert by_type["chatgpt"]["base_url"]["default"] == "https://api.openai.com/v1"
    assert by_type["chatgpt"]["base_url"]["required"] is False
    assert by_type["chatgpt"]["organization"]["kind"] == "text"
    assert by_type["chatgpt"]["first_token_timeout"]["default"] == 120
    assert by_type["openai_compatible"]["base_url"]["default"] == "http://localhost:8080/v1"
    assert by_type["openai_compatible"]["base_url"]["required"] is True
    assert by_type["openai_compatible"]["api_key"]["required"] is False
    assert by_type["openai_compatible"]["api_key"]["secret"] is True


def test_openapi_backend_type_enum_is_the_registry():
    with open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "openapi.json"), encoding="utf-8") as handle:
        described = json.load(handle)
    assert described["components"]["schemas"]["BackendType"]["enum"] == list(backends.BACKEND_TYPES)


def test_openai_compatible_saves_without_a_key_and_keeps_the_v1_path(client):
    response = save(client, "openai_compatible", {"base_url": "localhost:8000/v1/"})
    assert response.status_code == 200, response.get_json()
    config = response.get_json()["config"]
    assert config["base_url"] == "http://localhost:8000/v1"
    assert config["has_api_key"] is False and config["api_key_masked"] is None
    assert "api_key" not in config


def test_openai_compatible_blank_base_url_is_the_llama_cpp_default(client):
    config = save(client, "openai_compatible", {}).get_json()["config"]
    assert config["base_url"] == "http://localhost:8080/v1"
    assert config["first_token_timeout"] == 300


def test_openai_compatible_key_is_encrypted_and_only_its_mask_is_shown(app, client):
    response = save(client, "openai_compatible", {"base_url": "http://localhost:8080/v1", "api_key": KEY})
    config = response.get_json()["config"]
    assert config["has_api_key"] is True
    assert config["api_key_masked"] == "sk-" + "*" * (len(KEY) - 4) + KEY[-1]
    assert KEY not in response.get_data(as_text=True)
    with app.app_context():
        stored = settings_store.row_for(1, "openai_compatible")["config"]
        assert KEY not in json.dumps(stored)
        assert crypto.decrypt(stored["api_key_encrypted"]) == KEY
        service = llm_service.create_service("openai_compatible", stored)
    assert isinstance(service, OpenAICompatibleService)
    assert service.headers() == {"Authorization": f"Bearer {KEY}"}


def test_a_key_saved_for_one_address_is_not_sent_to_another(app, client):
    save(client, "openai_compatible", {"base_url": "http://localhost:8080/v1", "api_key": KEY})
    moved = save(client, "openai_compatible", {"base_url": "http://localhost:8000/v1", "api_key": ""})
    assert moved.status_code == 200
    assert moved.get_json()["config"]["has_api_key"] is False
    with app.app_context():
        service = llm_service.create_service("openai_compatible", settings_store.row_for(1, "openai_compatible")["config"])
    assert service.headers() == {}


def test_a_required_key_saved_for_one_address_must_be_entered_again_for_another(client):
    assert save(client, "chatgpt", {"api_key": KEY}).status_code == 200
    same = save(client, "chatgpt", {"api_key": ""})
    assert same.status_code == 200 and same.get_json()["config"]["has_api_key"] is True
    moved = save(client, "chatgpt", {"api_key": "", "base_url": "http://127.0.0.1:9/v1"})
    assert moved.status_code == 400
    error = moved.get_json()["error"]
    assert error["field"] == "config.api_key" and error["code"] == "api_key_required"
    assert "only sent to the address it was saved for (https://api.openai.com/v1)" in error["message"]


def test_unknown_setting_names_the_backend_label_and_its_fields(client):
    error = save(client, "openai_compatible", {"url": "http://localhost:8080"}).get_json()["error"]
    assert error["field"] == "config.url"
    assert "OpenAI-compatible server has no setting 'url'" in error["message"]
    assert "base_url" in error["message"] and "api_key" in error["message"]


def test_unknown_backend_type_lists_the_registered_types(client):
    error = save(client, "koboldcpp", {}).get_json()["error"]
    assert error["field"] == "backend_type"
    assert "lmstudio, ollama, chatgpt or openai_compatible" in error["message"]


def test_service_factory_builds_each_registered_class(app):
    with app.app_context():
        for backend_type, descriptor in backends.REGISTRY.items():
            required_secrets = {f.name: KEY for f in descriptor.secret_fields if f.required}
            config = validation.validate_config(backend_type, required_secrets, None)
            service = llm_service.create_service(backend_type, config, "m")
            assert type(service) is descriptor.service
            assert service.backend_type == backend_type and service.label == descriptor.label
            assert service.local_server is descriptor.local
            assert service.default_model == "m"
            assert service.http.first_token_timeout == descriptor.field("first_token_timeout").default


def test_rotate_keys_re_encrypts_every_secret_field(app, client):
    save(client, "chatgpt", {"api_key": KEY})
    save(client, "openai_compatible", {"api_key": KEY + "2"})
    with app.app_context():
        assert settings_store.rotate_all_secrets() == 2


# ---- migration 003 --------------------------------------------------------------------------

def _database_at_version_2(path: str) -> None:
    conn = db.connect(path)
    for number, migration in db.migrations():
        if number <= 2:
            with open(migration, encoding="utf-8") as handle:
                for statement in db_dialect.split_statements(handle.read()):
                    conn.execute(statement)
    conn.execute("PRAGMA user_version = 2")
    conn.execute("INSERT INTO users (username) VALUES ('local')")
    conn.execute(
        "INSERT INTO settings (user_id, backend_type, config_json, is_active, last_test_json) VALUES "
        "(1, 'lmstudio', '{\"url\": \"http://localhost:1234\"}', 1, '{\"status\": \"connected\"}'), "
        "(1, 'ollama', '{\"url\": \"http://localhost:11434\"}', 0, NULL)"
    )
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO settings (user_id, backend_type) VALUES (1, 'openai_compatible')")
    conn.close()


@pytest.mark.sqlite_only
def test_migration_003_keeps_rows_and_accepts_new_backend_types(tmp_path):
    path = str(tmp_path / "old.db")
    _database_at_version_2(path)
    conn = db.connect(path)
    assert db.migrate(conn) >= 3
    rows = conn.execute("SELECT id, backend_type, config_json, is_active, last_test_json FROM settings ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == [
        (1, "lmstudio", '{"url": "http://localhost:1234"}', 1, '{"status": "connected"}'),
        (2, "ollama", '{"url": "http://localhost:11434"}', 0, None),
    ]
    conn.execute("INSERT INTO settings (user_id, backend_type) VALUES (1, 'openai_compatible')")
    # The partial unique index still allows only one active backend per user.
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE settings SET is_active = 1 WHERE backend_type = 'ollama'")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO settings (user_id, backend_type) VALUES (1, 'lmstudio')")
    schema = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'settings'").fetchone()[0]
    assert "chatgpt" not in schema
    assert conn.execute("SELECT models_version FROM users").fetchone()[0] == 0
    conn.close()


# ---- a local server in multi-user mode (SSRF allowlist) -------------------------------------

def test_multi_user_openai_compatible_may_use_loopback_but_not_other_hosts(tmp_path):
    from taleweaver.web import auth
    from app import create_app

    app = create_app({"DATABASE": str(tmp_path / "multi.db"), "AUTH_MODE": "multi", "TESTING": True})
    with app.app_context():
        auth.create_user("ann", "ann-password-1")
    client = app.test_client()
    token = client.post("/api/auth/login", json={"username": "ann", "password": "ann-password-1"}).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    local = client.post("/api/settings/llm", headers=headers, json={
        "backend_type": "openai_compatible", "config": {"base_url": "http://127.0.0.1:8080/v1"}})
    assert local.status_code == 200, local.get_json()
    inside = client.post("/api/settings/llm", headers=headers, json={
        "backend_type": "openai_compatible", "config": {"base_url": "http://10.0.0.5:8000/v1"}})
    assert inside.status_code == 400
    assert inside.get_json()["error"]["field"] == "config.base_url"
    assert "TALEWEAVER_ALLOWED_BACKEND_HOSTS" in inside.get_json()["error"]["message"]
